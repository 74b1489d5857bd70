//! Moving a company from one store to another (the embedded file and Redis): every record as
//! one JSON object ([`Record`]), written as JSON lines by `aito export` and read by
//! `aito import`.
//!
//! A store that can list what it holds implements [`Export`]; [`import`] writes records
//! through the [`StateStore`] and [`Bus`] traits, so any store can receive them. Leases are
//! not moved (a moved company starts without holders); times to live are moved as what is left
//! of them; versions start again at 1 in the new store.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bus::{Bus, BusError};
use crate::channel::Channel;
use crate::decision::Decision;
use crate::envelope::Envelope;
use crate::id::AgentId;
use crate::store::{AgentState, AgentStatus, DeadLetter, HistoryEntry, StateStore, StoreError};

/// The first line of an export: what follows and where it came from.
pub const FORMAT: &str = "aito-export/1";

/// One record of a company.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// The header line.
    Export {
        /// [`FORMAT`].
        format: String,
        /// The company.
        company: String,
        /// The store it came from, for people.
        source: String,
    },
    /// An agent's state.
    State {
        /// The agent.
        agent: AgentId,
        /// Its state.
        state: AgentState,
    },
    /// One history entry (an agent's entries come oldest first).
    History {
        /// The agent.
        agent: AgentId,
        /// The entry.
        entry: HistoryEntry,
    },
    /// A decision.
    Decision {
        /// The decision.
        decision: Box<Decision>,
    },
    /// An idempotency mark.
    Mark {
        /// Its key.
        key: String,
        /// Milliseconds it has left.
        ttl_ms: u64,
    },
    /// A counter.
    Counter {
        /// Its key.
        key: String,
        /// Its value.
        value: f64,
        /// Milliseconds it has left.
        ttl_ms: u64,
    },
    /// A free-form value.
    Value {
        /// Its key.
        key: String,
        /// The value.
        value: Value,
        /// Milliseconds it has left, if it expires.
        ttl_ms: Option<u64>,
    },
    /// One entry of a bounded log (a log's entries come oldest first).
    Log {
        /// The log.
        name: String,
        /// The entry.
        entry: Value,
    },
    /// A dead letter.
    DeadLetter {
        /// The letter.
        letter: Box<DeadLetter>,
    },
    /// An agent's last status.
    Status {
        /// The status.
        status: Box<AgentStatus>,
    },
    /// A task of the ledger (tasks come oldest first).
    Task {
        /// The task.
        task: Box<crate::task::Task>,
    },
    /// A session's record (an agent's records come oldest first).
    Session {
        /// The record.
        record: Box<crate::session::SessionRecord>,
    },
    /// A message on a durable channel not yet acknowledged.
    Message {
        /// Its channel.
        channel: Channel,
        /// For group channels (broadcast, head, clevel): the group it waits for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// The envelope.
        envelope: Box<Envelope>,
    },
}

/// A store that can list everything it holds, for `aito export`.
#[async_trait]
pub trait Export: Send + Sync {
    /// Every record, in an order [`import`] can replay (oldest first within a list).
    async fn export(&self) -> Result<Vec<Record>, StoreError>;
}

/// What [`import`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Records written.
    pub records: usize,
    /// Records left out: decisions and tasks the target had already, expired ones, messages for a group
    /// the target cannot address.
    pub skipped: usize,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error("bus: {0}")]
    Bus(#[from] BusError),
}

/// Bounded lists are written with this bound (the company trims them again as it appends).
const KEEP: usize = 100_000;

/// Writes `records` into `store` and `bus`.
pub async fn import(
    records: impl IntoIterator<Item = Record>,
    store: &dyn StateStore,
    bus: &dyn Bus,
) -> Result<Imported, ImportError> {
    use std::time::Duration;
    let mut done = Imported::default();
    for record in records {
        let written = match record {
            Record::Export { .. } => continue,
            Record::State { agent, state } => {
                let current = store.load_state(agent).await?;
                store.save_state(agent, &state, current.version).await?;
                true
            }
            Record::History { agent, entry } => {
                store.append_history(agent, &entry, KEEP).await?;
                true
            }
            Record::Decision { decision } => match store.create_decision(&decision).await {
                Ok(()) => true,
                Err(StoreError::Conflict { .. }) => false,
                Err(err) => return Err(err.into()),
            },
            Record::Mark { key, ttl_ms } => {
                ttl_ms > 0
                    && store
                        .first_time(&key, Duration::from_millis(ttl_ms))
                        .await?
            }
            Record::Counter { key, value, ttl_ms } => {
                if ttl_ms > 0 {
                    let current = store.counter(&key).await?;
                    store
                        .add_to_counter(&key, value - current, Duration::from_millis(ttl_ms))
                        .await?;
                }
                ttl_ms > 0
            }
            Record::Value { key, value, ttl_ms } => {
                if ttl_ms != Some(0) {
                    store
                        .set_value(&key, &value, ttl_ms.map(Duration::from_millis))
                        .await?;
                }
                ttl_ms != Some(0)
            }
            Record::Log { name, entry } => {
                store.append_log(&name, &entry, KEEP).await?;
                true
            }
            Record::DeadLetter { letter } => {
                store.push_dead_letter(&letter).await?;
                true
            }
            Record::Task { task } => match store.create_task(&task).await {
                Ok(()) => true,
                Err(StoreError::Conflict { .. }) => false,
                Err(err) => return Err(err.into()),
            },
            Record::Session { record } => {
                store.put_session(&record, KEEP).await?;
                true
            }
            Record::Status { status } => {
                store.put_status(&status).await?;
                true
            }
            Record::Message {
                channel,
                group,
                envelope,
            } => {
                // A group's copy goes to that agent's inbox: every store can address it.
                let target = match (channel, group.as_deref().map(str::parse::<AgentId>)) {
                    (Channel::Agent(_), _) => Some(channel),
                    (_, Some(Ok(agent))) => Some(Channel::Agent(agent)),
                    _ => None,
                };
                match target {
                    Some(target) => {
                        bus.publish(target, *envelope).await?;
                        true
                    }
                    None => false,
                }
            }
        };
        if written {
            done.records += 1;
        } else {
            done.skipped += 1;
        }
    }
    Ok(done)
}
