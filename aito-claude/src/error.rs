//! [`ClaudeError`]: everything that can go wrong while running the `claude` CLI, and how it maps
//! onto the errors of the aito-core traits.

use std::time::Duration;

use aito_core::{LlmError, WorkerError};
use chrono::{DateTime, Utc};

/// Why a `claude` run failed.
///
/// The adapters convert it at the trait boundary: [`ClaudeSession`](crate::ClaudeSession) into
/// [`LlmError`], [`ClaudeWorkers`](crate::ClaudeWorkers) into a failed or timed-out
/// [`WorkerResult`](aito_core::WorkerResult) (or a [`WorkerError`] when the worker could not
/// start at all).
#[derive(Debug, thiserror::Error)]
pub enum ClaudeError {
    /// The program could not be started (not found, not executable, ...).
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The program as configured.
        program: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Reading from or writing to the child failed.
    #[error("I/O error while talking to claude: {0}")]
    Io(#[from] std::io::Error),
    /// An argument is longer than the operating system accepts for one argument.
    #[error("{what} is {len} bytes; one command-line argument may hold at most {max} bytes")]
    ArgumentTooLong {
        /// Which argument.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The run passed its wall-clock limit; its process group was killed.
    #[error("claude ran past its timeout of {0:?} and was killed")]
    Timeout(Duration),
    /// The run printed nothing for too long; its process group was killed.
    #[error("claude printed nothing for {0:?} and was killed")]
    Silent(Duration),
    /// The output passed the configured size limit; the process group was killed.
    #[error(
        "claude's output passed the limit of {limit} bytes and it was killed; it started: {preview}"
    )]
    OutputTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The start of the output.
        preview: String,
    },
    /// The CLI exited without a result object and with a non-zero status (or was killed by a
    /// signal, when `code` is `None`).
    #[error("claude exited with code {code:?} and no result: {stderr_tail}")]
    Exit {
        /// The exit code, if it exited.
        code: Option<i32>,
        /// The end of its standard error.
        stderr_tail: String,
    },
    /// A usage quota or a transient rate limit (429 burst, 529 overload).
    #[error("claude was rate limited ({}): {message}", limit_note(*.quota, .resets_at, .retry_after))]
    RateLimited {
        /// A usage quota (subscription window) rather than a transient burst.
        quota: bool,
        /// When the limit resets, when the CLI said.
        resets_at: Option<DateTime<Utc>>,
        /// How long to wait, when known.
        retry_after: Option<Duration>,
        /// The CLI's message.
        message: String,
    },
    /// The API could not be reached or failed on its side (a 5xx answer, a refused
    /// connection, an API call that timed out), after the CLI's own retries.
    #[error("the model API is unavailable{}: {message}", status_note(*.status))]
    Unavailable {
        /// The HTTP status, when the API answered.
        status: Option<u16>,
        /// The CLI's message.
        message: String,
    },
    /// Credentials missing, refused or out of credit; retrying will not help.
    #[error("claude could not authenticate: {0}")]
    Auth(String),
    /// The CLI ended with an error result that is neither a rate limit nor an auth failure
    /// (`error_max_turns`, `error_during_execution`, a context overflow, an API error).
    #[error("claude ended with an error result ({kind}): {message}")]
    ErrorResult {
        /// The result's `subtype`, or its `terminal_reason` when that says more.
        kind: String,
        /// The result text or the `errors` list.
        message: String,
    },
    /// The output was not the result the adapter expected.
    #[error("unreadable claude output ({reason}): {preview}")]
    Unreadable {
        /// What was expected and what was seen.
        reason: String,
        /// The start of the output.
        preview: String,
    },
    /// An MCP server name the CLI could not turn into tool names.
    #[error(
        "invalid MCP server name {0:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"
    )]
    InvalidServerName(String),
    /// The temporary MCP configuration could not be written.
    #[error("could not write the MCP configuration: {0}")]
    McpConfig(String),
}

fn status_note(status: Option<u16>) -> String {
    status.map_or_else(String::new, |status| format!(" ({status})"))
}

fn limit_note(
    quota: bool,
    resets_at: &Option<DateTime<Utc>>,
    retry_after: &Option<Duration>,
) -> String {
    let kind = if quota { "usage quota" } else { "transient" };
    match (resets_at, retry_after) {
        (Some(at), _) => format!("{kind}, resets at {}", at.to_rfc3339()),
        (None, Some(after)) => format!("{kind}, retry after {after:?}"),
        (None, None) => kind.to_owned(),
    }
}

impl ClaudeError {
    /// Whether the process was killed for running too long or too quietly.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClaudeError::Timeout(_) | ClaudeError::Silent(_))
    }
}

impl From<ClaudeError> for LlmError {
    fn from(error: ClaudeError) -> Self {
        match error {
            ClaudeError::Timeout(after) | ClaudeError::Silent(after) => LlmError::Timeout { after },
            ClaudeError::RateLimited {
                quota,
                resets_at,
                retry_after,
                message,
            } => LlmError::RateLimited {
                quota,
                resets_at,
                retry_after,
                message,
            },
            ClaudeError::Unavailable { status, message } => {
                LlmError::Unavailable { status, message }
            }
            ClaudeError::Auth(message) => LlmError::Auth { message },
            ClaudeError::Exit { code, stderr_tail } => LlmError::Process { code, stderr_tail },
            ClaudeError::Unreadable { reason, preview } => LlmError::Unreadable { reason, preview },
            ClaudeError::OutputTooLarge { limit, preview } => LlmError::Unreadable {
                reason: format!("output larger than {limit} bytes"),
                preview,
            },
            ClaudeError::ErrorResult { kind, message } => LlmError::Rejected { kind, message },
            other @ (ClaudeError::Spawn { .. }
            | ClaudeError::Io(_)
            | ClaudeError::ArgumentTooLong { .. }
            | ClaudeError::McpConfig(_)
            | ClaudeError::InvalidServerName(_)) => LlmError::Other {
                message: other.to_string(),
            },
        }
    }
}

impl From<ClaudeError> for WorkerError {
    /// For the failures that happen before the worker runs; the ones that happen while it runs
    /// become a failed [`WorkerResult`](aito_core::WorkerResult) instead.
    fn from(error: ClaudeError) -> Self {
        match error {
            ClaudeError::Spawn { .. }
            | ClaudeError::McpConfig(_)
            | ClaudeError::ArgumentTooLong { .. } => WorkerError::Spawn(error.to_string()),
            other => WorkerError::Other(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_onto_llm_errors() {
        let timeout: LlmError = ClaudeError::Timeout(Duration::from_secs(2)).into();
        assert_eq!(
            timeout,
            LlmError::Timeout {
                after: Duration::from_secs(2)
            }
        );
        let silent: LlmError = ClaudeError::Silent(Duration::from_secs(3)).into();
        assert_eq!(
            silent,
            LlmError::Timeout {
                after: Duration::from_secs(3)
            }
        );
        let exit: LlmError = ClaudeError::Exit {
            code: Some(3),
            stderr_tail: "boom".into(),
        }
        .into();
        assert_eq!(
            exit,
            LlmError::Process {
                code: Some(3),
                stderr_tail: "boom".into()
            }
        );
        let auth: LlmError = ClaudeError::Auth("Invalid API key".into()).into();
        assert!(!auth.is_transient());
        let big: LlmError = ClaudeError::OutputTooLarge {
            limit: 10,
            preview: "abc".into(),
        }
        .into();
        assert!(matches!(big, LlmError::Unreadable { ref preview, .. } if preview == "abc"));
        let turns: LlmError = ClaudeError::ErrorResult {
            kind: "error_max_turns".into(),
            message: "Reached maximum number of turns (2)".into(),
        }
        .into();
        assert!(matches!(turns, LlmError::Rejected { ref kind, .. } if kind == "error_max_turns"));
        assert!(!turns.is_transient(), "a turn limit is not retried");
        let down: LlmError = ClaudeError::Unavailable {
            status: Some(500),
            message: "API Error: 500".into(),
        }
        .into();
        assert!(down.is_transient(), "a server error is retried");
    }

    #[test]
    fn rate_limits_say_what_kind_and_when() {
        let at: DateTime<Utc> = "2026-11-25T08:00:00Z".parse().unwrap();
        let quota = ClaudeError::RateLimited {
            quota: true,
            resets_at: Some(at),
            retry_after: None,
            message: "You've hit your session limit".into(),
        };
        assert_eq!(
            quota.to_string(),
            "claude was rate limited (usage quota, resets at 2026-11-25T08:00:00+00:00): You've hit your session limit"
        );
        let burst = ClaudeError::RateLimited {
            quota: false,
            resets_at: None,
            retry_after: Some(Duration::from_secs(17)),
            message: "429".into(),
        };
        assert_eq!(
            burst.to_string(),
            "claude was rate limited (transient, retry after 17s): 429"
        );
    }

    #[test]
    fn start_failures_map_onto_worker_spawn_errors() {
        let error: WorkerError = ClaudeError::McpConfig("disk full".into()).into();
        assert!(matches!(error, WorkerError::Spawn(ref m) if m.contains("disk full")));
    }
}
