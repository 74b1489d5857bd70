//! What a prompt reads of the decisions: the open ones, and for the CEO a bounded window of
//! the newest executed ones, however many closed decisions the store has piled up. A counting
//! store (the fault-injecting wrapper, with no fault placed) shows what each prompt read.

use std::sync::Arc;

use aito_core::decision::{Decision, DecisionStatus, Tier};
use aito_core::store::StateStore;
use aito_core::testkit::faults::{FaultyStore, StoreOp};
use aito_core::trigger::{Trigger, TriggerKind};
use aito_core::{
    AgentId, AgentSpec, Company, DecisionId, MemoryBus, MemoryStore, MockWorkers, Priority,
    ReplayLlm, Role,
};
use chrono::Utc;

const EXECUTED: usize = 10_000;

fn decision(n: usize, proposer: AgentId, status: DecisionStatus) -> Decision {
    let at = Utc::now() - chrono::Duration::minutes((EXECUTED - n) as i64);
    Decision {
        id: DecisionId::random(),
        proposer,
        proposer_role: Role::Cto,
        title: format!("Decision number {n}"),
        description: "Move one more service to the new region.".into(),
        options: vec![],
        tier: Tier::Operational,
        status,
        round: 1,
        reviewers: vec![Role::Ceo],
        votes: vec![],
        history: vec![],
        created_at: at,
        deadline: None,
        escalation: None,
        human: None,
        version: 0,
        outbox: Vec::new(),
    }
}

fn check_in() -> Trigger {
    let now = Utc::now();
    Trigger {
        id: "cron:check-in".into(),
        kind: TriggerKind::Schedule {
            expression: "0 * * * *".into(),
            tick: now,
        },
        priority: Priority::Low,
        at: now,
    }
}

/// Reads of decisions (documents returned) through the counting store.
fn decisions_read(store: &FaultyStore) -> usize {
    [
        StoreOp::Decisions,
        StoreOp::RecentDecisions,
        StoreOp::Decision,
    ]
    .iter()
    .map(|op| store.faults().returned(*op))
    .sum()
}

#[tokio::test]
async fn a_prompt_reads_the_open_decisions_and_a_window_of_the_executed_ones() {
    let workspaces = tempfile::tempdir().expect("tempdir");
    let memory: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let cto = AgentId::derived("promptco", "cto");
    // One executed without the CEO's review long ago (beyond the window of the newest 50),
    // ten thousand executed decisions of the CTO (reviewed by the CEO, so neither is asked
    // about them again), one executed without the CEO's review, and two open ones.
    let mut old = decision(0, cto, DecisionStatus::Executed);
    old.title = "Rotated the old keys".into();
    old.reviewers = vec![];
    memory.create_decision(&old).await.expect("create");
    for n in 0..EXECUTED {
        memory
            .create_decision(&decision(n, cto, DecisionStatus::Executed))
            .await
            .expect("create");
    }
    let mut unreviewed = decision(EXECUTED, cto, DecisionStatus::Executed);
    unreviewed.title = "Renewed the TLS certificates".into();
    unreviewed.reviewers = vec![];
    memory.create_decision(&unreviewed).await.expect("create");
    let mut waiting = decision(EXECUTED, cto, DecisionStatus::Pending);
    waiting.title = "Open a Frankfurt region".into();
    memory.create_decision(&waiting).await.expect("create");
    let mut approved = decision(EXECUTED, cto, DecisionStatus::Approved);
    approved.title = "Hire a second SRE".into();
    memory.create_decision(&approved).await.expect("create");

    let counting = Arc::new(FaultyStore::new(Arc::clone(&memory)));
    let company = Company::builder("promptco")
        .agents([Role::Ceo, Role::Cto].map(|role| AgentSpec::new(role).without_schedules()))
        .bus(Arc::new(MemoryBus::new()))
        .store(Arc::clone(&counting) as Arc<dyn StateStore>)
        .llm(Arc::new(ReplayLlm::new(Default::default())))
        .workers(Arc::new(MockWorkers::new()))
        .workspace_root(workspaces.path())
        .build()
        .expect("company");

    // The CEO: the open decision waiting for its vote and the newest executed decision it
    // never reviewed; of the executed ones, only the window is looked at, and of the window
    // only the one taken without the CEO is read.
    let ceo = company.daemon(&Role::Ceo).expect("daemon");
    let prompt = ceo.preview_prompt(&check_in()).await;
    assert!(
        prompt.user.contains("Open a Frankfurt region"),
        "{}",
        prompt.user
    );
    assert!(
        prompt.user.contains("Renewed the TLS certificates"),
        "{}",
        prompt.user
    );
    assert!(
        !prompt.user.contains("Rotated the old keys"),
        "beyond the window: {}",
        prompt.user
    );
    let read = decisions_read(&counting);
    assert!(
        read <= 2 + 1,
        "the CEO's prompt read {read} decisions of {} in the store",
        EXECUTED + 3
    );
    assert_eq!(counting.faults().returned(StoreOp::RecentDecisions), 1);

    // The CTO proposed every one of them: its prompt shows the open two and reads no executed
    // decision at all.
    let before = decisions_read(&counting);
    let cto = company.daemon(&Role::Cto).expect("daemon");
    let prompt = cto.preview_prompt(&check_in()).await;
    assert!(
        prompt.user.contains("Open a Frankfurt region"),
        "{}",
        prompt.user
    );
    assert!(prompt.user.contains("Hire a second SRE"), "{}", prompt.user);
    assert!(!prompt.user.contains("Decision number"), "{}", prompt.user);
    let read = decisions_read(&counting) - before;
    assert_eq!(read, 2, "the CTO's prompt read {read} decisions");
}
