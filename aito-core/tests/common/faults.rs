//! Adapters that fail on purpose: a store whose state writes can hang (to freeze a daemon after
//! its actions ran and before it acknowledged), and a model that panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aito_core::decision::{Decision, DecisionStatus};
use aito_core::store::{
    AgentState, AgentStatus, DeadLetter, HistoryEntry, StateStore, StoreError, Versioned,
};
use aito_core::{
    AgentId, DecisionId, LlmError, LlmRequest, LlmResponse, LlmSession, MemoryStore, Task, TaskId,
};
use async_trait::async_trait;
use serde_json::Value;

/// A [`MemoryStore`] whose `save_state` never returns while `hang` is set.
pub struct HangingStore {
    pub inner: Arc<MemoryStore>,
    pub hang: AtomicBool,
}

impl HangingStore {
    pub fn new(inner: Arc<MemoryStore>) -> Self {
        Self {
            inner,
            hang: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl StateStore for HangingStore {
    async fn load_state(&self, agent: AgentId) -> Result<Versioned<AgentState>, StoreError> {
        self.inner.load_state(agent).await
    }
    async fn save_state(
        &self,
        agent: AgentId,
        state: &AgentState,
        expected: u64,
    ) -> Result<u64, StoreError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.save_state(agent, state, expected).await
    }
    async fn append_history(
        &self,
        agent: AgentId,
        entry: &HistoryEntry,
        keep: usize,
    ) -> Result<(), StoreError> {
        self.inner.append_history(agent, entry, keep).await
    }
    async fn history(&self, agent: AgentId, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.history(agent, limit).await
    }
    async fn create_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        self.inner.create_decision(decision).await
    }
    async fn decision(&self, id: DecisionId) -> Result<Option<Decision>, StoreError> {
        self.inner.decision(id).await
    }
    async fn update_decision(&self, decision: &Decision) -> Result<u64, StoreError> {
        self.inner.update_decision(decision).await
    }
    async fn decisions(&self, status: Option<DecisionStatus>) -> Result<Vec<Decision>, StoreError> {
        self.inner.decisions(status).await
    }
    async fn first_time(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.first_time(key, ttl).await
    }
    async fn is_marked(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.is_marked(key).await
    }
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.acquire_lease(name, holder, ttl).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
    async fn add_to_counter(
        &self,
        key: &str,
        amount: f64,
        ttl: Duration,
    ) -> Result<f64, StoreError> {
        self.inner.add_to_counter(key, amount, ttl).await
    }
    async fn counter(&self, key: &str) -> Result<f64, StoreError> {
        self.inner.counter(key).await
    }
    async fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.inner.get_value(key).await
    }
    async fn set_value(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.inner.set_value(key, value, ttl).await
    }
    async fn delete_value(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete_value(key).await
    }
    async fn append_log(&self, name: &str, entry: &Value, keep: usize) -> Result<(), StoreError> {
        self.inner.append_log(name, entry, keep).await
    }
    async fn read_log(&self, name: &str, limit: usize) -> Result<Vec<Value>, StoreError> {
        self.inner.read_log(name, limit).await
    }
    async fn push_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.inner.push_dead_letter(letter).await
    }
    async fn dead_letters(
        &self,
        agent: Option<AgentId>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.dead_letters(agent, limit).await
    }
    async fn put_status(&self, status: &AgentStatus) -> Result<(), StoreError> {
        self.inner.put_status(status).await
    }
    async fn statuses(&self) -> Result<Vec<AgentStatus>, StoreError> {
        self.inner.statuses().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        self.inner.create_task(task).await
    }
    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.inner.task(id).await
    }
    async fn update_task(&self, task: &Task) -> Result<u64, StoreError> {
        self.inner.update_task(task).await
    }
    async fn open_tasks(&self, assignee: AgentId) -> Result<Vec<Task>, StoreError> {
        self.inner.open_tasks(assignee).await
    }
    async fn tasks(&self, limit: usize) -> Result<Vec<Task>, StoreError> {
        self.inner.tasks(limit).await
    }
}

/// A model that panics on its first `panics` calls, then answers through `inner`.
pub struct PanickyLlm<L> {
    pub inner: L,
    pub panics: AtomicUsize,
    pub calls: AtomicUsize,
}

#[async_trait]
impl<L: LlmSession> LlmSession for PanickyLlm<L> {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let left = self.panics.load(Ordering::SeqCst);
        if left > 0 {
            self.panics.store(left - 1, Ordering::SeqCst);
            panic!("the model adapter broke");
        }
        self.inner.run(request).await
    }
}
