//! [`Error`]: everything that can go wrong in aito-redis, and its mapping onto aito-core's
//! [`BusError`] and [`StoreError`] at the trait boundary.

use aito_core::{BusError, StoreError};

/// What went wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client or the server failed (connection, timeout, server error).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The URL does not parse. The URL is shown with its password masked.
    #[error("invalid Redis URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// A `rediss://` URL, but the crate was built without TLS.
    #[error("{url} asks for TLS (rediss://), but aito-redis was built without its `tls` feature")]
    TlsNotEnabled {
        /// The URL, password masked.
        url: String,
    },
    /// The server answered something this crate does not expect.
    #[error("unexpected reply to {command}: expected {expected}, got {found}")]
    UnexpectedReply {
        /// The command or script.
        command: &'static str,
        /// What was expected.
        expected: &'static str,
        /// What came (a short description).
        found: String,
    },
    /// A stored record could not be decoded or encoded.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The key prefix has a `{` or `}`: it would change the hash tags that keep each
    /// script's keys in one cluster slot.
    #[error("invalid key prefix {prefix:?}: it must not contain `{{` or `}}`")]
    InvalidPrefix {
        /// The prefix.
        prefix: String,
    },
    /// A script was about to be called with keys in different cluster slots (a Redis Cluster
    /// would refuse it with `CROSSSLOT`). A bug of this crate's key layout.
    #[error("script {script} called with keys in different cluster slots: {keys:?}")]
    CrossSlot {
        /// The script.
        script: &'static str,
        /// Its keys.
        keys: Vec<String>,
    },
    /// The bus or store was shut down.
    #[error("closed")]
    Closed,
    /// An envelope over the size cap was not published.
    #[error("the envelope is {bytes} bytes, over the bus's cap of {limit} bytes")]
    TooLarge {
        /// Its size as JSON.
        bytes: usize,
        /// The cap.
        limit: usize,
    },
}

impl Error {
    /// An unexpected reply, described.
    pub(crate) fn reply(
        command: &'static str,
        expected: &'static str,
        found: &redis::Value,
    ) -> Self {
        let mut found = format!("{found:?}");
        if found.len() > 200 {
            let cut = found
                .char_indices()
                .map(|(index, _)| index)
                .take_while(|index| *index <= 200)
                .last()
                .unwrap_or(0);
            found.truncate(cut);
            found.push('…');
        }
        Error::UnexpectedReply {
            command,
            expected,
            found,
        }
    }

    /// Whether the call may succeed later: the server is unreachable, restarting or loading.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Redis(err) => is_transient(err),
            _ => false,
        }
    }
}

/// Whether a client error means "the server is away for now" rather than "this call is wrong".
pub(crate) fn is_transient(err: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(
            err.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::ReadOnly
            )
        )
}

impl From<Error> for BusError {
    fn from(err: Error) -> Self {
        match err {
            Error::Closed => BusError::Closed,
            Error::TooLarge { bytes, limit } => BusError::TooLarge { bytes, limit },
            err if err.is_transient() => BusError::Unavailable(err.to_string()),
            err => BusError::Backend(Box::new(err)),
        }
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        match err {
            Error::Corrupt { key, reason } => StoreError::Corrupt { key, reason },
            Error::Closed => StoreError::Unavailable("the store is closed".to_owned()),
            err if err.is_transient() => StoreError::Unavailable(err.to_string()),
            err => StoreError::Backend(Box::new(err)),
        }
    }
}
