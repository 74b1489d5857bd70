//! The agent daemon: one per agent, in its own container or as a task of `aito run`.
//!
//! A daemon holds the agent's lease (so two daemons of one agent never run sessions at once),
//! takes triggers from the bus, the agent's cron schedules and start-up into a priority queue,
//! and handles them one at a time: prompt, model session, parse, actions, persistence, ack.
//! Every daemon also takes part in the company-wide duties (decision and task deadlines)
//! through the company lease.

mod guards;
mod handle;
mod intake;
pub mod monitor;
mod persist;
mod queue;
mod spend;
mod tasks;
mod unwind;
pub(crate) mod workers;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use monitor::{Monitor, MonitorSnapshot, Parked, Standby};
use queue::{Pushed, Queued, TriggerQueue};
use workers::WorkerPool;

use crate::agent::AgentSpec;
use crate::budget::Scope;
use crate::control;
use crate::envelope::Priority;
use crate::id::AgentId;
use crate::runtime::Runtime;
use crate::schedule::Schedule;
use crate::store::{Activity, AgentStatus, Fence};
use crate::trigger::{Trigger, TriggerKind};
use crate::workspace::Workspace;

/// The lease every daemon competes for to run the company-wide duties.
pub const COMPANY_LEASE: &str = "company";

/// The share of the lease's time to live a daemon keeps in reserve: when its lease has gone
/// unrenewed for longer than the rest, it ends its term (and abandons a running session) while
/// the lease is still its own, so no successor can take over before it stopped.
const LEASE_MARGIN_DIVISOR: u32 = 2;

/// One agent's daemon.
pub struct AgentDaemon {
    runtime: Runtime,
    spec: Arc<AgentSpec>,
    id: AgentId,
    workspace: Workspace,
    instance: String,
    monitor: Arc<Monitor>,
    /// The last status published, which the heartbeat refreshes as it is.
    last_status: std::sync::Mutex<(Activity, Option<String>, Option<String>)>,
    /// The fence of the current term (its lease and fencing token); `None` between terms.
    fence: std::sync::Mutex<Option<Fence>>,
}

impl std::fmt::Debug for AgentDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentDaemon")
            .field("id", &self.id)
            .field("role", &self.spec.role)
            .finish_non_exhaustive()
    }
}

/// What the handler decided about a trigger.
enum Step {
    /// Fully handled (or dead-lettered, or dropped): acknowledge it.
    Done,
    /// The store refused a write: the term's lease is lost. End the term without
    /// acknowledging; the holder of the new term handles the trigger.
    Fenced,
    /// Not now: put it back and wait.
    Defer(Wait),
}

/// Why and until when an agent waits before its next session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wait {
    pub(crate) until: DateTime<Utc>,
    pub(crate) reason: WaitReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitReason {
    /// A budget window; a human raising the budget ends it early.
    Budget,
    /// A rate limit or quota reset.
    Quota,
    /// The store could not persist; try again shortly.
    Store,
}

impl WaitReason {
    fn as_str(self) -> &'static str {
        match self {
            WaitReason::Budget => "budget",
            WaitReason::Quota => "quota",
            WaitReason::Store => "store",
        }
    }
}

/// State of one term of service (from taking the lease to losing it or shutting down).
struct Term {
    /// Cancelled when the lease is lost (or may be about to be): a running session is
    /// abandoned at once, without the shutdown grace.
    lost: CancellationToken,
    queue: Mutex<TriggerQueue>,
    wake: Notify,
    pool: WorkerPool,
}

impl AgentDaemon {
    /// A daemon for `spec` with the agent id `id`, working in `workspace`.
    pub fn new(runtime: Runtime, spec: Arc<AgentSpec>, id: AgentId, workspace: Workspace) -> Self {
        Self {
            instance: format!("{}-{}", spec.role, uuid::Uuid::new_v4()),
            runtime,
            spec,
            id,
            workspace,
            monitor: Arc::new(Monitor::default()),
            last_status: std::sync::Mutex::new((Activity::Idle, None, None)),
            fence: std::sync::Mutex::new(None),
        }
    }

    /// The fence of the current term, for the term's writes.
    pub(crate) fn fence(&self) -> Option<Fence> {
        self.fence.lock().ok().and_then(|fence| fence.clone())
    }

    fn set_fence(&self, fence: Option<Fence>) {
        if let Ok(mut current) = self.fence.lock() {
            *current = fence;
        }
    }

    /// The agent's id.
    pub fn id(&self) -> AgentId {
        self.id
    }

    /// The agent's specification.
    pub fn spec(&self) -> &AgentSpec {
        &self.spec
    }

    /// Live counters.
    pub fn monitor(&self) -> Arc<Monitor> {
        Arc::clone(&self.monitor)
    }

    fn lease_name(&self) -> String {
        format!("agent:{}", self.id)
    }

    /// Runs until `shutdown` is cancelled: takes the agent's lease (waiting in standby while
    /// another daemon holds it), serves, and on shutdown lets a running session finish within
    /// the grace period, releases the lease and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let daemon = Arc::new(self);
        let duties = tokio::spawn(Arc::clone(&daemon).company_duties(shutdown.clone()));
        let ttl = daemon.runtime.settings.lease_ttl;
        tracing::info!(agent = %daemon.id, role = %daemon.spec.role, instance = %daemon.instance, "daemon starting");
        while !shutdown.is_cancelled() {
            match daemon
                .runtime
                .store
                .acquire_lease(&daemon.lease_name(), &daemon.instance, ttl)
                .await
            {
                Ok(Some(token)) => {
                    daemon.monitor.set_standby(None);
                    daemon.serve(&shutdown, token).await;
                }
                Ok(None) => {
                    daemon.note_standby().await;
                    daemon.publish_status(Activity::Standby, None, None).await;
                    tracing::debug!(agent = %daemon.id, "another daemon holds the lease; standing by");
                    sleep_or_cancel(ttl / 3, &shutdown).await;
                }
                Err(err) => {
                    tracing::warn!(agent = %daemon.id, error = %err, "could not take the agent lease");
                    sleep_or_cancel(Duration::from_secs(2), &shutdown).await;
                }
            }
        }
        if let Err(err) = duties.await {
            tracing::error!(agent = %daemon.id, error = %err, "company duties task failed");
        }
        if let Err(err) = daemon
            .runtime
            .store
            .release_lease(&daemon.lease_name(), &daemon.instance)
            .await
        {
            tracing::warn!(agent = %daemon.id, error = %err, "could not release the lease");
        }
        daemon.publish_status(Activity::Stopped, None, None).await;
        tracing::info!(agent = %daemon.id, role = %daemon.spec.role, "daemon stopped");
    }

    /// Records in the monitor who holds the lease this daemon waits for, and until when.
    async fn note_standby(&self) {
        let holder = match self.runtime.store.lease_holder(&self.lease_name()).await {
            Ok(holder) => holder,
            Err(err) => {
                tracing::debug!(agent = %self.id, error = %err, "could not read the lease's holder");
                None
            }
        };
        self.monitor.set_standby(Some(Standby {
            holder: holder.as_ref().map(|held| held.holder.clone()),
            until: holder.map(|held| held.expires_at),
        }));
    }

    /// One term: from taking the lease (under fencing token `token`) until it is lost or
    /// shutdown is requested.
    async fn serve(self: &Arc<Self>, shutdown: &CancellationToken, token: u64) {
        let taken = tokio::time::Instant::now();
        self.set_fence(Some(Fence {
            lease: self.lease_name(),
            holder: self.instance.clone(),
            token,
        }));
        tracing::info!(agent = %self.id, instance = %self.instance, fencing_token = token, "lease taken");
        let term_token = shutdown.child_token();
        let lost = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(Arc::clone(self).keep_lease(token, taken, term_token.clone(), lost.clone()));
        let Some(inlets) = self.subscribe(&term_token).await else {
            term_token.cancel();
            tasks.close();
            tasks.wait().await;
            self.set_fence(None);
            return;
        };
        let term = Arc::new(Term {
            lost,
            queue: Mutex::new(TriggerQueue::default()),
            wake: Notify::new(),
            pool: WorkerPool::new(
                self.runtime.clone(),
                self.id,
                self.spec.role.clone(),
                self.spec.budget.clone(),
                Arc::clone(&self.monitor),
                term_token.clone(),
            ),
        });
        tasks.spawn(Arc::clone(self).intake(inlets, Arc::clone(&term), term_token.clone()));
        for schedule in self.spec.schedules.clone() {
            tasks.spawn(Arc::clone(self).cron(schedule, Arc::clone(&term), term_token.clone()));
        }
        tasks.spawn(Arc::clone(self).heartbeat(term_token.clone()));
        if self.spec.run_on_startup {
            let trigger = Trigger {
                id: format!(
                    "startup:{}:{}",
                    self.id,
                    self.runtime.clock.now().timestamp_millis()
                ),
                kind: TriggerKind::Startup,
                priority: Priority::Normal,
                at: self.runtime.clock.now(),
            };
            self.enqueue(&term, trigger, None).await;
        }
        tracing::info!(agent = %self.id, role = %self.spec.role, "serving");
        term.pool.report_interrupted().await;
        self.publish_status(Activity::Idle, None, None).await;
        self.handler_loop(&term, &term_token).await;
        term_token.cancel();
        tasks.close();
        tasks.wait().await;
        term.pool.close().await;
        // Whatever is still queued was never acknowledged: the bus delivers it again.
        let left = term.queue.lock().await.drain();
        if !left.is_empty() {
            tracing::info!(agent = %self.id, waiting = left.len(), "left unhandled for the next daemon");
        }
        self.monitor.set_queue_len(0);
        self.monitor.set_busy(false);
        self.set_fence(None);
    }

    /// Renews the lease of the term with fencing token `token` (taken at `taken`) at a
    /// quarter of its TTL. Ends the term (`lost` and `term`) when the lease is lost, and when
    /// it could not be renewed for so long that only the margin is left before it lapses:
    /// the session stops while the lease is still this daemon's.
    async fn keep_lease(
        self: Arc<Self>,
        token: u64,
        taken: tokio::time::Instant,
        term: CancellationToken,
        lost: CancellationToken,
    ) {
        let ttl = self.runtime.settings.lease_ttl;
        let give_up_after = ttl - ttl / LEASE_MARGIN_DIVISOR;
        // When the last successful renewal was sent: the lease lapses at most `ttl` later.
        let mut renewed = taken;
        let lose = |why: &str| {
            lost.cancel();
            term.cancel();
            tracing::error!(agent = %self.id, instance = %self.instance, fencing_token = token, why, "lease lost; stopping sessions");
        };
        loop {
            let left = give_up_after.saturating_sub(renewed.elapsed());
            if left.is_zero() {
                lose("the lease could not be renewed and is about to lapse");
                return;
            }
            tokio::select! {
                () = tokio::time::sleep((ttl / 4).min(left)) => {}
                () = term.cancelled() => return,
            }
            if renewed.elapsed() >= give_up_after {
                // Woken too late (the process was frozen): the lease may be gone already.
                lose("the lease went unrenewed past its margin");
                return;
            }
            let sent = tokio::time::Instant::now();
            // A renewal that hangs must not outlast the margin.
            let left = give_up_after.saturating_sub(renewed.elapsed());
            let renewal = tokio::time::timeout(
                left,
                self.runtime
                    .store
                    .acquire_lease(&self.lease_name(), &self.instance, ttl),
            )
            .await
            .unwrap_or_else(|_| {
                Err(crate::store::StoreError::Unavailable(
                    "lease renewal timed out".into(),
                ))
            });
            match renewal {
                Ok(Some(now)) if now == token => renewed = sent,
                Ok(Some(_)) => {
                    lose("the lease lapsed and a new term began");
                    return;
                }
                Ok(None) => {
                    lose("another daemon took the lease over");
                    return;
                }
                Err(err) => {
                    tracing::warn!(agent = %self.id, error = %err, "lease renewal failed; retrying");
                }
            }
        }
    }

    /// Feeds one schedule's ticks into the queue.
    async fn cron(self: Arc<Self>, schedule: Schedule, term: Arc<Term>, token: CancellationToken) {
        let clock = self.runtime.clock;
        loop {
            let Some(tick) = schedule.next_after(clock.now()) else {
                tracing::info!(agent = %self.id, schedule = %schedule, "schedule has no further ticks");
                return;
            };
            tokio::select! {
                () = clock.sleep_until(tick) => {}
                () = token.cancelled() => return,
            }
            if self.backed_off(&schedule, tick).await {
                tracing::debug!(agent = %self.id, schedule = %schedule, %tick, "tick skipped: the schedule is backed off for lack of progress");
                continue;
            }
            let trigger = Trigger {
                id: format!("cron:{}:{}", self.id, tick.timestamp()),
                kind: TriggerKind::Schedule {
                    expression: schedule.expression().to_owned(),
                    tick,
                },
                priority: Priority::Low,
                at: clock.now(),
            };
            tracing::debug!(agent = %self.id, schedule = %schedule, %tick, "cron tick");
            self.runtime.record(|| crate::recording::Entry::Tick {
                role: self.spec.role.clone(),
                expression: schedule.expression().to_owned(),
                tick,
            });
            self.enqueue(&term, trigger, None).await;
        }
    }

    async fn heartbeat(self: Arc<Self>, token: CancellationToken) {
        while sleep_or_cancel(self.runtime.settings.heartbeat, &token).await {
            let (activity, reason, trigger) = self
                .last_status
                .lock()
                .map(|last| last.clone())
                .unwrap_or((Activity::Idle, None, None));
            self.publish_status(activity, reason, trigger).await;
        }
    }

    /// Decision and task deadlines and the decision outboxes, run by whichever daemon holds
    /// the company lease.
    async fn company_duties(self: Arc<Self>, shutdown: CancellationToken) {
        let settings = Arc::clone(&self.runtime.settings);
        let clock = self.runtime.clock;
        loop {
            let mut wait = settings.decision_check;
            match self
                .runtime
                .store
                .acquire_lease(COMPANY_LEASE, &self.instance, settings.lease_ttl)
                .await
            {
                Ok(Some(_)) => {
                    if let Err(err) = self.runtime.engine.drain_outboxes().await {
                        tracing::warn!(error = %err, "could not publish waiting decision notices");
                    }
                    match self.runtime.engine.check_deadlines().await {
                        Ok(Some(next)) => wait = wait.min(clock.until(next)),
                        Ok(None) => {}
                        Err(err) => tracing::warn!(error = %err, "decision deadline check failed"),
                    }
                    match self.remind_overdue_tasks().await {
                        Ok(Some(next)) => wait = wait.min(clock.until(next)),
                        Ok(None) => {}
                        Err(err) => tracing::warn!(error = %err, "task deadline check failed"),
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "could not take the company lease"),
            }
            // Renew well within the lease's lifetime.
            let wait = wait
                .min(settings.lease_ttl / 3)
                .max(Duration::from_millis(10));
            if !sleep_or_cancel(wait, &shutdown).await {
                break;
            }
        }
        let _ = self
            .runtime
            .store
            .release_lease(COMPANY_LEASE, &self.instance)
            .await;
    }

    async fn enqueue(&self, term: &Term, trigger: Trigger, delivery: Option<crate::bus::Delivery>) {
        let (pushed, len) = {
            let mut queue = term.queue.lock().await;
            let pushed = queue.push(trigger, delivery);
            (pushed, queue.len())
        };
        match pushed {
            Pushed::Queued => {
                self.monitor.set_queue_len(len);
                term.wake.notify_one();
            }
            Pushed::Coalesced => {
                tracing::debug!(agent = %self.id, "cron tick coalesced into the waiting one");
            }
            Pushed::Duplicate(delivery) => {
                tracing::debug!(agent = %self.id, "duplicate trigger dropped");
                if let Some(delivery) = delivery
                    && let Err(err) = delivery.ack().await
                {
                    tracing::warn!(agent = %self.id, error = %err, "could not ack a duplicate");
                }
            }
        }
    }

    /// Handles triggers one at a time until the term ends.
    async fn handler_loop(&self, term: &Term, token: &CancellationToken) {
        loop {
            let Some(queued) = self.next_ready(term, token).await else {
                return;
            };
            let id = queued.trigger.id.clone();
            self.monitor.set_busy(true);
            // A panic in an adapter ends this term without acknowledging the trigger: the
            // next term gets it again, and the panic counter dead-letters it if it persists.
            let handling = unwind::CatchUnwind::new(self.handle(queued, term));
            tokio::pin!(handling);
            let result = tokio::select! {
                biased;
                () = term.lost.cancelled() => {
                    tracing::warn!(agent = %self.id, trigger = %id, "session abandoned: the lease is lost; the next holder handles the trigger");
                    None
                }
                result = &mut handling => Some(result),
                () = token.cancelled() => {
                    let grace = self.runtime.settings.shutdown_grace;
                    tokio::select! {
                        biased;
                        () = term.lost.cancelled() => {
                            tracing::warn!(agent = %self.id, trigger = %id, "session abandoned: the lease is lost; the next holder handles the trigger");
                            None
                        }
                        result = tokio::time::timeout(grace, &mut handling) => match result {
                            Ok(result) => Some(result),
                            Err(_) => {
                                tracing::warn!(agent = %self.id, trigger = %id, ?grace, "session abandoned at shutdown; it will be delivered again");
                                None
                            }
                        },
                    }
                }
            };
            let result = match result {
                Some(Err(panic)) => {
                    tracing::error!(agent = %self.id, trigger = %id, panic = %panic, "handling panicked; restarting intake so the trigger comes again");
                    self.count_panic(&id).await;
                    term.queue.lock().await.finish(&id);
                    self.monitor.set_busy(false);
                    return;
                }
                Some(Ok(result)) => Some(result),
                None => None,
            };
            match result {
                Some((Step::Done, queued)) => {
                    term.queue.lock().await.finish(&id);
                    if let Some(delivery) = queued.delivery
                        && let Err(err) = delivery.ack().await
                    {
                        tracing::warn!(agent = %self.id, trigger = %id, error = %err, "ack failed; the message may come again and will be recognised");
                    }
                    self.monitor.handled_one();
                }
                Some((Step::Defer(wait), queued)) => {
                    term.queue.lock().await.requeue(queued);
                    self.set_blocked_until(wait).await;
                }
                Some((Step::Fenced, _)) => {
                    tracing::error!(agent = %self.id, trigger = %id, "the store refused the term's writes: the lease is lost; ending the term");
                    term.queue.lock().await.finish(&id);
                    term.lost.cancel();
                    token.cancel();
                }
                None => term.queue.lock().await.finish(&id),
            }
            let len = term.queue.lock().await.len();
            self.monitor.set_queue_len(len);
            self.monitor.set_busy(false);
            if token.is_cancelled() {
                return;
            }
        }
    }

    fn panic_key(&self, trigger_id: &str) -> String {
        format!("panics:{}:{trigger_id}", self.id)
    }

    async fn count_panic(&self, trigger_id: &str) {
        if let Err(err) = self
            .runtime
            .store
            .add_to_counter(
                &self.panic_key(trigger_id),
                1.0,
                self.runtime.settings.mark_ttl,
            )
            .await
        {
            tracing::warn!(agent = %self.id, error = %err, "could not count a panic");
        }
    }

    fn park_key(&self) -> String {
        format!("park:{}", self.id)
    }

    async fn set_blocked_until(&self, wait: Wait) {
        let ttl = self.runtime.clock.until(wait.until) + Duration::from_secs(60);
        let value = json!({ "until": wait.until, "reason": wait.reason.as_str() });
        if let Err(err) = self
            .runtime
            .store
            .set_value(&self.park_key(), &value, Some(ttl))
            .await
        {
            tracing::warn!(agent = %self.id, error = %err, "could not record the wait");
        }
    }

    /// Waits for a trigger the agent may handle now: the company is not paused and the agent
    /// is not waiting for a budget window or a quota reset.
    async fn next_ready(&self, term: &Term, token: &CancellationToken) -> Option<Queued> {
        let clock = self.runtime.clock;
        loop {
            if token.is_cancelled() {
                return None;
            }
            let has_work = !term.queue.lock().await.is_empty();
            if has_work {
                let paused = control::is_paused(&*self.runtime.store)
                    .await
                    .unwrap_or(false);
                let parked = self
                    .parked_until()
                    .await
                    .filter(|(until, _)| *until > clock.now());
                self.monitor
                    .set_parked(parked.map(|(until, reason)| Parked { until, reason }));
                let parked = parked.map(|(until, _)| until);
                match (paused, parked) {
                    (true, _) => {
                        self.monitor.set_blocked(true);
                        self.publish_status(
                            Activity::Paused,
                            Some("the company is paused".to_owned()),
                            None,
                        )
                        .await;
                        // Resume arrives as a message that wakes us; the timer is a fallback
                        // for a switch flipped in the store alone.
                        self.wait(term, token, self.runtime.settings.heartbeat)
                            .await;
                        continue;
                    }
                    (false, Some(until)) => {
                        self.monitor.set_blocked(true);
                        self.publish_status(
                            Activity::Paused,
                            Some(format!("waiting until {}", until.to_rfc3339())),
                            None,
                        )
                        .await;
                        self.wait(term, token, clock.until(until)).await;
                        continue;
                    }
                    (false, None) => {}
                }
                self.monitor.set_blocked(false);
                let popped = term.queue.lock().await.pop();
                if let Some(queued) = popped {
                    return Some(queued);
                }
            }
            self.monitor.set_blocked(false);
            self.monitor.set_parked(None);
            self.publish_status(Activity::Idle, None, None).await;
            tokio::select! {
                () = term.wake.notified() => {}
                () = token.cancelled() => return None,
            }
        }
    }

    async fn wait(&self, term: &Term, token: &CancellationToken, at_most: Duration) {
        tokio::select! {
            () = term.wake.notified() => {}
            () = tokio::time::sleep(at_most) => {}
            () = token.cancelled() => {}
        }
    }

    /// Ends a wait for the budget window (after a human changed a budget).
    pub(super) async fn end_budget_wait(&self) {
        let store = &self.runtime.store;
        let Ok(Some(value)) = store.get_value(&self.park_key()).await else {
            return;
        };
        if value.get("reason").and_then(serde_json::Value::as_str)
            == Some(WaitReason::Budget.as_str())
            && let Err(err) = store.delete_value(&self.park_key()).await
        {
            tracing::warn!(agent = %self.id, error = %err, "could not end the budget wait");
        }
    }

    /// When the agent's wait ends, and why it waits.
    async fn parked_until(&self) -> Option<(DateTime<Utc>, &'static str)> {
        let value = self
            .runtime
            .store
            .get_value(&self.park_key())
            .await
            .ok()??;
        let until = serde_json::from_value(value.get("until")?.clone()).ok()?;
        let reason = match value.get("reason").and_then(serde_json::Value::as_str) {
            Some("budget") => WaitReason::Budget,
            Some("store") => WaitReason::Store,
            _ => WaitReason::Quota,
        };
        Some((until, reason.as_str()))
    }

    /// Publishes the agent's status for the dashboard and `aito status`.
    async fn publish_status(
        &self,
        activity: Activity,
        paused_reason: Option<String>,
        current_trigger: Option<String>,
    ) {
        if let Ok(mut last) = self.last_status.lock() {
            *last = (activity, paused_reason.clone(), current_trigger.clone());
        }
        let now = self.runtime.clock.now();
        let spend = self
            .runtime
            .ledger
            .spend(&Scope::Agent(self.id.to_string()), now)
            .await
            .unwrap_or_default();
        let budget = self
            .runtime
            .ledger
            .effective(&Scope::Agent(self.id.to_string()), &self.spec.budget)
            .await;
        let last_activity = self
            .runtime
            .store
            .load_state(self.id)
            .await
            .ok()
            .and_then(|state| state.value.last_loop_at);
        let status = AgentStatus {
            id: self.id,
            role: self.spec.role.clone(),
            activity,
            paused_reason,
            current_trigger,
            last_activity,
            queue_len: self.monitor.snapshot().queue_len,
            spent_today_usd: spend.usd_day,
            budget_usd_per_day: budget.usd_per_day.unwrap_or(0.0),
            sessions_this_hour: spend.sessions_hour as u32,
            budget_sessions_per_hour: budget.sessions_per_hour.unwrap_or(0),
            heartbeat: now,
        };
        if let Err(err) = self.runtime.store.put_status(&status).await {
            tracing::debug!(agent = %self.id, error = %err, "could not publish status");
        }
    }
}

/// Sleeps for `duration`; `false` if `token` was cancelled first.
async fn sleep_or_cancel(duration: Duration, token: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => true,
        () = token.cancelled() => false,
    }
}
