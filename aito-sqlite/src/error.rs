//! [`Error`]: what can go wrong with the database file, mapped onto
//! [`StoreError`] and [`BusError`] at the trait
//! boundary.

use std::path::PathBuf;

use aito_core::{BusError, StoreError};

/// What went wrong with the embedded database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction that carried this operation could not be committed (or begun); the
    /// operation did not take effect.
    #[error("the transaction was not committed: {reason}")]
    Transaction {
        /// SQLite's message.
        reason: String,
        /// Another process held the database's write lock for longer than the busy timeout.
        busy: bool,
    },
    /// The file is not a database aito can read: damaged, truncated, or something else.
    #[error(
        "{path} is not a usable aito database: {reason}. Restore it from a backup, or move it away to start afresh (docs/embedded.md)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The file was written by a newer aito, with a schema this build does not know.
    #[error(
        "{path} has schema version {found}, newer than this aito knows (up to {known}); run a newer aito, or export with it and import here"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// Another process holds the data directory.
    #[error(
        "{path} is in use by another `aito run` ({holder}); stop that one first, or give this one another data directory (--data-dir or [company] data_dir)"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as it wrote into the lock file.
        holder: String,
    },
    /// A file or directory could not be created or read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be encoded or decoded.
    #[error("corrupt record {key}: {reason}")]
    Record {
        /// The record.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The database's thread has ended (the database was closed).
    #[error("the database is closed")]
    Closed,
}

impl Error {
    pub(crate) fn record(key: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Record {
            key: key.into(),
            reason: err.to_string(),
        }
    }

    /// Whether retrying later may succeed (another process holds the write lock).
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Transaction { busy, .. } => *busy,
            Error::Sqlite(err) => matches!(
                err.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        match err {
            Error::Record { key, reason } => StoreError::Corrupt { key, reason },
            err if err.is_busy() => StoreError::Unavailable(err.to_string()),
            Error::Closed => StoreError::Unavailable(Error::Closed.to_string()),
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

impl From<Error> for BusError {
    fn from(err: Error) -> Self {
        match err {
            Error::Closed => BusError::Closed,
            err if err.is_busy() => BusError::Unavailable(err.to_string()),
            other => BusError::Backend(Box::new(other)),
        }
    }
}
