//! The real Claude Code CLI against the mock server: it stays on this machine, streams from
//! `POST /v1/messages`, and prints the scripted answer.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use aito_mock_api::anthropic::MessagesRequest;
use aito_mock_api::{Api, ClaudeCode, MockServer, Reply, Target};
use serde_json::Value;

#[test]
fn the_real_cli_answers_from_the_mock_and_tries_no_other_host() {
    let cli = ClaudeCode::require();
    let server = MockServer::start().unwrap();
    server.push(Reply::text("hello from the mock"));
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(&cli.binary)
        .args(["-p", "--output-format", "json", "--no-session-persistence"])
        .envs(ClaudeCode::env(&server, home.path()))
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"say hello\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["result"], "hello from the mock");
    assert_eq!(result["is_error"], false);

    let calls = server.model_calls();
    assert_eq!(calls.len(), 1, "{:#?}", server.requests());
    assert!(calls[0].is_api(Api::Anthropic));
    assert_eq!(calls[0].query.as_deref(), Some("beta=true"));
    assert_eq!(
        calls[0].header("x-api-key"),
        Some(aito_mock_api::claude_code::API_KEY)
    );
    let request = MessagesRequest::parse(&calls[0]).unwrap();
    assert!(request.stream, "the CLI always streams");
    assert!(
        request
            .user_texts()
            .iter()
            .any(|text| text.contains("say hello"))
    );
    for request in server.requests() {
        assert!(
            matches!(request.target, Target::Api(_) | Target::Other),
            "the CLI tried to leave the machine: {request:?}"
        );
    }
    assert!(server.foreign().is_empty());
}
