//! The OpenAI-compatible backend against the local Chat Completions server.

mod common;

use std::time::{Duration, Instant};

use aito_core::{LlmError, LlmSession};
use aito_mock_api::openai::ChatRequest;
use aito_mock_api::{ApiError, Block, Message, MockServer, Reply, Usage};
use aito_models::{ChatApi, Conversation, Item, OpenAiApi, ToolSpec};
use common::{ANSWER, config, request};
use serde_json::json;

fn base(server: &MockServer) -> String {
    format!("{}/v1", server.url())
}

fn session(server: &MockServer) -> aito_models::ApiSession {
    aito_models::ApiSession::openai(config("local", &base(server), "qwen-test")).expect("a client")
}

#[tokio::test]
async fn answers_with_usage_cached_tokens_and_cost() {
    let server = MockServer::start().unwrap();
    server.push(Message::text(ANSWER).usage(Usage {
        input_tokens: 300,
        output_tokens: 40,
        cache_read_input_tokens: 700,
        cache_creation_input_tokens: 0,
    }));
    let answer = session(&server)
        .run(request("Plan the week.", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER);
    assert_eq!(answer.usage.input_tokens, 1000);
    assert_eq!(answer.usage.output_tokens, 40);
    let expected = (300.0 * 3.0 + 700.0 * 0.3 + 40.0 * 15.0) / 1e6;
    assert!(
        (answer.cost_usd - expected).abs() < 1e-12,
        "{}",
        answer.cost_usd
    );

    let call = &server.model_calls()[0];
    assert_eq!(call.path, "/v1/chat/completions");
    assert_eq!(call.header("authorization"), Some("Bearer sk-test-secret"));
    let parsed = ChatRequest::parse(call).unwrap();
    assert!(parsed.stream);
    assert_eq!(parsed.model.as_deref(), Some("qwen-test"));
    assert_eq!(
        parsed.system_text(),
        "You are the CTO of a small company. Answer in JSON."
    );
    assert_eq!(parsed.user_texts(), ["Plan the week."]);
    assert_eq!(parsed.body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_local_server_without_a_key_or_price_costs_nothing() {
    let server = MockServer::start().unwrap();
    server.push(Message::text(ANSWER).paced(Duration::from_millis(1)));
    let config = aito_models::ApiConfig::new("ollama", base(&server), "llama3.2");
    let answer = aito_models::ApiSession::openai(config)
        .unwrap()
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER);
    assert_eq!(answer.cost_usd, 0.0);
    assert!(answer.usage.input_tokens > 0);
    assert_eq!(server.model_calls()[0].header("authorization"), None);
}

#[tokio::test]
async fn streams_tool_calls_and_sends_their_results_back() {
    let server = MockServer::start().unwrap();
    server.push(Reply::Message(
        Message::with(vec![
            Block::Text {
                text: "Let me look.".into(),
            },
            Block::ToolUse {
                id: Some("call_1".into()),
                name: "echo__echo".into(),
                input: json!({"text": "hello", "n": 2}),
            },
        ])
        .paced(Duration::from_millis(1)),
    ));
    server.push(Reply::text("done"));
    let api = OpenAiApi::new(config("local", &base(&server), "qwen-test")).unwrap();
    let tools = [ToolSpec {
        name: "echo__echo".into(),
        description: "Echoes".into(),
        input_schema: json!({"type": "object"}),
    }];
    let mut conversation = Conversation {
        model: "qwen-test".into(),
        system: "worker".into(),
        items: vec![Item::User("echo hello".into())],
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let turn = api.turn(&conversation, &tools, deadline).await.unwrap();
    assert_eq!(turn.text, "Let me look.");
    assert_eq!(turn.stop, "tool_calls");
    assert_eq!(turn.calls.len(), 1);
    assert_eq!(turn.calls[0].id, "call_1");
    assert_eq!(turn.calls[0].name, "echo__echo");
    assert_eq!(turn.calls[0].arguments, json!({"text": "hello", "n": 2}));
    conversation.items.push(Item::Assistant {
        text: turn.text,
        calls: turn.calls,
    });
    conversation.items.push(Item::ToolResult {
        call_id: "call_1".into(),
        content: "ECHO: hello".into(),
        is_error: false,
    });
    let turn = api.turn(&conversation, &tools, deadline).await.unwrap();
    assert_eq!(turn.text, "done");
    let second = ChatRequest::parse(&server.model_calls()[1]).unwrap();
    assert_eq!(second.tool_names(), ["echo__echo"]);
    assert_eq!(second.tool_results()[0].content, "ECHO: hello");
    assert_eq!(
        second.messages[2]["tool_calls"][0]["function"]["name"],
        "echo__echo"
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_its_retry_after() {
    let server = MockServer::start().unwrap();
    server.push(ApiError::new(429, "Rate limit reached").retry_after(1));
    server.push(Reply::text(ANSWER));
    let answer = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER);
    let calls = server.model_calls();
    assert!(calls[1].since(&calls[0]) >= Duration::from_secs(1));
}

#[tokio::test]
async fn an_exhausted_quota_is_a_quota_and_not_retried() {
    let server = MockServer::start().unwrap();
    server.push(ApiError::new(429, "You exceeded your current quota").kind("insufficient_quota"));
    let error = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, LlmError::RateLimited { quota: true, .. }),
        "{error:?}"
    );
    assert_eq!(server.model_calls().len(), 1);
}

#[tokio::test]
async fn a_bad_gateway_is_retried_then_unavailable() {
    let server = MockServer::start().unwrap();
    for _ in 0..3 {
        server.push(Reply::error(502, "Bad Gateway"));
    }
    let error = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            LlmError::Unavailable {
                status: Some(502),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(server.model_calls().len(), 3);
}

#[tokio::test]
async fn a_hung_server_times_out_at_the_session_timeout() {
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
async fn an_empty_answer_is_rejected() {
    let server = MockServer::start().unwrap();
    let mut message = Message::text("");
    message.stop_reason = Some(aito_mock_api::StopReason::MaxTokens);
    server.push(message);
    let error = session(&server)
        .run(request("x", Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, LlmError::Rejected { ref kind, .. } if kind == "length"),
        "{error:?}"
    );
}
