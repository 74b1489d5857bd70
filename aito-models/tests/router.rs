//! The router: rules per agent, session kind and tier; fallback in order when a provider is
//! rate limited, overloaded or down; a provider used again once its `retry-after` has passed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aito_core::{
    AgentSpec, Company, LlmError, LlmSession, MessageType, MockWorkers, Priority, Role,
    SessionKind, Tier,
};
use aito_mock_api::{ApiError, MockServer, Reply};
use aito_models::{ApiSession, Router, RouterError, Rule};
use common::{ANSWER, config, request};
use serde_json::json;

fn anthropic(name: &str, server: &MockServer) -> (String, Arc<dyn LlmSession>) {
    // A retry-after longer than a second is not waited out by the backend: the router
    // falls back instead.
    let config = config(name, &server.url(), "claude-test").retries(2, Duration::from_secs(1));
    (
        name.to_owned(),
        Arc::new(ApiSession::anthropic(config).expect("a client")),
    )
}

fn openai(name: &str, server: &MockServer) -> (String, Arc<dyn LlmSession>) {
    let config = config(name, &format!("{}/v1", server.url()), "qwen-test")
        .retries(2, Duration::from_secs(1));
    (
        name.to_owned(),
        Arc::new(ApiSession::openai(config).expect("a client")),
    )
}

/// A provider whose backend does not retry on its own, so every failure reaches the router.
fn no_retries(name: &str, server: &MockServer) -> (String, Arc<dyn LlmSession>) {
    let config = config(name, &server.url(), "claude-test").retries(0, Duration::ZERO);
    (
        name.to_owned(),
        Arc::new(ApiSession::anthropic(config).expect("a client")),
    )
}

#[tokio::test]
async fn with_check_ins_on_b_a_tick_goes_to_b_and_a_task_to_a() {
    let a = MockServer::start().unwrap();
    let b = MockServer::start().unwrap();
    a.respond_with(|_: &aito_mock_api::Recorded| {
        Reply::text(r#"{"summary": "task done", "actions": []}"#)
    });
    b.respond_with(|_: &aito_mock_api::Recorded| {
        Reply::text(r#"{"summary": "checked in", "actions": []}"#)
    });
    let router = Router::new(
        vec![anthropic("a", &a), openai("b", &b)],
        vec![Rule::to(["b", "a"]).kinds([SessionKind::Scheduled])],
    )
    .unwrap();
    let workspaces = tempfile::tempdir().unwrap();
    let company = Company::builder("acme")
        .agents([AgentSpec::new(Role::Cto)
            .without_schedules()
            .run_on_startup(true)])
        .embedded()
        .llm(Arc::new(router))
        .workers(Arc::new(MockWorkers::new()))
        .workspace_root(workspaces.path())
        .build()
        .unwrap();
    let running = company.start().unwrap();
    assert!(
        b.wait_for_calls(1, Duration::from_secs(20)).await,
        "the check-in reached B"
    );
    running.wait_idle(Duration::from_millis(200)).await;
    running
        .send(
            "cto",
            MessageType::Task,
            json!({"title": "Rotate the API keys"}),
            Priority::High,
        )
        .await
        .unwrap();
    assert!(
        a.wait_for_calls(1, Duration::from_secs(20)).await,
        "the task reached A"
    );
    running.wait_idle(Duration::from_millis(200)).await;
    assert_eq!(a.model_calls().len(), 1);
    assert_eq!(b.model_calls().len(), 1);
    assert!(
        aito_mock_api::openai::ChatRequest::parse(&b.model_calls()[0])
            .unwrap()
            .user_texts()
            .iter()
            .all(|text| !text.contains("Rotate the API keys"))
    );

    let cto = running.id_of(&Role::Cto).unwrap();
    let mut history = running.runtime().store.history(cto, 10).await.unwrap();
    history.sort_by_key(|entry| entry.at);
    let chosen: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|entry| (entry.summary.as_str(), entry.provider.as_deref()))
        .collect();
    assert_eq!(
        chosen,
        [("checked in", Some("b")), ("task done", Some("a"))],
        "the choice is in the history"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn an_overload_of_a_falls_back_to_b_and_a_is_used_again_after_its_retry_after() {
    let a = MockServer::start().unwrap();
    let b = MockServer::start().unwrap();
    a.push(ApiError::new(529, "Overloaded").retry_after(2));
    a.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    b.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    let router = Router::new(vec![anthropic("a", &a), openai("b", &b)], Vec::new()).unwrap();

    let first = router
        .run(request("a task", Duration::from_secs(10)))
        .await
        .expect("B answers when A is overloaded");
    assert_eq!(first.provider.as_deref(), Some("b"));
    assert_eq!(a.model_calls().len(), 1);
    assert_eq!(b.model_calls().len(), 1);

    // Within A's retry-after: straight to B, A is not called.
    let second = router
        .run(request("another task", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(second.provider.as_deref(), Some("b"));
    assert_eq!(
        a.model_calls().len(),
        1,
        "A was left alone during its retry-after"
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let third = router
        .run(request("a third task", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(
        third.provider.as_deref(),
        Some("a"),
        "A is used again after its retry-after"
    );
    assert_eq!(a.model_calls().len(), 2);
    assert_eq!(b.model_calls().len(), 2);
}

#[tokio::test]
async fn a_provider_that_is_down_falls_back_and_a_refused_key_does_not() {
    let down = aito_mock_api::closed_port_url().unwrap();
    let b = MockServer::start().unwrap();
    b.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    let dead: Arc<dyn LlmSession> = Arc::new(
        ApiSession::anthropic(config("a", &down, "m").retries(0, Duration::ZERO)).unwrap(),
    );
    let router = Router::new(vec![("a".into(), dead), openai("b", &b)], Vec::new()).unwrap();
    let answer = router
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.provider.as_deref(), Some("b"));

    let a = MockServer::start().unwrap();
    a.push(Reply::error(401, "invalid x-api-key"));
    let router = Router::new(vec![anthropic("a", &a), openai("b", &b)], Vec::new()).unwrap();
    let error = router
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Auth { .. }), "{error:?}");
    assert_eq!(
        b.model_calls().len(),
        1,
        "B was not asked after A refused the key"
    );
}

#[tokio::test]
async fn when_every_provider_rests_the_session_waits_for_the_first_back() {
    let a = MockServer::start().unwrap();
    let b = MockServer::start().unwrap();
    a.push(ApiError::new(429, "slow down").retry_after(20));
    b.push(ApiError::new(529, "Overloaded").retry_after(5));
    let router = Router::new(vec![anthropic("a", &a), openai("b", &b)], Vec::new()).unwrap();
    let error = router
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    match error {
        LlmError::RateLimited {
            quota: false,
            retry_after: Some(wait),
            ..
        } => assert!(
            wait <= Duration::from_secs(5) && wait > Duration::from_secs(4),
            "{wait:?}"
        ),
        other => panic!("expected a rate limit, got {other:?}"),
    }
    let again = router
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(matches!(again, LlmError::RateLimited { .. }));
    assert_eq!(
        a.model_calls().len() + b.model_calls().len(),
        2,
        "nobody was called while resting"
    );
}

#[tokio::test]
async fn rules_choose_by_agent_and_tier() {
    let a = MockServer::start().unwrap();
    let b = MockServer::start().unwrap();
    a.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    b.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    let router = Router::new(
        vec![openai("small", &a), anthropic("strong", &b)],
        vec![
            Rule::to(["strong"])
                .kinds([SessionKind::Vote, SessionKind::Decision])
                .tiers([Tier::Major, Tier::Critical]),
            Rule::to(["strong", "small"]).agents(["ceo"]),
        ],
    )
    .unwrap();
    let mut vote = request("vote", Duration::from_secs(10));
    vote.kind = SessionKind::Vote;
    vote.tier = Some(Tier::Critical);
    assert_eq!(router.plan(&vote), ["strong"]);
    vote.tier = Some(Tier::Minor);
    assert_eq!(router.plan(&vote), ["small", "strong"], "the default order");
    let mut ceo = request("ceo", Duration::from_secs(10));
    ceo.role = Role::Ceo;
    assert_eq!(
        router.run(ceo).await.unwrap().provider.as_deref(),
        Some("strong")
    );
}

#[test]
fn rules_must_name_configured_providers() {
    let server = MockServer::start().unwrap();
    let error = Router::new(vec![anthropic("a", &server)], vec![Rule::to(["b"])]).unwrap_err();
    assert_eq!(
        error,
        RouterError::UnknownProvider {
            place: "rule 1".into(),
            name: "b".into(),
            known: "a".into()
        }
    );
    assert_eq!(
        Router::new(Vec::new(), Vec::new()).unwrap_err(),
        RouterError::NoProvider
    );
    assert_eq!(
        Router::new(
            vec![anthropic("a", &server), anthropic("a", &server)],
            Vec::new()
        )
        .unwrap_err(),
        RouterError::Duplicate("a".into())
    );
}

#[tokio::test]
async fn a_lone_provider_that_failed_is_tried_again_at_once_and_a_second_is_preferred_meanwhile() {
    let a = MockServer::start().unwrap();
    a.push(ApiError::new(500, "the upstream broke"));
    a.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    let lone = Router::new(vec![no_retries("a", &a)], Vec::new()).unwrap();
    let error = lone
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, LlmError::Unavailable { .. }),
        "a failure the daemon retries with its backoff, not a park: {error:?}"
    );
    let answer = lone
        .run(request("x again", Duration::from_secs(10)))
        .await
        .expect("the only provider is tried again while it rests, and answers");
    assert_eq!(answer.provider.as_deref(), Some("a"));
    assert_eq!(a.model_calls().len(), 2);

    // Beside a second provider, one that just failed is left alone for its rest.
    let b = MockServer::start().unwrap();
    b.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    let c = MockServer::start().unwrap();
    c.push(ApiError::new(500, "the upstream broke"));
    c.respond_with(|_: &aito_mock_api::Recorded| Reply::text(ANSWER));
    let pair = Router::new(vec![no_retries("c", &c), openai("b", &b)], Vec::new()).unwrap();
    for n in 0..2 {
        let answer = pair
            .run(request(&format!("task {n}"), Duration::from_secs(10)))
            .await
            .unwrap();
        assert_eq!(answer.provider.as_deref(), Some("b"));
    }
    assert_eq!(c.model_calls().len(), 1, "C rested after its failure");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let back = pair
        .run(request("after the rest", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(
        back.provider.as_deref(),
        Some("c"),
        "C is back after a second"
    );
}
