//! Guards of the daemon loop: the hop limit, the session budget, and the pause switch.

mod common;

use std::time::Duration;

use aito_core::store::StateStore;
use aito_core::{Budget, MessageType, Priority, Role};
use common::{Harness, answer, quiet_agents};
use serde_json::json;

async fn events(harness: &Harness, name: &str) -> Vec<serde_json::Value> {
    harness
        .store
        .read_log(aito_core::store::logs::EVENTS, 10_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|event| event["event"] == name)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_hop_limit_stops_two_agents_that_keep_answering_each_other() {
    let mut ping = answer(
        Role::Cto,
        "",
        json!({"summary": "replied", "messages": [{"to": "cmo", "content": "your turn"}]}),
    );
    ping.repeat = true;
    ping.when = None;
    let mut pong = answer(
        Role::Cmo,
        "",
        json!({"summary": "replied", "messages": [{"to": "cto", "content": "no, your turn"}]}),
    );
    pong.repeat = true;
    pong.when = None;
    let mut harness = Harness::new(vec![ping, pong]);
    harness.settings.hop_limit = 5;
    let company = harness
        .company(quiet_agents(&[Role::Cto, Role::Cmo]))
        .start()
        .expect("start");
    common::task(&company, "cto", "Start talking").await;
    tokio::time::sleep(Duration::from_secs(600)).await;

    // Hops 0..=5 are handled: three sessions each, then the message with 6 hops is dropped.
    assert_eq!(harness.sessions_of(&Role::Cto), 3);
    assert_eq!(harness.sessions_of(&Role::Cmo), 3);
    let tripped = events(&harness, "guard_tripped").await;
    assert_eq!(tripped.len(), 1, "{tripped:?}");
    assert_eq!(tripped[0]["guard"], "hop_limit");
    assert_eq!(tripped[0]["figures"]["hops"], 6);
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_session_budget_stops_an_agent_until_the_next_hour() {
    let mut busy = answer(Role::Ceo, "Task", json!({"summary": "done", "actions": []}));
    busy.repeat = true;
    let harness = Harness::new(vec![busy]);
    let ceo = aito_core::AgentSpec::new(Role::Ceo)
        .without_schedules()
        .budget(Budget {
            sessions_per_hour: Some(3),
            ..Budget::unlimited()
        });
    let company = harness.company(vec![ceo]).start().expect("start");
    for n in 0..5 {
        common::task(&company, "ceo", &format!("Task {n}")).await;
    }
    // The clock starts at 10:00; stay within the hour.
    tokio::time::sleep(Duration::from_secs(50 * 60)).await;
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        3,
        "the budget allows three sessions an hour"
    );
    let tripped = events(&harness, "guard_tripped").await;
    assert_eq!(tripped.len(), 1);
    assert_eq!(tripped[0]["guard"], "budget");
    assert_eq!(tripped[0]["figures"]["limit"], "sessions_per_hour");
    let status = harness.store.statuses().await.unwrap();
    assert_eq!(
        status[0].activity,
        aito_core::store::Activity::Paused,
        "{status:?}"
    );

    tokio::time::sleep(Duration::from_secs(15 * 60)).await;
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        5,
        "the rest run once the hour turns"
    );
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn pause_stops_all_sessions_and_resume_restarts_them() {
    let mut ceo = answer(
        Role::Ceo,
        "Work",
        json!({"summary": "worked", "actions": []}),
    );
    ceo.repeat = true;
    let mut cto = answer(
        Role::Cto,
        "Work",
        json!({"summary": "worked", "actions": []}),
    );
    cto.repeat = true;
    let harness = Harness::new(vec![ceo, cto]);
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cto]))
        .start()
        .expect("start");
    company.pause("test").await.expect("pause");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for role in ["ceo", "cto"] {
        company
            .send(
                role,
                MessageType::Task,
                json!({"title": "Work"}),
                Priority::Urgent,
            )
            .await
            .expect("send");
    }
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(harness.llm.requests().len(), 0, "no session while paused");
    let paused: Vec<_> = harness
        .store
        .statuses()
        .await
        .unwrap()
        .into_iter()
        .map(|status| (status.activity, status.paused_reason))
        .collect();
    assert!(
        paused.iter().all(
            |(activity, reason)| *activity == aito_core::store::Activity::Paused
                && reason.as_deref() == Some("the company is paused")
        ),
        "{paused:?}"
    );
    company.resume("test").await.expect("resume");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(harness.sessions_of(&Role::Ceo), 1);
    assert_eq!(harness.sessions_of(&Role::Cto), 1);
    company.shutdown().await;
}
