//! Shared helpers: a company on the embedded adapters with a scripted model and a context
//! provider, the test knowledge folder, and reading the context section of a prompt.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aito_core::context::ContextProvider;
use aito_core::mock::{Script, ScriptedResponse};
use aito_core::prompt::CONTEXT_HEADER;
use aito_core::{
    AgentId, AgentSpec, Budget, Clock, Company, MemoryBus, MemoryStore, MessageType, MockWorkers,
    Priority, ReplayLlm, Role, RunningCompany, Settings,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The company's "now" in every test.
pub const NOW: &str = "2026-11-24T10:00:00Z";

pub fn now() -> DateTime<Utc> {
    NOW.parse().expect("time")
}

/// The knowledge folder written for these tests (31 documents).
pub fn knowledge() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/knowledge")
}

/// A copy of the test knowledge folder, to change it in a test.
pub fn knowledge_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&knowledge(), &dir.path().join("knowledge"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

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

/// A company's adapters, kept to look inside.
pub struct Harness {
    pub llm: Arc<ReplayLlm>,
    pub clock: Clock,
    pub workspaces: tempfile::TempDir,
    pub settings: Settings,
}

impl Harness {
    pub fn new(script: Vec<ScriptedResponse>) -> Self {
        let mut settings = Settings {
            company_budget: Budget::unlimited(),
            shutdown_grace: Duration::from_secs(2),
            ..Settings::default()
        };
        settings.retry.base_delay = Duration::from_millis(10);
        settings.retry.max_delay = Duration::from_millis(50);
        Self {
            llm: Arc::new(ReplayLlm::new(Script {
                description: None,
                responses: script,
                on_exhausted: Default::default(),
            })),
            clock: Clock::starting_at(now()),
            workspaces: tempfile::tempdir().expect("tempdir"),
            settings,
        }
    }

    /// Starts a company of `roles` (woken by messages only) with `context`.
    pub fn start(&self, roles: &[Role], context: Arc<dyn ContextProvider>) -> RunningCompany {
        let agents = roles.iter().cloned().map(|role| {
            AgentSpec::new(role)
                .without_schedules()
                .budget(Budget::unlimited())
        });
        Company::builder("testco")
            .agents(agents)
            .bus(Arc::new(MemoryBus::new()))
            .store(Arc::new(MemoryStore::new()))
            .llm(self.llm.clone())
            .workers(Arc::new(MockWorkers::new()))
            .context(context)
            .clock(self.clock)
            .settings(self.settings.clone())
            .workspace_root(self.workspaces.path())
            .build()
            .expect("company")
            .start()
            .expect("start")
    }

    /// The prompts `role` was given, in order.
    pub fn prompts_of(&self, role: &Role) -> Vec<String> {
        self.llm
            .requests()
            .into_iter()
            .filter(|request| &request.role == role)
            .map(|request| request.prompt)
            .collect()
    }

    /// The characters the context section of a prompt may take.
    pub fn context_share(&self) -> usize {
        (self.settings.prompt_budget as f64 * self.settings.context_share) as usize
    }
}

pub fn id(role: &str) -> AgentId {
    AgentId::derived("testco", role)
}

/// Sends a task from a human to `to` and lets the company work until it is idle.
pub async fn assign(company: &RunningCompany, to: &str, task: Value) {
    company
        .send(to, MessageType::Task, task, Priority::Normal)
        .await
        .expect("send");
    settle(company).await;
}

/// Lets the company work until it is idle.
pub async fn settle(company: &RunningCompany) {
    company.wait_idle(Duration::from_millis(200)).await;
}

/// The context section of a prompt, up to the next section's heading; empty if none.
pub fn context_section(prompt: &str) -> &str {
    let Some(start) = prompt.find(CONTEXT_HEADER) else {
        return "";
    };
    let rest = &prompt[start..];
    let end = rest[CONTEXT_HEADER.len()..]
        .find("\n# ")
        .map_or(rest.len(), |at| at + CONTEXT_HEADER.len() + 1);
    &rest[..end]
}

/// The sources of a context section, in order.
pub fn sources(section: &str) -> Vec<&str> {
    section
        .lines()
        .filter(|line| line.starts_with('[') && line.ends_with(']') && !line.starts_with("[…"))
        .map(|line| &line[1..line.len() - 1])
        .collect()
}
