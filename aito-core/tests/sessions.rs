//! Stored sessions in a running company: each handled trigger keeps the prompt the model got,
//! its raw answer, what was read from it and each action's outcome, under the trigger id of
//! its history entry; the newest `sessions_keep` per agent are kept; the message that woke an
//! agent says who sent it and under which correlation id.

mod common;

use aito_core::store::StateStore;
use aito_core::{Role, Sender};
use common::{Harness, answer, quiet_agents, settle, task};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_history_row_opens_its_session_with_the_prompt_the_model_got() {
    let mut harness = Harness::new(vec![
        answer(
            Role::Ceo,
            "Plan the launch",
            json!({
                "summary": "Asked the CTO for the region",
                "actions": [{"type": "alert", "data": {"alertType": "general", "severity": "low", "message": "launch planned"}}],
                "messages": [{"to": "cto", "content": "Open the Frankfurt region.", "type": "task", "priority": "high"}],
                "stateUpdates": {"current_focus": "launch"}
            }),
        ),
        answer(
            Role::Cto,
            "Frankfurt",
            json!({"summary": "Opening the region", "actions": []}),
        ),
    ]);
    harness.settings.sessions_keep = 2;
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cto]))
        .start()
        .expect("start");
    task(&company, "ceo", "Plan the launch").await;
    settle(&company).await;
    for n in 0..3 {
        task(&company, "cto", &format!("Frankfurt, step {n}")).await;
    }
    settle(&company).await;
    company.shutdown().await;

    let ceo = harness.id("ceo");
    let history = harness.history("ceo").await;
    assert_eq!(history.len(), 1);
    let record = harness
        .store
        .session(ceo, &history[0].trigger_id)
        .await
        .expect("read")
        .expect("the history row's session is kept");
    let requests = harness.llm.requests();
    let request = requests
        .iter()
        .find(|request| request.role == Role::Ceo)
        .expect("the CEO's session ran");
    assert_eq!(record.prompt.as_deref(), Some(request.prompt.as_str()));
    assert_eq!(
        record.system_prompt.as_deref(),
        Some(request.system_prompt.as_str())
    );
    assert!(
        record
            .answer
            .as_deref()
            .is_some_and(|answer| answer.contains("Open the Frankfurt region."))
    );
    let parsed = record.parsed.as_ref().expect("parsed");
    assert_eq!(parsed.actions, ["alert"]);
    assert_eq!(parsed.messages.len(), 1);
    assert_eq!(parsed.messages[0].to, "cto");
    assert_eq!(parsed.state_updates["current_focus"], "launch");
    assert_eq!(record.actions, history[0].actions);
    assert!(record.actions.iter().all(|action| action.ok));
    assert!(matches!(
        record.envelope().map(|e| &e.from),
        Some(Sender::Human)
    ));

    // The CTO's first session was woken by the CEO, in the conversation the CEO's session
    // carried; only the newest two of its four sessions are kept.
    let cto = harness.id("cto");
    let kept = harness.store.sessions(cto, 100).await.expect("list");
    assert_eq!(kept.len(), 2, "sessions_keep bounds the records");
    let cto_history = harness.history("cto").await;
    assert_eq!(cto_history.len(), 4);
    let newest: Vec<&str> = cto_history[2..]
        .iter()
        .map(|entry| entry.trigger_id.as_str())
        .collect();
    let kept_ids: Vec<&str> = kept
        .iter()
        .map(|record| record.trigger_id.as_str())
        .collect();
    assert_eq!(kept_ids, newest, "the newest two are kept, oldest first");
    assert!(
        kept[1].description.contains("step 2"),
        "{}",
        kept[1].description
    );
    assert!(
        harness
            .store
            .session(cto, &cto_history[0].trigger_id)
            .await
            .expect("read")
            .is_none(),
        "the oldest was dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_between_agents_is_threaded_under_its_senders_conversation() {
    let harness = Harness::new(vec![
        answer(
            Role::Ceo,
            "Plan the launch",
            json!({
                "summary": "Asked the CTO",
                "messages": [{"to": "cto", "content": "Open the Frankfurt region.", "type": "task"}]
            }),
        ),
        answer(
            Role::Cto,
            "Frankfurt",
            json!({"summary": "Opening the region", "actions": []}),
        ),
    ]);
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cto]))
        .start()
        .expect("start");
    task(&company, "ceo", "Plan the launch").await;
    settle(&company).await;
    company.shutdown().await;
    let ceo = &harness.store.sessions(harness.id("ceo"), 10).await.unwrap()[0];
    let cto = &harness.store.sessions(harness.id("cto"), 10).await.unwrap()[0];
    let woke = cto.envelope().expect("a message woke the CTO");
    assert_eq!(woke.from, Sender::Agent(harness.id("ceo")));
    assert!(ceo.thread().is_some());
    assert_eq!(cto.thread(), ceo.correlation_id, "one conversation");
    assert_eq!(cto.thread(), ceo.thread());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_is_kept_when_sessions_keep_is_zero() {
    let mut harness = Harness::new(vec![answer(
        Role::Cto,
        "Frankfurt",
        json!({"summary": "Opening the region", "actions": []}),
    )]);
    harness.settings.sessions_keep = 0;
    let company = harness
        .company(quiet_agents(&[Role::Cto]))
        .start()
        .expect("start");
    task(&company, "cto", "Frankfurt").await;
    settle(&company).await;
    company.shutdown().await;
    assert_eq!(harness.history("cto").await.len(), 1);
    assert!(
        harness
            .store
            .sessions(harness.id("cto"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
