//! What defines an agent: role, profile, schedules, budget, tools; and the company-wide settings.

use std::path::PathBuf;
use std::time::Duration;

use crate::id::AgentId;
use crate::role::Role;
use crate::schedule::{Schedule, ScheduleError};

/// Spending limits. `None` means "no limit of this kind"; the defaults are conservative, never
/// unlimited.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// Model sessions per clock hour.
    pub sessions_per_hour: Option<u32>,
    /// USD per clock hour (sessions and workers).
    pub usd_per_hour: Option<f64>,
    /// USD per UTC day (sessions and workers).
    pub usd_per_day: Option<f64>,
    /// Tokens per clock hour.
    pub tokens_per_hour: Option<u64>,
    /// Tokens per UTC day.
    pub tokens_per_day: Option<u64>,
    /// Fraction of a limit at which a soft-limit event is raised (0.8 = 80 %).
    pub soft_ratio: f64,
}

impl Default for Budget {
    /// Per agent: 12 sessions an hour, $5 a day.
    fn default() -> Self {
        Self {
            sessions_per_hour: Some(12),
            usd_per_hour: None,
            usd_per_day: Some(5.0),
            tokens_per_hour: None,
            tokens_per_day: None,
            soft_ratio: 0.8,
        }
    }
}

impl Budget {
    /// The default for the whole company: $25 a day.
    pub fn company_default() -> Self {
        Self {
            sessions_per_hour: None,
            usd_per_hour: None,
            usd_per_day: Some(25.0),
            tokens_per_hour: None,
            tokens_per_day: None,
            soft_ratio: 0.8,
        }
    }

    /// No limits at all. Use in tests and benchmarks, not in production.
    pub fn unlimited() -> Self {
        Self {
            sessions_per_hour: None,
            usd_per_hour: None,
            usd_per_day: None,
            tokens_per_hour: None,
            tokens_per_day: None,
            soft_ratio: 0.8,
        }
    }
}

/// One agent of the company.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    /// Its id (derived from company and role when not set).
    pub id: Option<AgentId>,
    /// Its role.
    pub role: Role,
    /// The role profile (markdown): mission, authority, reporting line.
    pub profile: String,
    /// Cron schedules that wake it.
    pub schedules: Vec<Schedule>,
    /// Spending limits.
    pub budget: Budget,
    /// MCP servers its workers may use.
    pub mcp_servers: Vec<String>,
    /// The model, when not the adapter's default.
    pub model: Option<String>,
    /// Whether to run a session when the daemon starts.
    pub run_on_startup: bool,
    /// Its workspace directory (defaults to `<workspace root>/<role>`).
    pub workspace: Option<PathBuf>,
}

impl AgentSpec {
    /// An agent of `role` with the built-in profile of that role (a short one for custom
    /// roles), its default schedule, the default budget and no MCP servers.
    pub fn new(role: Role) -> Self {
        let schedules = role
            .default_schedule()
            .and_then(|expression| expression.parse().ok())
            .into_iter()
            .collect();
        Self {
            id: None,
            profile: crate::profile::builtin(&role),
            role,
            schedules,
            budget: Budget::default(),
            mcp_servers: Vec::new(),
            model: None,
            run_on_startup: false,
            workspace: None,
        }
    }

    /// The seven built-in roles with their defaults.
    pub fn defaults() -> Vec<AgentSpec> {
        Role::BUILT_IN.iter().cloned().map(AgentSpec::new).collect()
    }

    /// Sets the id.
    pub fn id(mut self, id: AgentId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the profile text.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = profile.into();
        self
    }

    /// Replaces the schedules with `expressions` (five-, six- or seven-field cron).
    pub fn schedules<I, S>(mut self, expressions: I) -> Result<Self, ScheduleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.schedules = expressions
            .into_iter()
            .map(|expression| expression.as_ref().parse())
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Removes every schedule: the agent wakes only on messages.
    pub fn without_schedules(mut self) -> Self {
        self.schedules.clear();
        self
    }

    /// Sets the budget.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Sets the MCP servers its workers may use.
    pub fn mcp_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mcp_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Runs a session when the daemon starts.
    pub fn run_on_startup(mut self, yes: bool) -> Self {
        self.run_on_startup = yes;
        self
    }

    /// Sets the workspace directory.
    pub fn workspace(mut self, path: impl Into<PathBuf>) -> Self {
        self.workspace = Some(path.into());
        self
    }
}

/// Retry policy for failed sessions.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Sessions tried per trigger before it is dead-lettered.
    pub max_attempts: u32,
    /// First backoff.
    #[serde(with = "crate::llm::duration_ms")]
    pub base_delay: Duration,
    /// Longest backoff.
    #[serde(with = "crate::llm::duration_ms")]
    pub max_delay: Duration,
    /// Rate-limit waits per trigger before it is dead-lettered.
    pub max_rate_limit_waits: u32,
    /// Wait after a rate limit that named no reset time.
    #[serde(with = "crate::llm::duration_ms")]
    pub rate_limit_fallback: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            max_rate_limit_waits: 5,
            rate_limit_fallback: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt` (1-based), doubling, capped, with up to 25 %
    /// jitter taken from `seed` so that agents do not retry in lockstep.
    pub fn backoff(&self, attempt: u32, seed: u64) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let delay = self.base_delay.saturating_mul(doubling).min(self.max_delay);
        let jitter_permille = seed % 250;
        delay + delay.mul_f64(jitter_permille as f64 / 1000.0)
    }
}

/// Loop breakers beyond the hop limit.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoopGuards {
    /// Messages two agents may exchange within `ping_pong_window` without a state change or a
    /// new decision before further messages between them are dropped.
    pub ping_pong_exchanges: u32,
    /// The window of the ping-pong breaker.
    #[serde(with = "crate::llm::duration_ms")]
    pub ping_pong_window: Duration,
    /// Scheduled sessions in a row with no action and no state change before the agent's
    /// schedule backs off.
    pub idle_sessions: u32,
    /// The longest the schedule backs off to.
    #[serde(with = "crate::llm::duration_ms")]
    pub idle_backoff_max: Duration,
    /// Sessions of its assignee a task may sit `in_progress` without an update before the
    /// no-progress guard trips on it.
    pub stalled_task_sessions: u32,
}

impl Default for LoopGuards {
    fn default() -> Self {
        Self {
            ping_pong_exchanges: 8,
            ping_pong_window: Duration::from_secs(3600),
            idle_sessions: 3,
            idle_backoff_max: Duration::from_secs(24 * 3600),
            stalled_task_sessions: 5,
        }
    }
}

/// Company-wide settings of the daemon loop.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Messages that have passed through more sessions than this are dropped.
    pub hop_limit: u32,
    /// Ping-pong and no-progress breakers.
    pub loops: LoopGuards,
    /// History entries kept per agent.
    pub history_keep: usize,
    /// Session records (prompt, answer, actions) kept per agent for the dashboard; 0 keeps none.
    pub sessions_keep: usize,
    /// History entries offered to the prompt (the oldest are cut first to fit).
    pub history_in_prompt: usize,
    /// Open tasks listed in a prompt at most, most urgent first; the rest are counted.
    pub tasks_in_prompt: usize,
    /// Prompt size budget, in characters (system prompt excluded).
    pub prompt_budget: usize,
    /// Share of the prompt budget for RAG context.
    pub context_share: f64,
    /// Model session timeout.
    #[serde(with = "crate::llm::duration_ms")]
    pub session_timeout: Duration,
    /// Maximum agentic turns per session.
    pub max_turns: Option<u32>,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// Agent lease time to live (renewed at a third of it).
    #[serde(with = "crate::llm::duration_ms")]
    pub lease_ttl: Duration,
    /// How long a running session may finish after shutdown is requested.
    #[serde(with = "crate::llm::duration_ms")]
    pub shutdown_grace: Duration,
    /// How long handled-message and action marks are kept.
    #[serde(with = "crate::llm::duration_ms")]
    pub mark_ttl: Duration,
    /// Longest wait between checks of decision deadlines.
    #[serde(with = "crate::llm::duration_ms")]
    pub decision_check: Duration,
    /// Default worker timeout.
    #[serde(with = "crate::llm::duration_ms")]
    pub worker_timeout: Duration,
    /// Workers running at once per agent.
    pub max_workers_per_agent: usize,
    /// Company-wide budget.
    pub company_budget: Budget,
    /// What an agent's first session of the day holds of the money budgets before it starts
    /// (USD); later ones hold the agent's average session cost of the day.
    pub session_reserve_usd: f64,
    /// How often an agent's status is refreshed while idle.
    #[serde(with = "crate::llm::duration_ms")]
    pub heartbeat: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            hop_limit: 10,
            loops: LoopGuards::default(),
            history_keep: 200,
            sessions_keep: 50,
            history_in_prompt: 12,
            tasks_in_prompt: 20,
            prompt_budget: 24_000,
            context_share: 0.25,
            session_timeout: Duration::from_secs(300),
            max_turns: None,
            retry: RetryPolicy::default(),
            lease_ttl: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            mark_ttl: Duration::from_secs(7 * 24 * 3600),
            decision_check: Duration::from_secs(60),
            worker_timeout: Duration::from_secs(120),
            max_workers_per_agent: 3,
            company_budget: Budget::company_default(),
            session_reserve_usd: 0.5,
            heartbeat: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let retry = RetryPolicy::default();
        assert_eq!(retry.backoff(1, 0), Duration::from_secs(2));
        assert_eq!(retry.backoff(2, 0), Duration::from_secs(4));
        assert_eq!(retry.backoff(10, 0), Duration::from_secs(60));
        assert!(retry.backoff(1, 249) < Duration::from_millis(2500));
    }

    #[test]
    fn default_agents_have_the_original_schedules() {
        let agents = AgentSpec::defaults();
        assert_eq!(agents.len(), 7);
        let ceo = &agents[0];
        assert_eq!(ceo.role, Role::Ceo);
        assert_eq!(ceo.schedules[0].expression(), "*/15 * * * *");
        assert!(!ceo.profile.is_empty());
    }
}
