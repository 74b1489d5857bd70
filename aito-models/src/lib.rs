//! aito-models: model API backends for aito.
//!
//! Use it when agents should think on a model API instead of (or besides) the Claude Code
//! CLI: [`ApiSession`] implements [`LlmSession`](aito_core::LlmSession) over the Anthropic
//! Messages API ([`AnthropicApi`]) or an OpenAI-compatible Chat Completions API
//! ([`OpenAiApi`]: OpenAI, OpenRouter, Ollama, vLLM, llama.cpp, LM Studio), streamed, with
//! timeouts, retries of 429/529/5xx that honour `retry-after`, the same
//! [`LlmError`](aito_core::LlmError) mapping as aito-claude, and a cost from the API's token
//! counts (cache reads and writes apart) and a price table.
//!
//! # Modules
//! - [`config`] holds [`ApiConfig`] and [`Price`].
//! - [`chat`] holds the API-neutral conversation and the [`ChatApi`] trait.
//! - [`anthropic`] and [`openai`] hold the two APIs.
//! - [`session`] holds [`ApiSession`].
//! - [`router`] holds [`Router`], which chooses a provider per agent, session kind and tier
//!   by [`Rule`]s and falls back when one is rate limited, overloaded or down.
//! - [`workers`] holds [`ApiWorkers`], a [`WorkerSpawner`](aito_core::WorkerSpawner) that runs
//!   the tool-use loop on a model API with the task's MCP servers (through rmcp).
//! - [`error`] holds [`ApiError`] and its mapping.
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//!
//! use aito_core::{AgentId, LlmRequest, LlmSession, Role};
//! use aito_models::{ApiConfig, ApiSession, Price};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ApiConfig::new("anthropic", "https://api.anthropic.com", "claude-sonnet-4-5")
//!     .api_key(std::env::var("ANTHROPIC_API_KEY")?)
//!     .price("claude-sonnet-4-5", Price { input: 3.0, output: 15.0, cache_read: None, cache_write: None });
//! let session = ApiSession::anthropic(config)?;
//! let answer = session
//!     .run(LlmRequest {
//!         agent: AgentId::random(),
//!         role: Role::Cto,
//!         system_prompt: "You are the CTO.".into(),
//!         prompt: "What should we build next?".into(),
//!         resume_session: None,
//!         keep_session: false,
//!         model: None,
//!         max_turns: None,
//!         timeout: Duration::from_secs(600),
//!         working_dir: None,
//!         kind: Default::default(),
//!         tier: None,
//!     })
//!     .await?;
//! println!("{} (${:.4})", answer.text, answer.cost_usd);
//! # Ok(())
//! # }
//! ```

pub mod anthropic;
pub mod chat;
pub mod config;
pub mod error;
mod http;
mod mcp;
pub mod openai;
pub mod router;
pub mod session;
pub mod workers;

pub use anthropic::AnthropicApi;
pub use chat::{ChatApi, Conversation, Item, ToolCall, ToolSpec, Turn};
pub use config::{ApiConfig, ApiKey, Price, Tokens};
pub use error::ApiError;
pub use openai::OpenAiApi;
pub use router::{Router, RouterError, Rule, WorkerRouter};
pub use session::ApiSession;
pub use workers::ApiWorkers;
