//! An effect is reported done only when it is done: an action cut off by a crash, or one that
//! failed before its trigger was retried, is carried out again when that is safe, and reported
//! failed otherwise; never "already carried out".

mod common;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use aito_core::store::StateStore;
use aito_core::testkit::faults::{BusOp, Fault, FaultyBus, FaultyStore, StoreOp};
use aito_core::{Bus, Channel, Envelope, MessageType, Role, Sender};
use common::{Harness, answer, eventually, quiet_agents, settle};
use serde_json::json;

/// A task to `to`, as a human sends it, with an id the test knows in advance.
fn task(title: &str) -> Envelope {
    Envelope::new(MessageType::Task, Sender::Human, json!({ "title": title }))
}

/// What a daemon killed in the middle of action `index` of `trigger` leaves in the store: the
/// action's intent, and no completion.
async fn cut_off(harness: &Harness, role: &str, trigger: &Envelope, index: usize) {
    let key = format!("action:{}:{}#a{index}", harness.id(role), trigger.id);
    assert!(
        harness
            .store
            .first_time(&key, Duration::from_secs(3600))
            .await
            .expect("intent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operational_action_cut_off_by_a_crash_is_finished_after_the_restart() {
    let files: Vec<_> = (0..4)
        .map(|n| json!({ "path": format!("site/page{n}.html"), "content": format!("page {n}") }))
        .collect();
    let harness = Harness::new(vec![answer(
        Role::Cto,
        "Build the site",
        json!({
            "summary": "Built the site",
            "actions": [{"type": "operational", "data": {"title": "Site", "files": files, "commit": "Build the site"}}]
        }),
    )]);
    let trigger = task("Build the site");
    // The predecessor wrote two of the four files, then was killed before committing.
    cut_off(&harness, "cto", &trigger, 0).await;
    let workspace = harness.workspaces.path().join("cto");
    fs::create_dir_all(workspace.join("site")).unwrap();
    for n in 0..2 {
        fs::write(
            workspace.join(format!("site/page{n}.html")),
            format!("page {n}"),
        )
        .unwrap();
    }

    let company = harness
        .company(quiet_agents(&[Role::Cto]))
        .start()
        .expect("start");
    harness
        .bus
        .publish(Channel::Agent(harness.id("cto")), trigger)
        .await
        .unwrap();
    let history = eventually("the CTO to finish", Duration::from_secs(10), || async {
        let history = harness.history("cto").await;
        (!history.is_empty()).then_some(history)
    })
    .await;
    settle(&company).await;
    company.shutdown().await;

    let record = &history[0].actions[0];
    assert!(record.ok, "{}", record.detail);
    assert!(
        record.detail.contains("carried out again"),
        "{}",
        record.detail
    );
    for n in 0..4 {
        assert_eq!(
            fs::read_to_string(workspace.join(format!("site/page{n}.html"))).unwrap(),
            format!("page {n}")
        );
    }
    let log = std::process::Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(&workspace)
        .output()
        .expect("git log");
    assert_eq!(
        String::from_utf8_lossy(&log.stdout).trim(),
        "Build the site"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_by_a_crash_is_reported_failed_not_done() {
    let harness = Harness::new(vec![
        answer(
            Role::Cto,
            "Compare hosting",
            json!({
                "summary": "Asked a worker",
                "actions": [{"type": "spawn_worker", "data": {"task": "Compare static hosting offers"}}]
            }),
        ),
        answer(
            Role::Cto,
            "Next task",
            json!({"summary": "ok", "actions": []}),
        ),
    ]);
    let trigger = task("Compare hosting");
    cut_off(&harness, "cto", &trigger, 0).await;
    let company = harness
        .company(quiet_agents(&[Role::Cto]))
        .start()
        .expect("start");
    harness
        .bus
        .publish(Channel::Agent(harness.id("cto")), trigger)
        .await
        .unwrap();
    let history = eventually("the CTO to finish", Duration::from_secs(10), || async {
        let history = harness.history("cto").await;
        (!history.is_empty()).then_some(history)
    })
    .await;
    let record = &history[0].actions[0];
    assert!(!record.ok, "reported done: {}", record.detail);
    assert!(record.detail.contains("cut off"), "{}", record.detail);
    assert!(
        harness.workers.tasks().is_empty(),
        "no second worker is started"
    );
    // The agent hears of it in its next prompt.
    common::task(&company, "cto", "Next task").await;
    settle(&company).await;
    let prompts = harness.llm.requests();
    assert!(
        prompts[1].prompt.contains("cut off"),
        "{}",
        prompts[1].prompt
    );
    company.shutdown().await;
}

/// A message whose publish failed while the store failed too (a Redis failover): the trigger
/// is retried, and the message is sent then, not skipped as "already carried out".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_publish_failed_is_sent_when_the_trigger_is_retried() {
    let harness = Harness::new(vec![
        answer(
            Role::Ceo,
            "Plan the launch",
            json!({
                "summary": "Asked the CTO for a plan",
                "messages": [{"to": "cto", "content": "Write the launch plan", "type": "task"}]
            }),
        ),
        answer(
            Role::Cto,
            "Write the launch plan",
            json!({"summary": "Planned", "actions": []}),
        ),
    ]);
    let bus = Arc::new(FaultyBus::new(harness.bus.clone()));
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    let cto = Channel::Agent(harness.id("cto"));
    bus.faults().inject(BusOp::PublishTo(cto), 1, Fault::Fail);
    store
        .faults()
        .inject(StoreOp::FinishTrigger, 1, Fault::Fail);
    let company = harness
        .builder(quiet_agents(&[Role::Ceo, Role::Cto]))
        .bus(bus.clone())
        .store(store.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan the launch").await;
    eventually(
        "the CTO to get the message on the retry",
        Duration::from_secs(20),
        || async { (harness.sessions_of(&Role::Cto) == 1).then_some(()) },
    )
    .await;
    settle(&company).await;
    let ceo = harness.history("ceo").await;
    assert_eq!(ceo.len(), 1);
    assert!(ceo[0].actions[0].ok, "{}", ceo[0].actions[0].detail);
    assert_eq!(harness.sessions_of(&Role::Ceo), 1, "the answer is re-used");
    company.shutdown().await;
}
