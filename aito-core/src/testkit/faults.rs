//! Adapters that fail on purpose: [`FaultyStore`] and [`FaultyBus`] wrap any
//! [`StateStore`] or [`Bus`] and inject a [`Fault`] into the Nth call of one kind of operation,
//! so a test can place a crash, a lost reply or an outage at an exact step, on every adapter.
//! They also count what passes through: the calls of each kind ([`Faults::calls`]) and, for a
//! store, the records they returned ([`Faults::returned`]), so a test can show that a path
//! reads only what it should (say, none of ten thousand closed decisions).
//!
//! ```
//! # use std::sync::Arc;
//! # use aito_core::MemoryStore;
//! # use aito_core::testkit::faults::{Fault, FaultyStore, StoreOp};
//! let store = FaultyStore::new(Arc::new(MemoryStore::new()));
//! // The next `finish_trigger` is carried out, but its caller is told it failed.
//! store.faults().inject(StoreOp::FinishTrigger, 1, Fault::FailAfter);
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::bus::{Bus, BusError, Deliveries, Subscription};
use crate::channel::Channel;
use crate::decision::{Decision, DecisionStatus};
use crate::envelope::Envelope;
use crate::id::{AgentId, DecisionId, TaskId};
use crate::reservation::{Booking, Reservation, Reserved};
use crate::role::Role;
use crate::session::SessionRecord;
use crate::store::{
    AgentState, AgentStatus, DeadLetter, Fence, Finish, FinishedTrigger, HistoryEntry, LeaseHolder,
    StateStore, StoreError, Versioned,
};
use crate::task::Task;

/// What happens to a call a fault is placed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails without reaching the backend (the backend was down).
    Fail,
    /// Reaches the backend, which carries the call out, then fails (the reply was lost).
    FailAfter,
    /// Waits this long, then goes through.
    Delay(Duration),
    /// Goes through at once, and its reply comes this much later (what it read may be stale
    /// by then).
    DelayAfter(Duration),
    /// Never returns (a frozen backend, or a process stopped at this step).
    Hang,
    /// Reports success without reaching the backend: the write is lost. On calls that return
    /// something other than nothing, the same as [`Fault::Fail`].
    Drop,
}

/// When a fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// The call with this number (counted from 1 since the store was wrapped).
    Call(usize),
    /// Every call from this number on, until [`Faults::clear`].
    From(usize),
}

#[derive(Debug)]
struct Rule<Op> {
    op: Op,
    when: When,
    fault: Fault,
}

#[derive(Debug)]
struct Plan<Op> {
    calls: HashMap<Op, usize>,
    returned: HashMap<Op, usize>,
    rules: Vec<Rule<Op>>,
}

/// The faults planned for one wrapped adapter, and the calls it saw, per kind of operation.
#[derive(Debug)]
pub struct Faults<Op> {
    plan: Mutex<Plan<Op>>,
}

impl<Op: Copy + Eq + Hash> Default for Faults<Op> {
    fn default() -> Self {
        Self {
            plan: Mutex::new(Plan {
                calls: HashMap::new(),
                returned: HashMap::new(),
                rules: Vec::new(),
            }),
        }
    }
}

impl<Op: Copy + Eq + Hash> Faults<Op> {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan<Op>> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Places `fault` on the `nth` call of `op` from now (1 is the next one).
    pub fn inject(&self, op: Op, nth: usize, fault: Fault) {
        let mut plan = self.plan();
        let seen = plan.calls.get(&op).copied().unwrap_or(0);
        plan.rules.push(Rule {
            op,
            when: When::Call(seen + nth.max(1)),
            fault,
        });
    }

    /// Places `fault` on every call of `op` from the next one until [`clear`](Self::clear).
    pub fn always(&self, op: Op, fault: Fault) {
        let mut plan = self.plan();
        let seen = plan.calls.get(&op).copied().unwrap_or(0);
        plan.rules.push(Rule {
            op,
            when: When::From(seen + 1),
            fault,
        });
    }

    /// Removes every planned fault (calls already waiting in one are not woken).
    pub fn clear(&self) {
        self.plan().rules.clear();
    }

    /// How many calls of `op` were made.
    pub fn calls(&self, op: Op) -> usize {
        self.plan().calls.get(&op).copied().unwrap_or(0)
    }

    /// How many records the successful calls of `op` returned: the items of a list, 1 for a
    /// found document (0 when absent), 1 for any other answer.
    pub fn returned(&self, op: Op) -> usize {
        self.plan().returned.get(&op).copied().unwrap_or(0)
    }

    fn count_returned(&self, op: Op, records: usize) {
        *self.plan().returned.entry(op).or_insert(0) += records;
    }

    /// Counts a call of `op` and returns the fault placed on it, if any. A one-call fault is
    /// used up.
    fn next(&self, op: Op) -> Option<Fault> {
        let mut plan = self.plan();
        let count = plan.calls.entry(op).or_insert(0);
        *count += 1;
        let call = *count;
        let index = plan.rules.iter().position(|rule| {
            rule.op == op
                && match rule.when {
                    When::Call(n) => n == call,
                    When::From(n) => call >= n,
                }
        })?;
        let fault = plan.rules[index].fault;
        if matches!(plan.rules[index].when, When::Call(_)) {
            plan.rules.remove(index);
        }
        Some(fault)
    }
}

/// Runs `call` under `fault`. `failure` builds the error of a failed call; `dropped` the
/// success of a dropped one (`None` when the call cannot be dropped).
async fn strike<T, E>(
    fault: Option<Fault>,
    call: impl Future<Output = Result<T, E>>,
    failure: impl FnOnce(&str) -> E,
    dropped: impl FnOnce() -> Option<T>,
) -> Result<T, E> {
    match fault {
        None => call.await,
        Some(Fault::Fail) => Err(failure("injected failure")),
        Some(Fault::FailAfter) => {
            let _ = call.await;
            Err(failure("injected failure after the call went through"))
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            call.await
        }
        Some(Fault::DelayAfter(delay)) => {
            let reply = call.await;
            tokio::time::sleep(delay).await;
            reply
        }
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::Drop) => match dropped() {
            Some(value) => Ok(value),
            None => Err(failure("injected failure")),
        },
    }
}

/// The operations of a [`StateStore`], one per trait method.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreOp {
    LoadState,
    SaveState,
    AppendHistory,
    History,
    CreateDecision,
    Decision,
    UpdateDecision,
    Decisions,
    RecentDecisions,
    FirstTime,
    FirstTimeFenced,
    IsMarked,
    AcquireLease,
    ReleaseLease,
    AddToCounter,
    Counter,
    GetValue,
    SetValue,
    SetValueFenced,
    DeleteValue,
    AppendLog,
    ReadLog,
    PushDeadLetter,
    DeadLetters,
    PutStatus,
    Statuses,
    Ping,
    FinishTrigger,
    CreateTask,
    Task,
    UpdateTask,
    OpenTasks,
    Tasks,
    Reserve,
    Book,
    LeaseHolder,
    PutSession,
    Sessions,
    Session,
}

/// A [`StateStore`] that passes every call to another one, except those a fault is placed on.
pub struct FaultyStore {
    inner: Arc<dyn StateStore>,
    faults: Arc<Faults<StoreOp>>,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore").finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// Wraps `inner`, with no fault planned.
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self {
            inner,
            faults: Arc::default(),
        }
    }

    /// The faults planned, to add to or clear.
    pub fn faults(&self) -> &Faults<StoreOp> {
        &self.faults
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn StateStore> {
        &self.inner
    }

    async fn run<T: Records>(
        &self,
        op: StoreOp,
        call: impl Future<Output = Result<T, StoreError>>,
        dropped: impl FnOnce() -> Option<T>,
    ) -> Result<T, StoreError> {
        let result = strike(
            self.faults.next(op),
            call,
            |what| StoreError::Unavailable(format!("{what} ({op:?})")),
            dropped,
        )
        .await;
        if let Ok(value) = &result {
            self.faults.count_returned(op, value.records());
        }
        result
    }
}

/// How many records a store's answer holds, for [`Faults::returned`].
trait Records {
    fn records(&self) -> usize {
        1
    }
}

impl<T> Records for Vec<T> {
    fn records(&self) -> usize {
        self.len()
    }
}

impl<T> Records for Option<T> {
    fn records(&self) -> usize {
        usize::from(self.is_some())
    }
}

impl<T> Records for Versioned<T> {}
impl Records for () {}
impl Records for bool {}
impl Records for u64 {}
impl Records for f64 {}
impl Records for Finish {}
impl Records for Reserved {}

fn nothing() -> Option<()> {
    Some(())
}

fn no_value<T>() -> Option<T> {
    None
}

#[async_trait]
impl StateStore for FaultyStore {
    async fn load_state(&self, agent: AgentId) -> Result<Versioned<AgentState>, StoreError> {
        self.run(StoreOp::LoadState, self.inner.load_state(agent), no_value)
            .await
    }

    async fn save_state(
        &self,
        agent: AgentId,
        state: &AgentState,
        expected: u64,
    ) -> Result<u64, StoreError> {
        let call = self.inner.save_state(agent, state, expected);
        self.run(StoreOp::SaveState, call, no_value).await
    }

    async fn append_history(
        &self,
        agent: AgentId,
        entry: &HistoryEntry,
        keep: usize,
    ) -> Result<(), StoreError> {
        let call = self.inner.append_history(agent, entry, keep);
        self.run(StoreOp::AppendHistory, call, nothing).await
    }

    async fn history(&self, agent: AgentId, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let call = self.inner.history(agent, limit);
        self.run(StoreOp::History, call, no_value).await
    }

    async fn create_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        let call = self.inner.create_decision(decision);
        self.run(StoreOp::CreateDecision, call, nothing).await
    }

    async fn decision(&self, id: DecisionId) -> Result<Option<Decision>, StoreError> {
        self.run(StoreOp::Decision, self.inner.decision(id), no_value)
            .await
    }

    async fn update_decision(&self, decision: &Decision) -> Result<u64, StoreError> {
        let call = self.inner.update_decision(decision);
        self.run(StoreOp::UpdateDecision, call, no_value).await
    }

    async fn decisions(&self, status: Option<DecisionStatus>) -> Result<Vec<Decision>, StoreError> {
        let call = self.inner.decisions(status);
        self.run(StoreOp::Decisions, call, no_value).await
    }

    async fn recent_decisions(
        &self,
        status: DecisionStatus,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError> {
        let call = self.inner.recent_decisions(status, limit);
        self.run(StoreOp::RecentDecisions, call, no_value).await
    }

    async fn recent_decisions_without(
        &self,
        status: DecisionStatus,
        limit: usize,
        agent: AgentId,
        role: &Role,
    ) -> Result<Vec<Decision>, StoreError> {
        let call = self
            .inner
            .recent_decisions_without(status, limit, agent, role);
        self.run(StoreOp::RecentDecisions, call, no_value).await
    }

    async fn first_time(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let call = self.inner.first_time(key, ttl);
        self.run(StoreOp::FirstTime, call, no_value).await
    }

    async fn first_time_fenced(
        &self,
        key: &str,
        ttl: Duration,
        fence: &Fence,
    ) -> Result<bool, StoreError> {
        let call = self.inner.first_time_fenced(key, ttl, fence);
        self.run(StoreOp::FirstTimeFenced, call, no_value).await
    }

    async fn is_marked(&self, key: &str) -> Result<bool, StoreError> {
        let call = self.inner.is_marked(key);
        self.run(StoreOp::IsMarked, call, no_value).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        let call = self.inner.acquire_lease(name, holder, ttl);
        self.run(StoreOp::AcquireLease, call, no_value).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let call = self.inner.release_lease(name, holder);
        self.run(StoreOp::ReleaseLease, call, nothing).await
    }

    async fn add_to_counter(
        &self,
        key: &str,
        amount: f64,
        ttl: Duration,
    ) -> Result<f64, StoreError> {
        let call = self.inner.add_to_counter(key, amount, ttl);
        self.run(StoreOp::AddToCounter, call, no_value).await
    }

    async fn counter(&self, key: &str) -> Result<f64, StoreError> {
        self.run(StoreOp::Counter, self.inner.counter(key), no_value)
            .await
    }

    async fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.run(StoreOp::GetValue, self.inner.get_value(key), no_value)
            .await
    }

    async fn set_value(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let call = self.inner.set_value(key, value, ttl);
        self.run(StoreOp::SetValue, call, nothing).await
    }

    async fn set_value_fenced(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        let call = self.inner.set_value_fenced(key, value, ttl, fence);
        self.run(StoreOp::SetValueFenced, call, nothing).await
    }

    async fn delete_value(&self, key: &str) -> Result<(), StoreError> {
        let call = self.inner.delete_value(key);
        self.run(StoreOp::DeleteValue, call, nothing).await
    }

    async fn append_log(&self, name: &str, entry: &Value, keep: usize) -> Result<(), StoreError> {
        let call = self.inner.append_log(name, entry, keep);
        self.run(StoreOp::AppendLog, call, nothing).await
    }

    async fn read_log(&self, name: &str, limit: usize) -> Result<Vec<Value>, StoreError> {
        let call = self.inner.read_log(name, limit);
        self.run(StoreOp::ReadLog, call, no_value).await
    }

    async fn push_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let call = self.inner.push_dead_letter(letter);
        self.run(StoreOp::PushDeadLetter, call, nothing).await
    }

    async fn dead_letters(
        &self,
        agent: Option<AgentId>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let call = self.inner.dead_letters(agent, limit);
        self.run(StoreOp::DeadLetters, call, no_value).await
    }

    async fn put_status(&self, status: &AgentStatus) -> Result<(), StoreError> {
        let call = self.inner.put_status(status);
        self.run(StoreOp::PutStatus, call, nothing).await
    }

    async fn statuses(&self) -> Result<Vec<AgentStatus>, StoreError> {
        self.run(StoreOp::Statuses, self.inner.statuses(), no_value)
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(StoreOp::Ping, self.inner.ping(), no_value).await
    }

    async fn finish_trigger(&self, finished: &FinishedTrigger) -> Result<Finish, StoreError> {
        let call = self.inner.finish_trigger(finished);
        self.run(StoreOp::FinishTrigger, call, no_value).await
    }

    async fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        self.run(StoreOp::CreateTask, self.inner.create_task(task), no_value)
            .await
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.run(StoreOp::Task, self.inner.task(id), no_value).await
    }

    async fn update_task(&self, task: &Task) -> Result<u64, StoreError> {
        self.run(StoreOp::UpdateTask, self.inner.update_task(task), no_value)
            .await
    }

    async fn open_tasks(&self, assignee: AgentId) -> Result<Vec<Task>, StoreError> {
        let call = self.inner.open_tasks(assignee);
        self.run(StoreOp::OpenTasks, call, no_value).await
    }

    async fn tasks(&self, limit: usize) -> Result<Vec<Task>, StoreError> {
        self.run(StoreOp::Tasks, self.inner.tasks(limit), no_value)
            .await
    }

    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, StoreError> {
        let call = self.inner.reserve(reservation);
        self.run(StoreOp::Reserve, call, no_value).await
    }

    async fn book(&self, booking: &Booking) -> Result<bool, StoreError> {
        self.run(StoreOp::Book, self.inner.book(booking), no_value)
            .await
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        let call = self.inner.lease_holder(name);
        self.run(StoreOp::LeaseHolder, call, no_value).await
    }

    async fn put_session(&self, record: &SessionRecord, keep: usize) -> Result<(), StoreError> {
        let call = self.inner.put_session(record, keep);
        self.run(StoreOp::PutSession, call, no_value).await
    }

    async fn sessions(
        &self,
        agent: AgentId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let call = self.inner.sessions(agent, limit);
        self.run(StoreOp::Sessions, call, no_value).await
    }

    async fn session(
        &self,
        agent: AgentId,
        trigger_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let call = self.inner.session(agent, trigger_id);
        self.run(StoreOp::Session, call, no_value).await
    }
}

/// The operations of a [`Bus`], one per trait method.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BusOp {
    /// Every publish, whatever the channel.
    Publish,
    /// Publishes to one channel (counted besides [`BusOp::Publish`]; a fault on either strikes).
    PublishTo(Channel),
    Subscribe,
    Ping,
}

/// A [`Bus`] that passes every call to another one, except those a fault is placed on. A
/// dropped publish reports success and publishes nothing.
pub struct FaultyBus {
    inner: Arc<dyn Bus>,
    faults: Arc<Faults<BusOp>>,
}

impl std::fmt::Debug for FaultyBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyBus").finish_non_exhaustive()
    }
}

impl FaultyBus {
    /// Wraps `inner`, with no fault planned.
    pub fn new(inner: Arc<dyn Bus>) -> Self {
        Self {
            inner,
            faults: Arc::default(),
        }
    }

    /// The faults planned, to add to or clear.
    pub fn faults(&self) -> &Faults<BusOp> {
        &self.faults
    }

    /// The wrapped bus.
    pub fn inner(&self) -> &Arc<dyn Bus> {
        &self.inner
    }

    async fn run<T>(
        &self,
        op: BusOp,
        call: impl Future<Output = Result<T, BusError>>,
        dropped: impl FnOnce() -> Option<T>,
    ) -> Result<T, BusError> {
        let fault = self.faults.next(op);
        Self::run_with(fault, op, call, dropped).await
    }

    async fn run_with<T>(
        fault: Option<Fault>,
        op: BusOp,
        call: impl Future<Output = Result<T, BusError>>,
        dropped: impl FnOnce() -> Option<T>,
    ) -> Result<T, BusError> {
        strike(
            fault,
            call,
            |what| BusError::Unavailable(format!("{what} ({op:?})")),
            dropped,
        )
        .await
    }
}

#[async_trait]
impl Bus for FaultyBus {
    async fn publish(&self, channel: Channel, envelope: Envelope) -> Result<(), BusError> {
        let any = self.faults.next(BusOp::Publish);
        let this = self.faults.next(BusOp::PublishTo(channel));
        let call = self.inner.publish(channel, envelope);
        Self::run_with(any.or(this), BusOp::PublishTo(channel), call, nothing).await
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<Deliveries, BusError> {
        let call = self.inner.subscribe(subscription);
        self.run(BusOp::Subscribe, call, no_value).await
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.run(BusOp::Ping, self.inner.ping(), no_value).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn a_fault_strikes_the_nth_call_of_its_kind_only() {
        let store = FaultyStore::new(Arc::new(MemoryStore::new()));
        store.faults().inject(StoreOp::SetValue, 2, Fault::Fail);
        store.faults().inject(StoreOp::DeleteValue, 1, Fault::Drop);
        let value = Value::from(1);
        assert!(store.set_value("a", &value, None).await.is_ok());
        assert!(store.get_value("a").await.is_ok());
        assert!(store.set_value("b", &value, None).await.is_err());
        assert!(store.set_value("c", &value, None).await.is_ok());
        assert_eq!(store.get_value("b").await.unwrap(), None);
        store.delete_value("a").await.unwrap();
        assert_eq!(store.get_value("a").await.unwrap(), Some(value.clone()));
        assert_eq!(store.faults().calls(StoreOp::SetValue), 3);
    }

    #[tokio::test]
    async fn a_call_failing_after_it_went_through_is_carried_out() {
        let store = FaultyStore::new(Arc::new(MemoryStore::new()));
        store.faults().always(StoreOp::SetValue, Fault::FailAfter);
        let value = Value::from(1);
        assert!(store.set_value("a", &value, None).await.is_err());
        assert!(store.set_value("b", &value, None).await.is_err());
        store.faults().clear();
        assert_eq!(store.get_value("a").await.unwrap(), Some(value.clone()));
        assert_eq!(store.get_value("b").await.unwrap(), Some(value));
    }
}
