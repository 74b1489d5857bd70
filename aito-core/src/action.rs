//! The response contract: what a model's answer means, as typed values.
//!
//! [`parse`](crate::parse) finds the JSON object in the model's text; this module turns it into
//! a [`ModelResponse`]. Both are lenient where the original system's prompts were (fields inside
//! `data` or at the top level, several spellings of a field) and strict where guessing would be
//! dangerous: an action missing a field it needs becomes [`Action::Invalid`] with the reason,
//! and is reported back to the agent instead of being carried out half-understood.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::decision::{Tier, VoteChoice};
use crate::envelope::Priority;
use crate::id::DecisionId;

/// One file an `operational` action writes, relative to the agent's workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileWrite {
    /// Path relative to the workspace.
    pub path: String,
    /// The whole new content.
    pub content: String,
}

/// One action the model asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start a worker with MCP servers.
    SpawnWorker {
        /// What the worker should do.
        task: String,
        /// MCP servers it needs.
        servers: Vec<String>,
        /// Time limit, when given.
        timeout: Option<Duration>,
        /// Extra context.
        context: Option<String>,
    },
    /// Propose a decision, or revise one that was sent back.
    ProposeDecision {
        /// Requested tier (the policy has the last word).
        tier: Option<Tier>,
        /// Title.
        title: String,
        /// Description.
        description: String,
        /// Options, verbatim.
        options: Vec<Value>,
        /// The decision this revises, when it is a revision.
        revises: Option<DecisionId>,
    },
    /// Withdraw a decision the agent proposed.
    WithdrawDecision {
        /// The decision.
        decision: DecisionId,
        /// Why.
        reason: String,
    },
    /// Vote on a decision.
    Vote {
        /// The decision.
        decision: DecisionId,
        /// The choice.
        choice: VoteChoice,
        /// Why.
        reason: String,
    },
    /// Give another agent a task.
    CreateTask {
        /// Role name, uuid, `all`, `head` or `clevel`.
        assign_to: String,
        /// Title.
        title: String,
        /// Description.
        description: String,
        /// Priority.
        priority: Priority,
        /// Free-form deadline, when given.
        deadline: Option<String>,
    },
    /// Raise an alert to the head of the company and the dashboard.
    Alert {
        /// `general`, `security`, `budget`, ...
        alert_type: String,
        /// `low` ... `critical`.
        severity: Priority,
        /// What is wrong.
        message: String,
    },
    /// Write files into the workspace and commit them.
    Operational {
        /// What this is.
        title: String,
        /// Files to write.
        files: Vec<FileWrite>,
        /// Commit message; no commit when absent and no files.
        commit: Option<String>,
    },
    /// Ask a human to do something.
    RequestHumanAction {
        /// Title.
        title: String,
        /// What is needed.
        description: String,
    },
    /// A type this version does not know; skipped and reported to the agent.
    Unknown {
        /// The type as given.
        kind: String,
    },
    /// A known type with missing or wrong fields; skipped and reported to the agent.
    Invalid {
        /// The type as given.
        kind: String,
        /// What was wrong.
        reason: String,
    },
}

impl Action {
    /// The action's type name, as in the response contract.
    pub fn kind(&self) -> &str {
        match self {
            Action::SpawnWorker { .. } => "spawn_worker",
            Action::ProposeDecision { .. } => "propose_decision",
            Action::WithdrawDecision { .. } => "withdraw_decision",
            Action::Vote { .. } => "vote",
            Action::CreateTask { .. } => "create_task",
            Action::Alert { .. } => "alert",
            Action::Operational { .. } => "operational",
            Action::RequestHumanAction { .. } => "request_human_action",
            Action::Unknown { kind } | Action::Invalid { kind, .. } => kind,
        }
    }
}

/// A message the model wants sent (`messages[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    /// Role name, uuid, `all`, `head` or `clevel`, as given.
    pub to: String,
    /// The text.
    pub content: String,
    /// Message type; `direct` when absent.
    pub kind: Option<String>,
    /// Priority.
    pub priority: Priority,
    /// Other fields of the message, passed along in the payload.
    pub extra: Map<String, Value>,
}

/// A model's answer, understood.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelResponse {
    /// What the model says it did and why.
    pub summary: Option<String>,
    /// Actions, in order.
    pub actions: Vec<Action>,
    /// Messages to send.
    pub messages: Vec<OutgoingMessage>,
    /// Keys to set in the agent's state.
    pub state_updates: Map<String, Value>,
    /// Entries that could not be understood (bad messages); reported to the agent.
    pub problems: Vec<String>,
}

impl ModelResponse {
    /// Whether `value` is a response object: an object with an `actions` or `messages` key.
    pub fn looks_like_response(value: &Value) -> bool {
        value
            .as_object()
            .is_some_and(|object| object.contains_key("actions") || object.contains_key("messages"))
    }

    /// Reads a response object. Fails only when `value` is not an object with an `actions` or
    /// `messages` key; problems inside it are kept as [`Action::Invalid`] or
    /// [`ModelResponse::problems`].
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut object) = value else {
            return Err(format!("expected a JSON object, saw {}", type_name(&value)));
        };
        if !object.contains_key("actions") && !object.contains_key("messages") {
            let keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
            return Err(format!(
                "expected an object with an \"actions\" or \"messages\" key, saw keys [{}]",
                keys.join(", ")
            ));
        }
        let mut response = ModelResponse {
            summary: object.remove("summary").and_then(text),
            ..ModelResponse::default()
        };
        match object.remove("actions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(actions)) => {
                response.actions = actions.into_iter().map(Action::from_value).collect();
            }
            Some(other) => response.problems.push(format!(
                "\"actions\" must be an array, saw {}",
                type_name(&other)
            )),
        }
        match object.remove("messages") {
            None | Some(Value::Null) => {}
            Some(Value::Array(messages)) => {
                for (index, message) in messages.into_iter().enumerate() {
                    match OutgoingMessage::from_value(message) {
                        Ok(message) => response.messages.push(message),
                        Err(reason) => response
                            .problems
                            .push(format!("messages[{index}] skipped: {reason}")),
                    }
                }
            }
            Some(other) => response.problems.push(format!(
                "\"messages\" must be an array, saw {}",
                type_name(&other)
            )),
        }
        let updates = object
            .remove("stateUpdates")
            .or_else(|| object.remove("state_updates"));
        match updates {
            None | Some(Value::Null) => {}
            Some(Value::Object(updates)) => response.state_updates = updates,
            Some(other) => response.problems.push(format!(
                "\"stateUpdates\" must be an object, saw {}",
                type_name(&other)
            )),
        }
        Ok(response)
    }
}

impl OutgoingMessage {
    fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut object) = value else {
            return Err(format!("expected an object, saw {}", type_name(&value)));
        };
        let to = take_text(&mut object, &["to", "recipient"])
            .ok_or_else(|| "missing \"to\"".to_owned())?;
        let content = take_text(&mut object, &["content", "message", "text", "body"])
            .ok_or_else(|| "missing \"content\"".to_owned())?;
        let kind = take_text(&mut object, &["type"]);
        let priority = take_text(&mut object, &["priority"])
            .and_then(|p| p.parse().ok())
            .unwrap_or_default();
        Ok(OutgoingMessage {
            to,
            content,
            kind,
            priority,
            extra: object,
        })
    }
}

impl Action {
    /// Reads one action. Fields may sit in `data` or at the top level.
    pub fn from_value(value: Value) -> Action {
        let Value::Object(mut object) = value else {
            return Action::Invalid {
                kind: "?".into(),
                reason: format!("an action must be an object, saw {}", type_name(&value)),
            };
        };
        let Some(kind) = take_text(&mut object, &["type", "action"]) else {
            return Action::Invalid {
                kind: "?".into(),
                reason: "missing \"type\"".into(),
            };
        };
        // Fields in `data` win over top-level ones of the same name.
        if let Some(Value::Object(data)) = object.remove("data") {
            object.extend(data);
        }
        let normalized = kind.trim().to_ascii_lowercase();
        let parsed = match normalized.as_str() {
            "spawn_worker" => spawn_worker(&mut object),
            "propose_decision" | "decision" | "revise_decision" => propose_decision(&mut object),
            "withdraw_decision" => withdraw_decision(&mut object),
            "vote" => vote(&mut object),
            "create_task" => create_task(&mut object),
            "alert" => alert(&mut object),
            "operational" => operational(&mut object),
            "request_human_action" => request_human_action(&mut object),
            _ => return Action::Unknown { kind },
        };
        parsed.unwrap_or_else(|reason| Action::Invalid { kind, reason })
    }
}

fn spawn_worker(object: &mut Map<String, Value>) -> Result<Action, String> {
    let task = require_text(object, &["task", "prompt", "description"], "task")?;
    let servers = match object
        .remove("servers")
        .or_else(|| object.remove("mcpServers"))
        .or_else(|| object.remove("mcp_servers"))
    {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| text(item).ok_or_else(|| "\"servers\" must be a list of names".to_owned()))
            .collect::<Result<_, _>>()?,
        Some(Value::String(one)) => vec![one],
        Some(other) => {
            return Err(format!(
                "\"servers\" must be a list of names, saw {}",
                type_name(&other)
            ));
        }
    };
    let timeout = match object.remove("timeout") {
        None | Some(Value::Null) => None,
        Some(Value::Number(ms)) => ms.as_u64().map(Duration::from_millis),
        Some(other) => {
            return Err(format!(
                "\"timeout\" must be milliseconds, saw {}",
                type_name(&other)
            ));
        }
    };
    Ok(Action::SpawnWorker {
        task,
        servers,
        timeout,
        context: take_text(object, &["context"]),
    })
}

fn propose_decision(object: &mut Map<String, Value>) -> Result<Action, String> {
    let tier = match take_text(object, &["tier", "decisionType", "decision_type"]) {
        None => None,
        Some(tier) => Some(tier.parse::<Tier>()?),
    };
    let revises = match take_text(object, &["decisionId", "decision_id", "revises"]) {
        None => None,
        Some(id) => Some(parse_decision_id(&id)?),
    };
    let title = require_text(object, &["title"], "title")?;
    let description = take_text(object, &["description", "context", "details"]).unwrap_or_default();
    let options = match object.remove("options") {
        Some(Value::Array(options)) => options,
        _ => Vec::new(),
    };
    Ok(Action::ProposeDecision {
        tier,
        title,
        description,
        options,
        revises,
    })
}

fn withdraw_decision(object: &mut Map<String, Value>) -> Result<Action, String> {
    let id = require_text(
        object,
        &["decisionId", "decision_id", "decision"],
        "decisionId",
    )?;
    Ok(Action::WithdrawDecision {
        decision: parse_decision_id(&id)?,
        reason: take_text(object, &["reason"]).unwrap_or_default(),
    })
}

fn vote(object: &mut Map<String, Value>) -> Result<Action, String> {
    let id = require_text(
        object,
        &["decisionId", "decision_id", "decision"],
        "decisionId",
    )?;
    let choice = require_text(object, &["vote", "choice"], "vote")?.parse::<VoteChoice>()?;
    Ok(Action::Vote {
        decision: parse_decision_id(&id)?,
        choice,
        reason: take_text(object, &["reason", "comment"]).unwrap_or_default(),
    })
}

fn create_task(object: &mut Map<String, Value>) -> Result<Action, String> {
    let assign_to = require_text(
        object,
        &["assignTo", "assign_to", "assignee", "to"],
        "assignTo",
    )?;
    let title = require_text(object, &["title"], "title")?;
    let priority = match take_text(object, &["priority"]) {
        None => Priority::Normal,
        Some(p) => p.parse()?,
    };
    Ok(Action::CreateTask {
        assign_to,
        title,
        description: take_text(object, &["description", "details"]).unwrap_or_default(),
        priority,
        deadline: take_text(object, &["deadline"]),
    })
}

fn alert(object: &mut Map<String, Value>) -> Result<Action, String> {
    let message = require_text(object, &["message", "description", "content"], "message")?;
    let severity = match take_text(object, &["severity", "priority"]) {
        None => Priority::Normal,
        Some(s) if s.eq_ignore_ascii_case("medium") => Priority::Normal,
        Some(s) => s.parse()?,
    };
    Ok(Action::Alert {
        alert_type: take_text(object, &["alertType", "alert_type", "category"])
            .unwrap_or_else(|| "general".to_owned()),
        severity,
        message,
    })
}

fn operational(object: &mut Map<String, Value>) -> Result<Action, String> {
    let title = take_text(object, &["title", "description"])
        .unwrap_or_else(|| "operational work".to_owned());
    let files = match object.remove("files") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(files)) => files
            .into_iter()
            .enumerate()
            .map(|(index, file)| {
                let Value::Object(mut file) = file else {
                    return Err(format!(
                        "files[{index}] must be an object with path and content"
                    ));
                };
                let path = take_text(&mut file, &["path"])
                    .ok_or_else(|| format!("files[{index}] has no \"path\""))?;
                let content = take_text(&mut file, &["content"])
                    .ok_or_else(|| format!("files[{index}] has no \"content\""))?;
                Ok(FileWrite { path, content })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "\"files\" must be an array, saw {}",
                type_name(&other)
            ));
        }
    };
    let commit = match object.remove("commit") {
        Some(Value::String(message)) if !message.trim().is_empty() => Some(message),
        Some(Value::Bool(true)) => Some(title.clone()),
        Some(Value::Bool(false)) => None,
        _ if !files.is_empty() => Some(title.clone()),
        _ => None,
    };
    Ok(Action::Operational {
        title,
        files,
        commit,
    })
}

fn request_human_action(object: &mut Map<String, Value>) -> Result<Action, String> {
    Ok(Action::RequestHumanAction {
        title: require_text(object, &["title"], "title")?,
        description: take_text(object, &["description", "details", "message"]).unwrap_or_default(),
    })
}

fn parse_decision_id(text: &str) -> Result<DecisionId, String> {
    text.parse::<DecisionId>()
        .map_err(|_| format!("decision id {text:?} is not a uuid"))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string value, or a number/bool rendered as text; `None` for empty or structured values.
fn text(value: Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn take_text(object: &mut Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| object.remove(*key).and_then(text))
}

fn require_text(
    object: &mut Map<String, Value>,
    keys: &[&str],
    name: &str,
) -> Result<String, String> {
    take_text(object, keys).ok_or_else(|| format!("missing \"{name}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_in_data_or_at_top_level_parse_the_same() {
        let nested = Action::from_value(
            json!({"type": "spawn_worker", "data": {"task": "Post", "servers": ["telegram"], "timeout": 60000}}),
        );
        let flat = Action::from_value(
            json!({"type": "spawn_worker", "task": "Post", "servers": ["telegram"], "timeout": 60000}),
        );
        assert_eq!(nested, flat);
        assert_eq!(
            nested,
            Action::SpawnWorker {
                task: "Post".into(),
                servers: vec!["telegram".into()],
                timeout: Some(Duration::from_secs(60)),
                context: None
            }
        );
    }

    #[test]
    fn decision_is_an_alias_of_propose_decision() {
        let action = Action::from_value(
            json!({"type": "decision", "data": {"tier": "minor", "title": "T", "description": "D"}}),
        );
        assert!(matches!(
            action,
            Action::ProposeDecision {
                tier: Some(Tier::Minor),
                ..
            }
        ));
    }

    #[test]
    fn unknown_and_invalid_actions_are_kept_with_reasons() {
        assert_eq!(
            Action::from_value(json!({"type": "launch_rocket"})),
            Action::Unknown {
                kind: "launch_rocket".into()
            }
        );
        let invalid = Action::from_value(
            json!({"type": "vote", "data": {"decisionId": "nope", "vote": "approve"}}),
        );
        assert!(
            matches!(&invalid, Action::Invalid { reason, .. } if reason.contains("not a uuid")),
            "{invalid:?}"
        );
        let invalid = Action::from_value(
            json!({"type": "vote", "data": {"decisionId": "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3", "vote": "maybe"}}),
        );
        assert!(matches!(&invalid, Action::Invalid { reason, .. } if reason.contains("maybe")));
    }

    #[test]
    fn a_response_needs_actions_or_messages() {
        let err = ModelResponse::from_value(json!({"summary": "hi"})).unwrap_err();
        assert!(err.contains("\"actions\""), "{err}");
        let ok = ModelResponse::from_value(json!({"messages": [{"to": "cto", "content": "hi"}, {"content": "no to"}], "stateUpdates": {"k": 1}})).unwrap();
        assert_eq!(ok.messages.len(), 1);
        assert_eq!(ok.problems.len(), 1);
        assert_eq!(ok.state_updates["k"], 1);
    }
}
