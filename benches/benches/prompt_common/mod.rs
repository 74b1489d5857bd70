//! What the prompt benches share: a company of a CEO and a CTO on a store of the bench's own,
//! and the scheduled check-in whose prompt they build.

use std::sync::Arc;

use aito_core::store::StateStore;
use aito_core::trigger::{Trigger, TriggerKind};
use aito_core::{
    AgentDaemon, AgentSpec, Company, MemoryBus, MockWorkers, Priority, ReplayLlm, Role,
};
use chrono::Utc;

/// The daemon of `role` in a company of a CEO and a CTO kept in `store`.
pub(crate) fn daemon(
    store: Arc<dyn StateStore>,
    workspaces: &std::path::Path,
    role: Role,
) -> AgentDaemon {
    Company::builder("benchco")
        .agents([Role::Ceo, Role::Cto].map(|role| AgentSpec::new(role).without_schedules()))
        .bus(Arc::new(MemoryBus::new()))
        .store(store)
        .llm(Arc::new(ReplayLlm::new(Default::default())))
        .workers(Arc::new(MockWorkers::new()))
        .workspace_root(workspaces)
        .build()
        .expect("company")
        .daemon(&role)
        .expect("daemon")
}

/// A scheduled check-in, now.
pub(crate) fn check_in() -> Trigger {
    let now = Utc::now();
    Trigger {
        id: "cron:bench".into(),
        kind: TriggerKind::Schedule {
            expression: "0 * * * *".into(),
            tick: now,
        },
        priority: Priority::Low,
        at: now,
    }
}
