//! The adapter's contract, run twice: through the real Claude Code CLI (the pinned version,
//! see aito_mock_api::claude_code) and through `fake-claude` in its API mode. Both talk to the
//! same mock Messages API with the same script; every test holds for both programs.
//!
//! A session sends only what it needs; a worker has only the tools of its servers and cannot
//! read the daemon's files; server errors, refused connections and API timeouts are retried
//! (by the CLI, then by the daemon) and reach the daemon as transient; a 429's `retry-after`
//! is waited out; auth failures, low credit and a prompt too long are not retried; a refused
//! tool call or a dead MCP server is no success; an unknown session starts afresh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_claude::{ClaudeConfig, ClaudeSession, ClaudeWorkers, McpRegistry, McpServer};
use aito_core::{
    AgentId, AgentSpec, Bus, Company, LlmError, LlmRequest, LlmSession, MemoryBus, MemoryStore,
    MessageType, Priority, RetryPolicy, Role, Settings, WorkerResult, WorkerSpawner, WorkerStatus,
    WorkerTask,
};
use aito_mock_api::anthropic::MessagesRequest;
use aito_mock_api::{ApiError, ClaudeCode, MockServer, Recorded, Reply};
use common::{fake_binary, test_mcp_server};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Which `claude` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Program {
    /// The real CLI.
    Real,
    /// fake-claude in API mode.
    Fake,
}

/// One program against one mock server, with a scratch home.
struct Cli {
    program: Program,
    binary: PathBuf,
    server: MockServer,
    home: TempDir,
}

const ANSWER: &str = r#"{"summary": "handled", "actions": []}"#;

impl Cli {
    fn new(program: Program) -> Self {
        let binary = match program {
            Program::Real => ClaudeCode::require().binary,
            Program::Fake => fake_binary(),
        };
        Self {
            program,
            binary,
            server: MockServer::start().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// A config that runs the program offline against this server.
    fn config(&self) -> ClaudeConfig {
        self.config_for(&self.server.url())
    }

    /// The same, with the API at `api` (the proxy trap stays this server).
    fn config_for(&self, api: &str) -> ClaudeConfig {
        let mut config = ClaudeConfig::new(&self.binary).kill_grace(Duration::from_millis(500));
        for (key, value) in ClaudeCode::env_at(api, &self.server.url(), self.home.path()) {
            config = config.env(key, value);
        }
        if self.program == Program::Fake {
            config = config.env("FAKE_CLAUDE_MODE", "api");
        }
        config
    }

    fn calls(&self) -> Vec<MessagesRequest> {
        self.server
            .model_calls()
            .iter()
            .map(|call| MessagesRequest::parse(call).unwrap())
            .collect()
    }

    fn assert_stayed_local(&self) {
        let foreign = self.server.foreign();
        assert!(
            foreign.is_empty(),
            "{:?} left the machine: {foreign:#?}",
            self.program
        );
    }
}

fn request(prompt: &str, working_dir: Option<&Path>) -> LlmRequest {
    LlmRequest {
        agent: AgentId::random(),
        role: Role::Cto,
        system_prompt: "You are the CTO of a test company. Answer with one JSON object.".into(),
        prompt: prompt.into(),
        resume_session: None,
        keep_session: false,
        model: None,
        max_turns: None,
        timeout: Duration::from_secs(120),
        working_dir: working_dir.map(Path::to_path_buf),
        kind: Default::default(),
        tier: None,
    }
}

fn task(servers: &[&str]) -> WorkerTask {
    WorkerTask {
        id: "trigger-7:0".into(),
        agent: AgentId::random(),
        role: Role::Cto,
        task: "Echo hello with your tool, then report".into(),
        context: None,
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        allowed_servers: vec!["echo".into(), "broken".into(), "other".into()],
        timeout: Duration::from_secs(120),
    }
}

/// `echo` and `other` are test-mcp-servers (recording their calls to `calls`); `broken` fails
/// to start.
fn registry(calls: &Path) -> McpRegistry {
    let server = |tool: &str| {
        McpServer::stdio(
            test_mcp_server().display().to_string(),
            [
                "--tool".to_owned(),
                tool.to_owned(),
                "--record".to_owned(),
                calls.display().to_string(),
            ],
        )
    };
    McpRegistry::new()
        .with("echo", server("echo"))
        .unwrap()
        .with("other", server("other"))
        .unwrap()
        .with(
            "broken",
            McpServer::stdio(test_mcp_server().display().to_string(), ["--fail"]),
        )
        .unwrap()
}

/// A model that calls `tool` with `input` until the conversation holds a tool result, then
/// reports that result.
fn tool_caller(tool: &'static str, input: Value) -> impl Fn(&Recorded) -> Reply {
    move |request: &Recorded| {
        let call = MessagesRequest::parse(request).unwrap();
        match call.tool_results().last() {
            None => Reply::tool_use(tool, input.clone()),
            Some(result) => Reply::text(format!(
                "tool said ({}): {}",
                if result.is_error { "error" } else { "ok" },
                result.text
            )),
        }
    }
}

async fn work(
    cli: &Cli,
    config: ClaudeConfig,
    registry: McpRegistry,
    task: WorkerTask,
) -> WorkerResult {
    let scratch = cli.home.path().join("worker-files");
    std::fs::create_dir_all(&scratch).unwrap();
    ClaudeWorkers::new(
        config,
        registry,
        Arc::new(MemoryBus::default()) as Arc<dyn Bus>,
    )
    .with_config_dir(&scratch)
    .spawn(task)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Lean sessions and sandboxed workers

async fn a_session_sends_no_built_in_tools_and_no_claude_md_from_above(program: Program) {
    let cli = Cli::new(program);
    cli.server.push(Reply::text(ANSWER));
    let above = tempfile::tempdir().unwrap();
    std::fs::write(
        above.path().join("CLAUDE.md"),
        "MARKER-OF-A-CLAUDE-MD-ABOVE",
    )
    .unwrap();
    let workspace = above.path().join("workspaces").join("cto");
    std::fs::create_dir_all(&workspace).unwrap();

    let answer = ClaudeSession::new(cli.config())
        .run(request("Plan the week.", Some(&workspace)))
        .await
        .unwrap();
    assert_eq!(answer.text, ANSWER);

    let calls = cli.calls();
    assert_eq!(calls.len(), 1, "{program:?}");
    let call = &calls[0];
    assert!(
        call.tool_names().is_empty(),
        "{program:?}: tools {:?}",
        call.tool_names()
    );
    assert!(
        !call.contains("MARKER-OF-A-CLAUDE-MD-ABOVE"),
        "{program:?}: CLAUDE.md was sent"
    );
    // aito's system prompt replaces Claude Code's own: the system blocks are small.
    assert!(
        call.system_text()
            .contains("You are the CTO of a test company")
    );
    assert!(
        call.system_text().len() < 1000,
        "{program:?}: {}",
        call.system_text().len()
    );
    assert!(
        call.user_texts()
            .iter()
            .any(|text| text.contains("Plan the week."))
    );
    // Nothing on disk: no transcript.
    let projects = cli.home.path().join(".claude").join("projects");
    let transcripts = walk(&projects)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .count();
    assert_eq!(transcripts, 0, "{program:?} left a transcript");
    cli.assert_stayed_local();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

async fn a_worker_gets_only_the_tools_of_its_servers_and_calls_one(program: Program) {
    let cli = Cli::new(program);
    cli.server
        .respond_with(tool_caller("mcp__echo__echo", json!({"text": "hello"})));
    let calls_file = cli.home.path().join("mcp-calls.jsonl");
    let result = work(&cli, cli.config(), registry(&calls_file), task(&["echo"])).await;
    assert_eq!(
        result.status,
        WorkerStatus::Succeeded,
        "{program:?}: {}",
        result.result
    );
    assert_eq!(
        result.result, r#"tool said (ok): echo: {"text":"hello"}"#,
        "{program:?}"
    );
    let calls = cli.calls();
    assert_eq!(calls.len(), 2, "{program:?}");
    for call in &calls {
        assert_eq!(call.tool_names(), ["mcp__echo__echo"], "{program:?}");
        assert!(
            call.system_text()
                .contains("You are a worker for the cto agent")
        );
    }
    let mcp_calls: Vec<Value> = std::fs::read_to_string(&calls_file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|call: &Value| call["method"] == "tools/call")
        .collect();
    assert_eq!(mcp_calls.len(), 1, "{program:?}");
    assert_eq!(
        mcp_calls[0]["params"]["arguments"],
        json!({"text": "hello"})
    );
    cli.assert_stayed_local();
}

async fn a_worker_cannot_read_a_file_in_the_daemons_directory(program: Program) {
    let cli = Cli::new(program);
    let daemon_dir = tempfile::tempdir().unwrap();
    let secret = daemon_dir.path().join("secrets.env");
    std::fs::write(&secret, "DAEMON-SECRET-VALUE=42").unwrap();
    let path = secret.display().to_string();
    let calls_file = cli.home.path().join("mcp-calls.jsonl");
    cli.server.respond_with(move |request: &Recorded| {
        let call = MessagesRequest::parse(request).unwrap();
        match call.tool_results().len() {
            0 => Reply::tool_use("Read", json!({"file_path": path})),
            1 => Reply::tool_use("Read", json!({"file_path": "secrets.env"})),
            _ => Reply::text("done"),
        }
    });
    // The daemon works in `daemon_dir`; its worker must not see it.
    let config = cli.config().working_dir(daemon_dir.path());
    let result = work(&cli, config, registry(&calls_file), task(&["echo"])).await;
    for call in cli.server.model_calls() {
        let body = String::from_utf8_lossy(&call.body);
        assert!(
            !body.contains("DAEMON-SECRET-VALUE"),
            "{program:?} read the daemon's file"
        );
    }
    let calls = cli.calls();
    let results = calls.last().unwrap().tool_results();
    assert_eq!(results.len(), 2, "{program:?}");
    assert!(
        results.iter().all(|result| result.is_error),
        "{program:?}: {results:?}"
    );
    assert!(
        results[0].text.contains("No such tool available: Read"),
        "{program:?}: {}",
        results[0].text
    );
    assert!(!calls[0].tool_names().contains(&"Read".to_owned()));
    assert_eq!(
        result.status,
        WorkerStatus::Succeeded,
        "{program:?}: {}",
        result.result
    );
}

async fn a_worker_whose_tool_call_was_refused_does_not_report_success(program: Program) {
    let cli = Cli::new(program);
    cli.server
        .respond_with(tool_caller("mcp__echo__echo", json!({"text": "hello"})));
    let calls_file = cli.home.path().join("mcp-calls.jsonl");
    // Plan mode (an operator's extra argument) refuses every tool call.
    let config = cli
        .config()
        .extra_arg("--permission-mode")
        .extra_arg("plan");
    let result = work(&cli, config, registry(&calls_file), task(&["echo"])).await;
    assert_eq!(
        result.status,
        WorkerStatus::Failed,
        "{program:?}: {}",
        result.result
    );
    assert!(
        result.result.contains("refused"),
        "{program:?}: {}",
        result.result
    );
    assert!(
        result.result.contains("mcp__echo__echo"),
        "{program:?}: {}",
        result.result
    );
    let called = std::fs::read_to_string(&calls_file)
        .unwrap_or_default()
        .contains("tools/call");
    assert!(!called, "{program:?}: the refused tool ran");
}

async fn failed_mcp_servers_are_reported_and_all_failed_is_a_failure(program: Program) {
    let cli = Cli::new(program);
    cli.server
        .respond_with(|_: &Recorded| Reply::text("did what I could"));
    let calls_file = cli.home.path().join("mcp-calls.jsonl");
    let all = work(&cli, cli.config(), registry(&calls_file), task(&["broken"])).await;
    assert_eq!(
        all.status,
        WorkerStatus::Failed,
        "{program:?}: {}",
        all.result
    );
    assert!(
        all.result.contains("failed to start (broken)"),
        "{program:?}: {}",
        all.result
    );

    let some = work(
        &cli,
        cli.config(),
        registry(&calls_file),
        task(&["echo", "broken"]),
    )
    .await;
    assert_eq!(
        some.status,
        WorkerStatus::Succeeded,
        "{program:?}: {}",
        some.result
    );
    assert!(
        some.result.starts_with("did what I could"),
        "{}",
        some.result
    );
    assert!(
        some.result
            .contains("failed to start, whose tools the worker did not have: broken"),
        "{program:?}: {}",
        some.result
    );
}

// ---------------------------------------------------------------------------------------------
// Errors

async fn run_session(config: ClaudeConfig) -> Result<aito_core::LlmResponse, LlmError> {
    ClaudeSession::new(config).run(request("Go.", None)).await
}

async fn a_500_then_200_is_retried_by_the_cli_and_succeeds(program: Program) {
    let cli = Cli::new(program);
    cli.server.push(Reply::error(500, "Internal server error"));
    cli.server.push(Reply::text(ANSWER));
    let answer = run_session(cli.config()).await.unwrap();
    assert_eq!(answer.text, ANSWER);
    assert_eq!(cli.server.model_calls().len(), 2, "{program:?}");
}

async fn server_errors_and_api_timeouts_are_transient(program: Program) {
    let cli = Cli::new(program);
    cli.server.push(Reply::error(503, "Service unavailable"));
    match run_session(cli.config().max_retries(Some(0))).await {
        Err(
            error @ LlmError::Unavailable {
                status: Some(503), ..
            },
        ) => {
            assert!(error.is_transient())
        }
        other => panic!("{program:?}: expected the API to be unavailable, got {other:?}"),
    }
    cli.server.push(Reply::Hang);
    let config = cli
        .config()
        .max_retries(Some(0))
        .env("API_TIMEOUT_MS", "1500");
    match run_session(config).await {
        Err(error @ LlmError::Unavailable { status: None, .. }) => assert!(error.is_transient()),
        other => panic!("{program:?}: expected a timeout to be transient, got {other:?}"),
    }
    cli.server.push(ApiError::new(529, "Overloaded"));
    match run_session(cli.config().max_retries(Some(0))).await {
        Err(error @ LlmError::RateLimited { quota: false, .. }) => assert!(error.is_transient()),
        other => panic!("{program:?}: expected overload to back off, got {other:?}"),
    }
}

async fn a_429_with_retry_after_is_waited_out(program: Program) {
    let cli = Cli::new(program);
    cli.server
        .push(ApiError::new(429, "This request would exceed the rate limit").retry_after(2));
    cli.server.push(Reply::text(ANSWER));
    let answer = run_session(cli.config()).await.unwrap();
    assert_eq!(answer.text, ANSWER);
    let calls = cli.server.model_calls();
    assert_eq!(calls.len(), 2, "{program:?}");
    let waited = calls[1].since(&calls[0]);
    assert!(
        waited >= Duration::from_secs(2),
        "{program:?} waited only {waited:?}"
    );
}

async fn auth_low_credit_and_a_prompt_too_long_are_not_transient(program: Program) {
    let cli = Cli::new(program);
    let config = cli.config().max_retries(Some(0));
    cli.server.push(Reply::error(401, "invalid x-api-key"));
    match run_session(config.clone()).await {
        Err(error @ LlmError::Auth { .. }) => assert!(!error.is_transient()),
        other => panic!("{program:?}: expected an auth error, got {other:?}"),
    }
    cli.server.push(Reply::error(
        400,
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
    ));
    match run_session(config.clone()).await {
        Err(error @ LlmError::Auth { .. }) => assert!(!error.is_transient()),
        other => panic!("{program:?}: expected low credit to be final, got {other:?}"),
    }
    cli.server.push(Reply::error(
        400,
        "prompt is too long: 250000 tokens > 200000 maximum",
    ));
    match run_session(config).await {
        Err(error @ LlmError::Rejected { .. }) => {
            assert!(!error.is_transient());
            assert!(error.to_string().contains("prompt_too_long"), "{error}");
        }
        other => panic!("{program:?}: expected a rejection, got {other:?}"),
    }
}

async fn an_unknown_session_to_resume_starts_a_fresh_one(program: Program) {
    let cli = Cli::new(program);
    cli.server.push(Reply::text(ANSWER));
    let mut asked = request("Go on.", None);
    let unknown = "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3";
    asked.resume_session = Some(unknown.into());
    let answer = ClaudeSession::new(cli.config()).run(asked).await.unwrap();
    assert_eq!(answer.text, ANSWER);
    let fresh = answer.session_id.expect("a session id");
    assert_ne!(fresh, unknown, "{program:?}");
    assert_eq!(cli.server.model_calls().len(), 1, "{program:?}");

    // The fresh session was kept, so it can be resumed: the next call carries the first turn.
    cli.server.push(Reply::text(ANSWER));
    let mut next = request("And then?", None);
    next.resume_session = Some(fresh.clone());
    let again = ClaudeSession::new(cli.config()).run(next).await.unwrap();
    assert_eq!(
        again.session_id.as_deref(),
        Some(fresh.as_str()),
        "{program:?}"
    );
    let calls = cli.calls();
    let texts = calls.last().unwrap().user_texts().join("\n");
    assert!(
        texts.contains("Go on.") && texts.contains("And then?"),
        "{program:?}: {texts}"
    );
}

// ---------------------------------------------------------------------------------------------
// Through the daemon

/// One CEO on the program, with quick retries; a task for it; the company once it settled.
async fn company_handles_a_task(
    config: ClaudeConfig,
    between: impl AsyncFnOnce(&aito_core::RunningCompany),
) -> (aito_core::Runtime, AgentId) {
    let workspaces = tempfile::tempdir().unwrap();
    let settings = Settings {
        retry: RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        },
        ..Settings::default()
    };
    let company = Company::builder("acme")
        .agent(AgentSpec::new(Role::Ceo).without_schedules())
        .bus(Arc::new(MemoryBus::default()))
        .store(Arc::new(MemoryStore::default()))
        .llm(Arc::new(ClaudeSession::new(config)))
        .workers(Arc::new(aito_core::MockWorkers::new()))
        .settings(settings)
        .workspace_root(workspaces.path())
        .build()
        .unwrap();
    let running = company.start().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    running
        .send(
            "ceo",
            MessageType::Task,
            json!({"title": "Ship it"}),
            Priority::High,
        )
        .await
        .unwrap();
    between(&running).await;
    tokio::time::timeout(
        Duration::from_secs(120),
        running.wait_idle(Duration::from_millis(800)),
    )
    .await
    .expect("the company settles");
    let id = running.id_of(&Role::Ceo).unwrap();
    let runtime = running.runtime().clone();
    running.shutdown().await;
    (runtime, id)
}

async fn the_daemon_retries_a_session_after_a_server_error(program: Program) {
    let cli = Cli::new(program);
    cli.server.push(Reply::error(500, "Internal server error"));
    cli.server.push(Reply::text(ANSWER));
    let (runtime, ceo) =
        company_handles_a_task(cli.config().max_retries(Some(0)), async |_| {}).await;
    let history = runtime.store.history(ceo, 10).await.unwrap();
    assert_eq!(history.len(), 1, "{program:?}");
    assert_eq!(history[0].summary, "handled");
    assert!(
        runtime
            .store
            .dead_letters(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(cli.server.model_calls().len(), 2, "{program:?}");
}

async fn a_refused_connection_is_retried_until_the_api_is_back(program: Program) {
    let cli = Cli::new(program);
    let url = aito_mock_api::closed_port_url().unwrap();
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let config = cli.config_for(&url).max_retries(Some(0));
    let (runtime, ceo) = company_handles_a_task(config, async |running| {
        // Wait for the first session, which finds nothing listening, to fail.
        let started = Instant::now();
        loop {
            let events = running
                .runtime()
                .store
                .read_log(aito_core::store::logs::EVENTS, 100)
                .await
                .unwrap();
            if let Some(failed) = events
                .iter()
                .find(|event| event["event"] == "session_failed")
            {
                assert!(
                    failed["error"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("unavailable"),
                    "{failed}"
                );
                assert_eq!(failed["dead_lettered"], false, "{failed}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no session failed: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let back = MockServer::start_at(addr).unwrap();
        back.push(Reply::text(ANSWER));
        assert!(
            back.wait_for_calls(1, Duration::from_secs(60)).await,
            "no retry came"
        );
        // Keep it up until the session is done.
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;
    let history = runtime.store.history(ceo, 10).await.unwrap();
    assert_eq!(history.len(), 1, "{program:?}: {history:?}");
    assert!(
        runtime
            .store
            .dead_letters(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_401_is_not_retried(program: Program) {
    let cli = Cli::new(program);
    cli.server
        .respond_with(|_: &Recorded| Reply::error(401, "invalid x-api-key"));
    let (runtime, _) =
        company_handles_a_task(cli.config().max_retries(Some(0)), async |_| {}).await;
    let letters = runtime.store.dead_letters(None, 10).await.unwrap();
    assert_eq!(letters.len(), 1, "{program:?}");
    assert!(
        letters[0].reason.contains("not retried"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        cli.server.model_calls().len(),
        1,
        "{program:?}: one session, no retry"
    );
}

/// Each contract test, once per program.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Program::Real).await;
                }
            )*
        }
        mod fake {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Program::Fake).await;
                }
            )*
        }
    };
}

contract!(
    a_session_sends_no_built_in_tools_and_no_claude_md_from_above,
    a_worker_gets_only_the_tools_of_its_servers_and_calls_one,
    a_worker_cannot_read_a_file_in_the_daemons_directory,
    a_worker_whose_tool_call_was_refused_does_not_report_success,
    failed_mcp_servers_are_reported_and_all_failed_is_a_failure,
    a_500_then_200_is_retried_by_the_cli_and_succeeds,
    server_errors_and_api_timeouts_are_transient,
    a_429_with_retry_after_is_waited_out,
    auth_low_credit_and_a_prompt_too_long_are_not_transient,
    an_unknown_session_to_resume_starts_a_fresh_one,
    the_daemon_retries_a_session_after_a_server_error,
    a_refused_connection_is_retried_until_the_api_is_back,
    a_401_is_not_retried,
);
