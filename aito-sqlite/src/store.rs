//! [`SqliteStore`]: the [`StateStore`] in the database file.

use std::time::Duration;

use aito_core::decision::{Decision, DecisionStatus};
use aito_core::session::SessionRecord;
use aito_core::store::{
    AgentState, AgentStatus, DeadLetter, Fence, Finish, FinishedTrigger, HistoryEntry, StateStore,
    Versioned,
};
use aito_core::{AgentId, DecisionId, Role, StoreError, Task, TaskId};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::db::Database;
use crate::error::Error;
use crate::queries as q;

/// How many dead letters the store keeps, newest last (as the other stores).
const DEAD_LETTER_LIMIT: i64 = 1000;

/// The [`StateStore`] in a [`Database`]. Cheap to clone; clones share the database.
///
/// Every operation is one transaction; compare-and-set reads and writes under SQLite's write
/// lock, so it is atomic across processes too. Times to live are measured on the database's
/// clock (the company's) and stored as wall-clock times, so every process that opens the file
/// agrees on them; what has expired is not returned, and is deleted by the periodic clean-up
/// ([`Database::clean`]).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) db: Database,
}

pub(crate) fn encode<T: Serialize>(key: &str, value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::record(key, err))
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|err| Error::record(key, err))
}

/// Milliseconds of `ttl`, saturating.
pub(crate) fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// The store in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Gives up every lease, whoever holds it. Only for a process that knows no other one
    /// uses the file (it holds the data directory's [`DirLock`](crate::DirLock)): the leases
    /// of a process that was killed would otherwise hold its agents back until they lapse.
    pub async fn clear_leases(&self) -> Result<usize, Error> {
        self.db
            .write(|conn| Ok(conn.prepare_cached(q::LEASES_CLEAR)?.execute([])?))
            .await
    }

    pub(crate) fn expiry(&self, ttl: Duration) -> (i64, i64) {
        let now = self.db.now_ms();
        (now, now.saturating_add(millis(ttl)))
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn load_state(&self, agent: AgentId) -> Result<Versioned<AgentState>, StoreError> {
        let key = agent.to_string();
        let row: Option<(i64, String)> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::STATE_LOAD)?
                    .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?)
            })
            .await?;
        Ok(match row {
            Some((version, doc)) => Versioned {
                value: decode(&format!("state:{agent}"), &doc)?,
                version: version as u64,
            },
            None => Versioned {
                value: AgentState::default(),
                version: 0,
            },
        })
    }

    async fn save_state(
        &self,
        agent: AgentId,
        state: &AgentState,
        expected: u64,
    ) -> Result<u64, StoreError> {
        let name = format!("state:{agent}");
        let doc = encode(&name, state)?;
        let key = agent.to_string();
        let written = self
            .db
            .write_one(move |conn| {
                let found: u64 = conn
                    .prepare_cached(q::STATE_LOAD)?
                    .query_row([&key], |row| row.get::<_, i64>(0))
                    .optional()?
                    .map_or(0, |version| version as u64);
                if found != expected {
                    return Ok(Err(found));
                }
                conn.prepare_cached(q::STATE_WRITE)?.execute(params![
                    key,
                    (found + 1) as i64,
                    doc
                ])?;
                Ok(Ok(found + 1))
            })
            .await?;
        written.map_err(|found| StoreError::Conflict {
            key: name,
            expected,
            found,
        })
    }

    async fn append_history(
        &self,
        agent: AgentId,
        entry: &HistoryEntry,
        keep: usize,
    ) -> Result<(), StoreError> {
        let entry = encode(&format!("history:{agent}"), entry)?;
        let key = agent.to_string();
        self.db
            .write(move |conn| {
                conn.prepare_cached(q::HISTORY_APPEND)?
                    .execute(params![key, entry])?;
                conn.prepare_cached(q::HISTORY_TRIM)?
                    .execute(params![key, limit(keep)])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn history(
        &self,
        agent: AgentId,
        limit_to: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let key = agent.to_string();
        let rows = self
            .db
            .read(move |conn| {
                let mut statement = conn.prepare_cached(q::HISTORY_READ)?;
                let rows = statement
                    .query_map(params![key, limit(limit_to)], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        let name = format!("history:{agent}");
        rows.iter()
            .rev()
            .map(|text| decode(&name, text).map_err(StoreError::from))
            .collect()
    }

    async fn create_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        let name = format!("decision:{}", decision.id);
        let mut stored = decision.clone();
        stored.version = 1;
        let doc = encode(&name, &stored)?;
        let id = decision.id.to_string();
        let status = decision.status.as_str().to_owned();
        let created = self
            .db
            .write_one(move |conn| {
                Ok(conn
                    .prepare_cached(q::DECISION_CREATE)?
                    .execute(params![id, status, doc])?)
            })
            .await?;
        if created == 0 {
            return Err(StoreError::Conflict {
                key: name,
                expected: 0,
                found: 1,
            });
        }
        Ok(())
    }

    async fn decision(&self, id: DecisionId) -> Result<Option<Decision>, StoreError> {
        let key = id.to_string();
        let row: Option<(i64, String)> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::DECISION_GET)?
                    .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?)
            })
            .await?;
        row.map(|(version, doc)| read_decision(id, version, &doc))
            .transpose()
    }

    async fn update_decision(&self, decision: &Decision) -> Result<u64, StoreError> {
        let name = format!("decision:{}", decision.id);
        let expected = decision.version;
        let mut next = decision.clone();
        next.version = expected + 1;
        let doc = encode(&name, &next)?;
        let id = decision.id.to_string();
        let status = decision.status.as_str().to_owned();
        let outcome = self
            .db
            .write_one(move |conn| {
                let changed = conn.prepare_cached(q::DECISION_UPDATE)?.execute(params![
                    id,
                    status,
                    doc,
                    expected as i64
                ])?;
                if changed == 1 {
                    return Ok(Ok(expected + 1));
                }
                let found: Option<i64> = conn
                    .prepare_cached(q::DECISION_GET)?
                    .query_row([&id], |row| row.get(0))
                    .optional()?;
                Ok(Err(found))
            })
            .await?;
        match outcome {
            Ok(version) => Ok(version),
            Err(None) => Err(StoreError::NotFound(name)),
            Err(Some(found)) => Err(StoreError::Conflict {
                key: name,
                expected,
                found: found as u64,
            }),
        }
    }

    async fn decisions(&self, status: Option<DecisionStatus>) -> Result<Vec<Decision>, StoreError> {
        self.decisions_inner(status).await
    }

    async fn recent_decisions(
        &self,
        status: DecisionStatus,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError> {
        self.recent_decisions_inner(status, limit).await
    }

    async fn recent_decisions_without(
        &self,
        status: DecisionStatus,
        limit: usize,
        agent: AgentId,
        role: &Role,
    ) -> Result<Vec<Decision>, StoreError> {
        self.recent_decisions_without_inner(status, limit, agent, role)
            .await
    }

    async fn first_time(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (now, expires) = self.expiry(ttl);
        let key = key.to_owned();
        Ok(self
            .db
            .write_one(move |conn| {
                Ok(conn
                    .prepare_cached(q::MARK_SET)?
                    .execute(params![key, expires, now])?
                    == 1)
            })
            .await?)
    }

    async fn first_time_fenced(
        &self,
        key: &str,
        ttl: Duration,
        fence: &Fence,
    ) -> Result<bool, StoreError> {
        let (now, expires) = self.expiry(ttl);
        let key = key.to_owned();
        let check = fence.clone();
        let outcome = self
            .db
            .write(move |conn| {
                if !fence_live(conn, &check, now)? {
                    return Ok(None);
                }
                Ok(Some(
                    conn.prepare_cached(q::MARK_SET)?
                        .execute(params![key, expires, now])?
                        == 1,
                ))
            })
            .await?;
        outcome.ok_or_else(|| fence.refused())
    }

    async fn is_marked(&self, key: &str) -> Result<bool, StoreError> {
        let now = self.db.now_ms();
        let key = key.to_owned();
        Ok(self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::MARK_GET)?
                    .exists(params![key, now])?)
            })
            .await?)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        let (now, expires) = self.expiry(ttl);
        let (name, holder) = (name.to_owned(), holder.to_owned());
        Ok(self
            .db
            .write(move |conn| {
                let before: Option<(String, i64)> = conn
                    .prepare_cached(q::LEASE_GET)?
                    .query_row([&name], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                let taken = conn
                    .prepare_cached(q::LEASE_ACQUIRE)?
                    .execute(params![name, holder, expires, now])?
                    == 1;
                if !taken {
                    return Ok(None);
                }
                let renewal = before.is_some_and(|(was, until)| was == holder && until > now);
                let current: Option<i64> = if renewal {
                    conn.prepare_cached(q::LEASE_TERM_GET)?
                        .query_row([&name], |row| row.get(0))
                        .optional()?
                } else {
                    None
                };
                let term = match current {
                    Some(term) => term,
                    None => conn
                        .prepare_cached(q::LEASE_TERM_NEXT)?
                        .query_row([&name], |row| row.get(0))?,
                };
                Ok(Some(term as u64))
            })
            .await?)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.db
            .write_one(move |conn| {
                conn.prepare_cached(q::LEASE_RELEASE)?
                    .execute(params![name, holder])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn add_to_counter(
        &self,
        key: &str,
        amount: f64,
        ttl: Duration,
    ) -> Result<f64, StoreError> {
        let (now, expires) = self.expiry(ttl);
        let key = key.to_owned();
        Ok(self
            .db
            .write_one(move |conn| {
                Ok(conn
                    .prepare_cached(q::COUNTER_ADD)?
                    .query_row(params![key, amount, expires, now], |row| row.get(0))?)
            })
            .await?)
    }

    async fn counter(&self, key: &str) -> Result<f64, StoreError> {
        let now = self.db.now_ms();
        let key = key.to_owned();
        Ok(self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::COUNTER_GET)?
                    .query_row(params![key, now], |row| row.get::<_, f64>(0))
                    .optional()?
                    .unwrap_or(0.0))
            })
            .await?)
    }

    async fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let now = self.db.now_ms();
        let name = key.to_owned();
        let text: Option<String> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::VALUE_GET)?
                    .query_row(params![name, now], |row| row.get(0))
                    .optional()?)
            })
            .await?;
        Ok(text
            .map(|text| decode(&format!("value:{key}"), &text))
            .transpose()?)
    }

    async fn set_value(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let text = encode(key, value)?;
        let expires = ttl.map(|ttl| self.expiry(ttl).1);
        let key = key.to_owned();
        self.db
            .write_one(move |conn| {
                conn.prepare_cached(q::VALUE_SET)?
                    .execute(params![key, text, expires])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn set_value_fenced(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        let text = encode(key, value)?;
        let now = self.db.now_ms();
        let expires = ttl.map(|ttl| self.expiry(ttl).1);
        let key = key.to_owned();
        let check = fence.clone();
        let written = self
            .db
            .write(move |conn| {
                if !fence_live(conn, &check, now)? {
                    return Ok(false);
                }
                conn.prepare_cached(q::VALUE_SET)?
                    .execute(params![key, text, expires])?;
                Ok(true)
            })
            .await?;
        if written {
            Ok(())
        } else {
            Err(fence.refused())
        }
    }

    async fn delete_value(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.db
            .write_one(move |conn| {
                conn.prepare_cached(q::VALUE_DELETE)?.execute([key])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn append_log(&self, name: &str, entry: &Value, keep: usize) -> Result<(), StoreError> {
        let text = encode(name, entry)?;
        let name = name.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached(q::LOG_APPEND)?
                    .execute(params![name, text])?;
                conn.prepare_cached(q::LOG_TRIM)?
                    .execute(params![name, limit(keep)])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn read_log(&self, name: &str, limit_to: usize) -> Result<Vec<Value>, StoreError> {
        let key = name.to_owned();
        let rows = self
            .db
            .read(move |conn| {
                let mut statement = conn.prepare_cached(q::LOG_READ)?;
                let rows = statement
                    .query_map(params![key, limit(limit_to)], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        let key = format!("log:{name}");
        rows.iter()
            .rev()
            .map(|text| decode(&key, text).map_err(StoreError::from))
            .collect()
    }

    async fn push_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let text = encode("deadletters", letter)?;
        let agent = letter.agent.to_string();
        self.db
            .write(move |conn| {
                conn.prepare_cached(q::DEAD_LETTER_PUSH)?
                    .execute(params![agent, text])?;
                conn.prepare_cached(q::DEAD_LETTERS_TRIM)?
                    .execute([DEAD_LETTER_LIMIT])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        agent: Option<AgentId>,
        limit_to: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let agent = agent.map(|agent| agent.to_string());
        let rows = self
            .db
            .read(move |conn| {
                let map = |row: &rusqlite::Row<'_>| row.get::<_, String>(0);
                Ok(match agent {
                    Some(agent) => conn
                        .prepare_cached(q::DEAD_LETTERS_OF)?
                        .query_map(params![agent, limit(limit_to)], map)?
                        .collect::<Result<Vec<_>, _>>()?,
                    None => conn
                        .prepare_cached(q::DEAD_LETTERS_ALL)?
                        .query_map([limit(limit_to)], map)?
                        .collect::<Result<Vec<_>, _>>()?,
                })
            })
            .await?;
        rows.iter()
            .rev()
            .map(|text| decode("deadletters", text).map_err(StoreError::from))
            .collect()
    }

    async fn put_status(&self, status: &AgentStatus) -> Result<(), StoreError> {
        let text = encode("status", status)?;
        let agent = status.id.to_string();
        self.db
            .write_one(move |conn| {
                conn.prepare_cached(q::STATUS_PUT)?
                    .execute(params![agent, text])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn statuses(&self) -> Result<Vec<AgentStatus>, StoreError> {
        let rows = self
            .db
            .read(|conn| {
                let mut statement = conn.prepare_cached(q::STATUSES_ALL)?;
                let rows = statement
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        rows.iter()
            .map(|text| decode("status", text).map_err(StoreError::from))
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .read(|conn| {
                conn.query_row("SELECT 1", [], |_| Ok(()))?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn finish_trigger(&self, finished: &FinishedTrigger) -> Result<Finish, StoreError> {
        let agent = finished.agent;
        let name = format!("state:{agent}");
        let doc = encode(&name, &finished.state)?;
        let entry = encode(&format!("history:{agent}"), &finished.history)?;
        let letter = finished
            .dead_letter
            .as_ref()
            .map(|letter| encode("deadletters", letter))
            .transpose()?;
        let (now, expires) = self.expiry(finished.mark_ttl);
        let mark = finished.handled_mark.clone();
        let journal = finished.journal.clone();
        let expected = finished.expected_version;
        let keep = limit(finished.history_keep);
        let key = agent.to_string();
        let fence = finished.fence.clone();
        let outcome = self
            .db
            .write(move |conn| {
                if conn
                    .prepare_cached(q::MARK_GET)?
                    .exists(params![mark, now])?
                {
                    return Ok(Ok(Finish::AlreadyFinished));
                }
                if let Some(fence) = &fence
                    && !fence_live(conn, fence, now)?
                {
                    return Ok(Err(None));
                }
                let found: u64 = conn
                    .prepare_cached(q::STATE_LOAD)?
                    .query_row([&key], |row| row.get::<_, i64>(0))
                    .optional()?
                    .map_or(0, |version| version as u64);
                if found != expected {
                    return Ok(Err(Some(found)));
                }
                conn.prepare_cached(q::STATE_WRITE)?.execute(params![
                    key,
                    (found + 1) as i64,
                    doc
                ])?;
                conn.prepare_cached(q::HISTORY_APPEND)?
                    .execute(params![key, entry])?;
                conn.prepare_cached(q::HISTORY_TRIM)?
                    .execute(params![key, keep])?;
                if let Some(letter) = letter {
                    conn.prepare_cached(q::DEAD_LETTER_PUSH)?
                        .execute(params![key, letter])?;
                    conn.prepare_cached(q::DEAD_LETTERS_TRIM)?
                        .execute([DEAD_LETTER_LIMIT])?;
                }
                conn.prepare_cached(q::MARK_SET)?
                    .execute(params![mark, expires, now])?;
                conn.prepare_cached(q::VALUE_DELETE)?.execute([journal])?;
                Ok(Ok(Finish::Written(found + 1)))
            })
            .await?;
        outcome.map_err(|found| match (found, &finished.fence) {
            (Some(found), _) => StoreError::Conflict {
                key: name,
                expected,
                found,
            },
            (None, Some(fence)) => fence.refused(),
            (None, None) => StoreError::Fenced {
                lease: format!("agent:{agent}"),
                token: 0,
            },
        })
    }

    async fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        self.create_task_inner(task).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.task_inner(id).await
    }

    async fn update_task(&self, task: &Task) -> Result<u64, StoreError> {
        self.update_task_inner(task).await
    }

    async fn open_tasks(&self, assignee: AgentId) -> Result<Vec<Task>, StoreError> {
        self.open_tasks_inner(assignee).await
    }

    async fn tasks(&self, limit_to: usize) -> Result<Vec<Task>, StoreError> {
        self.tasks_inner(limit_to).await
    }

    async fn reserve(
        &self,
        reservation: &aito_core::reservation::Reservation,
    ) -> Result<aito_core::reservation::Reserved, StoreError> {
        self.reserve_inner(reservation).await
    }

    async fn book(&self, booking: &aito_core::reservation::Booking) -> Result<bool, StoreError> {
        self.book_inner(booking).await
    }

    async fn lease_holder(
        &self,
        name: &str,
    ) -> Result<Option<aito_core::store::LeaseHolder>, StoreError> {
        self.lease_holder_inner(name).await
    }

    async fn put_session(&self, record: &SessionRecord, keep: usize) -> Result<(), StoreError> {
        self.put_session_inner(record, keep).await
    }

    async fn sessions(
        &self,
        agent: AgentId,
        limit_to: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.sessions_inner(agent, limit_to).await
    }

    async fn session(
        &self,
        agent: AgentId,
        trigger_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.session_inner(agent, trigger_id).await
    }
}

fn read_decision(id: DecisionId, version: i64, doc: &str) -> Result<Decision, StoreError> {
    let mut decision: Decision = decode(&format!("decision:{id}"), doc)?;
    decision.version = version as u64;
    Ok(decision)
}

/// Whether `fence`'s term is live at `now`, inside the caller's transaction.
fn fence_live(conn: &rusqlite::Connection, fence: &Fence, now: i64) -> Result<bool, Error> {
    Ok(conn.prepare_cached(q::FENCE_LIVE)?.exists(params![
        fence.lease,
        fence.holder,
        now,
        fence.token as i64
    ])?)
}
