//! One agent, two daemons: a daemon that loses its agent's lease in the middle of a session
//! stops before the lease can lapse, and the daemon that takes the lease over handles the
//! trigger; its actions run once.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aito_core::mock::Script;
use aito_core::store::StateStore;
use aito_core::testkit::faults::{Fault, FaultyStore, StoreOp};
use aito_core::{Bus, ReplayLlm, Role};
use common::faults::GatedLlm;
use common::{Harness, answer, eventually, quiet_agents};
use serde_json::json;

/// The CEO's answer, raising an alert that names the daemon whose model answered.
fn alert_script(daemon: &str) -> Vec<aito_core::mock::ScriptedResponse> {
    vec![answer(
        Role::Ceo,
        "Plan the launch",
        json!({
            "summary": format!("Raised the launch alert from the {daemon} daemon"),
            "actions": [{"type": "alert", "data": {"alertType": "general", "severity": "low", "message": format!("launch planning started by the {daemon} daemon")}}]
        }),
    )]
}

/// The alerts raised, as logged events.
async fn alerts(harness: &Harness) -> Vec<String> {
    harness
        .store
        .read_log(aito_core::store::logs::EVENTS, 1000)
        .await
        .expect("events")
        .into_iter()
        .filter(|event| event["event"] == "alert")
        .map(|event| event.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_cannot_renew_its_lease_stops_and_its_successor_acts_once() {
    let mut harness = Harness::new(alert_script("second"));
    harness.settings.lease_ttl = Duration::from_secs(1);
    common::logs();
    // The first daemon's model answers only when the test says so; its store can be cut off.
    let gated = Arc::new(GatedLlm::new(ReplayLlm::new(Script {
        description: None,
        responses: alert_script("first"),
        on_exhausted: Default::default(),
    })));
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    let first = harness
        .builder(quiet_agents(&[Role::Ceo]))
        .store(store.clone())
        .llm(gated.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    let ceo = harness.id("ceo");
    let envelope = aito_core::Envelope::new(
        aito_core::MessageType::Task,
        aito_core::Sender::Human,
        json!({ "title": "Plan the launch" }),
    );
    harness
        .bus
        .publish(aito_core::Channel::Agent(ceo), envelope)
        .await
        .expect("publish");
    eventually(
        "the first daemon's session",
        Duration::from_secs(10),
        || async { (gated.calls.load(Ordering::SeqCst) == 1).then_some(()) },
    )
    .await;
    // Mid-session, the first daemon can no longer renew its lease (a store it cannot reach).
    store.faults().always(StoreOp::AcquireLease, Fault::Fail);
    // Once the lease has lapsed, the first daemon's model answers: had its session outlived
    // the lease, it would act now.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    gated.open_once();
    // A second daemon of the same agent stands by and takes the lease once it lapsed.
    let second = harness
        .builder(quiet_agents(&[Role::Ceo]))
        .build()
        .expect("company")
        .start()
        .expect("start");
    let history = eventually(
        "the second daemon to handle the trigger",
        Duration::from_secs(15),
        || async {
            let history = harness.history("ceo").await;
            (!history.is_empty()).then_some(history)
        },
    )
    .await;
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        1,
        "the successor ran the session"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(history.len(), 1);
    assert!(history[0].summary.contains("second daemon"), "{history:?}");
    assert_eq!(
        harness.history("ceo").await.len(),
        1,
        "the trigger was recorded twice"
    );
    let alerts = alerts(&harness).await;
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    assert!(
        alerts[0].contains("second daemon"),
        "the daemon that lost its lease acted: {alerts:?}"
    );
    store.faults().clear();
    first.shutdown().await;
    second.shutdown().await;
}
