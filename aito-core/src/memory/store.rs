//! [`MemoryStore`]: the whole store in one process, behind a mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;

use crate::decision::{Decision, DecisionStatus};
use crate::id::{AgentId, DecisionId, TaskId};
use crate::session::SessionRecord;
use crate::store::{
    AgentState, AgentStatus, DeadLetter, Finish, FinishedTrigger, HistoryEntry, StateStore,
    StoreError, Versioned,
};
use crate::task::Task;

/// How many dead letters the store keeps, newest last.
const DEAD_LETTER_LIMIT: usize = 1000;

/// An in-process [`StateStore`]. Cheap to clone; clones share the data. Times to live follow
/// tokio's clock.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Data>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

struct Expiring<T> {
    value: T,
    expires: Option<Instant>,
}

impl<T> Expiring<T> {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

#[derive(Default)]
struct Data {
    states: HashMap<AgentId, Versioned<AgentState>>,
    history: HashMap<AgentId, VecDeque<HistoryEntry>>,
    // Keyed by creation order, so listings are oldest first even when two decisions share a
    // timestamp (a paused clock ticks in milliseconds).
    decisions: BTreeMap<u64, Decision>,
    decision_index: HashMap<DecisionId, u64>,
    marks: HashMap<String, Expiring<()>>,
    leases: HashMap<String, Expiring<String>>,
    counters: HashMap<String, Expiring<f64>>,
    values: HashMap<String, Expiring<Value>>,
    dead_letters: VecDeque<DeadLetter>,
    logs: HashMap<String, VecDeque<Value>>,
    statuses: BTreeMap<AgentId, AgentStatus>,
    // Tasks keyed by creation order; the open index per assignee holds creation keys.
    tasks: BTreeMap<u64, Task>,
    task_index: HashMap<TaskId, u64>,
    open_tasks: HashMap<AgentId, BTreeSet<u64>>,
    // Each agent's session records, oldest first.
    sessions: HashMap<AgentId, VecDeque<SessionRecord>>,
}

fn expiry(ttl: Duration) -> Option<Instant> {
    Instant::now().checked_add(ttl)
}

impl MemoryStore {
    /// A new, empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn load_state(&self, agent: AgentId) -> Result<Versioned<AgentState>, StoreError> {
        Ok(self
            .data()
            .states
            .get(&agent)
            .cloned()
            .unwrap_or(Versioned {
                value: AgentState::default(),
                version: 0,
            }))
    }

    async fn save_state(
        &self,
        agent: AgentId,
        state: &AgentState,
        expected: u64,
    ) -> Result<u64, StoreError> {
        let mut data = self.data();
        let found = data.states.get(&agent).map_or(0, |stored| stored.version);
        if found != expected {
            return Err(StoreError::Conflict {
                key: format!("state:{agent}"),
                expected,
                found,
            });
        }
        let version = found + 1;
        data.states.insert(
            agent,
            Versioned {
                value: state.clone(),
                version,
            },
        );
        Ok(version)
    }

    async fn append_history(
        &self,
        agent: AgentId,
        entry: &HistoryEntry,
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut data = self.data();
        let history = data.history.entry(agent).or_default();
        history.push_back(entry.clone());
        while history.len() > keep {
            history.pop_front();
        }
        Ok(())
    }

    async fn history(&self, agent: AgentId, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let data = self.data();
        Ok(data
            .history
            .get(&agent)
            .map(|history| {
                let skip = history.len().saturating_sub(limit);
                history.iter().skip(skip).cloned().collect()
            })
            .unwrap_or_default())
    }

    async fn create_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        let mut data = self.data();
        if data.decision_index.contains_key(&decision.id) {
            return Err(StoreError::Conflict {
                key: format!("decision:{}", decision.id),
                expected: 0,
                found: 1,
            });
        }
        let key = data
            .decisions
            .last_key_value()
            .map_or(0, |(key, _)| key + 1);
        let mut stored = decision.clone();
        stored.version = 1;
        data.decision_index.insert(decision.id, key);
        data.decisions.insert(key, stored);
        Ok(())
    }

    async fn decision(&self, id: DecisionId) -> Result<Option<Decision>, StoreError> {
        let data = self.data();
        Ok(data
            .decision_index
            .get(&id)
            .and_then(|key| data.decisions.get(key))
            .cloned())
    }

    async fn update_decision(&self, decision: &Decision) -> Result<u64, StoreError> {
        let mut data = self.data();
        let key = *data
            .decision_index
            .get(&decision.id)
            .ok_or_else(|| StoreError::NotFound(format!("decision:{}", decision.id)))?;
        let stored = data
            .decisions
            .get_mut(&key)
            .ok_or_else(|| StoreError::NotFound(format!("decision:{}", decision.id)))?;
        if stored.version != decision.version {
            return Err(StoreError::Conflict {
                key: format!("decision:{}", decision.id),
                expected: decision.version,
                found: stored.version,
            });
        }
        let mut next = decision.clone();
        next.version = decision.version + 1;
        *stored = next;
        Ok(decision.version + 1)
    }

    async fn decisions(&self, status: Option<DecisionStatus>) -> Result<Vec<Decision>, StoreError> {
        Ok(self
            .data()
            .decisions
            .values()
            .filter(|decision| status.is_none_or(|status| decision.status == status))
            .cloned()
            .collect())
    }

    async fn first_time(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        if data.marks.get(key).is_some_and(|mark| mark.live(now)) {
            return Ok(false);
        }
        data.marks.insert(
            key.to_owned(),
            Expiring {
                value: (),
                expires: expiry(ttl),
            },
        );
        Ok(true)
    }

    async fn is_marked(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self
            .data()
            .marks
            .get(key)
            .is_some_and(|mark| mark.live(now)))
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        match data.leases.get(name) {
            Some(lease) if lease.live(now) && lease.value != holder => Ok(false),
            _ => {
                data.leases.insert(
                    name.to_owned(),
                    Expiring {
                        value: holder.to_owned(),
                        expires: expiry(ttl),
                    },
                );
                Ok(true)
            }
        }
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut data = self.data();
        if data
            .leases
            .get(name)
            .is_some_and(|lease| lease.value == holder)
        {
            data.leases.remove(name);
        }
        Ok(())
    }

    async fn add_to_counter(
        &self,
        key: &str,
        amount: f64,
        ttl: Duration,
    ) -> Result<f64, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        let counter = data
            .counters
            .entry(key.to_owned())
            .or_insert_with(|| Expiring {
                value: 0.0,
                expires: expiry(ttl),
            });
        if !counter.live(now) {
            *counter = Expiring {
                value: 0.0,
                expires: expiry(ttl),
            };
        }
        counter.value += amount;
        Ok(counter.value)
    }

    async fn counter(&self, key: &str) -> Result<f64, StoreError> {
        let now = Instant::now();
        Ok(self
            .data()
            .counters
            .get(key)
            .filter(|counter| counter.live(now))
            .map_or(0.0, |counter| counter.value))
    }

    async fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let now = Instant::now();
        Ok(self
            .data()
            .values
            .get(key)
            .filter(|value| value.live(now))
            .map(|value| value.value.clone()))
    }

    async fn set_value(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.data().values.insert(
            key.to_owned(),
            Expiring {
                value: value.clone(),
                expires: ttl.and_then(expiry),
            },
        );
        Ok(())
    }

    async fn delete_value(&self, key: &str) -> Result<(), StoreError> {
        self.data().values.remove(key);
        Ok(())
    }

    async fn append_log(&self, name: &str, entry: &Value, keep: usize) -> Result<(), StoreError> {
        let mut data = self.data();
        let log = data.logs.entry(name.to_owned()).or_default();
        log.push_back(entry.clone());
        while log.len() > keep {
            log.pop_front();
        }
        Ok(())
    }

    async fn read_log(&self, name: &str, limit: usize) -> Result<Vec<Value>, StoreError> {
        let data = self.data();
        Ok(data
            .logs
            .get(name)
            .map(|log| {
                let skip = log.len().saturating_sub(limit);
                log.iter().skip(skip).cloned().collect()
            })
            .unwrap_or_default())
    }

    async fn push_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let mut data = self.data();
        data.dead_letters.push_back(letter.clone());
        while data.dead_letters.len() > DEAD_LETTER_LIMIT {
            data.dead_letters.pop_front();
        }
        Ok(())
    }

    async fn dead_letters(
        &self,
        agent: Option<AgentId>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let data = self.data();
        let matching: Vec<&DeadLetter> = data
            .dead_letters
            .iter()
            .filter(|letter| agent.is_none_or(|agent| letter.agent == agent))
            .collect();
        let skip = matching.len().saturating_sub(limit);
        Ok(matching.into_iter().skip(skip).cloned().collect())
    }

    async fn put_status(&self, status: &AgentStatus) -> Result<(), StoreError> {
        self.data().statuses.insert(status.id, status.clone());
        Ok(())
    }

    async fn statuses(&self) -> Result<Vec<AgentStatus>, StoreError> {
        Ok(self.data().statuses.values().cloned().collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn finish_trigger(&self, finished: &FinishedTrigger) -> Result<Finish, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        if data
            .marks
            .get(&finished.handled_mark)
            .is_some_and(|mark| mark.live(now))
        {
            return Ok(Finish::AlreadyFinished);
        }
        let agent = finished.agent;
        let found = data.states.get(&agent).map_or(0, |stored| stored.version);
        if found != finished.expected_version {
            return Err(StoreError::Conflict {
                key: format!("state:{agent}"),
                expected: finished.expected_version,
                found,
            });
        }
        let version = found + 1;
        data.states.insert(
            agent,
            Versioned {
                value: finished.state.clone(),
                version,
            },
        );
        let history = data.history.entry(agent).or_default();
        history.push_back(finished.history.clone());
        while history.len() > finished.history_keep {
            history.pop_front();
        }
        if let Some(letter) = &finished.dead_letter {
            data.dead_letters.push_back(letter.clone());
            while data.dead_letters.len() > DEAD_LETTER_LIMIT {
                data.dead_letters.pop_front();
            }
        }
        data.marks.insert(
            finished.handled_mark.clone(),
            Expiring {
                value: (),
                expires: expiry(finished.mark_ttl),
            },
        );
        data.values.remove(&finished.journal);
        Ok(Finish::Written(version))
    }

    async fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        let mut data = self.data();
        if data.task_index.contains_key(&task.id) {
            return Err(StoreError::Conflict {
                key: format!("task:{}", task.id),
                expected: 0,
                found: 1,
            });
        }
        let key = data.tasks.last_key_value().map_or(0, |(key, _)| key + 1);
        let mut stored = task.clone();
        stored.version = 1;
        data.task_index.insert(task.id, key);
        if !task.status.is_closed() {
            data.open_tasks
                .entry(task.assignee)
                .or_default()
                .insert(key);
        }
        data.tasks.insert(key, stored);
        Ok(())
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        let data = self.data();
        Ok(data
            .task_index
            .get(&id)
            .and_then(|key| data.tasks.get(key))
            .cloned())
    }

    async fn update_task(&self, task: &Task) -> Result<u64, StoreError> {
        let mut data = self.data();
        let key = *data
            .task_index
            .get(&task.id)
            .ok_or_else(|| StoreError::NotFound(format!("task:{}", task.id)))?;
        let stored = data
            .tasks
            .get_mut(&key)
            .ok_or_else(|| StoreError::NotFound(format!("task:{}", task.id)))?;
        if stored.version != task.version {
            return Err(StoreError::Conflict {
                key: format!("task:{}", task.id),
                expected: task.version,
                found: stored.version,
            });
        }
        let mut next = task.clone();
        next.version = task.version + 1;
        let assignee = next.assignee;
        let closed = next.status.is_closed();
        *stored = next;
        if closed && let Some(open) = data.open_tasks.get_mut(&assignee) {
            open.remove(&key);
        }
        Ok(task.version + 1)
    }

    async fn open_tasks(&self, assignee: AgentId) -> Result<Vec<Task>, StoreError> {
        let data = self.data();
        Ok(data
            .open_tasks
            .get(&assignee)
            .map(|keys| {
                keys.iter()
                    .filter_map(|key| data.tasks.get(key))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn tasks(&self, limit: usize) -> Result<Vec<Task>, StoreError> {
        let data = self.data();
        let skip = data.tasks.len().saturating_sub(limit);
        Ok(data.tasks.values().skip(skip).cloned().collect())
    }

    async fn put_session(&self, record: &SessionRecord, keep: usize) -> Result<(), StoreError> {
        let mut data = self.data();
        let kept = data.sessions.entry(record.agent).or_default();
        match kept
            .iter_mut()
            .find(|old| old.trigger_id == record.trigger_id)
        {
            Some(old) => *old = record.clone(),
            None => kept.push_back(record.clone()),
        }
        while kept.len() > keep {
            kept.pop_front();
        }
        Ok(())
    }

    async fn sessions(
        &self,
        agent: AgentId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let data = self.data();
        Ok(data
            .sessions
            .get(&agent)
            .map(|kept| {
                let skip = kept.len().saturating_sub(limit);
                kept.iter().skip(skip).cloned().collect()
            })
            .unwrap_or_default())
    }

    async fn session(
        &self,
        agent: AgentId,
        trigger_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let data = self.data();
        Ok(data.sessions.get(&agent).and_then(|kept| {
            kept.iter()
                .find(|record| record.trigger_id == trigger_id)
                .cloned()
        }))
    }
}
