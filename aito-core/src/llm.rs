//! The [`LlmSession`] trait: how an agent thinks.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::decision::Tier;
use crate::id::AgentId;
use crate::role::Role;

/// What a session is for: the kind of trigger that started it. A model router chooses a
/// provider by it (docs/models.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A scheduled check-in (a cron tick, or the check-in at start-up).
    Scheduled,
    /// A message on the agent's channels (a direct message, a broadcast, a webhook, ...).
    #[default]
    Message,
    /// A request to vote on a decision.
    Vote,
    /// A decision that needs the agent: vetoed back to its proposer, resolved, approved.
    Decision,
    /// A worker's session (a [`WorkerTask`](crate::WorkerTask)).
    Worker,
}

impl SessionKind {
    /// The name in configuration and history (`scheduled`, `message`, `vote`, `decision`,
    /// `worker`).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Scheduled => "scheduled",
            SessionKind::Message => "message",
            SessionKind::Vote => "vote",
            SessionKind::Decision => "decision",
            SessionKind::Worker => "worker",
        }
    }

    /// Every kind, in the order above.
    pub const ALL: [SessionKind; 5] = [
        SessionKind::Scheduled,
        SessionKind::Message,
        SessionKind::Vote,
        SessionKind::Decision,
        SessionKind::Worker,
    ];
}

impl std::str::FromStr for SessionKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SessionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown session kind {text:?}: expected scheduled, message, vote, decision or worker"
                )
            })
    }
}

impl std::fmt::Display for SessionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One session request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// The agent asking.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// The role profile and response contract.
    pub system_prompt: String,
    /// The prompt: state, history, decisions, context, trigger.
    pub prompt: String,
    /// A session to resume, when the agent keeps one. An adapter that finds no such session
    /// starts a fresh one.
    #[serde(default)]
    pub resume_session: Option<String>,
    /// Keep this session so that a later request can resume it. Off by default: a session
    /// that is not resumed leaves nothing behind (Claude Code writes no transcript).
    #[serde(default)]
    pub keep_session: bool,
    /// The model, when not the adapter's default.
    #[serde(default)]
    pub model: Option<String>,
    /// Maximum agentic turns.
    #[serde(default)]
    pub max_turns: Option<u32>,
    /// Wall-clock limit for the whole session.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// The directory the session works in: the agent's workspace.
    #[serde(default)]
    pub working_dir: Option<std::path::PathBuf>,
    /// What the session is for, from its trigger.
    #[serde(default)]
    pub kind: SessionKind,
    /// The tier of the decision the session is about (votes and decisions), when known.
    #[serde(default)]
    pub tier: Option<Tier>,
}

/// Tokens a session used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Input tokens, cache reads and writes included.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl TokenUsage {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// A finished session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmResponse {
    /// The model's final text.
    pub text: String,
    /// The session id, for resuming.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Cost in USD.
    #[serde(default)]
    pub cost_usd: f64,
    /// Tokens used.
    #[serde(default)]
    pub usage: TokenUsage,
    /// Agentic turns taken.
    #[serde(default)]
    pub turns: u32,
    /// Wall time.
    #[serde(default, with = "duration_ms")]
    pub duration: Duration,
    /// The provider that answered, when a router chose among several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// Why a session failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum LlmError {
    /// A rate or usage limit. `quota` limits (subscription windows) are never retried before
    /// they reset; transient ones (429 bursts, 529 overload) back off.
    #[error("rate limited{}: {message}", reset_hint(.resets_at, .retry_after))]
    RateLimited {
        /// A usage quota rather than a transient burst.
        quota: bool,
        /// When the limit resets, when known.
        #[serde(default)]
        resets_at: Option<DateTime<Utc>>,
        /// How long to wait, when known.
        #[serde(default, with = "opt_duration_ms")]
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// The provider could not be reached or failed on its side: a 5xx answer, a refused or
    /// broken connection, an API call that timed out. Transient: retried with backoff.
    #[error("model API unavailable{}: {message}", status_hint(.status))]
    Unavailable {
        /// The HTTP status, when the provider answered (500, 502, 503, ...).
        #[serde(default)]
        status: Option<u16>,
        /// What the adapter or the provider said.
        message: String,
    },
    /// The session ran past its timeout and was killed.
    #[error("session timed out after {after:?}")]
    Timeout {
        /// The limit it ran past.
        #[serde(with = "duration_ms")]
        after: Duration,
    },
    /// Credentials are missing or refused; retrying will not help.
    #[error("authentication failed: {message}")]
    Auth {
        /// The provider's message.
        message: String,
    },
    /// The model process failed.
    #[error("model process failed (exit code {code:?}): {stderr_tail}")]
    Process {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// The end of its standard error.
        stderr_tail: String,
    },
    /// The session ended with an error that trying again will not fix: the turn limit was
    /// reached, the prompt is too long, the provider refused the request.
    #[error("the session ended with an error ({kind}): {message}")]
    Rejected {
        /// What kind of error (`error_max_turns`, `prompt_too_long`, ...).
        kind: String,
        /// The provider's message.
        message: String,
    },
    /// The adapter could not read the model's output.
    #[error("unreadable model output ({reason}): {preview}")]
    Unreadable {
        /// What was wrong.
        reason: String,
        /// The start of the output.
        preview: String,
    },
    /// Anything else.
    #[error("model session failed: {message}")]
    Other {
        /// What went wrong.
        message: String,
    },
}

fn reset_hint(resets_at: &Option<DateTime<Utc>>, retry_after: &Option<Duration>) -> String {
    match (resets_at, retry_after) {
        (Some(at), _) => format!(" until {}", at.to_rfc3339()),
        (None, Some(after)) => format!(" for {after:?}"),
        (None, None) => String::new(),
    }
}

fn status_hint(status: &Option<u16>) -> String {
    status.map_or_else(String::new, |status| format!(" ({status})"))
}

impl LlmError {
    /// Whether trying again later (after backoff) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::RateLimited { quota, .. } => !quota,
            LlmError::Unavailable { .. }
            | LlmError::Timeout { .. }
            | LlmError::Process { .. }
            | LlmError::Other { .. } => true,
            LlmError::Unreadable { .. } => true,
            LlmError::Auth { .. } | LlmError::Rejected { .. } => false,
        }
    }
}

/// Runs one model session to completion.
///
/// # Guarantees
/// Implementations honour [`LlmRequest::timeout`] (returning [`LlmError::Timeout`] and leaving
/// no process behind), report cost and usage when the provider gives them, and classify
/// failures so that the daemon can decide between backing off, parking until a quota resets,
/// and giving up.
#[cfg_attr(any(test, feature = "test-utils"), mockall::automock)]
#[async_trait]
pub trait LlmSession: Send + Sync {
    /// Runs the session.
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError>;
}

/// `Duration` as integer milliseconds in JSON.
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes milliseconds.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    /// Reads milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(deserializer)?))
    }
}

/// `Option<Duration>` as integer milliseconds in JSON.
pub mod opt_duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes milliseconds or null.
    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::duration_ms::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads milliseconds or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_survives_a_round_trip_through_json() {
        let errors = [
            LlmError::RateLimited {
                quota: true,
                resets_at: Some("2026-11-24T10:00:00Z".parse().unwrap()),
                retry_after: Some(Duration::from_secs(90)),
                message: "limit".into(),
            },
            LlmError::Unavailable {
                status: Some(503),
                message: "down".into(),
            },
            LlmError::Unavailable {
                status: None,
                message: "connection refused".into(),
            },
            LlmError::Timeout {
                after: Duration::from_secs(300),
            },
            LlmError::Auth {
                message: "401".into(),
            },
            LlmError::Process {
                code: Some(1),
                stderr_tail: "boom".into(),
            },
            LlmError::Rejected {
                kind: "error_max_turns".into(),
                message: "2 turns".into(),
            },
            LlmError::Unreadable {
                reason: "not json".into(),
                preview: "<html>".into(),
            },
            LlmError::Other {
                message: "else".into(),
            },
        ];
        for error in errors {
            if matches!(error, LlmError::Unavailable { .. }) {
                assert!(error.is_transient(), "{error}");
            }
            let text = serde_json::to_string(&error).unwrap();
            assert_eq!(
                serde_json::from_str::<LlmError>(&text).unwrap(),
                error,
                "{text}"
            );
        }
    }
}
