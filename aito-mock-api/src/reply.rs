//! [`Reply`]: what the server answers to one model call, independent of the API's wire format.
//!
//! A reply is a model message (text, tool calls, a stop reason, token counts), an API error
//! (status, headers, the provider's error type and message), or a hang. Each API module ([`anthropic`](crate::anthropic)) renders it in its own
//! format, so one script serves every API.
//!
//! Replies serialize to JSON (`{"message": {...}}`, `{"error": {...}}`, `"hang"`),
//! the form stand-ins such as `fake-claude` read to act out the same script.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One answer to one model call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// A model message, streamed when the request asked for a stream.
    Message(Message),
    /// An error response.
    Error(ApiError),
    /// No answer at all: the request stays open until the client gives up or the server stops.
    Hang,
}

impl Reply {
    /// A message of one text block that ends the turn.
    pub fn text(text: impl Into<String>) -> Self {
        Reply::Message(Message::text(text))
    }

    /// A message that calls one tool (`stop_reason` `tool_use`).
    pub fn tool_use(name: impl Into<String>, input: Value) -> Self {
        Reply::Message(Message::tool_use(name, input))
    }

    /// An error with `status` and the API's usual error type for it.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply::Error(ApiError::new(status, message))
    }
}

impl From<Message> for Reply {
    fn from(message: Message) -> Self {
        Reply::Message(message)
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        Reply::Error(error)
    }
}

/// A model message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The content blocks, in order.
    pub content: Vec<Block>,
    /// Why the turn ended; by default `tool_use` when a block calls a tool, else `end_turn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// The model named in the answer; by default the one the request named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Token counts; by default estimated from the sizes of the request and the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// A pause between streamed events (none by default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_millis",
        rename = "pace_ms"
    )]
    pub pace: Option<Duration>,
}

impl Message {
    /// One text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::with(vec![Block::Text { text: text.into() }])
    }

    /// One tool call, with an id of the API's usual shape.
    pub fn tool_use(name: impl Into<String>, input: Value) -> Self {
        Self::with(vec![Block::ToolUse {
            id: None,
            name: name.into(),
            input,
        }])
    }

    /// These blocks, everything else by default.
    pub fn with(content: Vec<Block>) -> Self {
        Self {
            content,
            stop_reason: None,
            model: None,
            usage: None,
            pace: None,
        }
    }

    /// Sets the token counts.
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Sets a pause between streamed events.
    pub fn paced(mut self, pace: Duration) -> Self {
        self.pace = Some(pace);
        self
    }

    /// The stop reason: the one set, else `tool_use` when a block calls a tool, else
    /// `end_turn`.
    pub fn effective_stop_reason(&self) -> StopReason {
        self.stop_reason.unwrap_or_else(|| {
            if self
                .content
                .iter()
                .any(|block| matches!(block, Block::ToolUse { .. }))
            {
                StopReason::ToolUse
            } else {
                StopReason::EndTurn
            }
        })
    }

    /// The text of its text blocks, joined.
    pub fn joined_text(&self) -> String {
        self.content
            .iter()
            .filter_map(|block| match block {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// One content block of a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call.
    ToolUse {
        /// The call's id; generated when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The tool's name as the request offered it (`mcp__server__tool` for MCP tools).
        name: String,
        /// Its arguments.
        input: Value,
    },
}

/// Why a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its turn.
    EndTurn,
    /// The model calls a tool and waits for its result.
    ToolUse,
    /// The output reached `max_tokens`.
    MaxTokens,
    /// A stop sequence was produced.
    StopSequence,
}

impl StopReason {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
        }
    }
}

/// Token counts of one answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens not read from or written to the cache.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
}

/// An error response of the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The provider's error type; by default the usual one for the status
    /// (`rate_limit_error` for 429, `overloaded_error` for 529, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The message in the error body.
    pub message: String,
    /// `retry-after`, in whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// More response headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: None,
            message: message.into(),
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// Sets the provider's error type.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Sets `retry-after` (seconds).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => {
                serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
            }
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn replies_round_trip_through_their_json_form() {
        let replies = [
            Reply::text("hello"),
            Reply::tool_use("mcp__echo__echo", json!({"text": "hi"})),
            Reply::Error(ApiError::new(429, "slow down").retry_after(3)),
            Reply::Hang,
            Reply::Message(Message::text("x").paced(Duration::from_millis(5))),
        ];
        for reply in replies {
            let text = serde_json::to_string(&reply).unwrap();
            assert_eq!(
                serde_json::from_str::<Reply>(&text).unwrap(),
                reply,
                "{text}"
            );
        }
        assert_eq!(serde_json::to_value(Reply::Hang).unwrap(), json!("hang"));
        assert_eq!(
            serde_json::to_value(Reply::error(500, "boom")).unwrap(),
            json!({"error": {"status": 500, "message": "boom"}})
        );
    }

    #[test]
    fn the_stop_reason_follows_the_content() {
        assert_eq!(
            Message::text("x").effective_stop_reason(),
            StopReason::EndTurn
        );
        assert_eq!(
            Message::tool_use("t", json!({})).effective_stop_reason(),
            StopReason::ToolUse
        );
    }
}
