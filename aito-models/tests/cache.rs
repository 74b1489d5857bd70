//! Prompt caching through the daemon: an agent's second session on the Anthropic backend
//! sends the same cacheable prefix, and the cost is computed from what the API reports as
//! cached.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aito_core::{AgentSpec, Company, MessageType, MockWorkers, Priority, Role};
use aito_mock_api::{Message, MockServer, Usage};
use aito_models::ApiSession;
use common::config;
use serde_json::json;

#[tokio::test]
async fn the_second_session_sends_the_cached_prefix_unchanged_and_pays_the_cached_rate() {
    let server = MockServer::start().unwrap();
    let answer = r#"{"summary": "done", "actions": []}"#;
    // The first session writes the prefix to the cache, the second reads it.
    server.push(Message::text(answer).usage(Usage {
        input_tokens: 40,
        output_tokens: 10,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 1500,
    }));
    server.push(Message::text(answer).usage(Usage {
        input_tokens: 45,
        output_tokens: 10,
        cache_read_input_tokens: 1500,
        cache_creation_input_tokens: 0,
    }));
    let session = ApiSession::anthropic(config("anthropic", &server.url(), "claude-test")).unwrap();
    let workspaces = tempfile::tempdir().unwrap();
    let company = Company::builder("acme")
        .agents([AgentSpec::new(Role::Cto).without_schedules()])
        .embedded()
        .llm(Arc::new(session))
        .workers(Arc::new(MockWorkers::new()))
        .workspace_root(workspaces.path())
        .build()
        .unwrap();
    let running = company.start().unwrap();
    for title in ["Rotate the API keys", "Write the release notes"] {
        running
            .send(
                "cto",
                MessageType::Task,
                json!({"title": title}),
                Priority::High,
            )
            .await
            .unwrap();
        assert!(
            server
                .wait_for_calls(server.model_calls().len() + 1, Duration::from_secs(20))
                .await
        );
        running.wait_idle(Duration::from_millis(200)).await;
    }
    let calls = server.model_calls();
    assert_eq!(calls.len(), 2);
    let system = |n: usize| {
        let body = calls[n].json().unwrap();
        assert_eq!(
            body["system"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        body["system"].to_string()
    };
    assert_eq!(
        system(0),
        system(1),
        "the cacheable prefix changed between sessions"
    );
    // The bytes on the wire, too: the system blocks are found verbatim in both bodies.
    let wire = system(0);
    for call in &calls {
        let body = String::from_utf8_lossy(&call.body);
        assert!(
            body.contains(&wire),
            "the system blocks are not byte-identical on the wire"
        );
    }
    let texts: Vec<String> = calls
        .iter()
        .map(|call| call.json().unwrap()["messages"][0]["content"].to_string())
        .collect();
    assert_ne!(
        texts[0], texts[1],
        "the prompts differ, only the prefix is shared"
    );

    let cto = running.id_of(&Role::Cto).unwrap();
    let mut history = running.runtime().store.history(cto, 10).await.unwrap();
    history.sort_by_key(|entry| entry.at);
    assert_eq!(history.len(), 2);
    let first = (40.0 * 3.0 + 1500.0 * 3.75 + 10.0 * 15.0) / 1e6;
    let second = (45.0 * 3.0 + 1500.0 * 0.3 + 10.0 * 15.0) / 1e6;
    assert!(
        (history[0].cost_usd - first).abs() < 1e-12,
        "{}",
        history[0].cost_usd
    );
    assert!(
        (history[1].cost_usd - second).abs() < 1e-12,
        "{}",
        history[1].cost_usd
    );
    assert_eq!(history[1].provider.as_deref(), Some("anthropic"));
    running.shutdown().await;
}
