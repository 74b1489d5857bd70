//! The company's status as `aito status` shows it: agents, queues, decisions and spend, read
//! from the store. [`StatusReport`] serializes to the stable JSON object of
//! `aito status --json` (docs/cli.md).

use std::fmt::Write as _;

use aito_core::budget::Scope;
use aito_core::decision::Decision;
use aito_core::event::GuardTrip;
use aito_core::store::AgentStatus;
use aito_core::{AgentId, Runtime, control};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::error::Error;

/// How many guard trips the report shows.
const GUARDS_SHOWN: usize = 10;

/// A status older than this many heartbeats means the daemon is gone.
const STALE_HEARTBEATS: u32 = 3;

/// Everything `aito status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// The company's name.
    pub company: String,
    /// Where the bus and store are.
    pub store: String,
    /// Whether the company is paused.
    pub paused: bool,
    /// Every configured agent.
    pub agents: Vec<AgentReport>,
    /// Every decision, oldest first.
    pub decisions: Vec<DecisionReport>,
    /// Decisions still waiting for someone.
    pub open_decisions: usize,
    /// Decisions waiting for a human.
    pub escalated_decisions: usize,
    /// The company's spend.
    pub spend: SpendReport,
    /// Triggers given up on, waiting for a human.
    pub dead_letters: usize,
    /// The newest guard trips (loops, budgets, quotas, hop limit), newest first.
    pub guards: Vec<GuardTrip>,
    /// When this report was made.
    pub at: DateTime<Utc>,
}

/// One agent.
#[derive(Clone, Debug, Serialize)]
pub struct AgentReport {
    /// Its id.
    pub id: AgentId,
    /// Its role.
    pub role: String,
    /// `idle`, `busy`, `paused`, `standby`, `stopped`, or `unknown` when its daemon never
    /// reported.
    pub status: String,
    /// Whether its last report is too old for a running daemon.
    pub stale: bool,
    /// Triggers waiting in its queue.
    pub queue: usize,
    /// What it is handling now.
    pub current_trigger: Option<String>,
    /// Why it is paused.
    pub paused_reason: Option<String>,
    /// USD spent today (UTC), sessions and workers.
    pub spent_today_usd: f64,
    /// Its daily budget.
    pub budget_usd_per_day: Option<f64>,
    /// Sessions started in the current hour.
    pub sessions_this_hour: u64,
    /// Its hourly session budget.
    pub budget_sessions_per_hour: Option<u32>,
    /// Sessions it ever ran.
    pub sessions_total: u64,
    /// When it last finished a session.
    pub last_activity: Option<DateTime<Utc>>,
    /// The summary of its last session.
    pub last_summary: Option<String>,
    /// When its daemon last reported.
    pub heartbeat: Option<DateTime<Utc>>,
}

/// One vote.
#[derive(Clone, Debug, Serialize)]
pub struct VoteReport {
    /// The round.
    pub round: u8,
    /// The voter's role.
    pub role: String,
    /// approve, veto or abstain.
    pub vote: String,
    /// Why.
    pub reason: String,
}

/// One decision.
#[derive(Clone, Debug, Serialize)]
pub struct DecisionReport {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// operational, minor, major or critical.
    pub tier: String,
    /// pending, revising, escalated, approved, executed, rejected or withdrawn.
    pub status: String,
    /// Whether it waits for someone.
    pub open: bool,
    /// The current round.
    pub round: u8,
    /// The proposer's role.
    pub proposer: String,
    /// The statuses it went through, `pending → approved → executed`.
    pub path: String,
    /// Why it waits for a human, while it does.
    pub escalation: Option<String>,
    /// The end of the current wait.
    pub deadline: Option<DateTime<Utc>>,
    /// Every vote of every round.
    pub votes: Vec<VoteReport>,
    /// The human's answer, once given: approve or reject.
    pub human: Option<String>,
    /// When it was proposed.
    pub created_at: DateTime<Utc>,
}

impl From<&Decision> for DecisionReport {
    fn from(decision: &Decision) -> Self {
        Self {
            id: decision.id.to_string(),
            title: decision.title.clone(),
            tier: decision.tier.to_string(),
            status: decision.status.to_string(),
            open: decision.status.is_open(),
            round: decision.round,
            proposer: decision.proposer_role.to_string(),
            path: decision.path(),
            escalation: decision.escalation.clone(),
            deadline: decision.deadline,
            votes: decision
                .votes
                .iter()
                .map(|vote| VoteReport {
                    round: vote.round,
                    role: vote.role.to_string(),
                    vote: format!("{:?}", vote.choice).to_ascii_lowercase(),
                    reason: vote.reason.clone(),
                })
                .collect(),
            human: decision
                .human
                .as_ref()
                .map(|answer| if answer.approve { "approve" } else { "reject" }.to_owned()),
            created_at: decision.created_at,
        }
    }
}

/// The company's spend in the current windows.
#[derive(Clone, Debug, Serialize)]
pub struct SpendReport {
    /// USD today (UTC).
    pub today_usd: f64,
    /// USD in the current hour.
    pub this_hour_usd: f64,
    /// Sessions today.
    pub sessions_today: u64,
    /// The company's daily budget.
    pub budget_usd_per_day: Option<f64>,
}

/// Reads the report from the store of `runtime`.
pub async fn collect(
    config: &Config,
    runtime: &Runtime,
    store: &str,
) -> Result<StatusReport, Error> {
    let now = runtime.clock.now();
    let statuses = runtime.store.statuses().await?;
    let stale_after = runtime.settings.heartbeat * STALE_HEARTBEATS;
    let mut agents = Vec::with_capacity(config.agents.len());
    for agent in &config.agents {
        let spec = &agent.spec;
        let Some(id) = spec.id else { continue };
        let status: Option<&AgentStatus> = statuses.iter().find(|status| status.id == id);
        let spend = runtime
            .ledger
            .spend(&Scope::Agent(id.to_string()), now)
            .await?;
        let state = runtime.store.load_state(id).await?.value;
        let stale = status.is_some_and(|status| status.is_stale(now, stale_after));
        agents.push(AgentReport {
            id,
            role: spec.role.to_string(),
            status: status
                .map_or("unknown", |status| status.activity.as_str())
                .to_owned(),
            stale,
            queue: status.map_or(0, |status| status.queue_len),
            current_trigger: status.and_then(|status| status.current_trigger.clone()),
            paused_reason: status.and_then(|status| status.paused_reason.clone()),
            spent_today_usd: spend.usd_day,
            budget_usd_per_day: spec.budget.usd_per_day,
            sessions_this_hour: spend.sessions_hour as u64,
            budget_sessions_per_hour: spec.budget.sessions_per_hour,
            sessions_total: state.loop_count,
            last_activity: state.last_loop_at,
            last_summary: state.last_summary,
            heartbeat: status.map(|status| status.heartbeat),
        });
    }
    let decisions: Vec<DecisionReport> = runtime
        .store
        .decisions(None)
        .await?
        .iter()
        .map(DecisionReport::from)
        .collect();
    let company = runtime.ledger.spend(&Scope::Company, now).await?;
    Ok(StatusReport {
        company: config.company.clone(),
        store: store.to_owned(),
        paused: control::is_paused(&*runtime.store).await?,
        open_decisions: decisions.iter().filter(|decision| decision.open).count(),
        escalated_decisions: decisions
            .iter()
            .filter(|decision| decision.status == "escalated")
            .count(),
        agents,
        decisions,
        spend: SpendReport {
            today_usd: company.usd_day,
            this_hour_usd: company.usd_hour,
            sessions_today: company.sessions_day as u64,
            budget_usd_per_day: config.company_budget.usd_per_day,
        },
        dead_letters: runtime.store.dead_letters(None, 1000).await?.len(),
        guards: aito_core::event::recent_guard_trips(&*runtime.store, GUARDS_SHOWN).await?,
        at: now,
    })
}

impl StatusReport {
    /// The report for people.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ({}){}",
            self.company,
            self.store,
            if self.paused { " — PAUSED" } else { "" }
        );
        let _ = writeln!(out, "\nAgents");
        for agent in &self.agents {
            let budget = agent
                .budget_usd_per_day
                .map_or_else(|| "no limit".to_owned(), |of| format!("${of:.2}"));
            let _ = writeln!(
                out,
                "  {:<6} {:<8}{} queue {:<3} ${:.2} of {budget} today, {} sessions in all",
                agent.role,
                agent.status,
                if agent.stale { " (stale)" } else { "" },
                agent.queue,
                agent.spent_today_usd,
                agent.sessions_total
            );
            if let Some(trigger) = &agent.current_trigger {
                let _ = writeln!(out, "         handling: {trigger}");
            }
            if let Some(summary) = &agent.last_summary {
                let _ = writeln!(out, "         last: {summary}");
            }
        }
        let _ = writeln!(
            out,
            "\nDecisions ({} open, {} waiting for a human)",
            self.open_decisions, self.escalated_decisions
        );
        if self.decisions.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for decision in &self.decisions {
            let _ = writeln!(
                out,
                "  {} [{}] {:<9} \"{}\" by {}: {}",
                decision.id,
                decision.tier,
                decision.status,
                decision.title,
                decision.proposer,
                decision.path
            );
            if let Some(reason) = &decision.escalation {
                let _ = writeln!(
                    out,
                    "      waiting for a human ({reason}): aito decide {} approve|reject --reason TEXT",
                    decision.id
                );
            }
        }
        let budget = self
            .spend
            .budget_usd_per_day
            .map_or_else(|| "no limit".to_owned(), |of| format!("${of:.2}"));
        let _ = writeln!(
            out,
            "\nSpend: ${:.2} today of {budget}, ${:.2} this hour, {} sessions today",
            self.spend.today_usd, self.spend.this_hour_usd, self.spend.sessions_today
        );
        if self.dead_letters > 0 {
            let _ = writeln!(
                out,
                "Dead letters: {} (see the dashboard)",
                self.dead_letters
            );
        }
        if !self.guards.is_empty() {
            let _ = writeln!(out, "\nGuards that stopped something (newest first):");
            for trip in &self.guards {
                let at = trip.at.map_or_else(
                    || "-".to_owned(),
                    |at| at.format("%Y-%m-%d %H:%M").to_string(),
                );
                let _ = writeln!(
                    out,
                    "  {at}  {:<4} {:<12} {}",
                    trip.role, trip.guard, trip.reason
                );
            }
        }
        out
    }
}
