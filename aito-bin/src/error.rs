//! [`Error`]: everything a command can fail with, and the exit code each gives: 2 for usage and
//! configuration errors (nothing was started), 1 for runtime errors.

use std::net::SocketAddr;

use aito_core::decision_engine::DecisionError;
use aito_core::{BusError, CompanyError, StoreError};

use crate::config::ConfigError;
use crate::scenario::ScenarioError;

/// Exit code of a successful command.
pub const EXIT_OK: u8 = 0;
/// Exit code of a runtime error.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code of a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// A replay scenario is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A replay found a step that differs from its recording (already printed).
    #[error("the replay diverged from the recording")]
    Diverged,
    /// A client command has no company to talk to.
    #[error("{0}")]
    NoCompany(String),
    /// Redis could not be reached.
    #[error("cannot reach Redis at {url}: {reason}")]
    Redis {
        /// The URL, password masked.
        url: String,
        /// Why.
        reason: String,
    },
    /// A listening socket could not be opened.
    #[error("cannot listen on {address} for {what}: {source}; choose another address with {hint}")]
    Bind {
        /// What would have listened.
        what: &'static str,
        /// Where.
        address: SocketAddr,
        /// The option or variable that sets the address.
        hint: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The company could not be built or addressed.
    #[error(transparent)]
    Company(#[from] CompanyError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// The data directory or its database is unusable (damaged, newer, in use).
    #[error(transparent)]
    Data(#[from] aito_sqlite::Error),
    /// A decision could not be answered.
    #[error(transparent)]
    Decision(#[from] DecisionError),
    /// Anything else that went wrong while running.
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) | Error::Scenario(_) => EXIT_USAGE,
            // A file that cannot be used as it is: nothing was started.
            Error::Data(
                aito_sqlite::Error::Corrupt { .. } | aito_sqlite::Error::NewerSchema { .. },
            ) => EXIT_USAGE,
            Error::Data(_) => EXIT_RUNTIME,
            Error::Diverged
            | Error::NoCompany(_)
            | Error::Redis { .. }
            | Error::Bind { .. }
            | Error::Company(_)
            | Error::Store(_)
            | Error::Bus(_)
            | Error::Decision(_)
            | Error::Runtime(_) => EXIT_RUNTIME,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_and_usage_errors_exit_2_and_runtime_errors_1() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(
            Error::Config(ConfigError::Invalid {
                source_name: "aito.toml".into(),
                problems: vec![]
            })
            .exit_code(),
            2
        );
        assert_eq!(Error::NoCompany("x".into()).exit_code(), 1);
        assert_eq!(Error::Runtime("x".into()).exit_code(), 1);
    }
}
