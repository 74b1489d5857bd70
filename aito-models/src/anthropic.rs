//! [`AnthropicApi`]: the Anthropic Messages API (`POST {base}/v1/messages`), streamed.
//!
//! The system prompt (the agent's profile and response contract, the same for every session
//! of the agent) goes first as one system block marked `cache_control: ephemeral`, so the API
//! caches it and later sessions read it from the cache; the body is written in a fixed field
//! order, so that block is byte-identical from one session to the next. The answer's usage
//! (`input_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`,
//! `output_tokens`) is what the cost is computed from, at the rates of the price table.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::chat::{ChatApi, Conversation, Item, ToolCall, ToolSpec, Turn};
use crate::config::{ApiConfig, Tokens};
use crate::error::ApiError;
use crate::http::{self, Event};

/// The API version the requests ask for.
pub const API_VERSION: &str = "2023-06-01";

/// The Anthropic Messages API.
#[derive(Clone, Debug)]
pub struct AnthropicApi {
    config: ApiConfig,
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
}

impl AnthropicApi {
    /// A client of the API at `config.base_url` (`https://api.anthropic.com`, or a local
    /// stand-in), authenticating with `config.api_key` as `x-api-key`.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let client = http::client(&config)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
                ApiError::Config(format!(
                    "{}: the API key is not a valid header value",
                    config.name
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
        }
        let url = format!("{}/v1/messages", config.base_url);
        Ok(Self {
            config,
            client,
            url,
            headers,
        })
    }

    /// The request body for `conversation` with `tools`, as sent.
    pub fn body(&self, conversation: &Conversation, tools: &[ToolSpec]) -> Value {
        let mut body = json!({
            "model": conversation.model,
            "max_tokens": self.config.max_tokens,
            "stream": true,
        });
        if !tools.is_empty() {
            body["tools"] = tools
                .iter()
                .map(|tool| {
                    json!({
                        "name": tool.name,
                        "description": tool.description,
                        "input_schema": tool.input_schema,
                    })
                })
                .collect();
        }
        if !conversation.system.is_empty() {
            body["system"] = json!([{
                "type": "text",
                "text": conversation.system,
                "cache_control": {"type": "ephemeral"},
            }]);
        }
        body["messages"] = Value::Array(messages(&conversation.items));
        body
    }
}

/// The conversation as Messages API messages: tool results of one turn go together in one
/// user message.
fn messages(items: &[Item]) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    for item in items {
        match item {
            Item::User(text) => messages.push(json!({"role": "user", "content": text})),
            Item::Assistant { text, calls } => {
                let mut content = Vec::new();
                if !text.is_empty() {
                    content.push(json!({"type": "text", "text": text}));
                }
                for call in calls {
                    content.push(json!({
                        "type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments,
                    }));
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            Item::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                let block = json!({
                    "type": "tool_result", "tool_use_id": call_id,
                    "content": [{"type": "text", "text": content}], "is_error": is_error,
                });
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"].as_array().is_some_and(|blocks| {
                                blocks.iter().all(|b| b["type"] == "tool_result")
                            }) =>
                    {
                        if let Some(blocks) = last["content"].as_array_mut() {
                            blocks.push(block);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
        }
    }
    messages
}

/// A block of the answer being streamed.
enum Open {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

/// The answer, assembled from its events.
struct Assembly {
    provider: String,
    turn: Turn,
    blocks: Vec<Open>,
    done: bool,
}

fn tokens(usage: &Value) -> Tokens {
    let count = |key: &str| usage[key].as_u64().unwrap_or(0);
    Tokens {
        input: count("input_tokens"),
        cache_read: count("cache_read_input_tokens"),
        cache_write: count("cache_creation_input_tokens"),
        output: count("output_tokens"),
    }
}

/// The status an error event inside a stream stands for.
fn stream_error_status(kind: &str) -> u16 {
    match kind {
        "overloaded_error" => 529,
        "rate_limit_error" => 429,
        "authentication_error" => 401,
        "permission_error" => 403,
        "invalid_request_error" => 400,
        _ => 500,
    }
}

impl Assembly {
    fn unreadable(&self, reason: &str, data: &str) -> ApiError {
        ApiError::Unreadable {
            provider: self.provider.clone(),
            reason: reason.to_owned(),
            preview: http::preview(data),
        }
    }

    fn take(&mut self, event: Event) -> Result<bool, ApiError> {
        let data: Value = serde_json::from_str(&event.data).map_err(|error| {
            self.unreadable(&format!("an event that is not JSON: {error}"), &event.data)
        })?;
        let kind = data["type"]
            .as_str()
            .unwrap_or(event.name.as_str())
            .to_owned();
        match kind.as_str() {
            "message_start" => {
                let message = &data["message"];
                self.turn.model = message["model"].as_str().unwrap_or_default().to_owned();
                let usage = tokens(&message["usage"]);
                self.turn.tokens.input = usage.input;
                self.turn.tokens.cache_read = usage.cache_read;
                self.turn.tokens.cache_write = usage.cache_write;
            }
            "content_block_start" => {
                let block = &data["content_block"];
                self.blocks.push(match block["type"].as_str() {
                    Some("text") => {
                        self.turn
                            .text
                            .push_str(block["text"].as_str().unwrap_or_default());
                        Open::Text
                    }
                    Some("tool_use") => Open::Tool {
                        id: block["id"].as_str().unwrap_or_default().to_owned(),
                        name: block["name"].as_str().unwrap_or_default().to_owned(),
                        json: String::new(),
                    },
                    _ => Open::Other,
                });
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                match (self.blocks.last_mut(), delta["type"].as_str()) {
                    (Some(Open::Text), Some("text_delta")) => self
                        .turn
                        .text
                        .push_str(delta["text"].as_str().unwrap_or_default()),
                    (Some(Open::Tool { json, .. }), Some("input_json_delta")) => {
                        json.push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(Open::Tool { id, name, json }) = self.blocks.last() {
                    let arguments = if json.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(json).map_err(|error| {
                            self.unreadable(&format!("tool input that is not JSON: {error}"), json)
                        })?
                    };
                    self.turn.calls.push(ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments,
                    });
                }
            }
            "message_delta" => {
                if let Some(stop) = data["delta"]["stop_reason"].as_str() {
                    self.turn.stop = stop.to_owned();
                }
                if let Some(output) = data["usage"]["output_tokens"].as_u64() {
                    self.turn.tokens.output = output;
                }
            }
            "message_stop" => {
                self.done = true;
                return Ok(false);
            }
            "error" => {
                let error = &data["error"];
                let kind = error["type"].as_str().unwrap_or("api_error").to_owned();
                return Err(ApiError::Status {
                    provider: self.provider.clone(),
                    status: stream_error_status(&kind),
                    kind,
                    message: error["message"].as_str().unwrap_or_default().to_owned(),
                    retry_after: None,
                });
            }
            _ => {}
        }
        Ok(true)
    }
}

#[async_trait]
impl ChatApi for AnthropicApi {
    fn config(&self) -> &ApiConfig {
        &self.config
    }

    async fn turn(
        &self,
        conversation: &Conversation,
        tools: &[ToolSpec],
        deadline: Instant,
    ) -> Result<Turn, ApiError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let body = self.body(conversation, tools).to_string().into_bytes();
        let response = http::post(
            &self.client,
            &self.config,
            &self.url,
            &self.headers,
            &body,
            deadline,
            timeout,
        )
        .await?;
        let mut assembly = Assembly {
            provider: self.config.name.clone(),
            turn: Turn::default(),
            blocks: Vec::new(),
            done: false,
        };
        http::read_events(response, &self.config, deadline, timeout, |event| {
            assembly.take(event)
        })
        .await?;
        if !assembly.done {
            return Err(ApiError::Unreadable {
                provider: self.config.name.clone(),
                reason: "the stream ended before message_stop".to_owned(),
                preview: http::preview(&assembly.turn.text),
            });
        }
        if assembly.turn.model.is_empty() {
            assembly.turn.model.clone_from(&conversation.model);
        }
        Ok(assembly.turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_of_one_turn_share_a_user_message() {
        let items = vec![
            Item::User("go".into()),
            Item::Assistant {
                text: String::new(),
                calls: vec![
                    ToolCall {
                        id: "a".into(),
                        name: "t".into(),
                        arguments: json!({}),
                    },
                    ToolCall {
                        id: "b".into(),
                        name: "t".into(),
                        arguments: json!({}),
                    },
                ],
            },
            Item::ToolResult {
                call_id: "a".into(),
                content: "1".into(),
                is_error: false,
            },
            Item::ToolResult {
                call_id: "b".into(),
                content: "2".into(),
                is_error: true,
            },
        ];
        let messages = messages(&items);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[2]["content"].as_array().unwrap().len(), 2);
        assert_eq!(messages[2]["content"][1]["is_error"], true);
    }
}
