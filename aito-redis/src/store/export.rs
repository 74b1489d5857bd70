//! [`Export`] for Redis: the keys under the prefix, listed with `SCAN` (on every master of a
//! cluster) and read by kind.
//! Agent inboxes (`stream:agent:{<uuid>}`) are exported whole (they hold exactly the messages not
//! yet acknowledged); broadcasts still unread by some group are not, nor are leases and
//! ingestion claims.

use aito_core::export::{Export, Record};
use aito_core::{Channel, Envelope, StateStore, StoreError};
use async_trait::async_trait;

use super::{RedisStateStore, decode};
use crate::bus::reader::read_entries;
use crate::error::Error;
use crate::keys::KeyKind;

/// Keys read per `SCAN` step.
const SCAN_COUNT: usize = 500;

/// Lists are read whole up to this many entries.
const ALL: usize = 1_000_000;

/// `text` with the glob characters of `MATCH` escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisStateStore {
    /// Every key under the prefix, on every master of a cluster.
    async fn keys_under_prefix(&self) -> Result<Vec<String>, Error> {
        let pattern = format!("{}*", glob_escape(&self.config.prefix));
        let mut connection = self.connection();
        let mut keys = Vec::new();
        // A cursor belongs to one node: walk each master to its end.
        for node in connection.masters().await? {
            let mut cursor = "0".to_owned();
            loop {
                let (next, batch): (String, Vec<String>) = connection
                    .query_on(
                        &node,
                        redis::cmd("SCAN")
                            .arg(&cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(SCAN_COUNT),
                    )
                    .await?;
                keys.extend(batch);
                if next == "0" {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// What is left of a key's time to live, in ms; `None` for a key without one.
    async fn ttl_left(&self, key: &str) -> Result<Option<u64>, Error> {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut self.connection())
            .await?;
        Ok(u64::try_from(ttl).ok())
    }
}

#[async_trait]
impl Export for RedisStateStore {
    async fn export(&self) -> Result<Vec<Record>, StoreError> {
        let keys = self.keys_under_prefix().await?;
        let mut records = Vec::new();
        let mut messages = Vec::new();
        for key in &keys {
            let Some(kind) = self.keys.parse(key) else {
                continue;
            };
            match kind {
                KeyKind::State(agent) => {
                    let state = self.load_state(agent).await?;
                    records.push(Record::State {
                        agent,
                        state: state.value,
                    });
                }
                KeyKind::History(agent) => {
                    for entry in self.history(agent, ALL).await? {
                        records.push(Record::History { agent, entry });
                    }
                }
                KeyKind::Sessions(agent) => {
                    for record in self.sessions(agent, ALL).await? {
                        records.push(Record::Session {
                            record: Box::new(record),
                        });
                    }
                }
                KeyKind::Mark(mark) => {
                    if let Some(ttl_ms) = self.ttl_left(key).await? {
                        records.push(Record::Mark { key: mark, ttl_ms });
                    }
                }
                KeyKind::Counter(counter) => {
                    let (value, ttl) = (self.counter(&counter).await?, self.ttl_left(key).await?);
                    if let Some(ttl_ms) = ttl {
                        records.push(Record::Counter {
                            key: counter,
                            value,
                            ttl_ms,
                        });
                    }
                }
                KeyKind::Value(name) => {
                    let text: Option<String> = redis::cmd("GET")
                        .arg(key)
                        .query_async(&mut self.connection())
                        .await
                        .map_err(Error::from)?;
                    if let Some(text) = text {
                        records.push(Record::Value {
                            key: name,
                            value: decode(key, &text)?,
                            ttl_ms: self.ttl_left(key).await?,
                        });
                    }
                }
                KeyKind::Log(name) => {
                    for entry in self.read_log(&name, ALL).await? {
                        records.push(Record::Log {
                            name: name.clone(),
                            entry,
                        });
                    }
                }
                KeyKind::Inbox(agent) => {
                    for text in read_entries(&mut self.connection(), key).await? {
                        match Envelope::from_json(&text) {
                            Ok(envelope) => messages.push(Record::Message {
                                channel: Channel::Agent(agent),
                                group: None,
                                envelope: Box::new(envelope),
                            }),
                            Err(err) => {
                                tracing::warn!(stream = %key, error = %err, "a malformed entry is not exported")
                            }
                        }
                    }
                }
            }
        }
        for decision in self.decisions(None).await? {
            records.push(Record::Decision {
                decision: Box::new(decision),
            });
        }
        for task in self.tasks(ALL).await? {
            records.push(Record::Task {
                task: Box::new(task),
            });
        }
        for letter in self.dead_letters(None, ALL).await? {
            records.push(Record::DeadLetter {
                letter: Box::new(letter),
            });
        }
        for status in self.statuses().await? {
            records.push(Record::Status {
                status: Box::new(status),
            });
        }
        records.append(&mut messages);
        Ok(records)
    }
}
