//! Company events: what the dashboard's feed, `/metrics` and the summary are made of.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::{Envelope, MessageType, Sender};
use crate::id::{AgentId, DecisionId};
use crate::role::Role;
use crate::store::Outcome;

/// One thing that happened, published on [`Channel::Events`](crate::Channel::Events) as the
/// payload of a `MessageType::Event` envelope and kept in the store's `events` log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A model session started.
    SessionStarted {
        /// The agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// The trigger, described.
        trigger: String,
    },
    /// A trigger was handled.
    TriggerHandled {
        /// The agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// The trigger, described.
        trigger: String,
        /// How it ended.
        outcome: Outcome,
        /// The model's summary.
        summary: String,
        /// Actions carried out.
        actions: usize,
        /// Session cost.
        cost_usd: f64,
        /// Handling time in milliseconds.
        duration_ms: u64,
    },
    /// A session failed and will be retried or dead-lettered.
    SessionFailed {
        /// The agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// What went wrong.
        error: String,
        /// Whether the trigger was given up on.
        dead_lettered: bool,
    },
    /// A guard stopped something: hop limit, budget, loop breaker, quota, self-wake.
    GuardTripped {
        /// The agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// Which guard (`hop_limit`, `budget`, `ping_pong`, `no_progress`, `quota`, ...).
        guard: String,
        /// Why, in a sentence.
        reason: String,
        /// The figures behind it.
        #[serde(default)]
        figures: Value,
    },
    /// A budget passed its soft limit.
    BudgetWarning {
        /// The agent, or `None` for the company budget.
        agent: Option<AgentId>,
        /// What passed (`usd_per_day`, ...).
        limit: String,
        /// Spent so far.
        spent: f64,
        /// The limit.
        of: f64,
    },
    /// A decision needs a human.
    Escalated {
        /// The decision.
        decision: DecisionId,
        /// Its title.
        title: String,
        /// Why.
        reason: String,
    },
    /// An agent asked a human to do something.
    HumanActionRequested {
        /// The agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// Title.
        title: String,
        /// What is needed.
        description: String,
    },
    /// An agent raised an alert.
    Alert {
        /// The agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// `general`, `security`, `budget`, ...
        alert_type: String,
        /// Severity.
        severity: String,
        /// What is wrong.
        message: String,
    },
    /// A worker started or finished.
    Worker {
        /// The requesting agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// Task id.
        task_id: String,
        /// `started`, `succeeded`, `failed`, `timed_out`, `refused`.
        status: String,
        /// Cost so far.
        cost_usd: f64,
    },
    /// A task of the ledger was created or changed.
    TaskChanged {
        /// The task.
        task: crate::id::TaskId,
        /// Its title.
        title: String,
        /// Its status now.
        status: crate::task::TaskStatus,
        /// Who changed it (a role, `human` or `aito`).
        by: String,
        /// Its assignee's role.
        assignee: Role,
        /// The note of the change.
        note: String,
    },
    /// The company was paused or resumed.
    Paused {
        /// Paused (`true`) or resumed.
        paused: bool,
        /// Who did it.
        by: String,
    },
}

impl Event {
    /// The event as an `event` envelope from the system.
    pub fn to_envelope(&self) -> Envelope {
        let payload = serde_json::to_value(self).unwrap_or(Value::Null);
        Envelope::new(MessageType::Event, Sender::System, payload)
    }

    /// The event's name (`session_started`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Event::SessionStarted { .. } => "session_started",
            Event::TriggerHandled { .. } => "trigger_handled",
            Event::SessionFailed { .. } => "session_failed",
            Event::GuardTripped { .. } => "guard_tripped",
            Event::BudgetWarning { .. } => "budget_warning",
            Event::Escalated { .. } => "escalated",
            Event::HumanActionRequested { .. } => "human_action_requested",
            Event::Alert { .. } => "alert",
            Event::Worker { .. } => "worker",
            Event::TaskChanged { .. } => "task_changed",
            Event::Paused { .. } => "paused",
        }
    }
}

/// A guard trip as the events log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardTrip {
    /// When.
    #[serde(default)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// The agent.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// Which guard.
    pub guard: String,
    /// Why, in a sentence.
    pub reason: String,
    /// The figures behind it.
    #[serde(default)]
    pub figures: Value,
}

/// How far back in the events log [`recent_guard_trips`] looks.
const GUARD_SCAN: usize = 2000;

/// The newest `limit` guard trips of the events log, newest first.
pub async fn recent_guard_trips(
    store: &dyn crate::store::StateStore,
    limit: usize,
) -> Result<Vec<GuardTrip>, crate::store::StoreError> {
    Ok(store
        .read_log(crate::store::logs::EVENTS, GUARD_SCAN)
        .await?
        .into_iter()
        .rev()
        .filter(|event| event["event"] == "guard_tripped")
        .filter_map(|event| serde_json::from_value(event).ok())
        .take(limit)
        .collect())
}
