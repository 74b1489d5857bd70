//! What the pages and the JSON API show, gathered once for both: the agents with their status,
//! the company's health, the decisions waiting for a human.

use std::time::{Duration, Instant};

use aito_core::budget::Scope;
use aito_core::control;
use aito_core::decision::{Decision, DecisionStatus};
use aito_core::store::{Activity, AgentStatus};
use aito_core::{AgentId, Role, Runtime};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::DashboardState;
use super::error::ApiError;
use super::feeds::FeedStatus;
use super::notify::NoticeStats;

/// A heartbeat older than this many heartbeat periods marks the agent stale.
const STALE_PERIODS: u32 = 3;

/// One agent as the dashboard shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AgentView {
    /// The agent's id.
    pub id: AgentId,
    /// Its role.
    pub role: Role,
    /// `idle`, `busy`, `paused`, `standby`, `stopped`, or `unknown` when it never reported.
    pub status: &'static str,
    /// Whether it is paused (the company pause, or the agent's budget or quota).
    pub paused: bool,
    /// Why it is paused.
    pub paused_reason: Option<String>,
    /// The trigger it is handling.
    pub current_trigger: Option<String>,
    /// When it last finished handling something.
    pub last_activity: Option<DateTime<Utc>>,
    /// Triggers waiting in its queue.
    pub queue_len: usize,
    /// Spend today, in USD.
    pub spent_today_usd: f64,
    /// Its daily budget in USD; `None` when unlimited.
    pub budget_usd_per_day: Option<f64>,
    /// Sessions in the current hour.
    pub sessions_this_hour: u32,
    /// Its hourly session budget; `None` when unlimited.
    pub budget_sessions_per_hour: Option<u32>,
    /// When it last reported.
    pub heartbeat: Option<DateTime<Utc>>,
    /// Seconds since it last reported.
    pub heartbeat_age_secs: Option<i64>,
    /// Whether its last report is too old for a running agent (it may be down).
    pub stale: bool,
}

impl AgentView {
    fn new(
        id: AgentId,
        role: Role,
        status: Option<&AgentStatus>,
        company_paused: bool,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> Self {
        let Some(status) = status else {
            return Self {
                id,
                role,
                status: "unknown",
                paused: company_paused,
                paused_reason: company_paused.then(|| "the company is paused".to_owned()),
                current_trigger: None,
                last_activity: None,
                queue_len: 0,
                spent_today_usd: 0.0,
                budget_usd_per_day: None,
                sessions_this_hour: 0,
                budget_sessions_per_hour: None,
                heartbeat: None,
                heartbeat_age_secs: None,
                stale: true,
            };
        };
        let age = now - status.heartbeat;
        let stale = status.is_stale(now, stale_after);
        let paused = company_paused || status.activity == Activity::Paused;
        let paused_reason = status
            .paused_reason
            .clone()
            .or_else(|| company_paused.then(|| "the company is paused".to_owned()));
        Self {
            id,
            role,
            status: status.activity.as_str(),
            paused,
            paused_reason: paused_reason.filter(|_| paused),
            current_trigger: status.current_trigger.clone(),
            last_activity: status.last_activity,
            queue_len: status.queue_len,
            spent_today_usd: status.spent_today_usd,
            budget_usd_per_day: (status.budget_usd_per_day > 0.0)
                .then_some(status.budget_usd_per_day),
            sessions_this_hour: status.sessions_this_hour,
            budget_sessions_per_hour: (status.budget_sessions_per_hour > 0)
                .then_some(status.budget_sessions_per_hour),
            heartbeat: Some(status.heartbeat),
            heartbeat_age_secs: Some(age.num_seconds()),
            stale,
        }
    }
}

/// The whole company at a glance.
#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    /// The company's name.
    pub company: String,
    /// Whether the company pause switch is on.
    pub paused: bool,
    /// What the whole company spent today, in USD.
    pub spent_today_usd: f64,
    /// The company's daily budget in USD; `None` when unlimited.
    pub budget_usd_per_day: Option<f64>,
    /// Every agent, in the company's order.
    pub agents: Vec<AgentView>,
}

/// How long after its last heartbeat an agent counts as stale.
pub(crate) fn stale_after(runtime: &Runtime) -> Duration {
    (runtime.settings.heartbeat * STALE_PERIODS).max(Duration::from_secs(10))
}

/// Every agent with its last status.
pub(crate) async fn overview(runtime: &Runtime) -> Result<Overview, ApiError> {
    let statuses = runtime.store.statuses().await?;
    let paused = control::is_paused(&*runtime.store).await?;
    let now = runtime.clock.now();
    let stale = stale_after(runtime);
    let mut agents: Vec<AgentView> = runtime
        .directory
        .agents()
        .iter()
        .map(|entry| {
            let status = statuses.iter().find(|status| status.id == entry.id);
            AgentView::new(entry.id, entry.role.clone(), status, paused, now, stale)
        })
        .collect();
    // Agents that report but are not in this process's configuration still show.
    for status in &statuses {
        if runtime.directory.role_of(status.id).is_none() {
            agents.push(AgentView::new(
                status.id,
                status.role.clone(),
                Some(status),
                paused,
                now,
                stale,
            ));
        }
    }
    let spend = runtime.ledger.spend(&Scope::Company, now).await?;
    Ok(Overview {
        company: runtime.company.clone(),
        paused,
        spent_today_usd: spend.usd_day,
        budget_usd_per_day: runtime.settings.company_budget.usd_per_day,
        agents,
    })
}

/// The agent named by `text`: a role name or an agent id of this company.
pub(crate) fn find_agent(runtime: &Runtime, text: &str) -> Option<(AgentId, Role)> {
    let text = text.trim();
    if let Ok(id) = text.parse::<AgentId>() {
        return runtime.directory.role_of(id).map(|role| (id, role.clone()));
    }
    let role: Role = text.to_ascii_lowercase().parse().ok()?;
    runtime.directory.id_of(&role).map(|id| (id, role))
}

/// The decisions waiting for a human, oldest first.
pub(crate) async fn escalated(runtime: &Runtime) -> Result<Vec<Decision>, ApiError> {
    Ok(runtime
        .store
        .decisions(Some(DecisionStatus::Escalated))
        .await?)
}

/// Whether a backend answered, and how fast.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    /// Reachable.
    pub ok: bool,
    /// The round trip in milliseconds.
    pub latency_ms: f64,
    /// Why not, when not.
    pub error: Option<String>,
}

impl Probe {
    fn of<E: std::fmt::Display>(result: Result<(), E>, started: Instant) -> Self {
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(()) => Self {
                ok: true,
                latency_ms,
                error: None,
            },
            Err(err) => Self {
                ok: false,
                latency_ms,
                error: Some(err.to_string()),
            },
        }
    }
}

/// What the escalation webhook has done.
#[derive(Clone, Debug, Serialize)]
pub struct NoticeHealth {
    /// Where notices go (scheme and host only).
    pub url: String,
    /// Counts and the last error.
    #[serde(flatten)]
    pub stats: NoticeStats,
}

/// The company's health.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    /// Store and bus reachable.
    pub ok: bool,
    /// The store.
    pub store: Probe,
    /// The bus.
    pub bus: Probe,
    /// The dashboard's subscription to events and worker logs.
    pub feed: FeedStatus,
    /// The escalation webhook, when one is configured.
    pub notices: Option<NoticeHealth>,
    /// The webhook sources, each with its last delivery.
    pub webhooks: Vec<super::hooks::SourceHealth>,
    /// Each agent's last heartbeat (empty when the store is unreachable).
    pub agents: Vec<AgentView>,
    /// Whether the company is paused.
    pub paused: bool,
    /// Triggers on the dead-letter list (the newest 100 at most are counted).
    pub dead_letters: usize,
}

/// Probes the store and the bus and reads every agent's heartbeat.
pub(crate) async fn health(state: &DashboardState) -> Health {
    let runtime = &state.runtime;
    let started = Instant::now();
    let store = Probe::of(runtime.store.ping().await, started);
    let started = Instant::now();
    let bus = Probe::of(runtime.bus.ping().await, started);
    let (agents, paused) = match overview(runtime).await {
        Ok(overview) => (overview.agents, overview.paused),
        Err(_) => (Vec::new(), false),
    };
    let dead_letters = runtime
        .store
        .dead_letters(None, 100)
        .await
        .map_or(0, |letters| letters.len());
    let webhooks = super::hooks::health::sources(state).await;
    Health {
        ok: store.ok && bus.ok,
        store,
        bus,
        feed: state.hub.feed_status().clone(),
        notices: state
            .escalation_webhook
            .as_ref()
            .map(|webhook| NoticeHealth {
                url: webhook.shown().to_owned(),
                stats: state.hub.notice_stats(),
            }),
        webhooks,
        agents,
        paused,
        dead_letters,
    }
}
