//! aito-claude: the Claude Code CLI (`claude`) as aito's model and worker runner.
//!
//! Use it when the agents should think with Claude Code in headless mode:
//! [`ClaudeSession`] implements [`LlmSession`](aito_core::LlmSession) with one `claude -p`
//! process per session that gets nothing but aito's prompt (no built-in tools, no MCP server,
//! no `CLAUDE.md`, no transcript left behind), and [`ClaudeWorkers`] implements
//! [`WorkerSpawner`](aito_core::WorkerSpawner) with one `claude -p` process per worker task,
//! given only the `mcp__*` tools of the servers the task asked for, in a scratch directory of
//! its own, streaming its events to [`Channel::WorkerLogs`](aito_core::Channel::WorkerLogs).
//!
//! Every child runs in its own process group with the prompt on a stdin that is closed after
//! writing; stdout and stderr are read concurrently; at the timeout (or when the call is
//! cancelled) the whole group is terminated (SIGTERM, a grace period, SIGKILL) and reaped. The
//! CLI's result object is read leniently and classified on `is_error`, `api_error_status`,
//! `terminal_reason` and its text into rate limits (with the reset time when the CLI names
//! one), an unavailable API (5xx, refused connections, timeouts: transient), authentication
//! failures, rejections, process failures and unreadable output.
//!
//! # Modules
//! - [`config`] holds [`ClaudeConfig`], how to launch the CLI (binary, directory,
//!   environment, retry count, kill grace, silence timeout, size limits).
//! - [`session`] holds [`ClaudeSession`].
//! - [`workers`] holds [`ClaudeWorkers`].
//! - [`mcp`] holds [`McpRegistry`] and [`McpServer`], read from the `[mcp.<name>]` tables of
//!   aito.toml.
//! - [`die_with_parent`]: children that die with the daemon (`PR_SET_PDEATHSIG`); every
//!   `claude` process is started through it from one long-lived thread.
//! - [`groups`] holds [`GroupRegistry`]: the process groups a daemon starts, recorded on disk,
//!   so that a daemon started after a `kill -9` kills what its predecessor's groups left.
//! - [`error`] holds [`ClaudeError`] and its mapping onto [`LlmError`](aito_core::LlmError)
//!   and [`WorkerError`](aito_core::WorkerError).
//!
//! The crate also builds two test stand-ins (see docs/claude.md): `fake-claude`, which acts as
//! the CLI does, against a local Messages API server (aito-mock-api) or from a script, and
//! `test-mcp-server`, a small stdio MCP server with one scripted tool.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use aito_claude::{ClaudeConfig, ClaudeSession, ClaudeWorkers, McpRegistry, McpServer};
//! use aito_core::{AgentId, LlmRequest, LlmSession, MemoryBus, Role, WorkerSpawner, WorkerTask};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClaudeConfig::new("claude").model("sonnet");
//!
//! let session = ClaudeSession::new(config.clone());
//! let answer = session
//!     .run(LlmRequest {
//!         agent: AgentId::random(),
//!         role: Role::Cto,
//!         system_prompt: "You are the CTO.".into(),
//!         prompt: "What should we build next?".into(),
//!         resume_session: None,
//!         keep_session: false,
//!         model: None,
//!         max_turns: Some(4),
//!         timeout: Duration::from_secs(600),
//!         working_dir: None,
//!         kind: Default::default(),
//!         tier: None,
//!     })
//!     .await?;
//! println!("{} (${:.4})", answer.text, answer.cost_usd);
//!
//! let registry = McpRegistry::new().with(
//!     "telegram",
//!     McpServer::stdio("npx", ["-y", "telegram-mcp"]),
//! )?;
//! let workers = ClaudeWorkers::new(config, registry, Arc::new(MemoryBus::default()));
//! let result = workers
//!     .spawn(WorkerTask {
//!         id: "trigger-1:0".into(),
//!         agent: AgentId::random(),
//!         role: Role::Cmo,
//!         task: "Post the weekly update".into(),
//!         context: None,
//!         servers: vec!["telegram".into()],
//!         allowed_servers: vec!["telegram".into()],
//!         timeout: Duration::from_secs(120),
//!     })
//!     .await?;
//! println!("{:?}: {}", result.status, result.result);
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod error;
pub mod groups;
mod lifeline;
mod limit;
pub mod mcp;
mod process;
mod result;
pub mod session;
pub mod workers;

pub use config::ClaudeConfig;
pub use error::ClaudeError;
pub use groups::GroupRegistry;
pub use lifeline::die_with_parent;
pub use mcp::{McpRegistry, McpServer};
pub use session::ClaudeSession;
pub use workers::ClaudeWorkers;
