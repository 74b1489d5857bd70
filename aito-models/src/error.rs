//! [`ApiError`]: everything that can go wrong calling a model API, and how it maps onto
//! [`LlmError`] the way aito-claude maps the CLI's failures: 401/403 are authentication
//! failures, a 429 is a transient rate limit (a quota when the API says so), a 529 is an
//! overload (a transient rate limit), other 5xx answers, refused connections and hung calls
//! are an unavailable API, and the rest of 4xx are rejections.

use std::time::Duration;

use aito_core::{LlmError, WorkerError};

/// Why a model API call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error status.
    #[error("{provider}: HTTP {status} ({kind}): {message}")]
    Status {
        /// The provider's name.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The API's error type (`rate_limit_error`, `overloaded_error`, `insufficient_quota`,
        /// ...), or `http_error` when the body named none.
        kind: String,
        /// The API's message.
        message: String,
        /// The `retry-after` (or `retry-after-ms`) the API sent.
        retry_after: Option<Duration>,
    },
    /// The API could not be reached (refused connection, reset, DNS, TLS).
    #[error("{provider}: could not reach the API: {message}")]
    Connect {
        /// The provider's name.
        provider: String,
        /// What the client said.
        message: String,
    },
    /// The call sent no byte for longer than the idle timeout: the API hung.
    #[error("{provider}: the API sent nothing for {after:?}")]
    Hung {
        /// The provider's name.
        provider: String,
        /// The idle timeout.
        after: Duration,
    },
    /// The session ran past its own timeout.
    #[error("the session ran past its timeout of {0:?}")]
    Timeout(Duration),
    /// The answer could not be read.
    #[error("{provider}: unreadable answer ({reason}): {preview}")]
    Unreadable {
        /// The provider's name.
        provider: String,
        /// What was wrong.
        reason: String,
        /// The start of the answer.
        preview: String,
    },
    /// The model ended its turn in a way that gives no answer (`max_tokens`, a refusal).
    #[error("{provider}: the model stopped ({reason}) without an answer")]
    Stopped {
        /// The provider's name.
        provider: String,
        /// The stop or finish reason.
        reason: String,
    },
    /// The configuration cannot work (a bad base URL, a TLS setup that failed).
    #[error("{0}")]
    Config(String),
}

/// Whether an API's error type or message says a usage quota rather than a burst.
fn is_quota(kind: &str, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    kind == "insufficient_quota"
        || message.contains("quota")
        || message.contains("usage limit")
        || message.contains("credit balance")
}

impl ApiError {
    /// Whether calling again (after a wait) may succeed: rate limits, overloads, 5xx, lost
    /// connections and hangs.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status {
                status,
                kind,
                message,
                ..
            } => match status {
                429 => !is_quota(kind, message),
                408 | 409 | 500..=599 => true,
                _ => false,
            },
            ApiError::Connect { .. } | ApiError::Hung { .. } => true,
            _ => false,
        }
    }

    /// The wait the API asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<ApiError> for LlmError {
    fn from(error: ApiError) -> Self {
        let message = error.to_string();
        match error {
            ApiError::Status {
                status,
                kind,
                message: api_message,
                retry_after,
                ..
            } => match status {
                401 | 403 => LlmError::Auth { message },
                429 if is_quota(&kind, &api_message) => LlmError::RateLimited {
                    quota: true,
                    resets_at: None,
                    retry_after,
                    message,
                },
                429 | 529 => LlmError::RateLimited {
                    quota: false,
                    resets_at: None,
                    retry_after,
                    message,
                },
                400 if is_quota(&kind, &api_message) => LlmError::Auth { message },
                500..=599 | 408 => LlmError::Unavailable {
                    status: Some(status),
                    message,
                },
                _ => LlmError::Rejected {
                    kind: format!("API error {status} ({kind})"),
                    message: api_message,
                },
            },
            ApiError::Connect { .. } | ApiError::Hung { .. } => LlmError::Unavailable {
                status: None,
                message,
            },
            ApiError::Timeout(after) => LlmError::Timeout { after },
            ApiError::Unreadable {
                reason, preview, ..
            } => LlmError::Unreadable { reason, preview },
            ApiError::Stopped { reason, .. } => LlmError::Rejected {
                kind: reason,
                message,
            },
            ApiError::Config(message) => LlmError::Other { message },
        }
    }
}

impl From<ApiError> for WorkerError {
    fn from(error: ApiError) -> Self {
        WorkerError::Other(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, kind: &str, message: &str) -> ApiError {
        ApiError::Status {
            provider: "p".into(),
            status,
            kind: kind.into(),
            message: message.into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    }

    #[test]
    fn statuses_map_like_the_cli_adapter() {
        assert!(matches!(
            LlmError::from(status(401, "authentication_error", "bad key")),
            LlmError::Auth { .. }
        ));
        assert_eq!(
            LlmError::from(status(529, "overloaded_error", "Overloaded")),
            LlmError::RateLimited {
                quota: false,
                resets_at: None,
                retry_after: Some(Duration::from_secs(7)),
                message: "p: HTTP 529 (overloaded_error): Overloaded".into(),
            }
        );
        assert!(matches!(
            LlmError::from(status(
                429,
                "insufficient_quota",
                "You exceeded your current quota"
            )),
            LlmError::RateLimited { quota: true, .. }
        ));
        assert!(matches!(
            LlmError::from(status(503, "api_error", "down")),
            LlmError::Unavailable {
                status: Some(503),
                ..
            }
        ));
        let rejected = LlmError::from(status(400, "invalid_request_error", "prompt is too long"));
        assert!(matches!(rejected, LlmError::Rejected { .. }));
        assert!(!rejected.is_transient());
        let refused = LlmError::from(ApiError::Connect {
            provider: "p".into(),
            message: "connection refused".into(),
        });
        assert!(matches!(
            refused,
            LlmError::Unavailable { status: None, .. }
        ));
        assert!(status(529, "overloaded_error", "x").is_retryable());
        assert!(!status(429, "insufficient_quota", "x").is_retryable());
        assert!(!status(400, "invalid_request_error", "x").is_retryable());
    }
}
