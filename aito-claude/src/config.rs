//! [`ClaudeConfig`]: how to launch the `claude` CLI (binary, directory, environment, limits).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use aito_core::llm::{duration_ms, opt_duration_ms};
use serde::Deserialize;

/// The environment variable the CLI reads for its own API retry count.
pub const MAX_RETRIES_ENV: &str = "CLAUDE_CODE_MAX_RETRIES";

/// Set by a running Claude Code session; a child `claude` that sees it refuses to start, so the
/// adapters always remove it from the child's environment.
pub const NESTED_SESSION_ENV: &str = "CLAUDECODE";

/// How to launch the `claude` CLI. Shared by [`ClaudeSession`](crate::ClaudeSession) and
/// [`ClaudeWorkers`](crate::ClaudeWorkers).
///
/// Deserializes from a table such as `[claude]` in aito.toml; every field has a default:
///
/// ```toml
/// [claude]
/// binary = "/usr/local/bin/claude"
/// working_dir = "/srv/aito/work"
/// model = "sonnet"
/// max_retries = 2
/// kill_grace_ms = 3000
/// silence_timeout_ms = 300000
/// extra_args = ["--permission-mode", "default"]
/// [claude.env]
/// DISABLE_AUTOUPDATER = "1"
/// ```
///
/// Secrets belong in the daemon's environment, which the child inherits, not in `env`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaudeConfig {
    /// The program to run: a path, or a name looked up on `PATH`. Default `claude`.
    pub binary: PathBuf,
    /// The working directory of sessions whose request names none; the daemon's own when
    /// `None`. Workers never use it: each runs in a scratch directory of its own.
    pub working_dir: Option<PathBuf>,
    /// Extra environment for the child, on top of the inherited one. Values are never logged.
    pub env: BTreeMap<String, String>,
    /// The model when a request names none, and the model of workers (`--model`); the CLI's
    /// default when `None` (its most expensive model: set one).
    pub model: Option<String>,
    /// `CLAUDE_CODE_MAX_RETRIES` for the child: how often the CLI itself retries a failed API
    /// call (429, 529, network) before it gives up and reports the error. Default 2, so a
    /// short blip is absorbed but a long outage reaches the daemon's own backoff within
    /// seconds instead of after minutes of hidden retries. `None` leaves the CLI default (10).
    /// An explicit `CLAUDE_CODE_MAX_RETRIES` in [`ClaudeConfig::env`] wins.
    pub max_retries: Option<u32>,
    /// After SIGTERM to the process group, how long to wait before SIGKILL. Default 3 s: the
    /// CLI flushes its session transcript on SIGTERM, which keeps `--resume` working.
    #[serde(rename = "kill_grace_ms", with = "duration_ms")]
    pub kill_grace: Duration,
    /// Workers only (they stream events): kill a worker that prints nothing for this long.
    /// Default `None`, because one long MCP tool call prints nothing while it runs. Sessions
    /// print little before their answer (a session waiting on the API is silent), so only
    /// their wall-clock timeout applies.
    #[serde(rename = "silence_timeout_ms", with = "opt_duration_ms")]
    pub silence_timeout: Option<Duration>,
    /// The most standard output accepted from one run (or, for workers, in one line), in bytes.
    /// Past it the process group is killed and the output is unreadable. Default 64 MiB.
    pub max_output_bytes: usize,
    /// Worker log events larger than this many bytes are published as a preview with a
    /// `truncated` flag instead of whole. Default 64 KiB.
    pub max_log_event_bytes: usize,
    /// Arguments appended to every invocation (for example `--permission-mode default` or
    /// `--settings FILE`). Passed as separate arguments, never through a shell.
    pub extra_args: Vec<String>,
}

impl Default for ClaudeConfig {
    fn default() -> Self {
        Self {
            binary: PathBuf::from("claude"),
            working_dir: None,
            env: BTreeMap::new(),
            model: None,
            max_retries: Some(2),
            kill_grace: Duration::from_secs(3),
            silence_timeout: None,
            max_output_bytes: 64 * 1024 * 1024,
            max_log_event_bytes: 64 * 1024,
            extra_args: Vec::new(),
        }
    }
}

impl fmt::Debug for ClaudeConfig {
    // Environment values may be secrets: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaudeConfig")
            .field("binary", &self.binary)
            .field("working_dir", &self.working_dir)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("model", &self.model)
            .field("max_retries", &self.max_retries)
            .field("kill_grace", &self.kill_grace)
            .field("silence_timeout", &self.silence_timeout)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("max_log_event_bytes", &self.max_log_event_bytes)
            .field("extra_args", &self.extra_args)
            .finish()
    }
}

impl ClaudeConfig {
    /// The defaults, with `binary` as the program to run.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            ..Self::default()
        }
    }

    /// Sets the working directory of sessions whose request names none.
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Adds one environment variable for the child.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the default model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets `CLAUDE_CODE_MAX_RETRIES` for the child (`None`: leave the CLI default).
    pub fn max_retries(mut self, retries: Option<u32>) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the wait between SIGTERM and SIGKILL.
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// Sets the silence timeout for workers.
    pub fn silence_timeout(mut self, silence: Option<Duration>) -> Self {
        self.silence_timeout = silence;
        self
    }

    /// Sets the output size limit.
    pub fn max_output_bytes(mut self, limit: usize) -> Self {
        self.max_output_bytes = limit;
        self
    }

    /// Sets the size above which worker log events are truncated.
    pub fn max_log_event_bytes(mut self, limit: usize) -> Self {
        self.max_log_event_bytes = limit;
        self
    }

    /// Appends one argument to every invocation.
    pub fn extra_arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// The environment to add to the child's, in order: the max-retries default, then
    /// [`ClaudeConfig::env`] (which may override it).
    pub(crate) fn child_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::with_capacity(self.env.len() + 1);
        if let Some(retries) = self.max_retries {
            env.push((MAX_RETRIES_ENV.to_owned(), retries.to_string()));
        }
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_toml_table_with_defaults() {
        let config: ClaudeConfig = toml::from_str(
            r#"
            binary = "/opt/claude"
            kill_grace_ms = 500
            silence_timeout_ms = 60000
            [env]
            DISABLE_AUTOUPDATER = "1"
            "#,
        )
        .unwrap();
        assert_eq!(config.binary, PathBuf::from("/opt/claude"));
        assert_eq!(config.kill_grace, Duration::from_millis(500));
        assert_eq!(config.silence_timeout, Some(Duration::from_secs(60)));
        assert_eq!(config.max_retries, Some(2));
        assert_eq!(config.max_output_bytes, 64 * 1024 * 1024);
        assert!(toml::from_str::<ClaudeConfig>("binnary = \"x\"").is_err());
    }

    #[test]
    fn debug_hides_environment_values() {
        let config = ClaudeConfig::default().env("ANTHROPIC_API_KEY", "sk-secret");
        let shown = format!("{config:?}");
        assert!(shown.contains("ANTHROPIC_API_KEY"));
        assert!(!shown.contains("sk-secret"));
    }

    #[test]
    fn explicit_env_overrides_the_retry_default() {
        let config = ClaudeConfig::default().env(MAX_RETRIES_ENV, "7");
        let env = config.child_env();
        assert_eq!(
            env.iter().rev().find(|(k, _)| k == MAX_RETRIES_ENV),
            Some(&(MAX_RETRIES_ENV.to_owned(), "7".to_owned()))
        );
    }
}
