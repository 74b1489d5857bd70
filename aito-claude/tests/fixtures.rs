//! fake-claude against outputs recorded from the real Claude Code CLI.
//!
//! Each case runs the adapter's own command line (the arguments `ClaudeSession` and
//! `ClaudeWorkers` build) against the mock Messages API with a script: an answer, server
//! errors, a 429 with `retry-after`, a 401, low credit, a prompt too long, a refused
//! connection, an API timeout, an unknown session to resume, a tool call, a refused tool
//! call, a failed MCP server, a tool the worker does not have, a turn limit. What the program
//! printed is reduced to what the adapter reads (event kinds, result fields, error texts with
//! ports and ids masked, exit code, stderr) and compared with the fixture recorded from the
//! real CLI, in `tests/fixtures/claude-code/`.
//!
//! The fixtures are recorded with the pinned CLI installed (scripts/test.sh) by
//! `cargo test -p aito-claude --test fixtures -- --ignored`; the check of fake-claude needs
//! no CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aito_claude::{ClaudeConfig, ClaudeSession, ClaudeWorkers, McpRegistry, McpServer};
use aito_core::{AgentId, Bus, LlmRequest, MemoryBus, Role, WorkerTask};
use aito_mock_api::anthropic::MessagesRequest;
use aito_mock_api::{ApiError, ClaudeCode, MockServer, Recorded, Reply};
use common::{fake_binary, test_mcp_server};
use regex::Regex;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");

/// What a case runs.
enum Kind {
    /// An agent session, with a session to resume or not.
    Session { resume: Option<&'static str> },
    /// A worker with these servers (`echo`, `broken`).
    Worker { servers: &'static [&'static str] },
}

/// How the mock answers.
enum Answers {
    Queue(Vec<Reply>),
    /// Calls `tool` until a tool result comes back, then reports it.
    Tool(&'static str, Value),
    /// Nothing listens at the API's address.
    Refused,
}

struct Case {
    name: &'static str,
    kind: Kind,
    answers: Answers,
    retries: u32,
    env: &'static [(&'static str, &'static str)],
    extra: &'static [&'static str],
    max_turns: Option<u32>,
}

fn case(name: &'static str, kind: Kind, answers: Answers, retries: u32) -> Case {
    Case {
        name,
        kind,
        answers,
        retries,
        env: &[],
        extra: &[],
        max_turns: None,
    }
}

fn session() -> Kind {
    Kind::Session { resume: None }
}

fn queue(replies: impl IntoIterator<Item = Reply>) -> Answers {
    Answers::Queue(replies.into_iter().collect())
}

const ANSWER: &str = r#"{"summary": "handled", "actions": []}"#;

fn cases() -> Vec<Case> {
    let error = |status, message: &str| Reply::error(status, message);
    vec![
        case(
            "session-success",
            session(),
            queue([Reply::text(ANSWER)]),
            2,
        ),
        case(
            "session-500-then-200",
            session(),
            queue([error(500, "Internal server error"), Reply::text(ANSWER)]),
            2,
        ),
        case(
            "session-500",
            session(),
            queue([
                error(500, "Internal server error"),
                error(500, "Internal server error"),
            ]),
            1,
        ),
        case(
            "session-503",
            session(),
            queue([error(503, "Service unavailable")]),
            0,
        ),
        case(
            "session-529",
            session(),
            queue([error(529, "Overloaded"), error(529, "Overloaded")]),
            1,
        ),
        case(
            "session-429-retry-after",
            session(),
            queue([
                ApiError::new(
                    429,
                    "This request would exceed the rate limit for your organization",
                )
                .retry_after(1)
                .into(),
                ApiError::new(
                    429,
                    "This request would exceed the rate limit for your organization",
                )
                .retry_after(1)
                .into(),
            ]),
            1,
        ),
        case(
            "session-401",
            session(),
            queue([
                error(401, "invalid x-api-key"),
                error(401, "invalid x-api-key"),
            ]),
            1,
        ),
        case(
            "session-low-credit",
            session(),
            queue([error(
                400,
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            )]),
            0,
        ),
        case(
            "session-prompt-too-long",
            session(),
            queue([error(
                400,
                "prompt is too long: 250000 tokens > 200000 maximum",
            )]),
            0,
        ),
        case("session-connection-refused", session(), Answers::Refused, 1),
        Case {
            env: &[("API_TIMEOUT_MS", "1000")],
            ..case("session-api-timeout", session(), queue([Reply::Hang]), 0)
        },
        case(
            "session-unknown-resume",
            Kind::Session {
                resume: Some("0ce8853f-aabe-488c-bbc2-a05f10b1cdc3"),
            },
            queue([Reply::text(ANSWER)]),
            0,
        ),
        case(
            "worker-tool-call",
            Kind::Worker { servers: &["echo"] },
            Answers::Tool("mcp__echo__echo", json!({"text": "hello"})),
            0,
        ),
        Case {
            extra: &["--permission-mode", "plan"],
            ..case(
                "worker-refused-tool-call",
                Kind::Worker { servers: &["echo"] },
                Answers::Tool("mcp__echo__echo", json!({"text": "hello"})),
                0,
            )
        },
        case(
            "worker-failed-server",
            Kind::Worker {
                servers: &["echo", "broken"],
            },
            queue([Reply::text("done")]),
            0,
        ),
        case(
            "worker-tool-not-offered",
            Kind::Worker { servers: &["echo"] },
            Answers::Tool("Read", json!({"file_path": "/etc/hostname"})),
            0,
        ),
        Case {
            max_turns: Some(1),
            ..case(
                "worker-max-turns",
                Kind::Worker { servers: &["echo"] },
                Answers::Tool("mcp__echo__echo", json!({"text": "hello"})),
                0,
            )
        },
    ]
}

/// What a program printed, as the adapter sees it.
#[derive(Debug)]
struct Run {
    exit: Option<i32>,
    stdout: String,
    stderr: String,
    gateway: String,
}

fn run_case(program: &Path, fake: bool, case: &Case) -> Run {
    let server = MockServer::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let api = match &case.answers {
        Answers::Refused => aito_mock_api::closed_port_url().unwrap(),
        _ => server.url(),
    };
    match &case.answers {
        Answers::Queue(replies) => server.push_all(replies.iter().cloned()),
        Answers::Tool(tool, input) => {
            let (tool, input) = (*tool, input.clone());
            server.respond_with(move |request: &Recorded| {
                let call = MessagesRequest::parse(request).unwrap();
                match call.tool_results().last() {
                    None => Reply::tool_use(tool, input.clone()),
                    Some(result) => Reply::text(format!("tool said: {}", result.text)),
                }
            });
        }
        Answers::Refused => {}
    }
    let mut config = ClaudeConfig::new(program).max_retries(Some(case.retries));
    for arg in case.extra {
        config = config.extra_arg(*arg);
    }
    let mcp_dir = tempfile::tempdir().unwrap();
    let (args, stdin, cwd): (Vec<OsString>, String, PathBuf) = match case.kind {
        Kind::Session { resume } => {
            let request = LlmRequest {
                agent: AgentId::random(),
                role: Role::Cto,
                system_prompt: "You are the CTO. Answer with one JSON object.".into(),
                prompt: "Plan the week.".into(),
                resume_session: resume.map(str::to_owned),
                keep_session: false,
                model: None,
                max_turns: case.max_turns,
                timeout: Duration::from_secs(60),
                working_dir: None,
                kind: Default::default(),
                tier: None,
            };
            let args = ClaudeSession::new(config.clone())
                .arguments(&request)
                .unwrap();
            (args, request.prompt, home.path().to_path_buf())
        }
        Kind::Worker { servers } => {
            let echo =
                McpServer::stdio(test_mcp_server().display().to_string(), ["--tool", "echo"]);
            let broken = McpServer::stdio(test_mcp_server().display().to_string(), ["--fail"]);
            let registry = McpRegistry::new()
                .with("echo", echo.clone())
                .unwrap()
                .with("broken", broken.clone())
                .unwrap();
            let servers: Vec<String> = servers.iter().map(|s| (*s).to_owned()).collect();
            let entries: serde_json::Map<String, Value> = servers
                .iter()
                .map(|name| {
                    let server = if name == "echo" { &echo } else { &broken };
                    (name.clone(), server.to_cli_json())
                })
                .collect();
            let path = mcp_dir.path().join("mcp.json");
            std::fs::write(&path, json!({"mcpServers": entries}).to_string()).unwrap();
            let task = WorkerTask {
                id: "t:0".into(),
                agent: AgentId::random(),
                role: Role::Cto,
                task: "Echo hello, then report.".into(),
                context: None,
                servers: servers.clone(),
                allowed_servers: servers.clone(),
                timeout: Duration::from_secs(60),
            };
            let workers = ClaudeWorkers::new(
                config.clone(),
                registry,
                std::sync::Arc::new(MemoryBus::default()) as std::sync::Arc<dyn Bus>,
            )
            .with_max_turns(case.max_turns);
            let args = workers.arguments(&task, &servers, &path).unwrap();
            let scratch = mcp_dir.path().join("scratch");
            std::fs::create_dir_all(&scratch).unwrap();
            (args, task.task, scratch)
        }
    };
    let mut command = Command::new(program);
    command
        .args(&args)
        .current_dir(&cwd)
        .envs(ClaudeCode::env_at(&api, &server.url(), home.path()))
        .env("CLAUDE_CODE_MAX_RETRIES", case.retries.to_string())
        .env("ENABLE_TOOL_SEARCH", "false")
        .env_remove("CLAUDECODE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in case.env {
        command.env(key, value);
    }
    if fake {
        command.env("FAKE_CLAUDE_MODE", "api");
    }
    let mut child = command.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let output = child.wait_with_output().unwrap();
    Run {
        exit: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        gateway: api.trim_start_matches("http://").to_owned(),
    }
}

/// Ports, ids and paths masked.
fn mask(text: &str, gateway: &str) -> String {
    let ids = Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let tokens =
        Regex::new(r"~\d+ tokens \(limit \d+\) but this conversation is only ~\d+").unwrap();
    let text = text.replace(gateway, "<gateway>");
    let text = ids.replace_all(&text, "<id>");
    tokens
        .replace_all(
            &text,
            "~N tokens (limit M) but this conversation is only ~K",
        )
        .trim()
        .to_owned()
}

/// The events the adapter reads, reduced to what it reads of them.
fn digest(run: &Run) -> Value {
    let mut events = Vec::new();
    for line in run.stdout.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line.trim()) else {
            events.push(json!({"line": mask(line, &run.gateway)}));
            continue;
        };
        let text = |value: &Value| value.as_str().map(|text| mask(text, &run.gateway));
        let digest = match (event["type"].as_str(), event["subtype"].as_str()) {
            (Some("system"), Some("init")) => json!({
                "event": "init",
                "tools": event["tools"],
                "mcp_servers": event["mcp_servers"].as_array().map(|servers| servers.iter()
                    .map(|server| json!({"name": server["name"], "status": server["status"]}))
                    .collect::<Vec<_>>()),
            }),
            (Some("system"), Some("api_retry")) => json!({
                "event": "api_retry",
                "attempt": event["attempt"], "max_retries": event["max_retries"],
                "error_status": event["error_status"], "error": event["error"],
            }),
            (Some("assistant"), _) if event["message"]["model"] == "<synthetic>" => json!({
                "event": "api_error",
                "error": event["error"],
                "text": text(&event["message"]["content"][0]["text"]),
            }),
            (Some("assistant"), _) => json!({
                "event": "assistant",
                "blocks": event["message"]["content"].as_array().map(|blocks| blocks.iter()
                    .map(|block| block["type"].clone()).collect::<Vec<_>>()),
            }),
            (Some("user"), _) => json!({
                "event": "tool_results",
                "results": event["message"]["content"].as_array().map(|blocks| blocks.iter()
                    .map(|block| json!({
                        "is_error": block["is_error"].as_bool().unwrap_or(false),
                        "text": match &block["content"] {
                            Value::String(text) => mask(text, &run.gateway),
                            other => mask(&other.to_string(), &run.gateway),
                        },
                    }))
                    .collect::<Vec<_>>()),
            }),
            (Some("result"), _) => json!({
                "event": "result",
                "subtype": event["subtype"], "is_error": event["is_error"],
                "api_error_status": event["api_error_status"],
                "result": text(&event["result"]),
                "errors": event["errors"].as_array().map(|errors| errors.iter().map(text).collect::<Vec<_>>()),
                "terminal_reason": event["terminal_reason"], "num_turns": event["num_turns"],
                "denied": event["permission_denials"].as_array().map(|denials| denials.iter()
                    .map(|denial| denial["tool_name"].clone()).collect::<Vec<_>>()),
            }),
            // Events the adapter ignores (status notices, redraws, hooks).
            _ => continue,
        };
        events.push(digest);
    }
    json!({
        "exit": run.exit,
        "events": events,
        "stderr": mask(&run.stderr, &run.gateway),
    })
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(format!("{name}.json"))
}

/// Records every case from the real CLI (pinned, installed by scripts/test.sh).
#[test]
#[ignore = "records the fixtures from the real CLI: run with --ignored"]
fn record_fixtures_from_the_real_cli() {
    let cli = ClaudeCode::require();
    std::fs::create_dir_all(FIXTURES).unwrap();
    for case in cases() {
        let run = run_case(&cli.binary, false, &case);
        let mut recorded = digest(&run);
        recorded["case"] = json!(case.name);
        recorded["claude_code"] = json!(cli.version);
        let text = serde_json::to_string_pretty(&recorded).unwrap();
        std::fs::write(fixture(case.name), format!("{text}\n")).unwrap();
        eprintln!("recorded {}", case.name);
    }
}

/// fake-claude prints what the real CLI printed, case by case.
#[test]
fn fake_claude_matches_the_outputs_recorded_from_the_real_cli() {
    let mut differences = Vec::new();
    for case in cases() {
        let text = std::fs::read_to_string(fixture(case.name))
            .unwrap_or_else(|error| panic!("no fixture for {}: {error}", case.name));
        let mut recorded: Value = serde_json::from_str(&text).unwrap();
        if let Some(object) = recorded.as_object_mut() {
            object.remove("case");
            object.remove("claude_code");
        }
        let faked = digest(&run_case(&fake_binary(), true, &case));
        if faked != recorded {
            differences.push(format!(
                "{}:\n  real: {recorded}\n  fake: {faked}",
                case.name
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
