//! [`MemoryStore`]: the whole store in one process, behind a mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;

use super::decisions::Decisions;
use crate::decision::{Decision, DecisionStatus};
use crate::id::{AgentId, DecisionId, TaskId};
use crate::reservation::{Booking, Reservation, Reserved};
use crate::role::Role;
use crate::session::SessionRecord;
use crate::store::{
    AgentState, AgentStatus, DeadLetter, Fence, Finish, FinishedTrigger, HistoryEntry, LeaseHolder,
    StateStore, StoreError, Versioned,
};
use crate::task::Task;

/// How many dead letters the store keeps, newest last.
const DEAD_LETTER_LIMIT: usize = 1000;

/// How often, at most, a write sweeps out every expired mark, lease, counter and value.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// An in-process [`StateStore`]. Cheap to clone; clones share the data. Times to live follow
/// tokio's clock.
///
/// What has expired is removed, not only hidden: a read that finds an expired entry drops it,
/// and a write sweeps out every expired entry once its earliest expiry has passed (at most once
/// a second) or as soon as the entries with a time to live have doubled since the
/// last sweep. Memory held for marks, leases, counters and values so stays within twice what is
/// live, whatever the keys.
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
    decisions: Decisions,
    marks: HashMap<String, Expiring<()>>,
    leases: HashMap<String, Expiring<String>>,
    /// The fencing token of each lease's latest term; kept when the lease lapses.
    lease_terms: HashMap<String, u64>,
    counters: HashMap<String, Expiring<f64>>,
    /// Budget holds: set name, then hold id to (amount, lapses at).
    holds: HashMap<String, HashMap<String, (f64, chrono::DateTime<chrono::Utc>)>>,
    /// Bookings made, by id, remembered for their time to live.
    bookings: HashMap<String, Expiring<()>>,
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
    sweep: Sweep,
}

/// When the next sweep of expired entries is due.
#[derive(Default)]
struct Sweep {
    /// The earliest expiry of an entry written since the last sweep, or left by it.
    earliest: Option<Instant>,
    /// When the last sweep ran.
    last: Option<Instant>,
    /// Entries with a time to live left by the last sweep.
    kept: usize,
}

impl Sweep {
    /// Notes an entry written with `expires`.
    fn note(&mut self, expires: Option<Instant>) {
        if let Some(at) = expires {
            self.earliest = Some(self.earliest.map_or(at, |earliest| earliest.min(at)));
        }
    }
}

impl Data {
    /// Entries with a time to live (or that may be given one): marks, leases, counters, values.
    fn expiring(&self) -> usize {
        self.marks.len()
            + self.leases.len()
            + self.counters.len()
            + self.values.len()
            + self.bookings.len()
    }

    /// Removes every expired entry when a sweep is due (see [`MemoryStore`]).
    fn sweep_if_due(&mut self, now: Instant) {
        let expired = self.sweep.earliest.is_some_and(|at| at <= now)
            && self
                .sweep
                .last
                .is_none_or(|last| now.duration_since(last) >= SWEEP_INTERVAL);
        let grown = self.expiring() > 2 * self.sweep.kept.max(64);
        if expired || grown {
            self.sweep_now(now);
        }
    }

    /// Removes every expired entry.
    fn sweep_now(&mut self, now: Instant) {
        fn keep<T>(map: &mut HashMap<String, Expiring<T>>, now: Instant) -> Option<Instant> {
            map.retain(|_, entry| entry.live(now));
            map.values().filter_map(|entry| entry.expires).min()
        }
        let earliest = [
            keep(&mut self.marks, now),
            keep(&mut self.leases, now),
            keep(&mut self.counters, now),
            keep(&mut self.values, now),
            keep(&mut self.bookings, now),
        ]
        .into_iter()
        .flatten()
        .min();
        self.sweep = Sweep {
            earliest,
            last: Some(now),
            kept: self.expiring(),
        };
    }
}

/// The live entry of `key` in `map`; an expired one is removed.
fn live_entry<'a, T>(
    map: &'a mut HashMap<String, Expiring<T>>,
    key: &str,
    now: Instant,
) -> Option<&'a mut Expiring<T>> {
    if map.get(key).is_some_and(|entry| !entry.live(now)) {
        map.remove(key);
        return None;
    }
    map.get_mut(key)
}

fn expiry(ttl: Duration) -> Option<Instant> {
    Instant::now().checked_add(ttl)
}

impl Data {
    /// Whether `fence`'s term is live at `now`.
    fn fence_live(&self, fence: &Fence, now: Instant) -> bool {
        self.leases
            .get(&fence.lease)
            .is_some_and(|lease| lease.live(now) && lease.value == fence.holder)
            && self.lease_terms.get(&fence.lease) == Some(&fence.token)
    }

    fn check_fence(&self, fence: Option<&Fence>, now: Instant) -> Result<(), StoreError> {
        match fence {
            Some(fence) if !self.fence_live(fence, now) => Err(fence.refused()),
            _ => Ok(()),
        }
    }
}

impl MemoryStore {
    fn mark_once(
        &self,
        key: &str,
        ttl: Duration,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        data.check_fence(fence, now)?;
        data.sweep_if_due(now);
        if live_entry(&mut data.marks, key, now).is_some() {
            return Ok(false);
        }
        let expires = expiry(ttl);
        data.marks
            .insert(key.to_owned(), Expiring { value: (), expires });
        data.sweep.note(expires);
        Ok(true)
    }

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
        self.data().decisions.create(decision)
    }

    async fn decision(&self, id: DecisionId) -> Result<Option<Decision>, StoreError> {
        Ok(self.data().decisions.get(id).cloned())
    }

    async fn update_decision(&self, decision: &Decision) -> Result<u64, StoreError> {
        self.data().decisions.update(decision)
    }

    async fn decisions(&self, status: Option<DecisionStatus>) -> Result<Vec<Decision>, StoreError> {
        Ok(self.data().decisions.list(status))
    }

    async fn recent_decisions(
        &self,
        status: DecisionStatus,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError> {
        Ok(self.data().decisions.recent(status, limit))
    }

    async fn recent_decisions_without(
        &self,
        status: DecisionStatus,
        limit: usize,
        agent: AgentId,
        role: &Role,
    ) -> Result<Vec<Decision>, StoreError> {
        Ok(self
            .data()
            .decisions
            .recent_without(status, limit, agent, role))
    }

    async fn first_time(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.mark_once(key, ttl, None)
    }

    async fn first_time_fenced(
        &self,
        key: &str,
        ttl: Duration,
        fence: &Fence,
    ) -> Result<bool, StoreError> {
        self.mark_once(key, ttl, Some(fence))
    }

    async fn is_marked(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(live_entry(&mut self.data().marks, key, now).is_some())
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        data.sweep_if_due(now);
        let renewal = match live_entry(&mut data.leases, name, now) {
            Some(lease) if lease.value != holder => return Ok(None),
            Some(_) => true,
            None => false,
        };
        let expires = expiry(ttl);
        data.leases.insert(
            name.to_owned(),
            Expiring {
                value: holder.to_owned(),
                expires,
            },
        );
        data.sweep.note(expires);
        let term = data.lease_terms.entry(name.to_owned()).or_insert(0);
        if !renewal || *term == 0 {
            *term += 1;
        }
        Ok(Some(*term))
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
        data.sweep_if_due(now);
        if let Some(counter) = live_entry(&mut data.counters, key, now) {
            counter.value += amount;
            return Ok(counter.value);
        }
        let expires = expiry(ttl);
        data.counters.insert(
            key.to_owned(),
            Expiring {
                value: amount,
                expires,
            },
        );
        data.sweep.note(expires);
        Ok(amount)
    }

    async fn counter(&self, key: &str) -> Result<f64, StoreError> {
        let now = Instant::now();
        Ok(live_entry(&mut self.data().counters, key, now).map_or(0.0, |counter| counter.value))
    }

    async fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let now = Instant::now();
        Ok(live_entry(&mut self.data().values, key, now).map(|value| value.value.clone()))
    }

    async fn set_value(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut data = self.data();
        data.sweep_if_due(Instant::now());
        let expires = ttl.and_then(expiry);
        data.values.insert(
            key.to_owned(),
            Expiring {
                value: value.clone(),
                expires,
            },
        );
        data.sweep.note(expires);
        Ok(())
    }

    async fn set_value_fenced(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        let mut data = self.data();
        data.check_fence(Some(fence), Instant::now())?;
        data.values.insert(
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
        data.sweep_if_due(now);
        if live_entry(&mut data.marks, &finished.handled_mark, now).is_some() {
            return Ok(Finish::AlreadyFinished);
        }
        data.check_fence(finished.fence.as_ref(), now)?;
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
        let expires = expiry(finished.mark_ttl);
        data.marks.insert(
            finished.handled_mark.clone(),
            Expiring { value: (), expires },
        );
        data.sweep.note(expires);
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

    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        for (index, limit) in reservation.limits.iter().enumerate() {
            let spent = data
                .counters
                .get(&limit.counter)
                .filter(|counter| counter.live(now))
                .map_or(0.0, |counter| counter.value);
            let held: f64 = data.holds.get(&limit.holds).map_or(0.0, |holds| {
                holds
                    .iter()
                    .filter(|(id, (_, until))| **id != reservation.id && *until > reservation.now)
                    .map(|(_, (amount, _))| amount)
                    .sum()
            });
            if spent + held + reservation.amount > limit.limit + 1e-9 {
                return Ok(Reserved::Refused {
                    limit: index,
                    spent,
                    held,
                });
            }
        }
        for limit in &reservation.limits {
            let holds = data.holds.entry(limit.holds.clone()).or_default();
            holds.retain(|_, (_, until)| *until > reservation.now);
            holds.insert(
                reservation.id.clone(),
                (reservation.amount, reservation.expires_at),
            );
        }
        Ok(Reserved::Held)
    }

    async fn book(&self, booking: &Booking) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut data = self.data();
        data.sweep_if_due(now);
        if data
            .bookings
            .get(&booking.id)
            .is_some_and(|mark| mark.live(now))
        {
            return Ok(false);
        }
        data.bookings.insert(
            booking.id.clone(),
            Expiring {
                value: (),
                expires: expiry(booking.mark_ttl),
            },
        );
        for (key, amount) in &booking.counters {
            let counter = data
                .counters
                .entry(key.clone())
                .or_insert_with(|| Expiring {
                    value: 0.0,
                    expires: expiry(booking.counter_ttl),
                });
            if !counter.live(now) {
                *counter = Expiring {
                    value: 0.0,
                    expires: expiry(booking.counter_ttl),
                };
            }
            counter.value += amount;
        }
        for name in &booking.holds {
            if let Some(holds) = data.holds.get_mut(name) {
                holds.remove(&booking.id);
            }
        }
        Ok(true)
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        let now = Instant::now();
        Ok(self
            .data()
            .leases
            .get(name)
            .filter(|lease| lease.live(now))
            .map(|lease| LeaseHolder {
                holder: lease.value.clone(),
                expires_at: lease
                    .expires
                    .map_or(chrono::DateTime::<chrono::Utc>::MAX_UTC, |at| {
                        chrono::Utc::now()
                            + chrono::Duration::from_std(at.saturating_duration_since(now))
                                .unwrap_or_default()
                    }),
            }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn held(store: &MemoryStore) -> usize {
        store.data().expiring()
    }

    #[tokio::test(start_paused = true)]
    async fn expired_marks_leases_counters_and_values_are_removed_not_only_hidden() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        for n in 0..50 {
            assert!(store.first_time(&format!("mark:{n}"), ttl).await.unwrap());
            assert!(
                store
                    .acquire_lease(&format!("lease:{n}"), "me", ttl)
                    .await
                    .unwrap()
                    .is_some()
            );
            store
                .add_to_counter(&format!("counter:{n}"), 1.0, ttl)
                .await
                .unwrap();
            store
                .set_value(&format!("value:{n}"), &Value::from(n), Some(ttl))
                .await
                .unwrap();
        }
        store
            .set_value("kept", &Value::from("forever"), None)
            .await
            .unwrap();
        assert_eq!(held(&store), 201);

        tokio::time::advance(ttl + Duration::from_secs(1)).await;
        // The next write sweeps out everything expired; only the new mark and the value
        // without a time to live are held.
        assert!(store.first_time("mark:new", ttl).await.unwrap());
        assert_eq!(held(&store), 2);
        assert!(store.is_marked("mark:new").await.unwrap());
        assert_eq!(
            store.get_value("kept").await.unwrap(),
            Some(Value::from("forever"))
        );
        assert!(!store.is_marked("mark:0").await.unwrap());
        assert_eq!(store.counter("counter:0").await.unwrap(), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_drops_the_expired_entry_it_finds() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(5);
        store.first_time("mark", ttl).await.unwrap();
        store.add_to_counter("counter", 2.0, ttl).await.unwrap();
        store
            .set_value("value", &Value::from(1), Some(ttl))
            .await
            .unwrap();
        tokio::time::advance(ttl).await;
        assert!(!store.is_marked("mark").await.unwrap());
        assert_eq!(store.counter("counter").await.unwrap(), 0.0);
        assert_eq!(store.get_value("value").await.unwrap(), None);
        assert_eq!(held(&store), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_written_once_each_never_hold_more_than_twice_what_is_live() {
        // A mark per trigger, each under a new key, as a busy company writes them: the store
        // holds the live ones and at most as many expired ones, never the whole past.
        let store = MemoryStore::new();
        let ttl = Duration::from_millis(100);
        let mut most = 0;
        for n in 0..10_000 {
            store.first_time(&format!("mark:{n}"), ttl).await.unwrap();
            most = most.max(held(&store));
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        // About 100 marks are live at any time.
        assert!(most <= 2 * 128 + 1, "held {most} entries");
    }
}
