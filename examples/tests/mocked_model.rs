//! Testing an agent's behaviour with mockall: the model is a `MockLlmSession` (from aito-core's
//! `test-utils` feature) with expectations on what each agent asks it, so a test states exactly
//! which sessions a message should cause and fails on any other.

use std::sync::Arc;
use std::time::Duration;

use aito_core::llm::MockLlmSession;
use aito_core::{
    AgentSpec, Company, LlmError, LlmResponse, MessageType, MockWorkers, Priority, Role,
    RunningCompany,
};
use serde_json::json;
use tempfile::TempDir;

fn answer(json: serde_json::Value) -> LlmResponse {
    LlmResponse {
        text: json.to_string(),
        cost_usd: 0.01,
        ..LlmResponse::default()
    }
}

fn start(model: MockLlmSession, roles: &[Role]) -> (RunningCompany, TempDir) {
    let workspaces = tempfile::tempdir().expect("temp dir");
    let company = Company::builder("acme")
        .agents(
            roles
                .iter()
                .map(|role| AgentSpec::new(role.clone()).without_schedules()),
        )
        .embedded()
        .llm(Arc::new(model))
        .workers(Arc::new(MockWorkers::new()))
        .workspace_root(workspaces.path())
        .build()
        .expect("company");
    (company.start().expect("started"), workspaces)
}

#[tokio::test]
async fn a_task_for_the_cto_runs_one_session_in_its_workspace_and_reaches_the_ceo() {
    let mut model = MockLlmSession::new();
    model
        .expect_run()
        .withf(|request| {
            request.role == Role::Cto
                && request.prompt.contains("Rotate the API keys")
                && request
                    .working_dir
                    .as_ref()
                    .is_some_and(|dir| dir.ends_with("cto"))
        })
        .times(1)
        .returning(|_| {
            Ok(answer(json!({
                "summary": "Rotated the keys",
                "messages": [{"to": "ceo", "content": "API keys rotated"}]
            })))
        });
    model
        .expect_run()
        .withf(|request| request.role == Role::Ceo && request.prompt.contains("API keys rotated"))
        .times(1)
        .returning(|_| Ok(answer(json!({"summary": "Noted", "actions": []}))));

    let (running, _workspaces) = start(model, &[Role::Ceo, Role::Cto]);
    running
        .send(
            "cto",
            MessageType::Task,
            json!({"title": "Rotate the API keys"}),
            Priority::High,
        )
        .await
        .expect("sent");
    running.wait_idle(Duration::from_millis(200)).await;

    let ceo = running.id_of(&Role::Ceo).expect("ceo");
    let history = running
        .runtime()
        .store
        .history(ceo, 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "the CEO handled one message: {history:?}");
    assert_eq!(history[0].summary, "Noted");
    // Dropping the company drops the mock, which checks every `times(1)`.
    running.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_set_the_message_aside_for_a_human_instead_of_retrying() {
    let mut model = MockLlmSession::new();
    model.expect_run().times(1).returning(|_| {
        Err(LlmError::Auth {
            message: "invalid API key".to_owned(),
        })
    });

    let (running, _workspaces) = start(model, &[Role::Cfo]);
    running
        .send(
            "cfo",
            MessageType::Direct,
            json!({"content": "Close the books"}),
            Priority::Normal,
        )
        .await
        .expect("sent");
    running.wait_idle(Duration::from_millis(200)).await;

    let cfo = running.id_of(&Role::Cfo).expect("cfo");
    let store = &running.runtime().store;
    let letters = store
        .dead_letters(Some(cfo), 10)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1, "one dead letter: {letters:?}");
    assert!(
        letters[0].reason.contains("invalid API key"),
        "{}",
        letters[0].reason
    );
    let state = store.load_state(cfo).await.expect("state").value;
    assert_eq!(state.error_count, 1);
    running.shutdown().await;
}
