//! At-least-once delivery with at-most-once actions: a trigger that was not acknowledged is
//! handled again after a restart, and the actions it already ran are not repeated.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aito_core::mock::Script;
use aito_core::store::{Outcome, StateStore};
use aito_core::testkit::faults::{Fault, FaultyStore, StoreOp};
use aito_core::{Bus, ReplayLlm, Role};
use common::faults::{GatedLlm, PanickyLlm};
use common::{Harness, answer, eventually, quiet_agents, settle};
use serde_json::json;

fn delegate_script() -> Vec<aito_core::mock::ScriptedResponse> {
    vec![
        answer(
            Role::Ceo,
            "Plan the launch",
            json!({
                "summary": "Asked the CTO for a plan",
                "messages": [{"to": "cto", "content": "Write the launch plan", "type": "task"}],
                "actions": [{"type": "alert", "data": {"alertType": "general", "severity": "low", "message": "launch planning started"}}]
            }),
        ),
        answer(
            Role::Cto,
            "Write the launch plan",
            json!({"summary": "Planned", "actions": []}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_stopped_after_acting_but_before_acking_does_not_act_twice() {
    let harness = Harness::new(delegate_script());
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    let build = || {
        harness
            .builder(quiet_agents(&[Role::Ceo, Role::Cto]))
            .store(store.clone())
            .build()
            .expect("company")
    };

    common::logs();
    // First life: the CEO acts, then freezes while recording the trigger, and is shut down.
    store.faults().always(StoreOp::FinishTrigger, Fault::Hang);
    let first = build().start().expect("start");
    common::task(&first, "ceo", "Plan the launch").await;
    eventually(
        "the CTO to get the CEO's message",
        Duration::from_secs(10),
        || async { (harness.sessions_of(&Role::Cto) == 1).then_some(()) },
    )
    .await;
    assert!(
        harness.history("ceo").await.is_empty(),
        "the CEO must not have finished"
    );
    first.shutdown().await;

    // Second life: the unacknowledged task comes back and is finished without repeating.
    store.faults().clear();
    let second = build().start().expect("restart");
    let ceo = eventually(
        "the CEO to finish the redelivered task",
        Duration::from_secs(10),
        || async {
            let history = harness.history("ceo").await;
            (!history.is_empty()).then_some(history)
        },
    )
    .await;
    settle(&second).await;
    assert_eq!(ceo.len(), 1);
    assert_eq!(ceo[0].outcome, Outcome::Handled);
    assert!(
        ceo[0]
            .actions
            .iter()
            .all(|record| record.detail.contains("not repeated")),
        "{:?}",
        ceo[0].actions
    );
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        1,
        "the recorded answer is re-used, not paid for twice"
    );
    assert_eq!(
        harness.sessions_of(&Role::Cto),
        1,
        "the message to the CTO was sent once"
    );
    let alerts = harness
        .store
        .read_log(aito_core::store::logs::EVENTS, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event["event"] == "alert")
        .count();
    assert_eq!(alerts, 1, "the alert was raised once");
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_handling_is_survived_and_the_trigger_handled_again() {
    let harness = Harness::new(vec![]);
    let llm = Arc::new(PanickyLlm {
        inner: ReplayLlm::new(Script {
            description: None,
            responses: delegate_script(),
            on_exhausted: Default::default(),
        }),
        panics: AtomicUsize::new(1),
        calls: AtomicUsize::new(0),
    });
    let company = harness
        .builder(quiet_agents(&[Role::Ceo, Role::Cto]))
        .llm(llm.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan the launch").await;
    let ceo = eventually(
        "the CEO to handle the task after the panic",
        Duration::from_secs(10),
        || async {
            let history = harness.history("ceo").await;
            (!history.is_empty()).then_some(history)
        },
    )
    .await;
    assert_eq!(ceo[0].summary, "Asked the CTO for a plan");
    settle(&company).await;
    // CEO: one panic and one answer; CTO: one answer.
    assert_eq!(llm.calls.load(Ordering::SeqCst), 3);
    company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_that_always_panics_is_dead_lettered() {
    let harness = Harness::new(vec![]);
    let llm = Arc::new(PanickyLlm {
        inner: ReplayLlm::from_texts(Vec::<String>::new()),
        panics: AtomicUsize::new(usize::MAX),
        calls: AtomicUsize::new(0),
    });
    let company = harness
        .builder(quiet_agents(&[Role::Ceo]))
        .llm(llm.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "ceo", "Explode").await;
    let letters = eventually("a dead letter", Duration::from_secs(10), || async {
        let letters = harness.store.dead_letters(None, 10).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert!(
        letters[0].reason.contains("panicked"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        llm.calls.load(Ordering::SeqCst),
        3,
        "tried max_attempts times, then set aside"
    );
    company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_by_a_stop_is_reported_to_its_agent_at_the_next_start() {
    let harness = Harness::new(vec![
        answer(
            Role::Cto,
            "Compare hosting",
            json!({
                "summary": "Asked a worker",
                "actions": [{"type": "spawn_worker", "data": {"task": "Compare static hosting offers", "timeout": 600000}}]
            }),
        ),
        answer(
            Role::Cto,
            "interrupted",
            json!({"summary": "The comparison was cut off; will ask again", "actions": []}),
        ),
    ]);
    let record_key = format!("workers:{}", harness.id("cto"));

    // First life: the worker is still running when the company stops.
    let slow = Arc::new(aito_core::MockWorkers::new().with_delay(Duration::from_secs(3600)));
    let first = harness
        .builder(quiet_agents(&[Role::Cto]))
        .workers(slow.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&first, "cto", "Compare hosting").await;
    eventually("the worker to start", Duration::from_secs(10), || async {
        (!slow.tasks().is_empty()).then_some(())
    })
    .await;
    first.shutdown().await;
    assert!(
        harness
            .store
            .get_value(&record_key)
            .await
            .unwrap()
            .is_some(),
        "the running worker is written down"
    );

    // Second life: the agent hears that the worker never finished, once.
    let fresh = Arc::new(aito_core::MockWorkers::new());
    let second = harness
        .builder(quiet_agents(&[Role::Cto]))
        .workers(fresh.clone())
        .build()
        .expect("company")
        .start()
        .expect("restart");
    let cto = eventually(
        "the CTO to hear of the interrupted worker",
        Duration::from_secs(10),
        || async {
            let history = harness.history("cto").await;
            (history.len() >= 2).then_some(history)
        },
    )
    .await;
    settle(&second).await;
    assert_eq!(cto[1].summary, "The comparison was cut off; will ask again");
    let notice = harness
        .llm
        .requests()
        .into_iter()
        .filter(|request| request.role == Role::Cto)
        .nth(1)
        .expect("a second CTO session");
    assert!(
        notice.prompt.contains("\"status\": \"interrupted\"")
            || notice.prompt.contains("\"status\":\"interrupted\""),
        "{}",
        notice.prompt
    );
    assert!(notice.prompt.contains("Compare static hosting offers"));
    assert_eq!(
        harness.sessions_of(&Role::Cto),
        2,
        "one notice, one session"
    );
    assert!(
        fresh.tasks().is_empty(),
        "the worker is not re-run behind the agent's back"
    );
    assert_eq!(
        harness.store.get_value(&record_key).await.unwrap(),
        None,
        "the record is struck off once reported"
    );
    second.shutdown().await;
}

/// The reply to the write that records a handled trigger is lost (the store went away right
/// after carrying it out): the daemon retries, and the trigger is counted once in state and
/// history, without a second session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_to_recording_a_trigger_does_not_count_it_twice() {
    let harness = Harness::new(delegate_script());
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    store
        .faults()
        .inject(StoreOp::FinishTrigger, 1, Fault::FailAfter);
    let company = harness
        .builder(quiet_agents(&[Role::Ceo]))
        .store(store.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan the launch").await;
    // Checked by intake and when handling starts, then again when the retry comes.
    eventually(
        "the CEO to come back to the trigger",
        Duration::from_secs(15),
        || async { (store.faults().calls(StoreOp::IsMarked) >= 3).then_some(()) },
    )
    .await;
    settle(&company).await;
    let history = harness.history("ceo").await;
    assert_eq!(history.len(), 1, "{history:?}");
    let state = harness.store.load_state(harness.id("ceo")).await.unwrap();
    assert_eq!(state.value.loop_count, 1);
    assert_eq!(state.value.success_count, 1);
    assert_eq!(harness.sessions_of(&Role::Ceo), 1);
    company.shutdown().await;
}

/// A second copy of a message passes intake's check while the first is being handled, and is
/// queued only after the first was recorded: it is recognised when its turn comes, not handled
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_queued_while_the_first_was_handled_is_not_handled_again() {
    let harness = Harness::new(vec![]);
    let llm = Arc::new(GatedLlm::new(ReplayLlm::new(Script {
        description: None,
        responses: delegate_script(),
        on_exhausted: Default::default(),
    })));
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    let company = harness
        .builder(quiet_agents(&[Role::Ceo]))
        .store(store.clone())
        .llm(llm.clone())
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
        .publish(aito_core::Channel::Agent(ceo), envelope.clone())
        .await
        .unwrap();
    eventually("the first session", Duration::from_secs(10), || async {
        (llm.calls.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // The copy's check reads "not handled" now, and intake queues it only a second later.
    store.faults().inject(
        StoreOp::IsMarked,
        1,
        Fault::DelayAfter(Duration::from_secs(1)),
    );
    harness
        .bus
        .publish(aito_core::Channel::Agent(ceo), envelope)
        .await
        .unwrap();
    eventually(
        "intake to check the copy",
        Duration::from_secs(10),
        || async { (store.faults().calls(StoreOp::IsMarked) >= 2).then_some(()) },
    )
    .await;
    llm.open_once();
    llm.open_once();
    eventually(
        "the first copy handled",
        Duration::from_secs(10),
        || async { (harness.history("ceo").await.len() == 1).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    settle(&company).await;
    assert_eq!(llm.calls.load(Ordering::SeqCst), 1, "one session");
    assert_eq!(harness.history("ceo").await.len(), 1);
    company.shutdown().await;
}
