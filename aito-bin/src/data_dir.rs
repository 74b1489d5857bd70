//! The data directory (`[company] data_dir`, default `aito-data/`): where `aito run` keeps the
//! company by default (the embedded bus and store in `aito.db`, the context index, the agents'
//! workspaces), and where the operator's commands find it.
//!
//! - `aito run` takes the directory's lock (one running company per directory; a second is
//!   refused, naming the first), opens the file, gives up the leases a killed predecessor
//!   left, and says what it found from before.
//! - The operator's commands open the same file beside it, without the lock; they refuse to
//!   create a company where there is none.

use std::path::{Path, PathBuf};

use aito_core::decision::DecisionStatus;
use aito_core::{AgentId, StateStore};
use aito_sqlite::{DATABASE_FILE, DirLock, Embedded};

use crate::backend::Backend;
use crate::config::{BusSettings, Config};
use crate::error::Error;

/// The data directory: `--data-dir` when given, else the configuration's.
pub fn dir(flag: Option<&Path>, config: &Config) -> PathBuf {
    flag.map_or_else(|| config.data_dir.clone(), Path::to_path_buf)
}

/// What a run found in the data directory from earlier runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The database file.
    pub file: PathBuf,
    /// Whether the file was there (false: a new company).
    pub existed: bool,
    /// Handled triggers in the agents' history.
    pub sessions: usize,
    /// Decisions, and how many of them wait for a human.
    pub decisions: usize,
    /// Decisions escalated to a human, not yet answered.
    pub escalated: usize,
    /// Messages not yet handled (they are delivered again).
    pub pending: usize,
}

impl Found {
    /// One line for people.
    pub fn describe(&self) -> String {
        if !self.existed {
            return format!("kept in {} (new)", self.file.display());
        }
        format!(
            "kept in {}; found from before: {} session{} in the agents' history, {} decision{} ({} waiting for a human), {} message{} not yet handled",
            self.file.display(),
            self.sessions,
            if self.sessions == 1 { "" } else { "s" },
            self.decisions,
            if self.decisions == 1 { "" } else { "s" },
            self.escalated,
            self.pending,
            if self.pending == 1 { "" } else { "s" },
        )
    }
}

/// Opens the data directory for `aito run`: takes its lock, opens (or creates) the file, and
/// frees the leases of a predecessor that was killed.
pub async fn open_for_run(
    dir: &Path,
    agents: &[AgentId],
    bus: &BusSettings,
) -> Result<(Backend, Found), Error> {
    let holder = format!(
        "aito run, pid {}, since {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    let lock = DirLock::acquire(dir, &holder)?;
    let file = dir.join(DATABASE_FILE);
    let existed = file.is_file();
    let embedded = Embedded::open(dir).await?;
    // This process holds the directory: any lease in the file is a dead process's.
    let freed = embedded.store.clear_leases().await?;
    if freed > 0 {
        tracing::info!(
            leases = freed,
            "freed the leases of an earlier run that did not stop cleanly"
        );
    }
    let mut found = Found {
        file,
        existed,
        ..Found::default()
    };
    if existed {
        for agent in agents {
            found.sessions += embedded.store.history(*agent, usize::MAX).await?.len();
        }
        let decisions = embedded.store.decisions(None).await?;
        found.decisions = decisions.len();
        found.escalated = decisions
            .iter()
            .filter(|decision| decision.status == DecisionStatus::Escalated)
            .count();
        found.pending = embedded.bus.pending().await?;
    }
    Ok((Backend::embedded(embedded, Some(lock), bus), found))
}

/// Opens the data directory of a company for an operator's command (beside a running company,
/// or after it stopped). Refuses when no company was ever run there.
pub async fn open_for_client(dir: &Path, config: &Config) -> Result<Backend, Error> {
    let file = dir.join(DATABASE_FILE);
    if !file.is_file() {
        return Err(Error::NoCompany(format!(
            "no company in {}: `aito run` keeps one there once it has run (or give --data-dir DIR, or --redis URL for a company on Redis; the dashboard of a running `aito run` is at http://{})",
            dir.display(),
            config.dashboard_bind
        )));
    }
    Ok(Backend::embedded(
        Embedded::open(dir).await?,
        None,
        &config.bus,
    ))
}
