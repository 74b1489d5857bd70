//! The response contract: what a model's answer means, as typed values.
//!
//! [`parse`](crate::parse) finds the JSON object in the model's text; this module turns it into
//! a [`ModelResponse`]. Both are lenient where the original system's prompts were (fields inside
//! `data` or at the top level, several spellings of a field) and strict where guessing would be
//! dangerous: an action missing a field it needs becomes [`Action::Invalid`] with the reason,
//! and is reported back to the agent instead of being carried out half-understood.

use std::time::Duration;

use serde_json::{Map, Value};

mod fields;

use crate::decision::{Tier, VoteChoice};
use crate::envelope::Priority;
use crate::id::{DecisionId, TaskId};
use crate::task::TaskStatus;

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
        /// The task this one is part of, when given.
        parent: Option<TaskId>,
    },
    /// Change a task of the ledger: its assignee, its creator or the CEO only.
    UpdateTask {
        /// The task.
        task: TaskId,
        /// Its new status.
        status: TaskStatus,
        /// Why, or the result (required for `blocked` and `done`).
        note: String,
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
            Action::UpdateTask { .. } => "update_task",
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

    /// Decodes a response straight from JSON text, the fast way: `None` when the text is not
    /// a well-formed response object of the usual shape (the caller then falls back to
    /// [`ModelResponse::from_value`], which is lenient item by item).
    pub fn from_json(text: &str) -> Option<Self> {
        fields::response_from_str(text)
    }

    /// Reads a response object. Fails only when `value` is not an object with an `actions` or
    /// `messages` key; problems inside it are kept as [`Action::Invalid`] or
    /// [`ModelResponse::problems`].
    pub fn from_value(value: Value) -> Result<Self, String> {
        fields::response_from_value(value)
    }
}

impl Action {
    /// Reads one action. Fields may sit in `data` or at the top level; `data` wins.
    pub fn from_value(value: Value) -> Action {
        fields::action_from_value(value)
    }
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
    fn update_task_reads_its_id_status_and_note() {
        let id = "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3";
        let action = Action::from_value(
            json!({"type": "update_task", "data": {"taskId": id, "status": "blocked", "note": "waiting for the budget"}}),
        );
        assert_eq!(
            action,
            Action::UpdateTask {
                task: id.parse().unwrap(),
                status: TaskStatus::Blocked,
                note: "waiting for the budget".into()
            }
        );
        let done = Action::from_value(
            json!({"type": "update_task", "taskId": id, "status": "done", "result": "shipped"}),
        );
        assert!(matches!(done, Action::UpdateTask { note, .. } if note == "shipped"));
        let bad =
            Action::from_value(json!({"type": "update_task", "taskId": id, "status": "later"}));
        assert!(
            matches!(&bad, Action::Invalid { reason, .. } if reason.contains("later")),
            "{bad:?}"
        );
        let missing = Action::from_value(json!({"type": "update_task", "status": "done"}));
        assert!(
            matches!(&missing, Action::Invalid { reason, .. } if reason.contains("taskId")),
            "{missing:?}"
        );
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
