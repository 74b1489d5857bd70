//! [`ReplayLlm`]: a model that answers from a script and records the newest requests.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::llm::{LlmError, LlmRequest, LlmResponse, LlmSession, TokenUsage};
use crate::role::Role;

/// How many of the newest requests a [`ReplayLlm`] (and the tasks a
/// [`MockWorkers`](crate::MockWorkers)) keeps to read back: enough for any test to look at a
/// whole conversation, while a daemon that runs on a script for days holds a fixed amount.
pub const KEPT_REQUESTS: usize = 256;

/// Appends `item` to `window`, dropping the oldest beyond `keep`.
pub(crate) fn keep_newest<T>(window: &mut VecDeque<T>, item: T, keep: usize) {
    if keep == 0 {
        return;
    }
    while window.len() >= keep {
        window.pop_front();
    }
    window.push_back(item);
}

/// The answer of an idle agent, used when the script has nothing for a request.
pub const IDLE_ANSWER: &str = r#"{"summary": "nothing to do", "actions": []}"#;

/// What to do when no scripted response matches a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    /// Answer that there is nothing to do.
    #[default]
    Idle,
    /// Fail the session.
    Error,
}

/// One scripted answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptedResponse {
    /// Only for this role (any role when absent).
    #[serde(default)]
    pub role: Option<Role>,
    /// Only when the prompt's trigger section contains this text (case-insensitive).
    #[serde(default)]
    pub when: Option<String>,
    /// The answer: a string is returned as is; anything else as its JSON text.
    #[serde(default)]
    pub response: Option<Value>,
    /// Fail with this error instead of answering.
    #[serde(default)]
    pub error: Option<LlmError>,
    /// Cost reported for the session.
    #[serde(default)]
    pub cost_usd: f64,
    /// Tokens reported (as output tokens).
    #[serde(default)]
    pub tokens: u64,
    /// Keep the entry for further matching requests instead of using it once.
    #[serde(default)]
    pub repeat: bool,
}

/// A replay script, as read from a JSON file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// What to say about the scenario (shown by tools, ignored here).
    #[serde(default)]
    pub description: Option<String>,
    /// The answers, tried in order.
    pub responses: Vec<ScriptedResponse>,
    /// What to do when nothing matches.
    #[serde(default)]
    pub on_exhausted: OnExhausted,
}

/// A script that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("cannot read replay script {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid script.
    #[error("invalid replay script {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        reason: String,
    },
}

struct Entry {
    response: ScriptedResponse,
    used: bool,
}

/// A scripted [`LlmSession`].
///
/// Each request takes the first unused entry whose `role` and `when` match; `when` is looked
/// for in the prompt's `# Trigger` section (the whole prompt when it has none), so a script can
/// follow a company's conversation whatever order the agents run in. Every request is kept and
/// can be read back with [`ReplayLlm::requests`].
///
/// An answer may refer to values known only at run time: `{{trigger.<field>}}` is replaced by
/// the string value of `<field>` in the trigger's payload (for example
/// `{{trigger.decisionId}}` in a vote), and `{{task.<title>}}` by the id of the first task of
/// the prompt's open tasks whose title contains `<title>` (case-insensitive), so a later
/// session can update a task whose id it was never sent.
pub struct ReplayLlm {
    entries: Mutex<Vec<Entry>>,
    requests: Mutex<VecDeque<LlmRequest>>,
    keep: usize,
    on_exhausted: OnExhausted,
}

impl std::fmt::Debug for ReplayLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayLlm")
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplayLlm {
    /// A model answering from `script`.
    pub fn new(script: Script) -> Self {
        Self {
            entries: Mutex::new(
                script
                    .responses
                    .into_iter()
                    .map(|response| Entry {
                        response,
                        used: false,
                    })
                    .collect(),
            ),
            requests: Mutex::new(VecDeque::new()),
            keep: KEPT_REQUESTS,
            on_exhausted: script.on_exhausted,
        }
    }

    /// Keeps the newest `keep` requests for [`ReplayLlm::requests`] (none with 0).
    pub fn keeping(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }

    /// A model answering with `texts` in order, whatever the request.
    pub fn from_texts<I, S>(texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Script {
            description: None,
            responses: texts
                .into_iter()
                .map(|text| ScriptedResponse {
                    response: Some(Value::String(text.into())),
                    ..ScriptedResponse::default()
                })
                .collect(),
            on_exhausted: OnExhausted::Idle,
        })
    }

    /// Reads a script from a JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ReplayError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let script: Script = serde_json::from_str(&text).map_err(|err| ReplayError::Invalid {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Ok(Self::new(script))
    }

    /// The newest requests received, oldest first: every one, up to the number kept.
    pub fn requests(&self) -> Vec<LlmRequest> {
        lock(&self.requests).iter().cloned().collect()
    }

    /// Scripted entries not used yet (repeating entries excluded).
    pub fn remaining(&self) -> usize {
        lock(&self.entries)
            .iter()
            .filter(|entry| !entry.used && !entry.response.repeat)
            .count()
    }
}

/// The `# Trigger` section of a prompt, or the whole prompt.
fn trigger_section(prompt: &str) -> &str {
    let Some(start) = prompt.find("# Trigger") else {
        return prompt;
    };
    let rest = &prompt[start..];
    match rest[1..].find("\n# ") {
        Some(end) => &rest[..end + 1],
        None => rest,
    }
}

/// Replaces `{{trigger.<field>}}` with the string value of `"<field>": "..."` in `section`.
fn fill_template(text: &str, section: &str) -> String {
    const OPEN: &str = "{{trigger.";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let field = &rest[start + OPEN.len()..start + end];
        out.push_str(&rest[..start]);
        match field_value(section, field) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Replaces `{{task.<title>}}` with the id of the open task of `prompt` whose title contains
/// `<title>`; left as it is when there is none.
fn fill_tasks(text: &str, prompt: &str) -> String {
    const OPEN: &str = "{{task.";
    let section = prompt
        .find("# Your open tasks")
        .map_or("", |start| &prompt[start..]);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let wanted = rest[start + OPEN.len()..start + end].to_lowercase();
        out.push_str(&rest[..start]);
        let found = section
            .lines()
            .take_while(|line| !line.starts_with("# ") || line.starts_with("# Your open tasks"))
            .filter_map(|line| {
                let line = line.strip_prefix("- [")?;
                let (id, after) = line.split_once("] \"")?;
                let (title, _) = after.split_once('"')?;
                title.to_lowercase().contains(&wanted).then_some(id)
            })
            .next();
        match found {
            Some(id) => out.push_str(id),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn field_value<'a>(section: &'a str, field: &str) -> Option<&'a str> {
    let key = format!("\"{field}\": \"");
    let start = section.find(&key)? + key.len();
    let end = section[start..].find('"')?;
    Some(&section[start..start + end])
}

#[async_trait]
impl LlmSession for ReplayLlm {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        let section_original = trigger_section(&request.prompt).to_owned();
        let prompt = request.prompt.clone();
        let section = section_original.to_lowercase();
        let chosen = {
            let mut entries = lock(&self.entries);
            let found = entries.iter_mut().find(|entry| {
                !entry.used
                    && entry
                        .response
                        .role
                        .as_ref()
                        .is_none_or(|role| role == &request.role)
                    && entry
                        .response
                        .when
                        .as_ref()
                        .is_none_or(|when| section.contains(&when.to_lowercase()))
            });
            found.map(|entry| {
                if !entry.response.repeat {
                    entry.used = true;
                }
                entry.response.clone()
            })
        };
        keep_newest(&mut lock(&self.requests), request, self.keep);
        let Some(chosen) = chosen else {
            return match self.on_exhausted {
                OnExhausted::Idle => Ok(LlmResponse {
                    text: IDLE_ANSWER.to_owned(),
                    turns: 1,
                    ..LlmResponse::default()
                }),
                OnExhausted::Error => Err(LlmError::Other {
                    message: "the replay script has no answer for this request".to_owned(),
                }),
            };
        };
        if let Some(error) = chosen.error {
            return Err(error);
        }
        let text = match chosen.response {
            Some(Value::String(text)) => text,
            Some(other) => other.to_string(),
            None => IDLE_ANSWER.to_owned(),
        };
        let text = fill_template(&text, &section_original);
        let text = fill_tasks(&text, &prompt);
        Ok(LlmResponse {
            text,
            session_id: None,
            cost_usd: chosen.cost_usd,
            usage: TokenUsage {
                input_tokens: 0,
                output_tokens: chosen.tokens,
            },
            turns: 1,
            duration: Duration::ZERO,
            provider: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::AgentId;

    fn request(role: Role, prompt: &str) -> LlmRequest {
        LlmRequest {
            agent: AgentId::random(),
            role,
            system_prompt: String::new(),
            prompt: prompt.to_owned(),
            resume_session: None,
            keep_session: false,
            model: None,
            max_turns: None,
            timeout: Duration::from_secs(1),
            working_dir: None,
            kind: Default::default(),
            tier: None,
        }
    }

    #[tokio::test]
    async fn matches_role_and_trigger_section_and_records_requests() {
        let script: Script = serde_json::from_value(serde_json::json!({
            "responses": [
                {"role": "cto", "when": "deploy", "response": {"actions": []}, "cost_usd": 0.5},
                {"role": "ceo", "response": "plain text"},
                {"role": "cto", "error": {"error": "rate_limited", "quota": true, "retry_after": 90000, "message": "limit"}}
            ]
        }))
        .unwrap();
        let llm = ReplayLlm::new(script);
        // "deploy" appears in the history, not in the trigger: no match for the first entry.
        let prompt = "# Recent history\n- deploy done\n# Trigger\nA task: write docs\n# Answer\n";
        let err = llm.run(request(Role::Cto, prompt)).await.unwrap_err();
        assert!(matches!(err, LlmError::RateLimited { quota: true, .. }));
        let prompt = "# Trigger\nA task: Deploy the site\n";
        let ok = llm.run(request(Role::Cto, prompt)).await.unwrap();
        assert_eq!(ok.cost_usd, 0.5);
        assert_eq!(ok.text, r#"{"actions":[]}"#);
        assert_eq!(
            llm.run(request(Role::Ceo, "x")).await.unwrap().text,
            "plain text"
        );
        assert_eq!(
            llm.run(request(Role::Ceo, "x")).await.unwrap().text,
            IDLE_ANSWER
        );
        assert_eq!(llm.requests().len(), 4);
        assert_eq!(
            fill_template(
                "{\"decisionId\": \"{{trigger.decisionId}}\", \"x\": \"{{trigger.missing}}\"}",
                "# Trigger\n{\n  \"decisionId\": \"abc-123\"\n}"
            ),
            "{\"decisionId\": \"abc-123\", \"x\": \"{{trigger.missing}}\"}"
        );
        assert_eq!(llm.remaining(), 0);
    }

    /// A daemon on a script answers for as long as it runs: what the model keeps of its
    /// requests (each a whole prompt, some kilobytes) stops growing at the window.
    #[tokio::test]
    async fn a_long_run_keeps_only_the_newest_requests() {
        let llm = ReplayLlm::new(Script::default());
        let filler = "x".repeat(5_000);
        for n in 0..(KEPT_REQUESTS * 4) {
            let prompt = format!("# Trigger\ntask {n}\n{filler}");
            llm.run(request(Role::Cto, &prompt)).await.unwrap();
        }
        let kept = llm.requests();
        assert_eq!(kept.len(), KEPT_REQUESTS);
        let bytes: usize = kept.iter().map(|request| request.prompt.len()).sum();
        assert!(bytes <= KEPT_REQUESTS * 5_100, "{bytes} bytes kept");
        let newest = kept.last().unwrap();
        assert!(
            newest
                .prompt
                .starts_with(&format!("# Trigger\ntask {}\n", KEPT_REQUESTS * 4 - 1))
        );
        let oldest = kept.first().unwrap();
        assert!(
            oldest
                .prompt
                .starts_with(&format!("# Trigger\ntask {}\n", KEPT_REQUESTS * 3))
        );
        let none = ReplayLlm::new(Script::default()).keeping(0);
        none.run(request(Role::Cto, "x")).await.unwrap();
        assert!(none.requests().is_empty());
    }
}
