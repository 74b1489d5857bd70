//! The daemon's worker pool: workers run in the background, bounded per agent, and their
//! results come back to the agent as `worker_result` messages that wake it.
//!
//! Each running worker is written down in the store (`workers:<agent>`) until its result is
//! sent. A worker whose daemon stopped first (shutdown, crash, lost lease) never sends one, so
//! the next term of the agent's daemon finds it there and tells the agent with an
//! `interrupted` result instead of leaving it waiting forever. That notice carries the id the
//! real result would have had, so if the real one was sent after all, the agent sees only one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::monitor::Monitor;
use crate::agent::Budget;
use crate::budget::{Hold, Scope};
use crate::channel::Channel;
use crate::context::Knowledge;
use crate::envelope::{Envelope, MessageType, Priority, Sender};
use crate::event::Event;
use crate::id::AgentId;
use crate::prompt::fit;
use crate::reservation::Charge;
use crate::role::Role;
use crate::runtime::Runtime;
use crate::trigger::Cause;
use crate::worker::{WorkerResult, WorkerStatus, WorkerTask};

/// Longest worker result passed back in a message.
const RESULT_CHARS: usize = 16_000;

/// Tries to book a worker's cost while the store is away, and the wait between them.
const BOOKING_ATTEMPTS: u32 = 12;
const BOOKING_RETRY: Duration = Duration::from_secs(5);

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
    in_flight: Arc<InFlight>,
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
            in_flight: Arc::new(InFlight {
                key: format!("workers:{agent}"),
                write: tokio::sync::Mutex::new(()),
            }),
            monitor,
        }
    }

    /// Tells the agent about workers a previous term started and never finished (see the
    /// module docs). Called once a term starts, before anything else can launch workers.
    pub(crate) async fn report_interrupted(&self) {
        let records = match self.in_flight.all(&self.runtime).await {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(agent = %self.agent, error = %err, "could not read the workers a previous term left running");
                return;
            }
        };
        for (task_id, record) in records {
            let Ok(running) = serde_json::from_value::<Running>(record) else {
                tracing::warn!(agent = %self.agent, task = %task_id, "dropping an unreadable record of a running worker");
                if let Err(err) = self.in_flight.remove(&self.runtime, &task_id).await {
                    tracing::warn!(agent = %self.agent, task = %task_id, error = %err, "could not drop it");
                }
                continue;
            };
            let result = WorkerResult {
                task_id: task_id.clone(),
                status: WorkerStatus::Interrupted,
                result: "the worker was interrupted: its daemon stopped before it finished \
                         (restart, crash or lost lease), so its result is lost; spawn it again if \
                         it is still needed"
                    .to_owned(),
                cost_usd: 0.0,
                usage: Default::default(),
                duration: Duration::ZERO,
            };
            tracing::warn!(agent = %self.agent, task = %task_id, "a worker of a previous term never finished; telling the agent");
            let envelope = result_envelope(&result, &running.task, &running.cause());
            if let Err(err) = self
                .runtime
                .bus
                .publish(Channel::Agent(self.agent), envelope)
                .await
            {
                // Left written down: the next term tries again.
                tracing::error!(agent = %self.agent, task = %task_id, error = %err, "could not tell the agent its worker was interrupted");
                continue;
            }
            if let Err(err) = self.in_flight.remove(&self.runtime, &task_id).await {
                tracing::warn!(agent = %self.agent, task = %task_id, error = %err, "could not strike the interrupted worker off; the agent may hear of it again, under the same message id");
            }
            emit_worker_event(
                &self.runtime,
                self.agent,
                &self.role,
                &task_id,
                "interrupted",
                0.0,
            )
            .await;
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
        // Held before it starts, like a session's, so workers started together cannot spend
        // past a budget between them.
        let hold = format!("worker:{}:{}", self.agent, uuid::Uuid::new_v4());
        let scopes = [
            (
                Scope::Agent(self.agent.to_string()),
                self.runtime
                    .ledger
                    .effective(&Scope::Agent(self.agent.to_string()), &self.budget)
                    .await,
            ),
            (
                Scope::Company,
                self.runtime
                    .ledger
                    .effective(&Scope::Company, &self.runtime.settings.company_budget)
                    .await,
            ),
        ];
        let ttl = task.timeout + Duration::from_secs(90);
        let estimate = self.runtime.settings.session_reserve_usd;
        match self
            .runtime
            .ledger
            .reserve(&scopes, &hold, estimate, now, ttl)
            .await
        {
            Ok(Hold::Held) => {}
            Ok(Hold::Refused { exceeded, .. }) => {
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
                    "worker not started: the {} budget is spent or held by running work ({:.2} of {:.2})",
                    exceeded.limit, exceeded.spent, exceeded.of
                ));
            }
            Err(err) => return Err(format!("worker not started: budget unreadable ({err})")),
        }
        if let Err(err) = self.in_flight.add(&self.runtime, &task, cause).await {
            // The worker still runs; only a report after a crash would be missing.
            tracing::warn!(agent = %self.agent, task = %task.id, error = %err, "could not write the worker down as running");
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
            in_flight: Arc::clone(&self.in_flight),
            hold,
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
    in_flight: Arc<InFlight>,
    /// The id of its budget hold, which its booking releases.
    hold: String,
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
                tracing::warn!(agent = %self.agent, task = %task_id, "worker cancelled at shutdown; the agent hears of it when its daemon next starts");
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
        self.book(&result).await;
        let envelope = result_envelope(&result, &description, &self.cause);
        match self
            .runtime
            .bus
            .publish(Channel::Agent(self.agent), envelope)
            .await
        {
            Ok(()) => {
                if let Err(err) = self.in_flight.remove(&self.runtime, &task_id).await {
                    tracing::warn!(agent = %self.agent, task = %task_id, error = %err, "could not strike the finished worker off; a later term reports it as interrupted");
                }
            }
            Err(err) => {
                tracing::error!(agent = %self.agent, task = %task_id, error = %err, "worker result could not be delivered; the agent hears of it as interrupted when its daemon next starts");
            }
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
        self.event(&task_id, result.status.as_str(), result.cost_usd)
            .await;
        self.finish();
    }

    /// Books the worker's cost and releases its hold, retrying while the store is away (a
    /// booking repeated after a lost reply is not counted twice).
    async fn book(&self, result: &WorkerResult) {
        let charge = Charge {
            id: self.hold.clone(),
            usd: result.cost_usd,
            tokens: result.usage.total(),
            at: self.runtime.clock.now(),
        };
        let scopes = [Scope::Agent(self.agent.to_string()), Scope::Company];
        for attempt in 1..=BOOKING_ATTEMPTS {
            match self
                .runtime
                .ledger
                .book(&scopes, &charge, self.runtime.settings.mark_ttl)
                .await
            {
                Ok(_) => return,
                Err(err) if attempt == BOOKING_ATTEMPTS => {
                    tracing::error!(agent = %self.agent, error = %err, usd = charge.usd, "could not book the worker's cost; its hold lapses, the spend is not counted");
                }
                Err(err) => {
                    tracing::warn!(agent = %self.agent, error = %err, attempt, "could not book the worker's cost yet; retrying");
                    tokio::time::sleep(BOOKING_RETRY).await;
                }
            }
        }
    }

    fn finish(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.monitor.worker_finished();
    }

    async fn event(&self, task_id: &str, status: &str, cost_usd: f64) {
        emit_worker_event(
            &self.runtime,
            self.agent,
            &self.role,
            task_id,
            status,
            cost_usd,
        )
        .await;
    }
}

async fn emit_worker_event(
    runtime: &Runtime,
    agent: AgentId,
    role: &Role,
    task_id: &str,
    status: &str,
    cost_usd: f64,
) {
    runtime
        .emit(Event::Worker {
            agent,
            role: role.clone(),
            task_id: task_id.to_owned(),
            status: status.to_owned(),
            cost_usd,
        })
        .await;
}

/// The `worker_result` message for `result`. Its id follows from the task id, so a result
/// sent twice (a real one and an interrupted notice) reaches the agent once.
fn result_envelope(result: &WorkerResult, description: &str, cause: &Cause) -> Envelope {
    let task_id = &result.task_id;
    let mut envelope = Envelope::new(
        MessageType::WorkerResult,
        Sender::Worker(task_id.clone()),
        json!({
            "taskId": task_id,
            "task": description,
            "status": result.status.as_str(),
            "success": result.status == WorkerStatus::Succeeded,
            "result": fit(&result.result, RESULT_CHARS),
            "costUsd": result.cost_usd,
            "durationMs": u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
        }),
    )
    .with_priority(Priority::High);
    envelope.id = crate::id::MessageId::derived(&format!("worker-result/{task_id}"));
    envelope.hops = cause.hops;
    envelope.chain = cause.chain.clone();
    envelope.correlation_id = cause.correlation_id.clone();
    envelope
}

/// A running worker as written down: what the interrupted notice needs.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Running {
    task: String,
    /// Of the session that asked, so the notice continues its chain.
    hops: u32,
    #[serde(default)]
    chain: Vec<String>,
    correlation_id: Option<String>,
    started_at: DateTime<Utc>,
}

impl Running {
    fn cause(&self) -> Cause {
        Cause {
            origin: None,
            hops: self.hops,
            chain: self.chain.clone(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// The agent's running workers, written down in the store as one object: task id to
/// [`Running`].
struct InFlight {
    key: String,
    /// One read-modify-write at a time: only this term's workers change the record.
    write: tokio::sync::Mutex<()>,
}

impl InFlight {
    async fn update(
        &self,
        runtime: &Runtime,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<(), crate::store::StoreError> {
        let _one = self.write.lock().await;
        let mut records = self.all(runtime).await?;
        change(&mut records);
        if records.is_empty() {
            runtime.store.delete_value(&self.key).await
        } else {
            runtime
                .store
                .set_value(&self.key, &Value::Object(records), None)
                .await
        }
    }

    async fn add(
        &self,
        runtime: &Runtime,
        task: &WorkerTask,
        cause: &Cause,
    ) -> Result<(), crate::store::StoreError> {
        let record = serde_json::to_value(Running {
            task: task.task.clone(),
            hops: cause.hops,
            chain: cause.chain.clone(),
            correlation_id: cause.correlation_id.clone(),
            started_at: runtime.clock.now(),
        })
        .unwrap_or_default();
        self.update(runtime, |records| {
            records.insert(task.id.clone(), record);
        })
        .await
    }

    async fn remove(
        &self,
        runtime: &Runtime,
        task_id: &str,
    ) -> Result<(), crate::store::StoreError> {
        self.update(runtime, |records| {
            records.remove(task_id);
        })
        .await
    }

    /// Every record.
    async fn all(&self, runtime: &Runtime) -> Result<Map<String, Value>, crate::store::StoreError> {
        Ok(match runtime.store.get_value(&self.key).await? {
            Some(Value::Object(records)) => records,
            _ => Map::new(),
        })
    }
}
