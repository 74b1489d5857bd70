//! [`IndexError`]: why the index could not be opened, written or searched.

use std::path::PathBuf;

use aito_core::context::ContextError;
use aito_core::store::StoreError;

/// Why the index could not be opened, written or searched.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed.
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The index directory could not be opened or created.
    #[error("cannot open the index directory {path}: {reason}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The directory holds an index written with another schema (another aito version).
    #[error(
        "the index in {path} was written with another layout than this version expects; remove the directory to rebuild it (knowledge folders are re-read; summaries, decisions and worker results kept only there are lost)"
    )]
    SchemaMismatch {
        /// The directory.
        path: PathBuf,
    },
    /// Another process holds the index writer (a running company).
    #[error(
        "the index in {path} is being written by another process (a running company?); open it read-only to search it"
    )]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The index was opened read-only and cannot learn anything.
    #[error("the index was opened read-only; it cannot be written")]
    ReadOnly,
    /// The state store could not be read (backfill).
    #[error("cannot read the company's history: {0}")]
    Store(#[from] StoreError),
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl From<IndexError> for ContextError {
    fn from(err: IndexError) -> Self {
        ContextError(err.to_string())
    }
}
