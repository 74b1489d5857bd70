//! [`ScenarioModel`]: a whole company's model behind the API, from a replay scenario.
//!
//! Each agent session is answered with the scenario's scripted answer: a [`ReplayLlm`] reads
//! the role from the system prompt ("You are the CTO ...") and the trigger from the user text
//! that holds `# Trigger`, exactly as it does in process. A worker session (recognised by its
//! system prompt) first calls one tool, then reports the tool's answer as its result. So a
//! client of either API runs the scenario to the same end as the replay model does.

use std::time::Duration;

use aito_core::mock::Script;
use aito_core::{AgentId, LlmRequest, LlmSession, ReplayLlm, Role, SessionKind};
use async_trait::async_trait;
use serde_json::Value;

use crate::anthropic::MessagesRequest;
use crate::openai::ChatRequest;
use crate::record::{Api, Recorded};
use crate::reply::Reply;
use crate::script::Responder;

/// What a worker session does: call `tool` with `input`, then answer the tool's result.
#[derive(Clone, Debug)]
struct WorkerPart {
    system_prompt: String,
    tool: String,
    input: Value,
}

/// Answers the sessions of a company from a replay scenario (see the module docs).
pub struct ScenarioModel {
    replay: ReplayLlm,
    worker: Option<WorkerPart>,
}

impl ScenarioModel {
    /// Answers agent sessions from `script`.
    pub fn new(script: Script) -> Self {
        Self {
            replay: ReplayLlm::new(script),
            worker: None,
        }
    }

    /// Answers the calls whose system prompt is `system_prompt` as a worker: a call to `tool`
    /// with `input` first, then the text of the tool's result.
    #[must_use]
    pub fn worker(
        mut self,
        system_prompt: impl Into<String>,
        tool: impl Into<String>,
        input: Value,
    ) -> Self {
        self.worker = Some(WorkerPart {
            system_prompt: system_prompt.into(),
            tool: tool.into(),
            input,
        });
        self
    }
}

/// The parts of a model call the scenario reads, from either API.
struct Call {
    system: String,
    user_texts: Vec<String>,
    tool_result: Option<String>,
}

fn read(request: &Recorded) -> Option<Call> {
    if request.is_api(Api::Anthropic) {
        let call = MessagesRequest::parse(request)?;
        Some(Call {
            system: call.system_text(),
            user_texts: call.user_texts(),
            tool_result: call.tool_results().last().map(|result| result.text.clone()),
        })
    } else {
        let call = ChatRequest::parse(request)?;
        Some(Call {
            system: call.system_text(),
            user_texts: call.user_texts(),
            tool_result: call
                .tool_results()
                .last()
                .map(|result| result.content.clone()),
        })
    }
}

/// The role a system prompt names ("You are the CTO ...").
pub fn role_of(system: &str) -> Option<Role> {
    let start = system.find("You are the ")? + "You are the ".len();
    let name = system[start..].split_whitespace().next()?;
    name.to_lowercase().parse().ok()
}

#[async_trait]
impl Responder for ScenarioModel {
    async fn respond(&self, request: &Recorded) -> Reply {
        let Some(call) = read(request) else {
            return Reply::error(400, "not a model call");
        };
        if let Some(worker) = self
            .worker
            .as_ref()
            .filter(|worker| call.system == worker.system_prompt)
        {
            return match call.tool_result {
                None => Reply::tool_use(worker.tool.clone(), worker.input.clone()),
                Some(result) => Reply::text(result),
            };
        }
        let Some(role) = role_of(&call.system) else {
            return Reply::error(400, "no role in the system prompt");
        };
        let prompt = call
            .user_texts
            .into_iter()
            .find(|text| text.contains("# Trigger"))
            .unwrap_or_default();
        let request = LlmRequest {
            agent: AgentId::random(),
            role,
            system_prompt: call.system,
            prompt,
            resume_session: None,
            keep_session: false,
            model: None,
            max_turns: None,
            timeout: Duration::from_secs(60),
            working_dir: None,
            kind: SessionKind::Message,
            tier: None,
        };
        match self.replay.run(request).await {
            Ok(answer) => Reply::text(answer.text),
            Err(error) => Reply::error(500, error.to_string()),
        }
    }
}
