//! [`Export`] for the file: every record of the store and every message not yet
//! acknowledged, read in one transaction (a consistent snapshot, taken while the company
//! runs).

use std::str::FromStr;

use aito_core::export::{Export, Record};
use aito_core::{Channel, Envelope, StateStore, StoreError};
use async_trait::async_trait;
use rusqlite::types::FromSql;

use crate::error::Error;
use crate::queries as q;
use crate::store::SqliteStore;

/// Rows as read, decoded after the transaction.
struct Rows {
    states: Vec<(String, String)>,
    history: Vec<(String, String)>,
    marks: Vec<(String, i64)>,
    counters: Vec<(String, f64, i64)>,
    values: Vec<(String, String, Option<i64>)>,
    logs: Vec<(String, String)>,
    dead_letters: Vec<String>,
    statuses: Vec<String>,
    messages: Vec<(String, String, String)>,
    tasks: Vec<String>,
    sessions: Vec<(String, String)>,
}

fn two<A: FromSql, B: FromSql>(row: &rusqlite::Row<'_>) -> rusqlite::Result<(A, B)> {
    Ok((row.get(0)?, row.get(1)?))
}

fn three<A: FromSql, B: FromSql, C: FromSql>(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(A, B, C)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn json<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| Error::record(key, err).into())
}

fn left(expires: i64, now: i64) -> u64 {
    u64::try_from(expires.saturating_sub(now)).unwrap_or(0)
}

#[async_trait]
impl Export for SqliteStore {
    async fn export(&self) -> Result<Vec<Record>, StoreError> {
        let now = self.database().now_ms();
        let rows = self
            .database()
            .read(move |conn| {
                Ok(Rows {
                    states: conn
                        .prepare_cached(q::EXPORT_STATES)?
                        .query_map([], two)?
                        .collect::<Result<_, _>>()?,
                    history: conn
                        .prepare_cached(q::EXPORT_HISTORY)?
                        .query_map([], two)?
                        .collect::<Result<_, _>>()?,
                    marks: conn
                        .prepare_cached(q::EXPORT_MARKS)?
                        .query_map([now], two)?
                        .collect::<Result<_, _>>()?,
                    counters: conn
                        .prepare_cached(q::EXPORT_COUNTERS)?
                        .query_map([now], three)?
                        .collect::<Result<_, _>>()?,
                    values: conn
                        .prepare_cached(q::EXPORT_VALUES)?
                        .query_map([now], three)?
                        .collect::<Result<_, _>>()?,
                    logs: conn
                        .prepare_cached(q::EXPORT_LOGS)?
                        .query_map([], two)?
                        .collect::<Result<_, _>>()?,
                    dead_letters: conn
                        .prepare_cached(q::EXPORT_DEAD_LETTERS)?
                        .query_map([], |row| row.get(0))?
                        .collect::<Result<_, _>>()?,
                    statuses: conn
                        .prepare_cached(q::EXPORT_STATUSES)?
                        .query_map([], |row| row.get(0))?
                        .collect::<Result<_, _>>()?,
                    messages: conn
                        .prepare_cached(q::EXPORT_MESSAGES)?
                        .query_map([], three)?
                        .collect::<Result<_, _>>()?,
                    tasks: conn
                        .prepare_cached(q::EXPORT_TASKS)?
                        .query_map([], |row| row.get(0))?
                        .collect::<Result<_, _>>()?,
                    sessions: conn
                        .prepare_cached(q::EXPORT_SESSIONS)?
                        .query_map([], two)?
                        .collect::<Result<_, _>>()?,
                })
            })
            .await?;
        let mut records = Vec::new();
        for (agent, doc) in rows.states {
            records.push(Record::State {
                agent: json("state", &format!("\"{agent}\""))?,
                state: json(&format!("state:{agent}"), &doc)?,
            });
        }
        for (agent, entry) in rows.history {
            records.push(Record::History {
                agent: json("history", &format!("\"{agent}\""))?,
                entry: json(&format!("history:{agent}"), &entry)?,
            });
        }
        for (agent, record) in rows.sessions {
            records.push(Record::Session {
                record: Box::new(json(&format!("sessions:{agent}"), &record)?),
            });
        }
        for decision in self.decisions(None).await? {
            records.push(Record::Decision {
                decision: Box::new(decision),
            });
        }
        for task in rows.tasks {
            records.push(Record::Task {
                task: Box::new(json("task", &task)?),
            });
        }
        for (key, expires) in rows.marks {
            records.push(Record::Mark {
                key,
                ttl_ms: left(expires, now),
            });
        }
        for (key, value, expires) in rows.counters {
            records.push(Record::Counter {
                key,
                value,
                ttl_ms: left(expires, now),
            });
        }
        for (key, value, expires) in rows.values {
            records.push(Record::Value {
                value: json(&format!("value:{key}"), &value)?,
                key,
                ttl_ms: expires.map(|expires| left(expires, now)),
            });
        }
        for (name, entry) in rows.logs {
            records.push(Record::Log {
                entry: json(&format!("log:{name}"), &entry)?,
                name,
            });
        }
        for letter in rows.dead_letters {
            records.push(Record::DeadLetter {
                letter: Box::new(json("deadletters", &letter)?),
            });
        }
        for status in rows.statuses {
            records.push(Record::Status {
                status: Box::new(json("status", &status)?),
            });
        }
        for (queue, channel, envelope) in rows.messages {
            let channel = Channel::from_str(&channel).map_err(|err| Error::record(&queue, err))?;
            let envelope =
                Envelope::from_json(&envelope).map_err(|err| Error::record(&queue, err))?;
            let group = queue.split_once('#').map(|(_, group)| group.to_owned());
            records.push(Record::Message {
                channel,
                group,
                envelope: Box::new(envelope),
            });
        }
        Ok(records)
    }
}
