//! Worker log lines: what a worker's stream of events looks like on the dashboard.
//!
//! Workers publish every line of their output on `Channel::WorkerLogs` as a `worker_log`
//! envelope whose payload is `{"taskId", "agent", "role", "seq", "event"}` (a stream-json
//! event of the claude CLI) or `{..., "line"}` (anything else). The dashboard turns each into a
//! [`LogLine`]: one readable line of text, bounded in size. The recent lines are kept in the
//! store's `worker_logs` log, which is where the history shown on page load comes from; the
//! live ones are fanned out to the server-sent event streams.

use aito_core::envelope::preview;
use aito_core::{Envelope, Sender};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest text of one line, in characters.
pub(crate) const TEXT_LIMIT: usize = 2000;

/// How many lines the store keeps for the history on load.
pub(crate) const KEPT: usize = 1000;

/// One worker log line as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// The envelope id: unique, used to drop duplicates between history and live lines.
    pub id: String,
    /// When the worker published it.
    pub at: DateTime<Utc>,
    /// The worker's task id.
    pub task_id: String,
    /// The requesting agent's id, when given.
    #[serde(default)]
    pub agent: Option<String>,
    /// The requesting agent's role, when given.
    #[serde(default)]
    pub role: Option<String>,
    /// Position in the worker's output.
    #[serde(default)]
    pub seq: u64,
    /// What kind of line: the stream-json event type (`system`, `assistant`, `user`,
    /// `result`, ...) or `line` for plain text.
    pub kind: String,
    /// The line, readable, at most 2000 characters.
    pub text: String,
}

impl LogLine {
    /// Reads a `worker_log` envelope.
    pub fn from_envelope(envelope: &Envelope) -> Self {
        let payload = &envelope.payload;
        let task_id = payload
            .get("taskId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| match &envelope.from {
                Sender::Worker(id) => Some(id.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let text_of = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
        let (kind, text) = match payload.get("event") {
            Some(event) => (
                event
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("event")
                    .to_owned(),
                summarize(event),
            ),
            None => (
                "line".to_owned(),
                text_of("line")
                    .or_else(|| text_of("message"))
                    .unwrap_or_else(|| payload.to_string()),
            ),
        };
        Self {
            id: envelope.id.to_string(),
            at: envelope.timestamp,
            task_id: preview(&task_id, 120),
            agent: text_of("agent").map(|agent| preview(&agent, 64)),
            role: text_of("role").map(|role| preview(&role, 32)),
            seq: payload.get("seq").and_then(Value::as_u64).unwrap_or(0),
            kind: preview(&kind, 32),
            text: preview(text.trim(), TEXT_LIMIT),
        }
    }
}

/// One readable line for a stream-json event of the claude CLI; other JSON as compact text.
pub(crate) fn summarize(event: &Value) -> String {
    fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
        value.get(key).and_then(Value::as_str).unwrap_or("")
    }
    match str_of(event, "type") {
        "system" => {
            let subtype = str_of(event, "subtype");
            if subtype == "init" {
                let model = str_of(event, "model");
                let tools = event
                    .get("tools")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                format!("session started (model {model}, {tools} tools)")
            } else {
                format!("system: {subtype}")
            }
        }
        "assistant" | "user" => {
            let parts: Vec<String> = event
                .pointer("/message/content")
                .and_then(Value::as_array)
                .map(|content| content.iter().filter_map(content_part).collect())
                .unwrap_or_default();
            if parts.is_empty() {
                compact(event)
            } else {
                parts.join(" · ")
            }
        }
        "result" => {
            let mut text = format!("result ({})", str_of(event, "subtype"));
            let result = str_of(event, "result");
            if !result.is_empty() {
                text.push_str(": ");
                text.push_str(result);
            }
            if let Some(cost) = event.get("total_cost_usd").and_then(Value::as_f64) {
                text.push_str(&format!(" [cost ${cost:.4}]"));
            }
            text
        }
        _ => compact(event),
    }
}

fn content_part(part: &Value) -> Option<String> {
    let str_of = |key: &str| part.get(key).and_then(Value::as_str);
    match str_of("type")? {
        "text" => str_of("text").map(str::to_owned),
        "thinking" => Some("(thinking)".to_owned()),
        "tool_use" => Some(format!(
            "→ {}({})",
            str_of("name").unwrap_or("tool"),
            part.get("input")
                .map(|input| preview(&input.to_string(), 300))
                .unwrap_or_default()
        )),
        "tool_result" => {
            let content = match part.get("content") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|item| item.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            Some(format!("← {}", preview(&content, 500)))
        }
        other => Some(format!("({other})")),
    }
}

fn compact(value: &Value) -> String {
    preview(&value.to_string(), TEXT_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aito_core::MessageType;
    use serde_json::json;

    fn envelope(payload: Value) -> Envelope {
        Envelope::new(
            MessageType::WorkerLog,
            Sender::Worker("t-1".into()),
            payload,
        )
    }

    #[test]
    fn stream_json_events_read_as_one_line() {
        let line = LogLine::from_envelope(&envelope(json!({
            "taskId": "t-1", "agent": "a", "role": "cto", "seq": 3,
            "event": {"type": "assistant", "message": {"content": [
                {"type": "text", "text": "Looking up prices"},
                {"type": "tool_use", "name": "fetch", "input": {"url": "https://example.com"}}
            ]}}
        })));
        assert_eq!(line.kind, "assistant");
        assert_eq!(line.seq, 3);
        assert_eq!(line.role.as_deref(), Some("cto"));
        assert_eq!(
            line.text,
            "Looking up prices · → fetch({\"url\":\"https://example.com\"})"
        );
        let result = summarize(
            &json!({"type": "result", "subtype": "success", "result": "3 offers", "total_cost_usd": 0.0123}),
        );
        assert_eq!(result, "result (success): 3 offers [cost $0.0123]");
    }

    #[test]
    fn plain_lines_and_missing_fields() {
        let line = LogLine::from_envelope(&envelope(json!({"line": "x".repeat(5000)})));
        assert_eq!(line.kind, "line");
        assert_eq!(line.task_id, "t-1", "taken from the sender");
        assert!(line.text.chars().count() <= TEXT_LIMIT + 1);
    }
}
