//! The OpenAI-compatible Chat Completions API (`POST /v1/chat/completions`): replies rendered
//! as the API sends them, and a reading of the requests the client sent.
//!
//! A [`Message`] is streamed as server-sent `data:` chunks when the request says
//! `"stream": true` (a first chunk with the role, the text and tool calls as deltas, a chunk
//! with the `finish_reason`, a usage chunk when `stream_options.include_usage` asks for it,
//! then `data: [DONE]`), else returned as one `chat.completion` object. An [`ApiError`] is the
//! API's error body, `{"error": {"message": ..., "type": ..., "code": ...}}`, with its status,
//! `retry-after` when set and any other headers.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::record::Recorded;
use crate::reply::{ApiError, Block, Message, StopReason, Usage};

/// The path of the Chat Completions API (a base URL of `{server}/v1`).
pub const CHAT_PATH: &str = "/v1/chat/completions";

/// The error type the API uses for `status`.
pub fn error_kind(status: u16) -> &'static str {
    match status {
        400 | 413 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_exceeded",
        _ => "server_error",
    }
}

/// Renders `error` as the API does.
pub(crate) fn error_response(error: &ApiError) -> Response {
    let kind = error
        .kind
        .clone()
        .unwrap_or_else(|| error_kind(error.status).to_owned());
    let body =
        json!({"error": {"message": error.message, "type": kind, "param": null, "code": kind}});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = error.retry_after {
        crate::anthropic::insert(headers, "retry-after", &seconds.to_string());
    }
    for (name, value) in &error.headers {
        crate::anthropic::insert(headers, name, value);
    }
    response
}

fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::ToolUse => "tool_calls",
        StopReason::MaxTokens => "length",
    }
}

fn usage_json(usage: &Usage) -> Value {
    let prompt =
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
    })
}

/// Renders `message` as the answer to `request`: a stream of chunks when it asked for one.
pub(crate) fn message_response(message: &Message, request: &Recorded, ids: &AtomicU64) -> Response {
    let body = request.json().unwrap_or(Value::Null);
    let model = message
        .model
        .clone()
        .or_else(|| body["model"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "mock-model".to_owned());
    let n = ids.fetch_add(1, Ordering::Relaxed);
    let id = format!("chatcmpl-mock{n:012}");
    let text = message.joined_text();
    let calls: Vec<Value> = message
        .content
        .iter()
        .filter_map(|block| match block {
            Block::ToolUse { id, name, input } => Some((id, name, input)),
            Block::Text { .. } => None,
        })
        .enumerate()
        .map(|(index, (call_id, name, input))| {
            json!({
                "index": index,
                "id": call_id.clone().unwrap_or_else(|| format!("call_mock_{n:08}_{index}")),
                "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })
        })
        .collect();
    let usage = message
        .usage
        .unwrap_or_else(|| crate::anthropic::estimate(message, request));
    let reason = finish_reason(message.effective_stop_reason());
    if body["stream"].as_bool() != Some(true) {
        let mut assistant = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
        if !calls.is_empty() {
            assistant["tool_calls"] = Value::Array(
                calls
                    .iter()
                    .map(|call| {
                        let mut call = call.clone();
                        if let Some(object) = call.as_object_mut() {
                            object.remove("index");
                        }
                        call
                    })
                    .collect(),
            );
        }
        let whole = json!({
            "id": id, "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": assistant, "finish_reason": reason}],
            "usage": usage_json(&usage),
        });
        let mut response = Response::new(Body::from(whole.to_string()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response;
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for part in crate::anthropic::chunks(&text, message.pace) {
        if !part.is_empty() {
            chunks.push(chunk(json!({"content": part}), Value::Null));
        }
    }
    for call in &calls {
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        let mut first = true;
        for part in crate::anthropic::chunks(arguments, message.pace) {
            let delta = if first {
                json!({"tool_calls": [{"index": call["index"], "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": part}}]})
            } else {
                json!({"tool_calls": [{"index": call["index"], "function": {"arguments": part}}]})
            };
            first = false;
            chunks.push(chunk(delta, Value::Null));
        }
    }
    chunks.push(chunk(json!({}), json!(reason)));
    if body["stream_options"]["include_usage"].as_bool() == Some(true) {
        chunks.push(json!({
            "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [], "usage": usage_json(&usage),
        }));
    }
    let mut frames: Vec<Bytes> = chunks
        .into_iter()
        .map(|data| Bytes::from(format!("data: {data}\n\n")))
        .collect();
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    crate::anthropic::event_stream(frames, message.pace)
}

/// A Chat Completions request, read from a [`Recorded`] one.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// `model`.
    pub model: Option<String>,
    /// `stream`.
    pub stream: bool,
    /// `tools`, as sent.
    pub tools: Vec<Value>,
    /// `messages`, as sent.
    pub messages: Vec<Value>,
    /// The whole body.
    pub body: Value,
}

/// A `tool` message the client sent back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolMessage {
    /// The tool call it answers.
    pub tool_call_id: String,
    /// Its content.
    pub content: String,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

impl ChatRequest {
    /// Reads `recorded`; `None` when its body is not a Chat Completions request.
    pub fn parse(recorded: &Recorded) -> Option<Self> {
        Self::from_json(recorded.json()?)
    }

    /// Reads a request body; `None` when it is not a Chat Completions request.
    pub fn from_json(body: Value) -> Option<Self> {
        let messages = body.get("messages")?.as_array()?.clone();
        Some(Self {
            model: body["model"].as_str().map(str::to_owned),
            stream: body["stream"].as_bool().unwrap_or(false),
            tools: body["tools"].as_array().cloned().unwrap_or_default(),
            messages,
            body,
        })
    }

    /// The text of the `system` messages, joined by newlines.
    pub fn system_text(&self) -> String {
        self.texts_of("system").join("\n")
    }

    /// The text of every `user` message, in order.
    pub fn user_texts(&self) -> Vec<String> {
        self.texts_of("user")
    }

    fn texts_of(&self, role: &str) -> Vec<String> {
        self.messages
            .iter()
            .filter(|message| message["role"].as_str() == Some(role))
            .map(|message| text_of(&message["content"]))
            .collect()
    }

    /// The names of the functions offered as tools.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools
            .iter()
            .filter_map(|tool| tool["function"]["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Every `tool` message, in order.
    pub fn tool_results(&self) -> Vec<ToolMessage> {
        self.messages
            .iter()
            .filter(|message| message["role"].as_str() == Some("tool"))
            .map(|message| ToolMessage {
                tool_call_id: message["tool_call_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                content: text_of(&message["content"]),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_system_tools_and_tool_messages() {
        let request = ChatRequest::from_json(json!({
            "model": "m", "stream": true,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "echo", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ECHO"}
            ],
            "tools": [{"type": "function", "function": {"name": "echo", "parameters": {}}}]
        }))
        .unwrap();
        assert_eq!(request.system_text(), "be brief");
        assert_eq!(request.user_texts(), ["hi"]);
        assert_eq!(request.tool_names(), ["echo"]);
        assert_eq!(
            request.tool_results(),
            [ToolMessage {
                tool_call_id: "c1".into(),
                content: "ECHO".into()
            }]
        );
        assert_eq!(error_kind(429), "rate_limit_exceeded");
    }
}
