//! The conversation a backend sends, independent of the API: [`Conversation`], its
//! [`Item`]s, the tools offered ([`ToolSpec`]), and [`ChatApi`], one model call over it.
//!
//! A session is a conversation of one user message; a worker's is the tool-use loop, which
//! adds the model's tool calls and their results until the model answers in text.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::{ApiConfig, Tokens};
use crate::error::ApiError;

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Its name as the model sees it (`server__tool` for MCP tools).
    pub name: String,
    /// What it does.
    pub description: String,
    /// The JSON schema of its arguments.
    pub input_schema: Value,
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The call's id, as the API gave it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Its arguments.
    pub arguments: Value,
}

/// One entry of a conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// The user's text.
    User(String),
    /// The model's turn: its text and the tools it called.
    Assistant {
        /// The text.
        text: String,
        /// The calls, in order.
        calls: Vec<ToolCall>,
    },
    /// The result of one tool call.
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// Its text.
        content: String,
        /// Whether the call failed.
        is_error: bool,
    },
}

/// A conversation with a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    /// The model.
    pub model: String,
    /// The stable system prompt (role profile and response contract): the cacheable prefix.
    pub system: String,
    /// The entries, in order.
    pub items: Vec<Item>,
}

/// What one model call gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Turn {
    /// The text of the answer.
    pub text: String,
    /// The tools it called.
    pub calls: Vec<ToolCall>,
    /// Why it stopped, as the API said (`end_turn`, `tool_use`, `stop`, `tool_calls`, ...).
    pub stop: String,
    /// Its token counts.
    pub tokens: Tokens,
    /// The model that answered.
    pub model: String,
}

/// One model API: a call over a conversation.
#[async_trait]
pub trait ChatApi: Send + Sync + 'static {
    /// The provider's configuration.
    fn config(&self) -> &ApiConfig;

    /// One model call, retried as configured, given up at `deadline`.
    async fn turn(
        &self,
        conversation: &Conversation,
        tools: &[ToolSpec],
        deadline: Instant,
    ) -> Result<Turn, ApiError>;
}

/// The time left until `deadline`, or the timeout error when none is.
pub(crate) fn remaining(deadline: Instant, timeout: Duration) -> Result<Duration, ApiError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(ApiError::Timeout(timeout))
    } else {
        Ok(left)
    }
}
