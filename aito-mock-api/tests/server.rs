//! The mock server over real sockets: streamed messages, errors with headers, hangs, the
//! script's order, and the recording.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aito_mock_api::anthropic::MessagesRequest;
use aito_mock_api::{ApiError, MockServer, Recorded, Reply, Target};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

async fn call(method: &str, url: &str, body: Value) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("x-api-key", "k")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn messages(server: &MockServer) -> String {
    format!("{}/v1/messages?beta=true", server.url())
}

/// The `data:` objects of an event stream, with their `event:` names.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut lines = frame.lines();
            let event = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (event.to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_message_has_the_api_event_sequence() {
    let server = MockServer::start().unwrap();
    server.push(Reply::Message(
        aito_mock_api::Message::with(vec![
            aito_mock_api::Block::Text {
                text: "let me look".into(),
            },
            aito_mock_api::Block::ToolUse {
                id: None,
                name: "mcp__echo__echo".into(),
                input: json!({"text": "hi"}),
            },
        ])
        .paced(Duration::from_millis(1)),
    ));
    let answer = call(
        "POST",
        &messages(&server),
        json!({"model": "claude-x", "stream": true, "messages": [{"role": "user", "content": "go"}]}),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "text/event-stream");
    let events = events(&answer.body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    assert_eq!(events[0].1["message"]["model"], "claude-x");
    let text: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "let me look");
    let input: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"text": "hi"})
    );
    let tool = events
        .iter()
        .find(|(_, data)| data["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(tool.1["content_block"]["name"], "mcp__echo__echo");
    let end = &events[events.len() - 2].1;
    assert_eq!(end["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn an_unstreamed_request_gets_one_json_message() {
    let server = MockServer::start().unwrap();
    server.push(Reply::text("plain"));
    let answer = call(
        "POST",
        &messages(&server),
        json!({"model": "m", "messages": [{"role": "user", "content": "go"}]}),
    )
    .await;
    let message: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(message["content"][0]["text"], "plain");
    assert_eq!(message["stop_reason"], "end_turn");
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn errors_carry_status_body_and_headers_and_the_queue_comes_first() {
    let server = MockServer::start().unwrap();
    server.push(
        ApiError::new(429, "slow down")
            .retry_after(7)
            .header("x-extra", "1"),
    );
    server.respond_with(|_: &Recorded| Reply::text("from the responder"));
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "go"}]});

    let limited = call("POST", &messages(&server), body.clone()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "7");
    assert_eq!(limited.headers["x-extra"], "1");
    assert!(limited.headers.contains_key("request-id"));
    let error: Value = serde_json::from_str(&limited.body).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert_eq!(error["error"]["message"], "slow down");

    let next = call("POST", &messages(&server), body.clone()).await;
    let message: Value = serde_json::from_str(&next.body).unwrap();
    assert_eq!(message["content"][0]["text"], "from the responder");
}

#[tokio::test]
async fn with_nothing_scripted_the_answer_is_a_500_that_says_so() {
    let server = MockServer::start().unwrap();
    let answer = call("POST", &messages(&server), json!({"messages": []})).await;
    assert_eq!(answer.status, 500);
    assert!(
        answer.body.contains(aito_mock_api::script::UNSCRIPTED),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_hang_never_answers_and_ends_when_the_server_stops() {
    let server = MockServer::start().unwrap();
    server.push(Reply::Hang);
    let url = messages(&server);
    let waiting = tokio::spawn(async move { call("POST", &url, json!({"messages": []})).await });
    assert!(server.wait_for_calls(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "a hang does not answer");
    drop(server);
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the hang ends with the server")
        .unwrap();
    assert_eq!(answer.status, 503);
}

#[tokio::test]
async fn every_request_is_recorded_byte_for_byte_and_other_hosts_are_refused() {
    let server = MockServer::start().unwrap();
    server.push(Reply::text("ok"));
    let body = json!({"model": "claude-x", "system": [{"type": "text", "text": "be brief"}],
        "tools": [{"name": "Read"}], "messages": [{"role": "user", "content": "hello"}]});
    call("HEAD", &server.url(), Value::Null).await;
    call("POST", &messages(&server), body.clone()).await;
    // A request with an absolute URL for another host is what a proxy receives.
    let proxied = raw(
        &server,
        "GET http://example.com/track HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .await;
    assert!(proxied.starts_with("HTTP/1.1 403"), "{proxied}");

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "HEAD");
    assert_eq!(requests[0].target, Target::Other);
    let model_call = &requests[1];
    assert_eq!(model_call.query.as_deref(), Some("beta=true"));
    assert_eq!(model_call.header("X-API-KEY"), Some("k"));
    assert_eq!(model_call.bytes(), body.to_string().len());
    let parsed = MessagesRequest::parse(model_call).unwrap();
    assert_eq!(parsed.model.as_deref(), Some("claude-x"));
    assert_eq!(parsed.system_text(), "be brief");
    assert_eq!(parsed.tool_names(), ["Read"]);
    assert_eq!(parsed.user_texts(), ["hello"]);
    assert_eq!(server.model_calls().len(), 1);
    assert_eq!(server.foreign().len(), 1);
    assert_eq!(
        server.foreign()[0].target,
        Target::Foreign("example.com".into())
    );
}

/// Sends `request` as is and returns the start of the answer.
async fn raw(server: &MockServer, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = vec![0u8; 512];
    let n = stream.read(&mut buffer).await.unwrap();
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

#[tokio::test]
async fn a_connect_is_recorded_as_foreign_and_refused() {
    let server = MockServer::start().unwrap();
    let answer = raw(
        &server,
        "CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(
        server.foreign()[0].target,
        Target::Foreign("api.anthropic.com:443".into())
    );
}

#[tokio::test]
async fn a_closed_port_refuses_connections() {
    let url = aito_mock_api::closed_port_url().unwrap();
    let addr = url.strip_prefix("http://").unwrap();
    let error = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}
