//! [`RedisStateStore`]: the [`StateStore`] on Redis. One file per family of operations; the
//! atomic ones are Lua scripts (`lua/*.lua`).

mod budget;
mod counters;
mod decisions;
mod export;
mod finish;
mod lists;
mod marks;
mod sessions;
mod state;
mod tasks;
mod values;

pub(crate) use lists::DEAD_LETTER_LIMIT;

use std::sync::Arc;
use std::time::Duration;

use crate::connection::Connection;
use aito_core::reservation::{Booking, Reservation, Reserved};
use aito_core::session::SessionRecord;
use aito_core::store::{
    AgentState, AgentStatus, DeadLetter, Fence, Finish, FinishedTrigger, HistoryEntry, LeaseHolder,
    Versioned,
};
use aito_core::{
    AgentId, Decision, DecisionId, DecisionStatus, StateStore, StoreError, Task, TaskId,
};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::RedisConfig;
use crate::connection::Connector;
use crate::error::Error;
use crate::keys::Keys;
use crate::scripts::Scripts;

/// The [`StateStore`] on Redis. Cheap to clone; clones share the connection, which reconnects by
/// itself (calls fail with [`StoreError::Unavailable`] while the server is away).
#[derive(Clone)]
pub struct RedisStateStore {
    manager: Connection,
    keys: Keys,
    scripts: Arc<Scripts>,
    config: Arc<RedisConfig>,
}

impl std::fmt::Debug for RedisStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStateStore")
            .field("url", &self.config.url)
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStateStore {
    /// Connects to the server of `config`.
    pub async fn connect(config: RedisConfig) -> Result<Self, Error> {
        let connector = Connector::new(&config)?;
        let manager = connector.manager().await?;
        Ok(Self {
            manager,
            keys: Keys::new(&config.prefix),
            scripts: Arc::new(Scripts::new()),
            config: Arc::new(config),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    fn connection(&self) -> Connection {
        self.manager.clone()
    }
}

/// A duration as Redis milliseconds: at least 1 (0 is refused by `PX`), at most ~292 years.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX / 4)
        .clamp(1, u64::MAX / 4)
}

pub(crate) fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::Corrupt {
        key: key.to_owned(),
        reason: format!("cannot encode: {err}"),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|err| Error::Corrupt {
        key: key.to_owned(),
        reason: format!(
            "{err}; stored text starts: {}",
            aito_core::envelope::preview(text, 120)
        ),
    })
}

#[async_trait]
impl StateStore for RedisStateStore {
    async fn load_state(&self, agent: AgentId) -> Result<Versioned<AgentState>, StoreError> {
        Ok(self.load_state_inner(agent).await?)
    }

    async fn save_state(
        &self,
        agent: AgentId,
        state: &AgentState,
        expected: u64,
    ) -> Result<u64, StoreError> {
        self.save_state_inner(agent, state, expected).await
    }

    async fn append_history(
        &self,
        agent: AgentId,
        entry: &HistoryEntry,
        keep: usize,
    ) -> Result<(), StoreError> {
        let key = self.keys.history(agent);
        Ok(self.push_bounded(&key, entry, keep).await?)
    }

    async fn history(&self, agent: AgentId, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let key = self.keys.history(agent);
        Ok(self.read_newest(&key, limit).await?)
    }

    async fn create_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        self.create_decision_inner(decision).await
    }

    async fn decision(&self, id: DecisionId) -> Result<Option<Decision>, StoreError> {
        Ok(self.decision_inner(id).await?)
    }

    async fn update_decision(&self, decision: &Decision) -> Result<u64, StoreError> {
        self.update_decision_inner(decision).await
    }

    async fn decisions(&self, status: Option<DecisionStatus>) -> Result<Vec<Decision>, StoreError> {
        Ok(self.decisions_inner(status).await?)
    }

    async fn recent_decisions(
        &self,
        status: DecisionStatus,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError> {
        Ok(self.recent_decisions_inner(status, limit).await?)
    }

    async fn first_time(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.first_time_inner(key, ttl).await?)
    }

    async fn first_time_fenced(
        &self,
        key: &str,
        ttl: Duration,
        fence: &Fence,
    ) -> Result<bool, StoreError> {
        self.first_time_fenced_inner(key, ttl, fence).await
    }

    async fn is_marked(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.is_marked_inner(key).await?)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self.acquire_lease_inner(name, holder, ttl).await?)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        Ok(self.release_lease_inner(name, holder).await?)
    }

    async fn add_to_counter(
        &self,
        key: &str,
        amount: f64,
        ttl: Duration,
    ) -> Result<f64, StoreError> {
        Ok(self.add_to_counter_inner(key, amount, ttl).await?)
    }

    async fn counter(&self, key: &str) -> Result<f64, StoreError> {
        Ok(self.counter_inner(key).await?)
    }

    async fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.get_value_inner(key).await?)
    }

    async fn set_value(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        Ok(self.set_value_inner(key, value, ttl).await?)
    }

    async fn set_value_fenced(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        self.set_value_fenced_inner(key, value, ttl, fence).await
    }

    async fn delete_value(&self, key: &str) -> Result<(), StoreError> {
        Ok(self.delete_value_inner(key).await?)
    }

    async fn append_log(&self, name: &str, entry: &Value, keep: usize) -> Result<(), StoreError> {
        let key = self.keys.log(name);
        Ok(self.push_bounded(&key, entry, keep).await?)
    }

    async fn read_log(&self, name: &str, limit: usize) -> Result<Vec<Value>, StoreError> {
        let key = self.keys.log(name);
        Ok(self.read_newest(&key, limit).await?)
    }

    async fn push_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        Ok(self.push_dead_letter_inner(letter, false).await?)
    }

    async fn dead_letters(
        &self,
        agent: Option<AgentId>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self.dead_letters_inner(agent, limit).await?)
    }

    async fn put_status(&self, status: &AgentStatus) -> Result<(), StoreError> {
        Ok(self.put_status_inner(status).await?)
    }

    async fn statuses(&self) -> Result<Vec<AgentStatus>, StoreError> {
        Ok(self.statuses_inner().await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.connection())
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    async fn finish_trigger(&self, finished: &FinishedTrigger) -> Result<Finish, StoreError> {
        self.finish_trigger_inner(finished).await
    }

    async fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        self.create_task_inner(task).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        Ok(self.task_inner(id).await?)
    }

    async fn update_task(&self, task: &Task) -> Result<u64, StoreError> {
        self.update_task_inner(task).await
    }

    async fn open_tasks(&self, assignee: AgentId) -> Result<Vec<Task>, StoreError> {
        Ok(self.open_tasks_inner(assignee).await?)
    }

    async fn tasks(&self, limit: usize) -> Result<Vec<Task>, StoreError> {
        Ok(self.tasks_inner(limit).await?)
    }

    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, StoreError> {
        Ok(self.reserve_inner(reservation).await?)
    }

    async fn book(&self, booking: &Booking) -> Result<bool, StoreError> {
        Ok(self.book_inner(booking).await?)
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        Ok(self.lease_holder_inner(name).await?)
    }

    async fn put_session(&self, record: &SessionRecord, keep: usize) -> Result<(), StoreError> {
        Ok(self.put_session_inner(record, keep).await?)
    }

    async fn sessions(
        &self,
        agent: AgentId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        Ok(self.sessions_inner(agent, limit).await?)
    }

    async fn session(
        &self,
        agent: AgentId,
        trigger_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.session_inner(agent, trigger_id).await?)
    }
}
