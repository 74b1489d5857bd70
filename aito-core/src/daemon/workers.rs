//! The daemon's worker pool: workers run in the background, bounded per agent, and their
//! results come back to the agent as `worker_result` messages that wake it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::monitor::Monitor;
use crate::agent::Budget;
use crate::budget::Scope;
use crate::channel::Channel;
use crate::context::Knowledge;
use crate::envelope::{Envelope, MessageType, Priority, Sender};
use crate::event::Event;
use crate::id::AgentId;
use crate::prompt::fit;
use crate::role::Role;
use crate::runtime::Runtime;
use crate::trigger::Cause;
use crate::worker::{WorkerResult, WorkerStatus, WorkerTask};

/// Longest worker result passed back in a message.
const RESULT_CHARS: usize = 16_000;

/// Runs one agent's workers.
pub(crate) struct WorkerPool {
    runtime: Runtime,
    agent: AgentId,
    role: Role,
    budget: Budget,
    running: Arc<AtomicUsize>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    monitor: Arc<Monitor>,
}

impl WorkerPool {
    pub(crate) fn new(
        runtime: Runtime,
        agent: AgentId,
        role: Role,
        budget: Budget,
        monitor: Arc<Monitor>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            runtime,
            agent,
            role,
            budget,
            running: Arc::new(AtomicUsize::new(0)),
            tracker: TaskTracker::new(),
            cancel,
            monitor,
        }
    }

    /// Starts `task` in the background after the budget and concurrency checks.
    pub(crate) async fn launch(&self, task: WorkerTask, cause: &Cause) -> Result<(), String> {
        let max = self.runtime.settings.max_workers_per_agent;
        if self.running.load(Ordering::SeqCst) >= max {
            return Err(format!(
                "worker not started: {max} workers are already running; wait for their results"
            ));
        }
        let now = self.runtime.clock.now();
        for (scope, configured) in [
            (Scope::Agent(self.agent.to_string()), &self.budget),
            (Scope::Company, &self.runtime.settings.company_budget),
        ] {
            let budget = self.runtime.ledger.effective(&scope, configured).await;
            let (verdict, _) = self
                .runtime
                .ledger
                .check(&scope, &budget, now, false)
                .await
                .map_err(|err| format!("worker not started: budget unreadable ({err})"))?;
            if let Some(exceeded) = verdict.exceeded {
                self.runtime
                    .emit(Event::GuardTripped {
                        agent: self.agent,
                        role: self.role.clone(),
                        guard: "budget".to_owned(),
                        reason: format!("worker refused: {} reached", exceeded.limit),
                        figures: json!({ "spent": exceeded.spent, "limit": exceeded.of }),
                    })
                    .await;
                return Err(format!(
                    "worker not started: the {} budget is spent ({:.2} of {:.2}) until {}",
                    exceeded.limit, exceeded.spent, exceeded.of, exceeded.until
                ));
            }
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        self.monitor.worker_started();
        let job = WorkerJob {
            runtime: self.runtime.clone(),
            agent: self.agent,
            role: self.role.clone(),
            running: Arc::clone(&self.running),
            monitor: Arc::clone(&self.monitor),
            cancel: self.cancel.clone(),
            cause: cause.clone(),
        };
        self.tracker.spawn(job.run(task));
        Ok(())
    }

    /// Stops accepting workers and waits for the running ones (they are cancelled by the
    /// pool's token on shutdown).
    pub(crate) async fn close(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

struct WorkerJob {
    runtime: Runtime,
    agent: AgentId,
    role: Role,
    running: Arc<AtomicUsize>,
    monitor: Arc<Monitor>,
    cancel: CancellationToken,
    cause: Cause,
}

impl WorkerJob {
    async fn run(self, task: WorkerTask) {
        let task_id = task.id.clone();
        let description = task.task.clone();
        let recorded_task = self.runtime.recorder.as_ref().map(|_| task.clone());
        self.event(&task_id, "started", 0.0).await;
        // The spawner enforces the timeout; this outer limit only guards against a spawner
        // that does not.
        let limit = task.timeout + Duration::from_secs(30);
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(limit, self.runtime.workers.spawn(task)) => outcome,
            () = self.cancel.cancelled() => {
                tracing::warn!(agent = %self.agent, task = %task_id, "worker cancelled at shutdown; its result is lost");
                self.finish();
                return;
            }
        };
        if let Some(task) = &recorded_task {
            let at = self.runtime.clock.now();
            self.runtime.record(|| {
                let outcome = match &outcome {
                    Ok(Ok(result)) => crate::recording::WorkerOutcome::Finished(result.clone()),
                    Ok(Err(err)) => crate::recording::WorkerOutcome::Refused(err.to_string()),
                    Err(_) => crate::recording::WorkerOutcome::Refused(format!(
                        "no answer within {limit:?}"
                    )),
                };
                crate::recording::worker_entry(at, task, outcome)
            });
        }
        let result = match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(err)) => WorkerResult {
                task_id: task_id.clone(),
                status: WorkerStatus::Failed,
                result: err.to_string(),
                cost_usd: 0.0,
                usage: Default::default(),
                duration: Duration::ZERO,
            },
            Err(_) => WorkerResult {
                task_id: task_id.clone(),
                status: WorkerStatus::TimedOut,
                result: format!("the worker did not finish within {limit:?}"),
                cost_usd: 0.0,
                usage: Default::default(),
                duration: limit,
            },
        };
        let now = self.runtime.clock.now();
        for scope in [Scope::Agent(self.agent.to_string()), Scope::Company] {
            if let Err(err) = self
                .runtime
                .ledger
                .record_cost(&scope, result.cost_usd, result.usage.total(), now)
                .await
            {
                tracing::warn!(error = %err, "could not record worker cost");
            }
        }
        let status = match result.status {
            WorkerStatus::Succeeded => "succeeded",
            WorkerStatus::Failed => "failed",
            WorkerStatus::TimedOut => "timed_out",
        };
        let mut envelope = Envelope::new(
            MessageType::WorkerResult,
            Sender::Worker(task_id.clone()),
            json!({
                "taskId": task_id,
                "task": description,
                "status": status,
                "success": result.status == WorkerStatus::Succeeded,
                "result": fit(&result.result, RESULT_CHARS),
                "costUsd": result.cost_usd,
                "durationMs": u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
            }),
        )
        .with_priority(Priority::High);
        envelope.id = crate::id::MessageId::derived(&format!("worker-result/{task_id}"));
        envelope.hops = self.cause.hops;
        envelope.chain = self.cause.chain.clone();
        envelope.correlation_id = self.cause.correlation_id.clone();
        if let Err(err) = self
            .runtime
            .bus
            .publish(Channel::Agent(self.agent), envelope)
            .await
        {
            tracing::error!(agent = %self.agent, task = %task_id, error = %err, "worker result could not be delivered");
        }
        let knowledge = Knowledge::WorkerResult {
            agent: self.agent,
            role: self.role.clone(),
            task: description,
            result: result.result.clone(),
        };
        if let Err(err) = self.runtime.context.observe(&knowledge).await {
            tracing::warn!(error = %err, "context provider could not index a worker result");
        }
        self.event(&task_id, status, result.cost_usd).await;
        self.finish();
    }

    fn finish(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.monitor.worker_finished();
    }

    async fn event(&self, task_id: &str, status: &str, cost_usd: f64) {
        self.runtime
            .emit(Event::Worker {
                agent: self.agent,
                role: self.role.clone(),
                task_id: task_id.to_owned(),
                status: status.to_owned(),
                cost_usd,
            })
            .await;
    }
}
