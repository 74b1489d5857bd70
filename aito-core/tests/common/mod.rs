//! Shared helpers for the daemon tests: a company on the embedded adapters with a scripted
//! model, and waits that work on tokio's paused clock as well as in real time.
#![allow(dead_code, unreachable_pub)]

pub mod faults;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aito_core::mock::{Script, ScriptedResponse};
use aito_core::store::{HistoryEntry, StateStore};
use aito_core::{
    AgentId, AgentSpec, Budget, Bus, Clock, Company, CompanyBuilder, MemoryBus, MemoryStore,
    MockWorkers, ReplayLlm, Role, RunningCompany, Settings,
};
use serde_json::Value;

/// A scripted answer for `role` when the trigger mentions `when`.
pub fn answer(role: Role, when: &str, response: Value) -> ScriptedResponse {
    ScriptedResponse {
        role: Some(role),
        when: Some(when.to_owned()),
        response: Some(response),
        cost_usd: 0.01,
        ..ScriptedResponse::default()
    }
}

/// Settings for tests: no budgets, quick retries.
#[allow(clippy::field_reassign_with_default)] // Reads as a list of what tests change.
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.company_budget = Budget::unlimited();
    settings.retry.base_delay = Duration::from_millis(10);
    settings.retry.max_delay = Duration::from_millis(50);
    settings.shutdown_grace = Duration::from_secs(2);
    settings
}

/// Everything a test needs to look inside a company.
pub struct Harness {
    pub bus: Arc<MemoryBus>,
    pub store: Arc<MemoryStore>,
    pub llm: Arc<ReplayLlm>,
    pub workers: Arc<MockWorkers>,
    pub clock: Clock,
    pub workspaces: tempfile::TempDir,
    pub settings: Settings,
}

impl Harness {
    pub fn new(script: Vec<ScriptedResponse>) -> Self {
        Self {
            bus: Arc::new(MemoryBus::new()),
            store: Arc::new(MemoryStore::new()),
            llm: Arc::new(ReplayLlm::new(Script {
                description: None,
                responses: script,
                on_exhausted: Default::default(),
            })),
            workers: Arc::new(MockWorkers::new()),
            clock: Clock::starting_at("2026-11-24T10:00:00Z".parse().expect("time")),
            workspaces: tempfile::tempdir().expect("tempdir"),
            settings: test_settings(),
        }
    }

    /// A company of `agents` on this harness's adapters (fresh daemons, same data).
    pub fn company(&self, agents: Vec<AgentSpec>) -> Company {
        self.builder(agents).build().expect("company")
    }

    /// The builder of [`Harness::company`], to add what a test needs (a context provider).
    pub fn builder(&self, agents: Vec<AgentSpec>) -> CompanyBuilder {
        Company::builder("testco")
            .agents(agents)
            .bus(self.bus.clone())
            .store(self.store.clone())
            .llm(self.llm.clone())
            .workers(self.workers.clone())
            .clock(self.clock)
            .settings(self.settings.clone())
            .workspace_root(self.workspaces.path())
    }

    pub fn id(&self, role: &str) -> AgentId {
        AgentId::derived("testco", role)
    }

    pub async fn history(&self, role: &str) -> Vec<HistoryEntry> {
        self.store
            .history(self.id(role), 100)
            .await
            .expect("history")
    }

    /// How many requests the model got from `role`.
    pub fn sessions_of(&self, role: &Role) -> usize {
        self.llm
            .requests()
            .iter()
            .filter(|request| &request.role == role)
            .count()
    }
}

/// The seven roles, woken only by messages (no cron), unlimited budgets.
pub fn seven_quiet_agents() -> Vec<AgentSpec> {
    AgentSpec::defaults()
        .into_iter()
        .map(|spec| spec.without_schedules().budget(Budget::unlimited()))
        .collect()
}

/// Agents of the given roles, woken only by messages, unlimited budgets.
pub fn quiet_agents(roles: &[Role]) -> Vec<AgentSpec> {
    roles
        .iter()
        .cloned()
        .map(|role| {
            AgentSpec::new(role)
                .without_schedules()
                .budget(Budget::unlimited())
        })
        .collect()
}

/// Polls `check` until it returns `Some`, for at most `limit` of tokio time.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let step = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            waited < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(step).await;
        waited += step;
    }
}

/// Sends a task with `title` from a human to `to`, at normal priority.
pub async fn task(company: &RunningCompany, to: &str, title: &str) {
    company
        .send(
            to,
            aito_core::MessageType::Task,
            serde_json::json!({ "title": title }),
            aito_core::Priority::Normal,
        )
        .await
        .expect("send");
}

/// Lets the company work until it is idle.
pub async fn settle(company: &RunningCompany) {
    company.wait_idle(Duration::from_millis(200)).await;
}

/// The bus, as a trait object.
pub fn bus(harness: &Harness) -> Arc<dyn Bus> {
    harness.bus.clone()
}

/// Sends the daemons' logs to the test output (run with `--nocapture` to see them).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "aito_core=info".to_owned()))
        .with_test_writer()
        .try_init();
}
