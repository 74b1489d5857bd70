//! [`OpenAiApi`]: an OpenAI-compatible Chat Completions API (`POST {base}/chat/completions`),
//! streamed: OpenAI, OpenRouter, Ollama, vLLM, llama.cpp's server, LM Studio.
//!
//! The system prompt is the first message (servers that cache prompt prefixes, as OpenAI and
//! vLLM do, find it unchanged from one session to the next); the usage of the last chunk
//! (`stream_options.include_usage`) gives the token counts, `prompt_tokens_details.
//! cached_tokens` the part read from a cache.

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::chat::{ChatApi, Conversation, Item, ToolCall, ToolSpec, Turn};
use crate::config::{ApiConfig, Tokens};
use crate::error::ApiError;
use crate::http::{self, Event};

/// An OpenAI-compatible Chat Completions API.
#[derive(Clone, Debug)]
pub struct OpenAiApi {
    config: ApiConfig,
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
}

impl OpenAiApi {
    /// A client of the API at `config.base_url` (which ends in `/v1` for most servers:
    /// `http://localhost:11434/v1`), with `config.api_key` as a bearer token when set.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let client = http::client(&config)?;
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    ApiError::Config(format!(
                        "{}: the API key is not a valid header value",
                        config.name
                    ))
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let url = format!("{}/chat/completions", config.base_url);
        Ok(Self {
            config,
            client,
            url,
            headers,
        })
    }

    /// The request body for `conversation` with `tools`, as sent.
    pub fn body(&self, conversation: &Conversation, tools: &[ToolSpec]) -> Value {
        let mut messages = Vec::new();
        if !conversation.system.is_empty() {
            messages.push(json!({"role": "system", "content": conversation.system}));
        }
        for item in &conversation.items {
            messages.push(match item {
                Item::User(text) => json!({"role": "user", "content": text}),
                Item::Assistant { text, calls } => {
                    let mut message = json!({
                        "role": "assistant",
                        "content": if text.is_empty() { Value::Null } else { json!(text) },
                    });
                    if !calls.is_empty() {
                        message["tool_calls"] = calls
                            .iter()
                            .map(|call| {
                                json!({
                                    "id": call.id, "type": "function",
                                    "function": {"name": call.name, "arguments": call.arguments.to_string()},
                                })
                            })
                            .collect();
                    }
                    message
                }
                Item::ToolResult {
                    call_id,
                    content,
                    is_error,
                } => json!({
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": if *is_error { format!("error: {content}") } else { content.clone() },
                }),
            });
        }
        let mut body = json!({
            "model": conversation.model,
            "max_tokens": self.config.max_tokens,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": messages,
        });
        if !tools.is_empty() {
            body["tools"] = tools
                .iter()
                .map(|tool| {
                    json!({"type": "function", "function": {
                        "name": tool.name, "description": tool.description, "parameters": tool.input_schema,
                    }})
                })
                .collect();
        }
        body
    }
}

/// A tool call being streamed, by its index.
#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

struct Assembly {
    provider: String,
    turn: Turn,
    calls: BTreeMap<u64, PartialCall>,
    done: bool,
}

impl Assembly {
    fn take(&mut self, event: Event) -> Result<bool, ApiError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(false);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|error| ApiError::Unreadable {
            provider: self.provider.clone(),
            reason: format!("a chunk that is not JSON: {error}"),
            preview: http::preview(data),
        })?;
        if let Some(error) = chunk.get("error") {
            let kind = error["type"]
                .as_str()
                .or_else(|| error["code"].as_str())
                .unwrap_or("server_error")
                .to_owned();
            return Err(ApiError::Status {
                provider: self.provider.clone(),
                status: error["code"]
                    .as_u64()
                    .and_then(|code| u16::try_from(code).ok())
                    .unwrap_or(500),
                kind,
                message: error["message"].as_str().unwrap_or_default().to_owned(),
                retry_after: None,
            });
        }
        if let Some(model) = chunk["model"].as_str() {
            model.clone_into(&mut self.turn.model);
        }
        if let Some(usage) = chunk.get("usage").filter(|usage| usage.is_object()) {
            let prompt = usage["prompt_tokens"].as_u64().unwrap_or(0);
            let cached = usage["prompt_tokens_details"]["cached_tokens"]
                .as_u64()
                .unwrap_or(0)
                .min(prompt);
            self.turn.tokens = Tokens {
                input: prompt - cached,
                cache_read: cached,
                cache_write: 0,
                output: usage["completion_tokens"].as_u64().unwrap_or(0),
            };
        }
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            if let Some(text) = delta["content"].as_str() {
                self.turn.text.push_str(text);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap_or(0);
                let partial = self.calls.entry(index).or_default();
                if let Some(id) = call["id"].as_str() {
                    partial.id.push_str(id);
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    partial.name.push_str(name);
                }
                if let Some(arguments) = call["function"]["arguments"].as_str() {
                    partial.arguments.push_str(arguments);
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                reason.clone_into(&mut self.turn.stop);
            }
        }
        Ok(true)
    }

    fn finish(mut self) -> Result<Turn, ApiError> {
        for (index, call) in std::mem::take(&mut self.calls) {
            let arguments = if call.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&call.arguments).map_err(|error| ApiError::Unreadable {
                    provider: self.provider.clone(),
                    reason: format!("tool arguments that are not JSON: {error}"),
                    preview: http::preview(&call.arguments),
                })?
            };
            self.turn.calls.push(ToolCall {
                id: if call.id.is_empty() {
                    format!("call_{index}")
                } else {
                    call.id
                },
                name: call.name,
                arguments,
            });
        }
        Ok(self.turn)
    }
}

#[async_trait]
impl ChatApi for OpenAiApi {
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
            calls: BTreeMap::new(),
            done: false,
        };
        http::read_events(response, &self.config, deadline, timeout, |event| {
            assembly.take(event)
        })
        .await?;
        if !assembly.done && assembly.turn.stop.is_empty() {
            return Err(ApiError::Unreadable {
                provider: self.config.name.clone(),
                reason: "the stream ended before a finish_reason or [DONE]".to_owned(),
                preview: http::preview(&assembly.turn.text),
            });
        }
        let mut turn = assembly.finish()?;
        if turn.model.is_empty() {
            turn.model.clone_from(&conversation.model);
        }
        Ok(turn)
    }
}
