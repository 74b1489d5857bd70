//! The [`StateStore`] trait and the records it keeps.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decision::{Decision, DecisionStatus};
use crate::id::{AgentId, DecisionId, TaskId};
use crate::reservation::{Booking, Reservation, Reserved};
use crate::role::Role;
use crate::session::SessionRecord;
use crate::task::Task;
use crate::trigger::Trigger;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Compare-and-set failed: someone else wrote first.
    #[error("version conflict on {key}: expected version {expected}, found {found}")]
    Conflict {
        /// The record.
        key: String,
        /// The version the writer read.
        expected: u64,
        /// The version in the store.
        found: u64,
    },
    /// The record does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A record could not be encoded or decoded.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The record.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// A write of a lease term was refused: the lease is no longer held under that term's
    /// fencing token (it lapsed, or another holder took it since). See [`Fence`].
    #[error("write refused: lease {lease} is no longer held under fencing token {token}")]
    Fenced {
        /// The lease.
        lease: String,
        /// The token the writer held.
        token: u64,
    },
    /// The backend is unreachable right now.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The backend failed.
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Names of the bounded logs aito keeps through [`StateStore::append_log`].
pub mod logs {
    /// Company events (the dashboard's feed), newest last.
    pub const EVENTS: &str = "events";
    /// Decisions escalated to a human.
    pub const ESCALATIONS: &str = "escalations";
    /// Requests for human action from agents.
    pub const HUMAN_REQUESTS: &str = "human_requests";
    /// Worker log lines, for the dashboard's history on load.
    pub const WORKER_LOGS: &str = "worker_logs";
}

/// A value with the version to compare-and-set against. Version 0 means "never written".
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version.
    pub version: u64,
}

/// An agent's persistent state: counters the daemon keeps, the model's own `stateUpdates`,
/// and notes to show in the next prompt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// Sessions run.
    #[serde(default)]
    pub loop_count: u64,
    /// When the last session ended.
    #[serde(default)]
    pub last_loop_at: Option<DateTime<Utc>>,
    /// The last session's summary.
    #[serde(default)]
    pub last_summary: Option<String>,
    /// Sessions that ended well.
    #[serde(default)]
    pub success_count: u64,
    /// Sessions that failed.
    #[serde(default)]
    pub error_count: u64,
    /// The LLM session to resume, when the adapter keeps sessions.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Key/value pairs the model set through `stateUpdates` (`current_focus`, ...).
    #[serde(default)]
    pub values: Map<String, Value>,
    /// Things the agent must hear in its next prompt: skipped actions, refused writes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Scheduled sessions in a row that did nothing (no action, no state change); the
    /// no-progress breaker backs the schedule off while it is high.
    #[serde(default)]
    pub idle_streak: u32,
}

/// The result of one action, for history and the next prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Stable id: trigger id + `#` + index.
    pub id: String,
    /// The action type (`spawn_worker`, `message`, ...).
    pub kind: String,
    /// Whether it was carried out.
    pub ok: bool,
    /// What happened, in one line.
    pub detail: String,
    /// When it was carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// How a trigger's handling ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The session ran and its actions were carried out.
    Handled,
    /// Handled without the model (status requests, control messages, filtered messages).
    HandledWithoutModel,
    /// Given up on and put on the dead-letter list.
    DeadLettered,
    /// Dropped by a guard (hop limit, loop breaker, self-wake).
    Dropped,
}

/// One entry of an agent's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When handling ended.
    pub at: DateTime<Utc>,
    /// The trigger's id.
    pub trigger_id: String,
    /// The trigger, described.
    pub trigger: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The model's summary, or why there was none.
    pub summary: String,
    /// Every action and what came of it.
    #[serde(default)]
    pub actions: Vec<ActionRecord>,
    /// Session cost in USD.
    #[serde(default)]
    pub cost_usd: f64,
    /// Tokens in and out.
    #[serde(default)]
    pub tokens: u64,
    /// Wall time of the handling, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// The model provider that answered, when a router chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// A trigger that could not be handled, kept intact for a human to inspect or re-send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The agent.
    pub agent: AgentId,
    /// The trigger, intact.
    pub trigger: Trigger,
    /// Why it was given up on.
    pub reason: String,
    /// Sessions tried.
    pub attempts: u32,
    /// When.
    pub at: DateTime<Utc>,
}

impl DeadLetter {
    /// The dead letter of an envelope a bus refused to deliver (over the size cap, or for an
    /// agent not in the directory): its text is not kept, only a bounded preview and its size,
    /// under a stable id derived from the text. `agent` is the inbox's agent, or the nil id for
    /// a group channel.
    pub fn refused(
        agent: AgentId,
        channel: crate::channel::Channel,
        raw: &str,
        reason: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        use crate::envelope::{Envelope, MessageType, PREVIEW_CHARS, Priority, Sender, preview};
        let id = crate::id::MessageId::derived(&format!("refused/{}/{raw}", channel.name()));
        let mut envelope = Envelope::new(
            MessageType::Other("refused".to_owned()),
            Sender::Other("unknown".to_owned()),
            serde_json::json!({ "preview": preview(raw, PREVIEW_CHARS), "bytes": raw.len() }),
        );
        envelope.id = id;
        envelope.timestamp = at;
        Self {
            agent,
            trigger: Trigger {
                id: id.to_string(),
                kind: crate::trigger::TriggerKind::Message { envelope, channel },
                priority: Priority::Normal,
                at,
            },
            reason: reason.into(),
            attempts: 0,
            at,
        }
    }
}

/// What an agent is doing, as the dashboard and `aito status` show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Waiting for a trigger.
    Idle,
    /// Running a session.
    Busy,
    /// Paused (company pause, budget or quota).
    Paused,
    /// Another daemon holds this agent's lease.
    Standby,
    /// Shut down.
    Stopped,
}

impl Activity {
    /// The name used on the wire and in reports (`idle`, `busy`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Idle => "idle",
            Activity::Busy => "busy",
            Activity::Paused => "paused",
            Activity::Standby => "standby",
            Activity::Stopped => "stopped",
        }
    }
}

/// An agent's published status; refreshed on every step and as a heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent.
    pub id: AgentId,
    /// Its role.
    pub role: Role,
    /// What it is doing.
    pub activity: Activity,
    /// Why it is paused, when it is.
    #[serde(default)]
    pub paused_reason: Option<String>,
    /// The trigger being handled.
    #[serde(default)]
    pub current_trigger: Option<String>,
    /// When it last finished handling something.
    #[serde(default)]
    pub last_activity: Option<DateTime<Utc>>,
    /// Triggers waiting.
    pub queue_len: usize,
    /// Spend today, in USD.
    pub spent_today_usd: f64,
    /// The daily budget, in USD.
    pub budget_usd_per_day: f64,
    /// Sessions in the current hour.
    pub sessions_this_hour: u32,
    /// The hourly session budget.
    pub budget_sessions_per_hour: u32,
    /// When this status was written.
    pub heartbeat: DateTime<Utc>,
}

impl AgentStatus {
    /// Whether the status is older than `after` at `now` while the agent claims to be running:
    /// its daemon may be down.
    pub fn is_stale(&self, now: DateTime<Utc>, after: Duration) -> bool {
        self.activity != Activity::Stopped
            && (now - self.heartbeat).to_std().is_ok_and(|age| age > after)
    }
}

/// Proof that a write belongs to a live term of a lease: the lease, its holder and the fencing
/// token [`StateStore::acquire_lease`] issued for the term. A store carries out a fenced write
/// only if, at that moment and in the same atomic step, `holder` holds `lease` under `token`;
/// otherwise it writes nothing and answers [`StoreError::Fenced`]. Tokens grow with every new
/// term of a lease (a take by another holder, or by the same one after it lapsed), so a holder
/// that was frozen past its lease cannot write beside its successor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name.
    pub lease: String,
    /// Its holder.
    pub holder: String,
    /// The term's fencing token.
    pub token: u64,
}

impl Fence {
    /// The refusal of a write under this fence.
    pub fn refused(&self) -> StoreError {
        StoreError::Fenced {
            lease: self.lease.clone(),
            token: self.token,
        }
    }
}

/// Everything that records one trigger as handled, written at once by
/// [`StateStore::finish_trigger`]: the agent's new state, its history entry, the dead letter
/// when it was given up on, the handled mark and the removal of its journal.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedTrigger {
    /// The agent.
    pub agent: AgentId,
    /// The agent's state after this trigger.
    pub state: AgentState,
    /// The state's version the new state was computed from (compare-and-set).
    pub expected_version: u64,
    /// The history entry.
    pub history: HistoryEntry,
    /// How many history entries the agent keeps.
    pub history_keep: usize,
    /// The dead letter, when the trigger was given up on.
    pub dead_letter: Option<DeadLetter>,
    /// The idempotency mark that says the trigger was handled (see [`StateStore::first_time`]).
    /// Named `handled:<agent>:<trigger>`, like the journal `journal:<agent>:<trigger>`: a store
    /// on a Redis Cluster keeps such names in the agent's slot, with its state and history.
    pub handled_mark: String,
    /// How long the handled mark lives.
    pub mark_ttl: Duration,
    /// The free-form value (see [`StateStore::get_value`]) that journaled the trigger; deleted.
    pub journal: String,
    /// The lease term the trigger was handled in: when set, nothing is written unless the
    /// term is still live ([`StoreError::Fenced`]). On Redis the lease must be the agent's
    /// (`agent:<uuid>`), in the slot of its state.
    pub fence: Option<Fence>,
}

/// What [`StateStore::finish_trigger`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// Everything was written; the state's new version.
    Written(u64),
    /// The handled mark was already set: the trigger had been finished before (a redelivery,
    /// or a retry after the reply to a successful write was lost). Nothing was written.
    AlreadyFinished,
}

/// Persistent state shared by all daemons of a company.
///
/// # Guarantees
/// - **Compare-and-set**: [`save_state`](StateStore::save_state) and
///   [`update_decision`](StateStore::update_decision) write only if the stored version equals
///   the expected one, atomically, and return the new version; otherwise
///   [`StoreError::Conflict`]. Concurrent writers never lose an update silently.
/// - **Idempotency marks**: [`first_time`](StateStore::first_time) returns `true` to exactly one
///   caller per key until the mark expires.
/// - **Leases**: at most one holder per lease name at a time; a lease lapses after its TTL
///   unless renewed by its holder. Each term of a lease (from a take to its lapse or release)
///   has a fencing token greater than every earlier term's of that name.
/// - **Fencing**: a write under a [`Fence`] ([`first_time_fenced`](StateStore::first_time_fenced),
///   [`set_value_fenced`](StateStore::set_value_fenced), a [`FinishedTrigger`] with a fence)
///   checks the term and writes in one atomic step: a holder whose term ended writes nothing.
/// - **Bounded history**: each agent keeps at most the `keep` newest entries given on append.
/// - **Finishing a trigger is atomic and idempotent**:
///   [`finish_trigger`](StateStore::finish_trigger) writes all of a [`FinishedTrigger`] or
///   nothing, and writes nothing when its handled mark is set, so a trigger is counted in state
///   and history once, and listed once among the [`dead_letters`](StateStore::dead_letters),
///   however often its finishing is retried.
/// - **Budgets are reserved, and booked once**: [`reserve`](StateStore::reserve) takes a hold
///   only if spent, held by others and the new hold fit every limit, atomically, so daemons
///   starting together cannot all pass; [`book`](StateStore::book) books a cost once per id.
/// - Times to live are measured on tokio's clock by in-process stores, so paused-time tests
///   see them expire.
#[cfg_attr(any(test, feature = "test-utils"), mockall::automock)]
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The agent's state, or the default state at version 0.
    async fn load_state(&self, agent: AgentId) -> Result<Versioned<AgentState>, StoreError>;

    /// Writes the agent's state if its version is still `expected`; returns the new version.
    async fn save_state(
        &self,
        agent: AgentId,
        state: &AgentState,
        expected: u64,
    ) -> Result<u64, StoreError>;

    /// Appends a history entry and drops the oldest beyond `keep`.
    async fn append_history(
        &self,
        agent: AgentId,
        entry: &HistoryEntry,
        keep: usize,
    ) -> Result<(), StoreError>;

    /// The newest `limit` history entries, oldest first.
    async fn history(&self, agent: AgentId, limit: usize) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Stores a new decision at version 1. Fails if the id exists.
    async fn create_decision(&self, decision: &Decision) -> Result<(), StoreError>;

    /// One decision.
    async fn decision(&self, id: DecisionId) -> Result<Option<Decision>, StoreError>;

    /// Writes `decision` if the stored version is still `decision.version`; returns the new one.
    async fn update_decision(&self, decision: &Decision) -> Result<u64, StoreError>;

    /// Decisions with `status` (all when `None`), oldest first. A stored decision that does not
    /// decode is left out (and logged as an error), so it cannot hide the others.
    async fn decisions(&self, status: Option<DecisionStatus>) -> Result<Vec<Decision>, StoreError>;

    /// The newest `limit` decisions with `status` (by creation), oldest first: a bounded look
    /// at the closed ones, which pile up for as long as the company runs. Reads only those.
    /// A stored decision that does not decode is left out (and logged), as in
    /// [`StateStore::decisions`].
    async fn recent_decisions(
        &self,
        status: DecisionStatus,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError>;

    /// Of the window [`recent_decisions`](StateStore::recent_decisions) gives (the newest
    /// `limit` with `status`, oldest first), the decisions `agent` did not propose and `role`
    /// does not review: what was decided without them, which a prompt tells of. A store that
    /// can leaves the others out before it reads or copies them, so the window costs only
    /// what it keeps.
    async fn recent_decisions_without(
        &self,
        status: DecisionStatus,
        limit: usize,
        agent: AgentId,
        role: &Role,
    ) -> Result<Vec<Decision>, StoreError> {
        let mut recent = self.recent_decisions(status, limit).await?;
        recent.retain(|decision| decision.is_without(agent, role));
        Ok(recent)
    }

    /// Sets an idempotency mark; `true` if it was not set (the caller goes ahead).
    async fn first_time(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Whether an idempotency mark is set.
    async fn is_marked(&self, key: &str) -> Result<bool, StoreError>;

    /// Sets an idempotency mark under a lease term: like [`first_time`](StateStore::first_time)
    /// when `fence` is live, else nothing is written and the answer is [`StoreError::Fenced`].
    async fn first_time_fenced(
        &self,
        key: &str,
        ttl: Duration,
        fence: &Fence,
    ) -> Result<bool, StoreError>;

    /// Takes or renews the lease `name` for `holder`: the term's fencing token if `holder`
    /// holds it now, `None` if another does. A renewal within the term keeps the token; a take
    /// (of a free or lapsed lease, even one's own) starts a term with a greater one.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError>;

    /// Gives the lease up, if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Adds `amount` to a counter (created at 0 with `ttl`); returns the new value.
    async fn add_to_counter(
        &self,
        key: &str,
        amount: f64,
        ttl: Duration,
    ) -> Result<f64, StoreError>;

    /// A counter's value (0 when absent or expired).
    async fn counter(&self, key: &str) -> Result<f64, StoreError>;

    /// A free-form JSON value (pause flags, quota parking, journals).
    async fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError>;

    /// Sets a free-form value, with an optional time to live.
    async fn set_value(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Sets a free-form value under a lease term: like [`set_value`](StateStore::set_value)
    /// when `fence` is live, else nothing is written and the answer is [`StoreError::Fenced`].
    async fn set_value_fenced(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        fence: &Fence,
    ) -> Result<(), StoreError>;

    /// Deletes a free-form value.
    async fn delete_value(&self, key: &str) -> Result<(), StoreError>;

    /// Appends `entry` to the bounded log `name` (worker-log history, events, human requests),
    /// dropping the oldest beyond `keep`.
    async fn append_log(&self, name: &str, entry: &Value, keep: usize) -> Result<(), StoreError>;

    /// The newest `limit` entries of log `name`, oldest first.
    async fn read_log(&self, name: &str, limit: usize) -> Result<Vec<Value>, StoreError>;

    /// Puts a trigger on the dead-letter list.
    async fn push_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;

    /// The newest `limit` dead letters (of one agent, or all), oldest first.
    async fn dead_letters(
        &self,
        agent: Option<AgentId>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError>;

    /// Publishes an agent's status.
    async fn put_status(&self, status: &AgentStatus) -> Result<(), StoreError>;

    /// Every agent's last published status.
    async fn statuses(&self) -> Result<Vec<AgentStatus>, StoreError>;

    /// Checks that the backend is reachable.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records a handled trigger in one atomic step: unless `finished.handled_mark` is set,
    /// writes `finished.state` if the state's version is still `finished.expected_version`
    /// (else [`StoreError::Conflict`] and nothing is written), appends the history entry, puts
    /// the dead letter (if any) on its list, sets the handled mark and deletes the journal.
    /// When the mark is set already, writes nothing and returns [`Finish::AlreadyFinished`].
    async fn finish_trigger(&self, finished: &FinishedTrigger) -> Result<Finish, StoreError>;

    /// Stores a new task at version 1 and indexes it among its assignee's open tasks. Fails
    /// with [`StoreError::Conflict`] if the id exists.
    async fn create_task(&self, task: &Task) -> Result<(), StoreError>;

    /// One task, of any status.
    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError>;

    /// Writes `task` if the stored version is still `task.version`; returns the new one. A task
    /// that is closed (done or cancelled) leaves its assignee's open index.
    async fn update_task(&self, task: &Task) -> Result<u64, StoreError>;

    /// The tasks of `assignee` that are not closed, oldest first. Reads the index of open
    /// tasks only: however many closed tasks the store holds, none is read.
    async fn open_tasks(&self, assignee: AgentId) -> Result<Vec<Task>, StoreError>;

    /// The newest `limit` tasks of the company, of any status, oldest first.
    async fn tasks(&self, limit: usize) -> Result<Vec<Task>, StoreError>;

    /// Keeps a session's record under its agent and trigger id, dropping the agent's oldest
    /// records beyond `keep`. A record put again for the same trigger replaces the first and
    /// keeps its place.
    async fn put_session(&self, record: &SessionRecord, keep: usize) -> Result<(), StoreError>;

    /// The newest `limit` session records of `agent`, oldest first.
    async fn sessions(
        &self,
        agent: AgentId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// The record of `agent`'s session for `trigger_id`, while it is kept.
    async fn session(
        &self,
        agent: AgentId,
        trigger_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Holds `reservation.amount` against every limit of the reservation in one atomic step,
    /// only if for each the counter, the live holds of others and the amount stay within the
    /// limit; otherwise holds nothing and says which limit refused. Holds lapse at their
    /// `expires_at`. Taking a hold again under the same id replaces it.
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, StoreError>;

    /// Books `booking` in one atomic step: unless a booking of the same id was made (and is
    /// still remembered), adds to its counters, removes the hold of its id from its sets of
    /// holds and remembers it. Returns whether it booked now.
    async fn book(&self, booking: &Booking) -> Result<bool, StoreError>;

    /// Who holds the lease `name` and until when, if it is held.
    async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError>;
}

/// The holder of a lease ([`StateStore::lease_holder`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    /// Who holds it.
    pub holder: String,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}
