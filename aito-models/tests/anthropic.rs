//! The Anthropic Messages backend against the local Messages API server.

mod common;

use std::time::{Duration, Instant};

use aito_core::{LlmError, LlmSession};
use aito_mock_api::anthropic::MessagesRequest;
use aito_mock_api::{ApiError, Message, MockServer, Reply, Usage, closed_port_url};
use aito_models::ApiSession;
use common::{ANSWER, config, request};

fn session(server: &MockServer) -> ApiSession {
    ApiSession::anthropic(config("anthropic", &server.url(), "claude-test")).expect("a client")
}

#[tokio::test]
async fn answers_with_usage_and_the_cost_of_cached_tokens() {
    let server = MockServer::start().unwrap();
    server.push(Message::text(ANSWER).usage(Usage {
        input_tokens: 100,
        output_tokens: 50,
        cache_read_input_tokens: 2000,
        cache_creation_input_tokens: 0,
    }));
    let answer = session(&server)
        .run(request("Plan the week.", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER);
    assert_eq!(
        answer.usage.input_tokens, 2100,
        "cache reads count as input"
    );
    assert_eq!(answer.usage.output_tokens, 50);
    // 100 input at $3, 2000 cache reads at $0.30, 50 output at $15, per million.
    let expected = (100.0 * 3.0 + 2000.0 * 0.3 + 50.0 * 15.0) / 1e6;
    assert!(
        (answer.cost_usd - expected).abs() < 1e-12,
        "{}",
        answer.cost_usd
    );
    assert_eq!(answer.provider.as_deref(), Some("anthropic"));

    let calls = server.model_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.header("x-api-key"), Some("sk-test-secret"));
    assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
    let body = call.json().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "claude-test");
    assert_eq!(
        body["system"],
        serde_json::json!([{
            "type": "text",
            "text": "You are the CTO of a small company. Answer in JSON.",
            "cache_control": {"type": "ephemeral"},
        }])
    );
    let parsed = MessagesRequest::parse(call).unwrap();
    assert_eq!(parsed.user_texts(), ["Plan the week."]);
    assert!(parsed.tools.is_empty(), "a session is offered no tool");
}

#[tokio::test]
async fn cache_writes_are_priced_apart() {
    let server = MockServer::start().unwrap();
    server.push(Message::text(ANSWER).usage(Usage {
        input_tokens: 10,
        output_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 1000,
    }));
    let answer = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap();
    let expected = (10.0 * 3.0 + 1000.0 * 3.75) / 1e6;
    assert!((answer.cost_usd - expected).abs() < 1e-12);
}

#[tokio::test]
async fn a_paced_stream_is_assembled() {
    let server = MockServer::start().unwrap();
    let long = format!(
        r#"{{"summary": "{}", "actions": []}}"#,
        "a long summary é ".repeat(10)
    );
    server.push(Message::text(long.clone()).paced(Duration::from_millis(2)));
    let answer = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.text, long);
}

#[tokio::test]
async fn an_overload_is_retried_after_its_retry_after() {
    let server = MockServer::start().unwrap();
    server.push(ApiError::new(529, "Overloaded").retry_after(1));
    server.push(Reply::text(ANSWER));
    let answer = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER);
    let calls = server.model_calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1].since(&calls[0]) >= Duration::from_secs(1),
        "waited {:?}",
        calls[1].since(&calls[0])
    );
}

#[tokio::test]
async fn a_long_retry_after_is_returned_at_once_as_a_rate_limit() {
    let server = MockServer::start().unwrap();
    server.push(ApiError::new(429, "Number of requests exceeded").retry_after(30));
    let started = Instant::now();
    let error = session(&server)
        .run(request("x", Duration::from_secs(60)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            error,
            LlmError::RateLimited {
                quota: false,
                retry_after: Some(after),
                ..
            } if after == Duration::from_secs(30)
        ),
        "{error:?}"
    );
    assert_eq!(server.model_calls().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_unavailable() {
    let server = MockServer::start().unwrap();
    for _ in 0..3 {
        server.push(Reply::error(500, "Internal server error"));
    }
    let error = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            LlmError::Unavailable {
                status: Some(500),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(server.model_calls().len(), 3, "one call and two retries");
}

#[tokio::test]
async fn a_bad_key_is_not_retried() {
    let server = MockServer::start().unwrap();
    server.push(Reply::error(401, "invalid x-api-key"));
    let error = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Auth { .. }), "{error:?}");
    assert!(!error.to_string().contains("sk-test-secret"));
    assert_eq!(server.model_calls().len(), 1);
}

#[tokio::test]
async fn a_hung_api_times_out_at_the_session_timeout() {
    let server = MockServer::start().unwrap();
    server.respond_with(|_: &aito_mock_api::Recorded| Reply::Hang);
    let started = Instant::now();
    let error = session(&server)
        .run(request("x", Duration::from_millis(800)))
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_hung_call_is_given_up_after_the_idle_timeout_and_retried() {
    let server = MockServer::start().unwrap();
    server.push(Reply::Hang);
    server.push(Reply::text(ANSWER));
    let config =
        config("anthropic", &server.url(), "claude-test").idle_timeout(Duration::from_millis(300));
    let answer = ApiSession::anthropic(config)
        .unwrap()
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER);
    assert_eq!(server.model_calls().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let url = closed_port_url().unwrap();
    let error =
        ApiSession::anthropic(config("anthropic", &url, "claude-test").retries(0, Duration::ZERO))
            .unwrap()
            .run(request("x", Duration::from_secs(5)))
            .await
            .unwrap_err();
    assert!(
        matches!(error, LlmError::Unavailable { status: None, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_prompt_too_long_is_rejected() {
    let server = MockServer::start().unwrap();
    server.push(Reply::error(
        400,
        "prompt is too long: 210000 tokens > 200000 maximum",
    ));
    let error = session(&server)
        .run(request("x", Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Rejected { .. }), "{error:?}");
    assert!(!error.is_transient());
}
