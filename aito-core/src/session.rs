//! Stored sessions: for each handled trigger, what the agent's session got and gave — the
//! prompt, the raw answer, what was understood of it and what came of each action — kept
//! through [`StateStore::put_session`](crate::store::StateStore::put_session), the newest
//! [`Settings::sessions_keep`](crate::Settings::sessions_keep) per agent.
//!
//! A record holds nothing the session did not see: the prompt is the one the model was sent
//! (built from the profile, state, history, tasks, decisions, context and trigger, never from
//! configuration or the environment), the answer is the model's text. The dashboard's
//! conversation and message-flow pages are drawn from the records' triggers: who woke whom,
//! under which correlation id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::ModelResponse;
use crate::envelope::{Envelope, Priority};
use crate::id::AgentId;
use crate::role::Role;
use crate::store::{ActionRecord, Outcome};
use crate::trigger::{Cause, Trigger};

/// A message the session asked to send, as understood.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The recipient as the model named it (a role, `all`, `head`, `clevel`, a uuid).
    pub to: String,
    /// The message type (`direct` when the model gave none).
    pub kind: String,
    /// The priority.
    pub priority: Priority,
    /// The text.
    pub content: String,
}

/// What was understood of the answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedAnswer {
    /// The model's summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// The type of each action, in order (`spawn_worker`, `vote`, ...).
    #[serde(default)]
    pub actions: Vec<String>,
    /// The messages to send, in order.
    #[serde(default)]
    pub messages: Vec<SentMessage>,
    /// The state keys set (`null` removes one).
    #[serde(default)]
    pub state_updates: Map<String, Value>,
    /// Entries that could not be understood.
    #[serde(default)]
    pub problems: Vec<String>,
}

impl ParsedAnswer {
    /// What a parsed response holds, for the record.
    pub fn of(response: &ModelResponse) -> Self {
        Self {
            summary: response.summary.clone(),
            actions: response
                .actions
                .iter()
                .map(|action| action.kind().to_owned())
                .collect(),
            messages: response
                .messages
                .iter()
                .map(|message| SentMessage {
                    to: message.to.clone(),
                    kind: message.kind.clone().unwrap_or_else(|| "direct".to_owned()),
                    priority: message.priority,
                    content: message.content.clone(),
                })
                .collect(),
            state_updates: response.state_updates.clone(),
            problems: response.problems.clone(),
        }
    }
}

/// One handled trigger's session, kept for the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The agent.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// The trigger's id: the same as its history entry's.
    pub trigger_id: String,
    /// The trigger, described.
    pub description: String,
    /// The trigger, intact: for a message, the envelope that woke the agent.
    pub trigger: Trigger,
    /// When handling ended (the history entry's time).
    pub at: DateTime<Utc>,
    /// How it ended.
    pub outcome: Outcome,
    /// The model's summary, or why there was none.
    pub summary: String,
    /// The conversation the session's own messages carry (their correlation id).
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// The system prompt sent, when a session ran in this process.
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// The prompt sent; `None` when no session ran (a guard stopped the trigger) or the
    /// answer was recalled from before a restart.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The model's answer as it came.
    #[serde(default)]
    pub answer: Option<String>,
    /// What was understood of it.
    #[serde(default)]
    pub parsed: Option<ParsedAnswer>,
    /// Every action and what came of it.
    #[serde(default)]
    pub actions: Vec<ActionRecord>,
    /// Session cost in USD.
    #[serde(default)]
    pub cost_usd: f64,
    /// Tokens in and out.
    #[serde(default)]
    pub tokens: u64,
    /// Wall time of the handling, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// The model provider that answered, when a router chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl SessionRecord {
    /// The envelope that woke the agent, when a message did.
    pub fn envelope(&self) -> Option<&Envelope> {
        self.trigger.envelope()
    }

    /// The conversation this session belongs to: the correlation id of the message that woke
    /// it (or that message's id, which its replies carry), else the one its messages carry.
    pub fn thread(&self) -> Option<String> {
        match self.envelope() {
            Some(envelope) => Some(
                envelope
                    .correlation_id
                    .clone()
                    .unwrap_or_else(|| envelope.id.to_string()),
            ),
            None => self.correlation_id.clone(),
        }
    }

    /// The correlation id that `agent`'s messages carry when it handles `trigger`.
    pub fn correlation_of(agent: AgentId, trigger: &Trigger) -> Option<String> {
        Cause::of(agent, trigger).correlation_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{MessageType, Sender};
    use crate::trigger::TriggerKind;

    fn record(trigger: Trigger) -> SessionRecord {
        let agent = AgentId::derived("t", "cto");
        SessionRecord {
            agent,
            role: Role::Cto,
            trigger_id: trigger.id.clone(),
            description: "a trigger".into(),
            correlation_id: SessionRecord::correlation_of(agent, &trigger),
            trigger,
            at: Utc::now(),
            outcome: Outcome::Handled,
            summary: "done".into(),
            system_prompt: None,
            prompt: Some("the prompt".into()),
            answer: Some("{}".into()),
            parsed: None,
            actions: Vec::new(),
            cost_usd: 0.0,
            tokens: 0,
            duration_ms: 0,
            provider: None,
        }
    }

    #[test]
    fn a_session_woken_by_a_message_is_in_that_messages_thread_and_its_replies_too() {
        let mut envelope = Envelope::new(
            MessageType::Task,
            Sender::Agent(AgentId::derived("t", "ceo")),
            serde_json::json!({"content": "go"}),
        );
        let message = |envelope: Envelope| Trigger {
            id: envelope.id.to_string(),
            kind: TriggerKind::Message {
                envelope,
                channel: crate::Channel::Broadcast,
            },
            priority: Priority::Normal,
            at: Utc::now(),
        };
        let first = record(message(envelope.clone()));
        // No correlation id: the thread is the message's id, and replies carry that.
        assert_eq!(first.thread(), Some(envelope.id.to_string()));
        assert_eq!(first.correlation_id, first.thread());
        envelope.correlation_id = Some("launch".into());
        let second = record(message(envelope));
        assert_eq!(second.thread().as_deref(), Some("launch"));
        assert_eq!(second.correlation_id.as_deref(), Some("launch"));
        let json = serde_json::to_value(&second).expect("encode");
        let back: SessionRecord = serde_json::from_value(json).expect("decode");
        assert_eq!(back, second);
    }

    #[test]
    fn a_scheduled_session_starts_a_thread_of_its_own() {
        let trigger = Trigger {
            id: "cron-1".into(),
            kind: TriggerKind::Startup,
            priority: Priority::Normal,
            at: Utc::now(),
        };
        let record = record(trigger);
        assert_eq!(record.thread().as_deref(), Some("cron-1"));
    }
}
