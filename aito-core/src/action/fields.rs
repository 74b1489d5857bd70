//! Reading answers: one table of every field an action or message may carry, decoded by serde
//! straight from the text in the common case, or from a JSON value for the lenient path, and
//! one conversion from that table to typed actions. Both paths share the table, so they cannot
//! disagree about what a field means.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value};

use super::{Action, FileWrite, ModelResponse, OutgoingMessage};
use crate::decision::{Tier, VoteChoice};
use crate::envelope::Priority;
use crate::id::{DecisionId, TaskId};
use crate::task::TaskStatus;

/// Text that models write as a string, a number or a boolean.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Text(String);

impl Text {
    /// The text, unless it is empty or blank.
    fn non_empty(self) -> Option<String> {
        (!self.0.trim().is_empty()).then_some(self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// First non-empty text among `candidates`, in order of preference.
fn first(candidates: impl IntoIterator<Item = Option<Text>>) -> Option<String> {
    candidates.into_iter().flatten().find_map(Text::non_empty)
}

fn require(
    candidates: impl IntoIterator<Item = Option<Text>>,
    name: &str,
) -> Result<String, String> {
    first(candidates).ok_or_else(|| format!("missing \"{name}\""))
}

/// One file of an `operational` action.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireFile {
    path: Option<Text>,
    content: Option<Text>,
}

macro_rules! field_table {
    ($( $(#[$attr:meta])* $name:ident: $ty:ty ),* $(,)?) => {
        /// Every field an action may carry, at its top level or in `data`.
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        pub(super) struct Fields {
            $( $(#[$attr])* $name: Option<$ty>, )*
            data: Option<Box<Fields>>,
        }

        impl Fields {
            /// Folds `data` into the top level; fields in `data` win.
            fn merged(mut self) -> Self {
                if let Some(data) = self.data.take() {
                    let data = *data;
                    $( if data.$name.is_some() { self.$name = data.$name; } )*
                }
                self
            }
        }
    };
}

field_table! {
    #[serde(rename = "type")]
    kind: Text,
    action: Text,
    task: Text,
    prompt: Text,
    description: Text,
    details: Text,
    context: Text,
    servers: Value,
    #[serde(rename = "mcpServers", alias = "mcp_servers")]
    mcp_servers: Value,
    timeout: Value,
    #[serde(alias = "decisionType", alias = "decision_type")]
    tier: Text,
    #[serde(rename = "decisionId", alias = "decision_id")]
    decision_id: Text,
    revises: Text,
    decision: Text,
    title: Text,
    options: Vec<Value>,
    vote: Text,
    choice: Text,
    reason: Text,
    comment: Text,
    #[serde(rename = "assignTo", alias = "assign_to")]
    assign_to: Text,
    assignee: Text,
    to: Text,
    priority: Text,
    deadline: Text,
    #[serde(rename = "alertType", alias = "alert_type")]
    alert_type: Text,
    category: Text,
    severity: Text,
    message: Text,
    content: Text,
    files: Vec<WireFile>,
    commit: Value,
    #[serde(rename = "taskId", alias = "task_id")]
    task_id: Text,
    #[serde(rename = "parentTaskId", alias = "parent_task_id", alias = "parent")]
    parent_task_id: Text,
    status: Text,
    note: Text,
    result: Text,
}

/// A message as written in `messages[]`; other fields are passed along in the payload.
#[derive(Debug, Deserialize)]
pub(super) struct WireMessage {
    #[serde(default)]
    to: Option<Text>,
    #[serde(default)]
    recipient: Option<Text>,
    #[serde(default)]
    content: Option<Text>,
    #[serde(default)]
    message: Option<Text>,
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    body: Option<Text>,
    #[serde(default, rename = "type")]
    kind: Option<Text>,
    #[serde(default)]
    priority: Option<Text>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// A whole answer of the usual shape.
#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    summary: Option<Text>,
    #[serde(default)]
    actions: Option<Vec<Fields>>,
    #[serde(default)]
    messages: Option<Vec<WireMessage>>,
    #[serde(default, rename = "stateUpdates", alias = "state_updates")]
    state_updates: Option<Map<String, Value>>,
}

pub(super) fn response_from_str(text: &str) -> Option<ModelResponse> {
    let wire: WireResponse = serde_json::from_str(text).ok()?;
    if wire.actions.is_none() && wire.messages.is_none() {
        return None;
    }
    let mut response = ModelResponse {
        summary: wire.summary.and_then(Text::non_empty),
        state_updates: wire.state_updates.unwrap_or_default(),
        ..ModelResponse::default()
    };
    response.actions = wire
        .actions
        .unwrap_or_default()
        .into_iter()
        .map(Fields::into_action)
        .collect();
    for (index, message) in wire.messages.unwrap_or_default().into_iter().enumerate() {
        match message.into_message() {
            Ok(message) => response.messages.push(message),
            Err(reason) => response
                .problems
                .push(format!("messages[{index}] skipped: {reason}")),
        }
    }
    Some(response)
}

pub(super) fn response_from_value(value: Value) -> Result<ModelResponse, String> {
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
        summary: object
            .remove("summary")
            .and_then(|summary| serde_json::from_value::<Text>(summary).ok())
            .and_then(Text::non_empty),
        ..ModelResponse::default()
    };
    match object.remove("actions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(actions)) => {
            response.actions = actions.into_iter().map(action_from_value).collect();
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
                let read = serde_json::from_value::<WireMessage>(message)
                    .map_err(|err| err.to_string())
                    .and_then(WireMessage::into_message);
                match read {
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

pub(super) fn action_from_value(value: Value) -> Action {
    let kind = value
        .get("type")
        .or_else(|| value.get("action"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    if !value.is_object() {
        return Action::Invalid {
            kind,
            reason: format!("an action must be an object, saw {}", type_name(&value)),
        };
    }
    match serde_json::from_value::<Fields>(value) {
        Ok(fields) => fields.into_action(),
        Err(err) => Action::Invalid {
            kind,
            reason: err.to_string(),
        },
    }
}

impl WireMessage {
    fn into_message(self) -> Result<OutgoingMessage, String> {
        let to = first([self.to, self.recipient]).ok_or_else(|| "missing \"to\"".to_owned())?;
        let content = first([self.content, self.message, self.text, self.body])
            .ok_or_else(|| "missing \"content\"".to_owned())?;
        Ok(OutgoingMessage {
            to,
            content,
            kind: first([self.kind]),
            priority: first([self.priority])
                .and_then(|priority| priority.parse().ok())
                .unwrap_or_default(),
            extra: self.extra,
        })
    }
}

impl Fields {
    fn into_action(self) -> Action {
        let fields = self.merged();
        let Some(kind) = first([fields.kind.clone(), fields.action.clone()]) else {
            return Action::Invalid {
                kind: "?".into(),
                reason: "missing \"type\"".into(),
            };
        };
        let read = match kind.trim().to_ascii_lowercase().as_str() {
            "spawn_worker" => fields.spawn_worker(),
            "propose_decision" | "decision" | "revise_decision" => fields.propose_decision(),
            "withdraw_decision" => fields.withdraw_decision(),
            "vote" => fields.vote(),
            "create_task" => fields.create_task(),
            "update_task" => fields.update_task(),
            "alert" => fields.alert(),
            "operational" => fields.operational(),
            "request_human_action" => fields.request_human_action(),
            _ => return Action::Unknown { kind },
        };
        read.unwrap_or_else(|reason| Action::Invalid { kind, reason })
    }

    fn spawn_worker(self) -> Result<Action, String> {
        let task = require([self.task, self.prompt, self.description], "task")?;
        let servers = match self.servers.or(self.mcp_servers) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(name) if !name.trim().is_empty() => Ok(name),
                    _ => Err("\"servers\" must be a list of names".to_owned()),
                })
                .collect::<Result<_, _>>()?,
            Some(Value::String(one)) => vec![one],
            Some(other) => {
                return Err(format!(
                    "\"servers\" must be a list of names, saw {}",
                    type_name(&other)
                ));
            }
        };
        let timeout = match self.timeout {
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
            context: first([self.context]),
        })
    }

    fn propose_decision(self) -> Result<Action, String> {
        let tier = first([self.tier])
            .map(|tier| tier.parse::<Tier>())
            .transpose()?;
        let revises = first([self.decision_id, self.revises])
            .map(|id| decision_id(&id))
            .transpose()?;
        Ok(Action::ProposeDecision {
            tier,
            title: require([self.title], "title")?,
            description: first([self.description, self.context, self.details]).unwrap_or_default(),
            options: self.options.unwrap_or_default(),
            revises,
        })
    }

    fn withdraw_decision(self) -> Result<Action, String> {
        let id = require([self.decision_id, self.decision], "decisionId")?;
        Ok(Action::WithdrawDecision {
            decision: decision_id(&id)?,
            reason: first([self.reason]).unwrap_or_default(),
        })
    }

    fn vote(self) -> Result<Action, String> {
        let id = require([self.decision_id, self.decision], "decisionId")?;
        let choice = require([self.vote, self.choice], "vote")?.parse::<VoteChoice>()?;
        Ok(Action::Vote {
            decision: decision_id(&id)?,
            choice,
            reason: first([self.reason, self.comment]).unwrap_or_default(),
        })
    }

    fn create_task(self) -> Result<Action, String> {
        let assign_to = require([self.assign_to, self.assignee, self.to], "assignTo")?;
        let priority = first([self.priority])
            .map(|p| p.parse::<Priority>())
            .transpose()?
            .unwrap_or_default();
        Ok(Action::CreateTask {
            assign_to,
            title: require([self.title], "title")?,
            description: first([self.description, self.details]).unwrap_or_default(),
            priority,
            deadline: first([self.deadline]),
            parent: first([self.parent_task_id])
                .map(|id| task_id(&id))
                .transpose()?,
        })
    }

    fn update_task(self) -> Result<Action, String> {
        let id = require([self.task_id, self.task], "taskId")?;
        let status = require([self.status], "status")?.parse::<TaskStatus>()?;
        Ok(Action::UpdateTask {
            task: task_id(&id)?,
            status,
            note: first([self.note, self.result, self.reason, self.comment]).unwrap_or_default(),
        })
    }

    fn alert(self) -> Result<Action, String> {
        let message = require([self.message, self.description, self.content], "message")?;
        let severity = first([self.severity, self.priority])
            .map(|s| s.parse::<Priority>())
            .transpose()?
            .unwrap_or_default();
        Ok(Action::Alert {
            alert_type: first([self.alert_type, self.category])
                .unwrap_or_else(|| "general".to_owned()),
            severity,
            message,
        })
    }

    fn operational(self) -> Result<Action, String> {
        let title =
            first([self.title, self.description]).unwrap_or_else(|| "operational work".to_owned());
        let files = self
            .files
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, file)| {
                let path =
                    first([file.path]).ok_or_else(|| format!("files[{index}] has no \"path\""))?;
                let content = file
                    .content
                    .map(|content| content.0)
                    .ok_or_else(|| format!("files[{index}] has no \"content\""))?;
                Ok(FileWrite { path, content })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let commit = match self.commit {
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

    fn request_human_action(self) -> Result<Action, String> {
        Ok(Action::RequestHumanAction {
            title: require([self.title], "title")?,
            description: first([self.description, self.details, self.message]).unwrap_or_default(),
        })
    }
}

fn decision_id(text: &str) -> Result<DecisionId, String> {
    text.parse::<DecisionId>()
        .map_err(|_| format!("decision id {text:?} is not a uuid"))
}

fn task_id(text: &str) -> Result<TaskId, String> {
    text.parse::<TaskId>()
        .map_err(|_| format!("task id {text:?} is not a uuid"))
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
