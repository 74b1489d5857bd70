//! ClaudeWorkers end to end, through the fake CLI, with an in-memory bus.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_claude::{ClaudeConfig, ClaudeWorkers, McpRegistry};
use aito_core::bus::Subscription;
use aito_core::{
    AgentId, Bus, Channel, Deliveries, Envelope, MemoryBus, MessageType, Role, Sender, WorkerError,
    WorkerResult, WorkerSpawner, WorkerStatus, WorkerTask,
};
use common::{Fake, group_gone, huge_text, is_empty_dir, process_gone, processes};
use serde::Deserialize;
use serde_json::{Value, json};
use tempfile::TempDir;

const REGISTRY: &str = r#"
[mcp.telegram]
command = "sh"
args = ["-c", "exec telegram-mcp"]
env = { TELEGRAM_BOT_TOKEN = "${TELEGRAM_BOT_TOKEN}" }

[mcp.jira]
type = "http"
url = "https://jira.example.com/mcp"
headers = { Authorization = "Bearer ${JIRA_TOKEN}" }

[mcp.feed]
type = "sse"
url = "https://feed.example.com/sse"
"#;

fn registry() -> McpRegistry {
    #[derive(Deserialize)]
    struct Config {
        mcp: McpRegistry,
    }
    toml::from_str::<Config>(REGISTRY).unwrap().mcp
}

fn task(servers: &[&str], allowed: &[&str], timeout: Duration) -> WorkerTask {
    WorkerTask {
        id: "trigger-42:0".into(),
        agent: AgentId::random(),
        role: Role::Cmo,
        task: "Post the weekly update".into(),
        context: Some("Launch is on Friday.".into()),
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        allowed_servers: allowed.iter().map(|s| (*s).to_owned()).collect(),
        timeout,
    }
}

/// Workers over the fake, logging to a fresh bus, with temporary MCP files in their own dir.
struct Setup {
    workers: ClaudeWorkers,
    logs: Deliveries,
    mcp_dir: TempDir,
}

async fn setup(config: ClaudeConfig) -> Setup {
    let bus = Arc::new(MemoryBus::default());
    let logs = bus
        .subscribe(Subscription::new("test", "test-1", [Channel::WorkerLogs]))
        .await
        .unwrap();
    let mcp_dir = tempfile::tempdir().unwrap();
    let workers =
        ClaudeWorkers::new(config, registry(), bus as Arc<dyn Bus>).with_config_dir(mcp_dir.path());
    Setup {
        workers,
        logs,
        mcp_dir,
    }
}

impl Setup {
    /// Runs a task that asks for no servers.
    async fn run(&self, timeout: Duration) -> WorkerResult {
        self.workers.spawn(task(&[], &[], timeout)).await.unwrap()
    }
}

fn assert_mentions(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in: {text}");
}

/// The log envelopes published so far (waits briefly for each).
async fn drain(logs: &mut Deliveries) -> Vec<Envelope> {
    let mut out = Vec::new();
    while let Ok(Some(delivery)) =
        tokio::time::timeout(Duration::from_millis(200), logs.next()).await
    {
        out.push(delivery.envelope().clone());
    }
    out
}

fn event_type(envelope: &Envelope) -> Option<&str> {
    envelope.payload["event"]["type"].as_str()
}

fn assistant_text(envelope: &Envelope) -> Option<&str> {
    if event_type(envelope) != Some("assistant") {
        return None;
    }
    envelope.payload["event"]["message"]["content"][0]["text"].as_str()
}

#[tokio::test]
async fn ten_streamed_lines_reach_worker_logs_in_order() {
    let fake = Fake::new();
    let mut setup = setup(fake.config(&[
        ("lines", "10"),
        ("result", "posted"),
        ("cost", "0.5"),
        ("record_env", "ENABLE_TOOL_SEARCH"),
    ]))
    .await;
    let task = task(&["telegram"], &["telegram"], Duration::from_secs(30));
    let result = setup.workers.spawn(task.clone()).await.unwrap();
    assert_eq!(result.status, WorkerStatus::Succeeded);
    assert_eq!(result.result, "posted");
    assert_eq!(result.task_id, "trigger-42:0");
    assert_eq!(result.cost_usd, 0.5);
    assert_eq!(result.usage.output_tokens, 34);
    assert_eq!(result.duration, Duration::from_millis(1234));

    let logs = drain(&mut setup.logs).await;
    // init, ten steps, the final assistant message, the result.
    assert_eq!(logs.len(), 13, "{logs:#?}");
    for (seq, envelope) in logs.iter().enumerate() {
        assert_eq!(envelope.kind, MessageType::WorkerLog);
        assert_eq!(envelope.from, Sender::Worker("trigger-42:0".into()));
        assert_eq!(envelope.payload["seq"], json!(seq));
        assert_eq!(envelope.payload["taskId"], json!("trigger-42:0"));
        assert_eq!(envelope.payload["agent"], json!(task.agent.to_string()));
        assert_eq!(envelope.payload["role"], json!("cmo"));
    }
    assert_eq!(event_type(&logs[0]), Some("system"));
    let steps: Vec<&str> = logs.iter().filter_map(assistant_text).collect();
    let expected: Vec<String> = (1..=10)
        .map(|i| format!("step {i}"))
        .chain(["posted".to_owned()])
        .collect();
    assert_eq!(steps, expected);
    assert_eq!(event_type(&logs[12]), Some("result"));

    // The worker's command and prompt.
    let record = fake.record();
    let argv: Vec<&str> = record["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        &argv[..7],
        [
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--no-session-persistence",
            "--tools=",
            "--setting-sources=user"
        ]
    );
    assert!(
        argv.iter()
            .any(|a| a.starts_with("--system-prompt=You are a worker for the cmo agent"))
    );
    // Its own scratch directory, never the daemon's, and every tool of its servers up front.
    let cwd = record["cwd"].as_str().unwrap();
    let scratch = setup.mcp_dir.path().canonicalize().unwrap();
    assert!(cwd.starts_with(&scratch.display().to_string()), "{cwd}");
    assert!(
        std::path::Path::new(cwd)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("aito-worker-"),
        "{cwd}"
    );
    assert_ne!(std::path::Path::new(cwd), std::env::current_dir().unwrap());
    assert!(
        !std::path::Path::new(cwd).exists(),
        "the scratch directory is removed"
    );
    assert_eq!(record["env"]["ENABLE_TOOL_SEARCH"], json!("false"));
    assert_eq!(
        record["stdin"],
        json!("Post the weekly update\n\nContext from the cmo agent:\nLaunch is on Friday.")
    );
}

#[tokio::test]
async fn log_lines_are_published_while_the_worker_runs() {
    let fake = Fake::new();
    let mut setup = setup(fake.config(&[("lines", "5"), ("line_delay_ms", "300")])).await;
    let workers = setup.workers.clone();
    let running =
        tokio::spawn(async move { workers.spawn(task(&[], &[], Duration::from_secs(30))).await });
    let first = tokio::time::timeout(Duration::from_secs(10), setup.logs.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.envelope().payload["seq"], json!(0));
    assert!(
        !running.is_finished(),
        "the first line arrived before the worker ended"
    );
    let result = running.await.unwrap().unwrap();
    assert_eq!(result.status, WorkerStatus::Succeeded);
}

#[tokio::test]
async fn the_mcp_config_holds_only_the_requested_servers_and_is_removed_afterwards() {
    let fake = Fake::new();
    let mut setup = setup(fake.config(&[])).await;
    let result = setup
        .workers
        .spawn(task(
            &["jira", "telegram", "jira"],
            &["telegram", "jira", "feed"],
            Duration::from_secs(30),
        ))
        .await
        .unwrap();
    assert_eq!(result.status, WorkerStatus::Succeeded);

    let record = fake.record();
    let argv: Vec<&str> = record["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = argv.iter().position(|a| *a == "--mcp-config").unwrap();
    let path = argv[at + 1];
    assert_eq!(
        &argv[at..],
        [
            "--mcp-config",
            path,
            "--strict-mcp-config",
            "--allowedTools",
            "mcp__jira,mcp__telegram"
        ]
    );
    assert!(path.starts_with(&setup.mcp_dir.path().display().to_string()));
    let content = &record["mcpConfigs"][0]["content"];
    let names: BTreeSet<&str> = content["mcpServers"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, BTreeSet::from(["jira", "telegram"]));
    // Placeholders are written verbatim, for the CLI to expand.
    assert_eq!(
        content["mcpServers"]["jira"]["headers"]["Authorization"],
        json!("Bearer ${JIRA_TOKEN}")
    );
    assert_eq!(
        content["mcpServers"]["telegram"]["env"]["TELEGRAM_BOT_TOKEN"],
        json!("${TELEGRAM_BOT_TOKEN}")
    );
    assert!(
        !std::path::Path::new(path).exists(),
        "the temporary config is removed"
    );
    assert!(is_empty_dir(setup.mcp_dir.path()));

    // The CLI saw both servers and no other.
    let logs = drain(&mut setup.logs).await;
    assert_eq!(
        logs[0].payload["event"]["mcp_servers"],
        json!([{"name": "jira", "status": "connected"}, {"name": "telegram", "status": "connected"}])
    );
}

#[tokio::test]
async fn an_unknown_server_is_refused_before_anything_starts() {
    let fake = Fake::new();
    let mut setup = setup(fake.config(&[])).await;
    let error = setup
        .workers
        .spawn(task(
            &["telegram", "slack"],
            &["telegram", "slack"],
            Duration::from_secs(30),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        WorkerError::UnknownServer {
            server: "slack".into(),
            known: "feed, jira, telegram".into()
        }
    );
    assert!(fake.records().is_empty(), "the CLI never ran");
    assert!(is_empty_dir(setup.mcp_dir.path()), "no config was written");
    assert!(drain(&mut setup.logs).await.is_empty());
}

#[tokio::test]
async fn a_server_the_agent_may_not_use_is_refused_before_anything_starts() {
    let fake = Fake::new();
    let setup = setup(fake.config(&[])).await;
    let error = setup
        .workers
        .spawn(task(&["jira"], &["telegram"], Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        WorkerError::NotAllowed {
            server: "jira".into(),
            role: Role::Cmo,
            allowed: "telegram".into()
        }
    );
    assert!(fake.records().is_empty());
    assert!(is_empty_dir(setup.mcp_dir.path()));
}

#[tokio::test]
async fn a_worker_past_its_timeout_is_killed_with_its_group() {
    let fake = Fake::new();
    let setup = setup(fake.config(&[("mode", "hang")])).await;
    let started = Instant::now();
    let result = setup
        .workers
        .spawn(task(&["telegram"], &["telegram"], Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(result.status, WorkerStatus::TimedOut);
    assert_mentions(&result.result, "timeout");
    assert!(started.elapsed() < Duration::from_secs(4));
    let procs = processes(&fake.record());
    assert!(process_gone(procs.child.unwrap()));
    assert!(group_gone(procs.pgid));
    assert!(
        is_empty_dir(setup.mcp_dir.path()),
        "the config is removed on timeout too"
    );
}

#[tokio::test]
async fn a_silent_worker_is_killed_at_the_silence_timeout() {
    let fake = Fake::new();
    let config = fake
        .config(&[("mode", "hang")])
        .silence_timeout(Some(Duration::from_millis(500)));
    let mut setup = setup(config).await;
    let started = Instant::now();
    let result = setup.run(Duration::from_secs(30)).await;
    assert_eq!(result.status, WorkerStatus::TimedOut);
    assert_mentions(&result.result, "printed nothing");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(group_gone(processes(&fake.record()).pgid));
    // It had printed its init event before going quiet.
    assert_eq!(event_type(&drain(&mut setup.logs).await[0]), Some("system"));
}

#[tokio::test]
async fn failures_while_running_are_failed_results_with_their_cost() {
    let fake = Fake::new();
    let setup = setup(fake.config(&[("mode", "error"), ("result", "the tool crashed")])).await;
    let result = setup.run(Duration::from_secs(30)).await;
    assert_eq!(result.status, WorkerStatus::Failed);
    assert_mentions(&result.result, "the tool crashed");
    assert_eq!(result.cost_usd, 0.0123);

    let fake = Fake::new();
    let reset = chrono::Utc::now().timestamp() + 600;
    let setup = setup_with(
        &fake,
        &[
            ("mode", "session_limit"),
            ("reset_epoch", &reset.to_string()),
            ("reset_text", "You've hit your weekly limit"),
        ],
    )
    .await;
    let result = setup.run(Duration::from_secs(30)).await;
    assert_eq!(result.status, WorkerStatus::Failed);
    // The reset time came from the stream's rate_limit_event.
    let expected = chrono::DateTime::from_timestamp(reset, 0).unwrap();
    assert_mentions(&result.result, "rate limited");
    assert!(
        result.result.contains(&expected.to_rfc3339()),
        "{}",
        result.result
    );

    let fake = Fake::new();
    let setup = setup_with(
        &fake,
        &[
            ("mode", "exit"),
            ("exit_code", "7"),
            ("stderr", "MCP server crashed"),
        ],
    )
    .await;
    let result = setup.run(Duration::from_secs(30)).await;
    assert_eq!(result.status, WorkerStatus::Failed);
    assert!(
        result.result.contains("Some(7)") && result.result.contains("MCP server crashed"),
        "{}",
        result.result
    );
}

async fn setup_with(fake: &Fake, script: &[(&str, &str)]) -> Setup {
    setup(fake.config(script)).await
}

#[tokio::test]
async fn noise_in_the_stream_is_forwarded_and_does_not_break_the_result() {
    let fake = Fake::new();
    let mut setup = setup(fake.config(&[("noise", "1"), ("result", "fine")])).await;
    let result = setup.run(Duration::from_secs(30)).await;
    assert_eq!(
        (result.status, result.result.as_str()),
        (WorkerStatus::Succeeded, "fine")
    );
    let logs = drain(&mut setup.logs).await;
    assert_eq!(
        logs[1].payload["line"],
        json!("[SandboxDebug] fake sandbox note")
    );
    assert!(logs[1].payload.get("event").is_none());
    assert_eq!(event_type(&logs[2]), Some("fancy_new_event"));
}

#[tokio::test]
async fn a_5_mb_result_arrives_whole_while_its_log_events_are_truncated() {
    let fake = Fake::new();
    let bytes = 5 * 1024 * 1024;
    let mut setup = setup(fake.config(&[("mode", "huge"), ("bytes", &bytes.to_string())])).await;
    let result = setup.run(Duration::from_secs(60)).await;
    assert_eq!(result.status, WorkerStatus::Succeeded);
    assert!(result.result == huge_text(bytes));
    let logs = drain(&mut setup.logs).await;
    let last: &Value = &logs.last().unwrap().payload;
    assert_eq!(last["truncated"], json!(true));
    assert_eq!(last["eventType"], json!("result"));
    assert!(last["bytes"].as_u64().unwrap() > bytes as u64);
    assert!(last["line"].as_str().unwrap().len() <= 5000);
}

#[tokio::test]
async fn a_worker_whose_stream_has_no_result_fails_as_unreadable() {
    let fake = Fake::new();
    let setup = setup(fake.config(&[("mode", "garbage")])).await;
    let result = setup.run(Duration::from_secs(30)).await;
    assert_eq!(result.status, WorkerStatus::Failed);
    assert_mentions(&result.result, "ended without one");
    assert_mentions(&result.result, "this is not json");
}
