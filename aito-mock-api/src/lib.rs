//! aito-mock-api: local stand-ins for the model APIs, for tests.
//!
//! Use it when a test must drive a real client (the Claude Code CLI, an HTTP model backend)
//! without calling a model: [`MockServer`] listens on a free port of 127.0.0.1, answers each
//! model call from a script, and records every request byte for byte, so the test can assert
//! on what the client sent (model, system prompt, tools, size) and on how it handled errors,
//! retries and hangs.
//!
//! The script is independent of the API: a [`Reply`] is a model [`Message`] (text and tool
//! calls), an [`ApiError`] (status, error type, `retry-after` and other headers) or a hang.
//! Replies are queued ([`MockServer::push`]) or chosen per request by a [`Responder`]
//! ([`MockServer::respond_with`]). Each API has a module that renders replies in its wire
//! format and reads its requests: the Anthropic Messages API ([`anthropic`]:
//! `POST /v1/messages`) and the OpenAI-compatible Chat Completions API ([`openai`]:
//! `POST /v1/chat/completions`), both streamed as server-sent events when asked. Another API
//! is a new module beside them, a new [`Api`] variant and one more arm in the server's
//! routing; the script and the recording are shared.
//!
//! # Modules
//! - [`server`] holds [`MockServer`] and [`closed_port_url`] (a URL where connections are
//!   refused).
//! - [`reply`] holds [`Reply`], [`Message`], [`Block`], [`ApiError`], [`Usage`].
//! - [`script`] holds the [`Responder`] trait.
//! - [`record`] holds [`Recorded`] (one request), [`Api`] and [`Target`].
//! - [`anthropic`] renders replies for the Messages API and reads its requests
//!   ([`anthropic::MessagesRequest`]).
//! - [`openai`] renders replies for the Chat Completions API and reads its requests
//!   ([`openai::ChatRequest`]).
//! - [`company`] holds [`ScenarioModel`]: a whole company's replay scenario answered through
//!   either API, agents and a worker that calls one tool.
//! - [`mcp`] holds [`McpHttpServer`]: an MCP server over streamable HTTP with scripted tools,
//!   for clients that reach their servers by URL.
//! - [`claude_code`] finds the real Claude Code CLI (pinned in
//!   `scripts/claude-code/package.json`, installed by `scripts/test.sh`) and gives the
//!   environment that runs it offline against a [`MockServer`].
//!
//! # Example
//! ```no_run
//! use aito_mock_api::anthropic::MessagesRequest;
//! use aito_mock_api::{ApiError, MockServer, Reply};
//!
//! let server = MockServer::start().expect("a free port");
//! server.push(ApiError::new(429, "slow down").retry_after(2));
//! server.respond_with(|request: &aito_mock_api::Recorded| {
//!     let call = MessagesRequest::parse(request).expect("a Messages API call");
//!     if call.tool_results().is_empty() && !call.tool_names().is_empty() {
//!         Reply::tool_use(call.tool_names()[0].clone(), serde_json::json!({"text": "hi"}))
//!     } else {
//!         Reply::text("done")
//!     }
//! });
//! // ... run the client with ANTHROPIC_BASE_URL=server.url() ...
//! assert!(server.foreign().is_empty(), "the client stayed on this machine");
//! ```

pub mod anthropic;
pub mod claude_code;
pub mod company;
pub mod mcp;
pub mod openai;
pub mod record;
pub mod reply;
pub mod script;
pub mod server;

pub use claude_code::ClaudeCode;
pub use company::ScenarioModel;
pub use mcp::{McpHttpServer, McpRequest};
pub use record::{Api, Recorded, Target};
pub use reply::{ApiError, Block, Message, Reply, StopReason, Usage};
pub use script::Responder;
pub use server::{MockServer, closed_port_url};
