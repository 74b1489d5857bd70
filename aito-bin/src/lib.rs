//! The `aito` binary's library: everything the binary wires together, exposed so that it can
//! be tested in-process.
//!
//! The binary (`src/main.rs`) parses the command line ([`cli`]), sets up logging ([`logging`])
//! and runs one of the [`commands`]; each returns an [`Error`](error::Error) whose exit code
//! (2 for usage and configuration, 1 at run time) becomes the process's.
//!
//! - [`config`]: `aito.toml` with `AITO_*` overrides, checked with file, line and field.
//! - [`backend`]: the bus and store: embedded in the data directory, in memory, or Redis.
//! - [`data_dir`]: the data directory, for `aito run` and for the operator's commands.
//! - [`model`]: the model and workers (`claude`, the demo, a replay scenario); the Claude
//!   adapter is built in [`model::claude_adapters`].
//! - [`scenario`]: replay scenarios, and the built-in demo.
//! - [`status`]: the report of `aito status` (and its stable JSON).
//! - [`summary`]: what `aito run` prints at the end.
//! - [`health`]: `aito agent`'s `/healthz` and `/readyz`, and the probe of `aito health`.
//! - [`dashboard`]: the axum dashboard (pages, JSON API, health, metrics).
//!
//! # Features
//! - `tls` (off by default): `rediss://` URLs, Redis over TLS (aito-redis's `tls`):
//!   `cargo install aito-bin --features tls`.
//!
//! # Example
//! ```
//! use aito_bin::config::{Config, ConfigSource, Env};
//!
//! let env = Env::from_pairs([("AITO_AGENTS_CTO_MODEL", "opus")]);
//! let text = "[company]\nname = \"acme\"\n\n[[agents]]\nrole = \"ceo\"\n\n[[agents]]\nrole = \"cto\"\n";
//! let config = Config::from_text(text, ConfigSource::BuiltIn, std::path::Path::new("."), &env)?;
//! assert_eq!(config.agents.len(), 2);
//! assert_eq!(config.agent("cto").and_then(|cto| cto.spec.model.as_deref()), Some("opus"));
//! # Ok::<(), aito_bin::config::ConfigError>(())
//! ```

pub mod backend;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod data_dir;
pub mod error;
pub mod health;
pub mod logging;
pub mod model;
pub mod scenario;
pub mod status;
pub mod summary;
pub mod tasks;
