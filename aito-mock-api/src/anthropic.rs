//! The Anthropic Messages API (`POST /v1/messages`): replies rendered as the API sends them,
//! and a reading of the requests the client sent.
//!
//! A [`Message`] is streamed as server-sent events when the request says `"stream": true`
//! (`message_start`, then per block `content_block_start`, `content_block_delta`,
//! `content_block_stop`, then `message_delta` and `message_stop`), else returned as one JSON
//! message. An [`ApiError`] is the API's error body,
//! `{"type": "error", "error": {"type": KIND, "message": MESSAGE}, "request_id": ...}`, with
//! its status, a `request-id` header, `retry-after` when set and any other headers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::record::Recorded;
use crate::reply::{ApiError, Block, Message, Usage};

/// The path of the Messages API.
pub const MESSAGES_PATH: &str = "/v1/messages";

/// The error type the API uses for `status`.
pub fn error_kind(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// Renders `error` as the API does.
pub(crate) fn error_response(error: &ApiError, ids: &AtomicU64) -> Response {
    let id = format!("req_mock_{:012}", ids.fetch_add(1, Ordering::Relaxed));
    let kind = error
        .kind
        .clone()
        .unwrap_or_else(|| error_kind(error.status).to_owned());
    let body = json!({
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": id,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert(headers, "request-id", &id);
    if let Some(seconds) = error.retry_after {
        insert(headers, "retry-after", &seconds.to_string());
    }
    for (name, value) in &error.headers {
        insert(headers, name, value);
    }
    response
}

pub(crate) fn insert(headers: &mut axum::http::HeaderMap, name: &str, value: &str) {
    match (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        (Ok(name), Ok(value)) => {
            headers.append(name, value);
        }
        _ => tracing::warn!(
            name,
            "aito-mock-api: skipping a header that is not valid HTTP"
        ),
    }
}

/// Renders `message` as the answer to `request`: a stream of events when it asked for one.
pub(crate) fn message_response(message: &Message, request: &Recorded, ids: &AtomicU64) -> Response {
    let body = request.json().unwrap_or(Value::Null);
    let model = message
        .model
        .clone()
        .or_else(|| body["model"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "claude-mock".to_owned());
    let n = ids.fetch_add(1, Ordering::Relaxed);
    let id = format!("msg_mock_{n:012}");
    let content: Vec<Value> = message
        .content
        .iter()
        .enumerate()
        .map(|(index, block)| match block {
            Block::Text { text } => json!({"type": "text", "text": text}),
            Block::ToolUse { id, name, input } => json!({
                "type": "tool_use",
                "id": id.clone().unwrap_or_else(|| format!("toolu_mock_{n:08}_{index}")),
                "name": name,
                "input": input,
            }),
        })
        .collect();
    let usage = message.usage.unwrap_or_else(|| estimate(message, request));
    let stop_reason = message.effective_stop_reason().as_str();
    if body["stream"].as_bool() != Some(true) {
        let whole = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": usage_json(&usage, usage.output_tokens),
        });
        let mut response = Response::new(Body::from(whole.to_string()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
    }

    let mut events: Vec<(&'static str, Value)> = Vec::new();
    events.push((
        "message_start",
        json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": usage_json(&usage, 1),
        }}),
    ));
    for (index, block) in content.iter().enumerate() {
        let (start, deltas) = match block["type"].as_str() {
            Some("tool_use") => {
                let mut start = block.clone();
                start["input"] = json!({});
                let input = block["input"].to_string();
                let deltas = chunks(&input, message.pace)
                    .map(|part| json!({"type": "input_json_delta", "partial_json": part}))
                    .collect::<Vec<_>>();
                (start, deltas)
            }
            _ => {
                let text = block["text"].as_str().unwrap_or_default();
                let deltas = chunks(text, message.pace)
                    .map(|part| json!({"type": "text_delta", "text": part}))
                    .collect::<Vec<_>>();
                (json!({"type": "text", "text": ""}), deltas)
            }
        };
        events.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        for delta in deltas {
            events.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        events.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push((
        "message_delta",
        json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": usage.output_tokens}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));

    let frames: Vec<Bytes> = events
        .into_iter()
        .map(|(event, data)| Bytes::from(format!("event: {event}\ndata: {data}\n\n")))
        .collect();
    event_stream(frames, message.pace)
}

/// A `text/event-stream` response of `frames`, with `pace` between them when set.
pub(crate) fn event_stream(frames: Vec<Bytes>, pace: Option<Duration>) -> Response {
    let body = match pace {
        None => Body::from(frames.concat()),
        Some(pace) => Body::from_stream(futures_util::stream::unfold(
            (frames.into_iter(), true),
            move |(mut frames, first)| async move {
                let frame = frames.next()?;
                if !first {
                    tokio::time::sleep(pace).await;
                }
                Some((Ok::<_, std::io::Error>(frame), (frames, false)))
            },
        )),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The text in one piece, or (when the stream is paced) in pieces of about 16 characters.
pub(crate) fn chunks(text: &str, pace: Option<Duration>) -> impl Iterator<Item = String> + '_ {
    let size = if pace.is_some() { 16 } else { usize::MAX };
    let mut rest = text;
    let mut first = true;
    std::iter::from_fn(move || {
        if rest.is_empty() && !first {
            return None;
        }
        first = false;
        let mut end = rest.len().min(size);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (part, tail) = rest.split_at(end);
        rest = tail;
        Some(part.to_owned())
    })
}

fn usage_json(usage: &Usage, output_tokens: u64) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": output_tokens,
    })
}

/// About four bytes a token, for the request and the answer.
pub(crate) fn estimate(message: &Message, request: &Recorded) -> Usage {
    let answer: usize = message
        .content
        .iter()
        .map(|block| match block {
            Block::Text { text } => text.len(),
            Block::ToolUse { input, name, .. } => name.len() + input.to_string().len(),
        })
        .sum();
    Usage {
        input_tokens: (request.bytes() / 4).max(1) as u64,
        output_tokens: (answer / 4 + 1) as u64,
        ..Usage::default()
    }
}

/// A `tool_result` block the client sent back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResult {
    /// The tool call it answers.
    pub tool_use_id: String,
    /// Its text (text parts joined).
    pub text: String,
    /// Whether the client reported the call as failed (refused, unknown tool, tool error).
    pub is_error: bool,
}

/// A Messages API request, read from a [`Recorded`] one.
#[derive(Clone, Debug, PartialEq)]
pub struct MessagesRequest {
    /// `model`.
    pub model: Option<String>,
    /// `stream`.
    pub stream: bool,
    /// The text of each `system` block (a plain string is one block).
    pub system: Vec<String>,
    /// `tools`, as sent.
    pub tools: Vec<Value>,
    /// `messages`, as sent.
    pub messages: Vec<Value>,
    /// The whole body.
    pub body: Value,
}

/// The text of a `content` value: a string, or the text of its text blocks.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| match block["type"].as_str() {
                Some("text") => block["text"].as_str().map(str::to_owned),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

impl MessagesRequest {
    /// Reads `recorded`; `None` when its body is not a Messages API request.
    pub fn parse(recorded: &Recorded) -> Option<Self> {
        Self::from_json(recorded.json()?)
    }

    /// Reads a request body; `None` when it is not a Messages API request.
    pub fn from_json(body: Value) -> Option<Self> {
        let messages = body.get("messages")?.as_array()?.clone();
        let system = match &body["system"] {
            Value::String(text) => vec![text.clone()],
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(|block| block["text"].as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Some(Self {
            model: body["model"].as_str().map(str::to_owned),
            stream: body["stream"].as_bool().unwrap_or(false),
            system,
            tools: body["tools"].as_array().cloned().unwrap_or_default(),
            messages,
            body,
        })
    }

    /// The system blocks, joined by newlines.
    pub fn system_text(&self) -> String {
        self.system.join("\n")
    }

    /// The names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools
            .iter()
            .filter_map(|tool| tool["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// The size of the `tools` array as JSON, in bytes.
    pub fn tools_bytes(&self) -> usize {
        Value::Array(self.tools.clone()).to_string().len()
    }

    /// The text of every user message, in order (tool results excluded).
    pub fn user_texts(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|message| message["role"].as_str() == Some("user"))
            .map(|message| content_text(&message["content"]))
            .filter(|text| !text.is_empty())
            .collect()
    }

    /// Every `tool_result` block, in order.
    pub fn tool_results(&self) -> Vec<ToolResult> {
        self.messages
            .iter()
            .filter_map(|message| message["content"].as_array())
            .flatten()
            .filter(|block| block["type"].as_str() == Some("tool_result"))
            .map(|block| ToolResult {
                tool_use_id: block["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                text: content_text(&block["content"]),
                is_error: block["is_error"].as_bool().unwrap_or(false),
            })
            .collect()
    }

    /// Whether `needle` appears anywhere in the request.
    pub fn contains(&self, needle: &str) -> bool {
        self.body.to_string().contains(needle)
            || self.system.iter().any(|text| text.contains(needle))
            || self.user_texts().iter().any(|text| text.contains(needle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_follow_the_api() {
        assert_eq!(error_kind(429), "rate_limit_error");
        assert_eq!(error_kind(529), "overloaded_error");
        assert_eq!(error_kind(503), "api_error");
        assert_eq!(error_kind(401), "authentication_error");
    }

    #[test]
    fn paced_text_is_cut_on_character_boundaries() {
        let text = "é".repeat(20);
        let parts: Vec<String> = chunks(&text, Some(Duration::from_millis(1))).collect();
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), text);
        assert_eq!(chunks("", None).collect::<Vec<_>>(), vec![String::new()]);
    }

    #[test]
    fn reads_system_tools_user_texts_and_tool_results() {
        let request = MessagesRequest::from_json(json!({
            "model": "claude-x", "stream": true,
            "system": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
            "tools": [{"name": "mcp__echo__echo", "input_schema": {}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hello"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "mcp__echo__echo", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "ECHO"}], "is_error": false}]}
            ]
        }))
        .unwrap();
        assert_eq!(request.system_text(), "one\ntwo");
        assert_eq!(request.tool_names(), ["mcp__echo__echo"]);
        assert_eq!(request.user_texts(), ["hello"]);
        assert_eq!(
            request.tool_results(),
            [ToolResult {
                tool_use_id: "t1".into(),
                text: "ECHO".into(),
                is_error: false
            }]
        );
    }
}
