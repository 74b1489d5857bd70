//! The decision process on tokio's paused clock: vetoes go back to the proposer, revisions
//! start a new round, three vetoes deadlock, silence approves minor decisions and escalates
//! major ones, and stored deadlines survive a restart.

mod common;

use std::time::Duration;

use aito_core::Role;
use aito_core::decision::{Decision, DecisionStatus, VoteChoice};
use aito_core::mock::ScriptedResponse;
use aito_core::store::StateStore;
use common::{Harness, answer, quiet_agents};
use serde_json::json;

const HOUR: Duration = Duration::from_secs(3600);

fn repeating(mut response: ScriptedResponse) -> ScriptedResponse {
    response.repeat = true;
    response
}

fn propose(tier: &str, title: &str) -> ScriptedResponse {
    answer(
        Role::Cto,
        "Plan the migration",
        json!({
            "summary": format!("Proposed: {title}"),
            "actions": [{"type": "propose_decision", "data": {"tier": tier, "title": title, "description": "Rewrite the services"}}]
        }),
    )
}

fn vote(role: Role, when: &str, choice: &str, reason: &str) -> ScriptedResponse {
    answer(
        role,
        when,
        json!({
            "summary": format!("voted {choice}"),
            "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": choice, "reason": reason}}]
        }),
    )
}

fn revise() -> ScriptedResponse {
    answer(
        Role::Cto,
        "vetoed",
        json!({
            "summary": "Revised with a budget cap",
            "actions": [{"type": "propose_decision", "data": {"decisionId": "{{trigger.decisionId}}", "title": "Move to Rust, capped at $5k", "description": "Same plan with a budget cap"}}]
        }),
    )
}

fn carry_out() -> ScriptedResponse {
    answer(
        Role::Cto,
        "carry it out now",
        json!({"summary": "Migration started", "actions": []}),
    )
}

async fn only_decision(harness: &Harness) -> Decision {
    let decisions = harness.store.decisions(None).await.expect("decisions");
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    decisions.into_iter().next().expect("one decision")
}

async fn start_with_task(harness: &Harness) -> aito_core::RunningCompany {
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Dao, Role::Cto]))
        .start()
        .expect("start");
    common::task(&company, "cto", "Plan the migration").await;
    company
}

#[tokio::test(start_paused = true)]
async fn a_vetoed_decision_is_revised_and_approved_in_round_two() {
    let harness = Harness::new(vec![
        propose("major", "Move to Rust"),
        repeating(vote(Role::Ceo, "Move to Rust", "approve", "good plan")),
        vote(Role::Dao, "\"round\": 1", "veto", "no budget cap"),
        vote(Role::Dao, "\"round\": 2", "approve", "cap accepted"),
        revise(),
        carry_out(),
    ]);
    let company = start_with_task(&harness).await;
    tokio::time::sleep(Duration::from_secs(60)).await;

    let decision = only_decision(&harness).await;
    assert_eq!(
        decision.path(),
        "pending → revising → pending → approved → executed"
    );
    assert_eq!(decision.round, 2);
    assert_eq!(decision.title, "Move to Rust, capped at $5k");
    let veto = decision
        .votes
        .iter()
        .find(|vote| vote.choice == VoteChoice::Veto)
        .expect("the veto is kept");
    assert_eq!(
        (veto.round, veto.role.as_str(), veto.reason.as_str()),
        (1, "dao", "no budget cap")
    );
    let revising = &decision.history[1];
    assert!(revising.reason.contains("no budget cap"), "{revising:?}");
    // The proposer heard about the veto and the approval.
    let cto_triggers: Vec<String> = harness
        .history("cto")
        .await
        .into_iter()
        .map(|e| e.trigger)
        .collect();
    assert!(
        cto_triggers.iter().any(|t| t.starts_with("decision from")),
        "{cto_triggers:?}"
    );
    assert!(
        cto_triggers
            .iter()
            .any(|t| t.starts_with("decision_result from")),
        "{cto_triggers:?}"
    );
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn three_vetoes_deadlock_and_escalate_to_a_human() {
    let harness = Harness::new(vec![
        propose("major", "Move to Rust"),
        repeating(vote(Role::Ceo, "Move to Rust", "approve", "fine")),
        repeating(vote(Role::Dao, "Move to Rust", "veto", "still too risky")),
        repeating(revise()),
        carry_out(),
    ]);
    let company = start_with_task(&harness).await;
    tokio::time::sleep(Duration::from_secs(60)).await;

    let decision = only_decision(&harness).await;
    assert_eq!(
        decision.status,
        DecisionStatus::Escalated,
        "{}",
        decision.path()
    );
    assert_eq!(decision.round, 3);
    assert_eq!(
        decision.path(),
        "pending → revising → pending → revising → pending → escalated"
    );
    assert!(
        decision
            .escalation
            .as_deref()
            .unwrap_or("")
            .contains("deadlock"),
        "{:?}",
        decision.escalation
    );
    let vetoes = decision
        .votes
        .iter()
        .filter(|vote| vote.choice == VoteChoice::Veto)
        .count();
    assert_eq!(vetoes, 3);
    let escalations = harness
        .store
        .read_log(aito_core::store::logs::ESCALATIONS, 10)
        .await
        .unwrap();
    assert_eq!(escalations.len(), 1);

    // The human answers; the proposer is told to carry it out.
    let answered = company
        .runtime()
        .engine
        .human_decide(decision.id, true, "accepted with monitoring")
        .await
        .expect("human decision");
    assert_eq!(answered.status, DecisionStatus::Approved);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let decision = only_decision(&harness).await;
    assert!(
        decision.path().ends_with("escalated → approved → executed"),
        "{}",
        decision.path()
    );
    assert_eq!(decision.human.as_ref().map(|h| h.approve), Some(true));
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_minor_decision_the_ceo_ignores_for_four_hours_is_approved() {
    let harness = Harness::new(vec![propose("minor", "Rename the repo"), carry_out()]);
    let company = start_with_task(&harness).await;
    tokio::time::sleep(4 * HOUR - Duration::from_secs(1)).await;
    assert_eq!(
        only_decision(&harness).await.status,
        DecisionStatus::Pending
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let decision = only_decision(&harness).await;
    assert_eq!(decision.path(), "pending → approved → executed");
    assert_eq!(decision.history[1].by, "deadline");
    assert!(
        decision.history[1].reason.contains("without a veto"),
        "{:?}",
        decision.history[1]
    );
    // The CEO was asked once and chose not to act.
    assert_eq!(harness.sessions_of(&Role::Ceo), 1);
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_major_decision_unanswered_for_a_day_escalates() {
    let harness = Harness::new(vec![propose("major", "Sign the partnership")]);
    let company = start_with_task(&harness).await;
    tokio::time::sleep(24 * HOUR - Duration::from_secs(1)).await;
    assert_eq!(
        only_decision(&harness).await.status,
        DecisionStatus::Pending
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let decision = only_decision(&harness).await;
    assert_eq!(decision.status, DecisionStatus::Escalated);
    assert!(
        decision
            .escalation
            .as_deref()
            .unwrap_or("")
            .contains("did not vote"),
        "{:?}",
        decision.escalation
    );
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_the_middle_keeps_the_deadline() {
    let harness = Harness::new(vec![propose("major", "Sign the partnership")]);
    let company = start_with_task(&harness).await;
    tokio::time::sleep(10 * HOUR).await;
    company.shutdown().await;
    assert_eq!(
        only_decision(&harness).await.status,
        DecisionStatus::Pending
    );

    // Down for four hours, then a new company on the same store and clock.
    tokio::time::sleep(4 * HOUR).await;
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Dao, Role::Cto]))
        .start()
        .expect("restart");
    tokio::time::sleep(10 * HOUR - Duration::from_secs(1)).await;
    assert_eq!(
        only_decision(&harness).await.status,
        DecisionStatus::Pending
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let decision = only_decision(&harness).await;
    assert_eq!(
        decision.status,
        DecisionStatus::Escalated,
        "escalated 24 h after the proposal, not 24 h after the restart"
    );
    let escalated_at = decision.history.last().expect("history").at;
    let proposed_at = decision.created_at;
    assert_eq!((escalated_at - proposed_at).num_hours(), 24);
    company.shutdown().await;
}

/// A company whose bus fails the `nth` publish to `role`'s inbox once (a Redis failover while a
/// decision transitions).
async fn start_with_a_failing_publish(
    harness: &Harness,
    role: &str,
    nth: usize,
) -> aito_core::RunningCompany {
    use aito_core::testkit::faults::{BusOp, Fault, FaultyBus};
    let bus = std::sync::Arc::new(FaultyBus::new(harness.bus.clone()));
    bus.faults().inject(
        BusOp::PublishTo(aito_core::Channel::Agent(harness.id(role))),
        nth,
        Fault::Fail,
    );
    let company = harness
        .builder(quiet_agents(&[Role::Ceo, Role::Dao, Role::Cto]))
        .bus(bus)
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "cto", "Plan the migration").await;
    company
}

#[tokio::test(start_paused = true)]
async fn a_decision_result_whose_publish_failed_still_reaches_the_proposer() {
    let harness = Harness::new(vec![
        propose("minor", "Rename the repo"),
        vote(Role::Ceo, "Rename the repo", "approve", "fine"),
        carry_out(),
    ]);
    // The CTO's inbox: 1 the task, 2 the approval.
    let company = start_with_a_failing_publish(&harness, "cto", 2).await;
    tokio::time::sleep(Duration::from_secs(5 * 60)).await;
    let decision = only_decision(&harness).await;
    assert_eq!(decision.path(), "pending → approved → executed");
    assert!(decision.outbox.is_empty(), "{:?}", decision.outbox);
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_vote_request_whose_publish_failed_still_reaches_the_reviewer() {
    let harness = Harness::new(vec![
        propose("minor", "Rename the repo"),
        vote(Role::Ceo, "Rename the repo", "veto", "keep the name"),
    ]);
    let company = start_with_a_failing_publish(&harness, "ceo", 1).await;
    tokio::time::sleep(Duration::from_secs(5 * 60)).await;
    let decision = only_decision(&harness).await;
    assert_eq!(harness.sessions_of(&Role::Ceo), 1, "the CEO was asked");
    assert!(
        decision.path().starts_with("pending → revising"),
        "{}",
        decision.path()
    );
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_human_is_answered_with_the_approval_made_though_the_proposer_carried_it_out_at_once() {
    use std::sync::Arc;

    use aito_core::directory::AgentEntry;
    use aito_core::testkit::faults::{BusOp, Fault, FaultyBus};
    use aito_core::{AgentId, Clock, DecisionEngine, DecisionId, DefaultPolicy, Directory, Tier};
    use aito_core::{MemoryBus, MemoryStore};

    let clock = Clock::starting_at("2026-11-24T10:00:00Z".parse().expect("time"));
    let cto = AgentId::derived("co", "cto");
    let ceo = AgentId::derived("co", "ceo");
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(FaultyBus::new(Arc::new(MemoryBus::new())));
    let directory = Directory::new([
        AgentEntry {
            id: cto,
            role: Role::Cto,
        },
        AgentEntry {
            id: ceo,
            role: Role::Ceo,
        },
    ]);
    let engine = Arc::new(DecisionEngine::new(
        store.clone(),
        bus.clone(),
        Arc::new(DefaultPolicy::default()),
        clock,
        Arc::new(directory),
    ));
    let decision = Decision {
        id: DecisionId::random(),
        proposer: cto,
        proposer_role: Role::Cto,
        title: "Sign the lease".into(),
        description: "Five years".into(),
        options: vec![],
        tier: Tier::Critical,
        status: DecisionStatus::Escalated,
        round: 1,
        reviewers: vec![Role::Ceo],
        votes: vec![],
        history: vec![],
        created_at: clock.now(),
        deadline: None,
        escalation: Some("critical".into()),
        human: None,
        version: 0,
        outbox: Vec::new(),
    };
    store.create_decision(&decision).await.expect("create");
    // The approval's notice is on its way (its publish takes a second) when the proposer,
    // told by an earlier copy, carries the decision out.
    bus.faults()
        .inject(BusOp::Publish, 1, Fault::Delay(Duration::from_secs(1)));
    let answering = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.human_decide(decision.id, true, "go ahead").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    engine
        .mark_executed(decision.id, cto, "signed")
        .await
        .expect("carried out");
    let answered = answering.await.expect("joined").expect("answered");
    assert_eq!(
        answered.status,
        DecisionStatus::Approved,
        "{}",
        answered.path()
    );
    assert_eq!(
        answered.human.as_ref().map(|human| human.approve),
        Some(true)
    );
    let stored = store
        .decision(decision.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.path(), "approved → executed");
    assert!(stored.outbox.is_empty(), "{:?}", stored.outbox);
}
