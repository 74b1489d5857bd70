//! The periodic clean-up that keeps the file bounded: expired marks, counters, values and
//! leases are deleted, and group queues that nobody reads any more are cut to
//! [`GROUP_QUEUE_LEN`]. (History, logs and dead letters are trimmed as they are written, and
//! acknowledged messages are deleted at once.)

use std::sync::Weak;
use std::time::Duration;

use rusqlite::params;

use crate::db::Database;
use crate::error::Error;
use crate::queries as q;

/// How often the clean-up runs (and once when the database is opened).
pub const CLEAN_EVERY: Duration = Duration::from_secs(600);

/// The rows a group queue keeps at most; a group that stopped reading loses the oldest.
pub const GROUP_QUEUE_LEN: i64 = 10_000;

/// What one clean-up removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Expired idempotency marks.
    pub marks: usize,
    /// Expired counters.
    pub counters: usize,
    /// Expired values.
    pub values: usize,
    /// Lapsed leases.
    pub leases: usize,
    /// Messages cut from group queues over their length.
    pub messages: usize,
}

impl Database {
    /// Deletes what has expired and cuts overlong group queues; one transaction.
    pub async fn clean(&self) -> Result<Cleaned, Error> {
        let now = self.now_ms();
        self.write(move |conn| {
            let purge = |sql: &str| conn.prepare_cached(sql)?.execute([now]);
            let mut cleaned = Cleaned {
                marks: purge(q::PURGE_MARKS)?,
                counters: purge(q::PURGE_COUNTERS)?,
                values: purge(q::PURGE_VALUES)?,
                leases: purge(q::PURGE_LEASES)?,
                messages: 0,
            };
            let queues: Vec<String> = conn
                .prepare_cached(q::GROUP_QUEUES)?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut trim = conn.prepare_cached(q::TRIM_QUEUE)?;
            for queue in queues {
                cleaned.messages += trim.execute(params![queue, GROUP_QUEUE_LEN])?;
            }
            Ok(cleaned)
        })
        .await
    }
}

/// Runs the clean-up now and every [`CLEAN_EVERY`] while the database is open.
pub(crate) fn spawn(db: Weak<crate::db::Shared>) {
    tokio::spawn(async move {
        loop {
            let Some(db) = db.upgrade().map(Database::from_shared) else {
                return;
            };
            match db.clean().await {
                Ok(cleaned) if cleaned != Cleaned::default() => {
                    tracing::debug!(?cleaned, "database cleaned up");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "the database clean-up failed"),
            }
            drop(db);
            tokio::time::sleep(CLEAN_EVERY).await;
        }
    });
}
