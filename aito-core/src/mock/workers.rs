//! [`MockWorkers`]: workers that answer from a script, check permissions like the real
//! spawner, and record the newest tasks.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::replay::{KEPT_REQUESTS, keep_newest};
use crate::llm::TokenUsage;
use crate::worker::{
    WorkerError, WorkerResult, WorkerSpawner, WorkerStatus, WorkerTask, check_allowed,
};

struct Rule {
    contains: String,
    status: WorkerStatus,
    result: String,
    cost_usd: f64,
}

/// A scripted [`WorkerSpawner`].
#[derive(Default)]
pub struct MockWorkers {
    rules: Mutex<Vec<Rule>>,
    tasks: Mutex<std::collections::VecDeque<WorkerTask>>,
    delay: Option<Duration>,
}

impl std::fmt::Debug for MockWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockWorkers").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MockWorkers {
    /// Workers that succeed with `done: <task>` at no cost.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tasks containing `contains` end with `status`, `result` and `cost_usd`.
    pub fn with_result(
        self,
        contains: impl Into<String>,
        status: WorkerStatus,
        result: impl Into<String>,
        cost_usd: f64,
    ) -> Self {
        lock(&self.rules).push(Rule {
            contains: contains.into(),
            status,
            result: result.into(),
            cost_usd,
        });
        self
    }

    /// Each worker takes `delay` (on tokio's clock).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// The newest tasks received (at most [`KEPT_REQUESTS`]), oldest first.
    pub fn tasks(&self) -> Vec<WorkerTask> {
        lock(&self.tasks).iter().cloned().collect()
    }
}

#[async_trait]
impl WorkerSpawner for MockWorkers {
    async fn spawn(&self, task: WorkerTask) -> Result<WorkerResult, WorkerError> {
        check_allowed(&task)?;
        keep_newest(&mut lock(&self.tasks), task.clone(), KEPT_REQUESTS);
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let (status, result, cost_usd) = lock(&self.rules)
            .iter()
            .find(|rule| task.task.contains(&rule.contains))
            .map(|rule| (rule.status, rule.result.clone(), rule.cost_usd))
            .unwrap_or((WorkerStatus::Succeeded, format!("done: {}", task.task), 0.0));
        Ok(WorkerResult {
            task_id: task.id,
            status,
            result,
            cost_usd,
            usage: TokenUsage::default(),
            duration: self.delay.unwrap_or_default(),
        })
    }
}
