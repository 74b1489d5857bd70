//! Workers on the API backends: the tool-use loop over a real stdio MCP server (aito-claude's
//! `test-mcp-server`), through rmcp.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_claude::{McpRegistry, McpServer};
use aito_core::bus::Subscription;
use aito_core::{
    AgentId, Bus, Channel, MemoryBus, Role, WorkerError, WorkerSpawner, WorkerStatus, WorkerTask,
};
use aito_mock_api::openai::ChatRequest;
use aito_mock_api::{MockServer, Recorded, Reply};
use aito_models::{ApiWorkers, OpenAiApi};
use common::{config, process_with, test_mcp_server};
use serde_json::{Value, json};

struct Setup {
    server: MockServer,
    workers: ApiWorkers,
    bus: Arc<MemoryBus>,
    dir: tempfile::TempDir,
}

fn setup(max_turns: Option<u32>) -> Setup {
    let server = MockServer::start().expect("a mock server");
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = test_mcp_server().display().to_string();
    let record = |name: &str| dir.path().join(name).display().to_string();
    let registry = McpRegistry::new()
        .with(
            "echo",
            McpServer::stdio(
                binary.clone(),
                [
                    "--tool".to_owned(),
                    "echo".to_owned(),
                    "--reply".to_owned(),
                    "ECHOED {arguments}".to_owned(),
                    "--record".to_owned(),
                    record("echo.jsonl"),
                ],
            ),
        )
        .expect("a server name")
        .with(
            "vault",
            McpServer::stdio(
                binary,
                [
                    "--tool".to_owned(),
                    "read_secret".to_owned(),
                    "--record".to_owned(),
                    record("vault.jsonl"),
                ],
            ),
        )
        .expect("a server name");
    let api = OpenAiApi::new(config(
        "local",
        &format!("{}/v1", server.url()),
        "qwen-test",
    ))
    .expect("a client");
    let bus = Arc::new(MemoryBus::default());
    let workers = ApiWorkers::new(Arc::new(api), registry, bus.clone() as Arc<dyn Bus>)
        .with_max_turns(max_turns);
    Setup {
        server,
        workers,
        bus,
        dir,
    }
}

fn task(servers: &[&str], timeout: Duration) -> WorkerTask {
    WorkerTask {
        id: "trigger-1:0".into(),
        agent: AgentId::random(),
        role: Role::Cmo,
        task: "Echo the word hello".into(),
        context: Some("The audience is small.".into()),
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        allowed_servers: vec!["echo".into(), "vault".into()],
        timeout,
    }
}

/// Calls the first tool offered until a tool result is in the conversation, then answers with
/// that result.
fn call_then_answer(request: &Recorded) -> Reply {
    let call = ChatRequest::parse(request).expect("a Chat Completions call");
    match call.tool_results().last() {
        Some(result) => Reply::text(format!("The tool said: {}", result.content)),
        None => match call.tool_names().first() {
            Some(name) => Reply::tool_use(name.clone(), json!({"text": "hello"})),
            None => Reply::text("no tool was offered"),
        },
    }
}

#[tokio::test]
async fn a_worker_calls_a_tool_of_its_server_and_never_sees_the_others() {
    let setup = setup(None);
    setup.server.respond_with(call_then_answer);
    let mut logs = setup
        .bus
        .subscribe(Subscription::new("test", "test-1", [Channel::WorkerLogs]))
        .await
        .unwrap();
    let record = setup.dir.path().display().to_string();

    let result = setup
        .workers
        .spawn(task(&["echo"], Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(result.status, WorkerStatus::Succeeded, "{}", result.result);
    assert_eq!(result.result, r#"The tool said: ECHOED {"text":"hello"}"#);
    assert!(result.usage.total() > 0);

    let calls = setup.server.model_calls();
    assert_eq!(
        calls.len(),
        2,
        "a call with the tool, a call with its result"
    );
    for call in &calls {
        let call = ChatRequest::parse(call).unwrap();
        assert_eq!(
            call.tool_names(),
            ["mcp__echo__echo"],
            "only the tools of the requested server"
        );
        assert!(!call.body.to_string().contains("read_secret"));
    }
    let first = ChatRequest::parse(&calls[0]).unwrap();
    assert!(first.user_texts()[0].contains("Echo the word hello"));
    assert!(first.user_texts()[0].contains("The audience is small."));

    // The server really ran the call; the other server never started.
    let echo = std::fs::read_to_string(setup.dir.path().join("echo.jsonl")).unwrap();
    assert!(echo.contains(r#""name":"echo""#), "{echo}");
    assert!(!setup.dir.path().join("vault.jsonl").exists());

    // Every step was streamed to the worker logs, in order.
    let mut events: Vec<Value> = Vec::new();
    while let Ok(Some(delivery)) =
        tokio::time::timeout(Duration::from_millis(200), logs.next()).await
    {
        events.push(delivery.envelope().payload["event"].clone());
    }
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["started", "tool_call", "tool_result", "text", "result"],
        "{events:?}"
    );
    assert_eq!(events[0]["tools"], json!(["mcp__echo__echo"]));
    assert_eq!(events[1]["tool"], "mcp__echo__echo");
    assert_eq!(events[2]["text"], r#"ECHOED {"text":"hello"}"#);
    assert_eq!(events[2]["isError"], false);

    assert!(!process_with(&record), "the MCP server was stopped");
}

#[tokio::test]
async fn a_tool_the_worker_was_not_given_is_refused_to_the_model() {
    let setup = setup(None);
    setup
        .server
        .push(Reply::tool_use("mcp__vault__read_secret", json!({})));
    setup.server.respond_with(call_then_answer);
    let result = setup
        .workers
        .spawn(task(&["echo"], Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(result.status, WorkerStatus::Succeeded);
    let second = ChatRequest::parse(&setup.server.model_calls()[1]).unwrap();
    assert!(
        second.tool_results()[0]
            .content
            .contains("there is no tool")
    );
    assert!(!setup.dir.path().join("vault.jsonl").exists());
}

#[tokio::test]
async fn a_server_outside_the_allowed_ones_is_refused_before_anything_starts() {
    let setup = setup(None);
    let mut refused = task(&["vault"], Duration::from_secs(5));
    refused.allowed_servers = vec!["echo".into()];
    let error = setup.workers.spawn(refused).await.unwrap_err();
    assert!(matches!(error, WorkerError::NotAllowed { .. }), "{error:?}");
    let unknown = task(&["nope"], Duration::from_secs(5));
    let mut unknown = unknown;
    unknown.allowed_servers.push("nope".into());
    assert!(matches!(
        setup.workers.spawn(unknown).await.unwrap_err(),
        WorkerError::UnknownServer { .. }
    ));
    assert!(setup.server.model_calls().is_empty());
}

#[tokio::test]
async fn the_turn_limit_ends_a_worker_that_keeps_calling_tools() {
    let setup = setup(Some(2));
    setup
        .server
        .respond_with(|_: &Recorded| Reply::tool_use("mcp__echo__echo", json!({"text": "again"})));
    let record = setup.dir.path().display().to_string();
    let result = setup
        .workers
        .spawn(task(&["echo"], Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(result.status, WorkerStatus::Failed);
    assert!(
        result.result.contains("turn limit (2)"),
        "{}",
        result.result
    );
    assert_eq!(setup.server.model_calls().len(), 2);
    assert!(!process_with(&record), "the MCP server was stopped");
}

#[tokio::test]
async fn a_hung_model_times_the_worker_out_and_stops_its_servers() {
    let setup = setup(None);
    setup.server.respond_with(|_: &Recorded| Reply::Hang);
    let record = setup.dir.path().display().to_string();
    let started = Instant::now();
    let result = setup
        .workers
        .spawn(task(&["echo", "vault"], Duration::from_millis(1500)))
        .await
        .unwrap();
    assert_eq!(result.status, WorkerStatus::TimedOut, "{}", result.result);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        setup.dir.path().join("vault.jsonl").exists(),
        "both servers ran"
    );
    assert!(!process_with(&record), "every MCP server was stopped");
}

#[tokio::test]
async fn a_server_that_cannot_start_fails_the_task() {
    let setup = setup(None);
    let registry = McpRegistry::new()
        .with(
            "broken",
            McpServer::stdio(test_mcp_server().display().to_string(), ["--fail"]),
        )
        .unwrap();
    let api = OpenAiApi::new(config("local", &format!("{}/v1", setup.server.url()), "m")).unwrap();
    let workers = ApiWorkers::new(Arc::new(api), registry, setup.bus.clone() as Arc<dyn Bus>);
    let mut broken = task(&["broken"], Duration::from_secs(10));
    broken.allowed_servers = vec!["broken".into()];
    let result = workers.spawn(broken).await.unwrap();
    assert_eq!(result.status, WorkerStatus::Failed);
    assert!(result.result.contains("broken"), "{}", result.result);
    assert!(setup.server.model_calls().is_empty());
}

#[tokio::test]
async fn a_worker_calls_a_tool_of_an_http_server_by_url_and_never_sees_the_others() {
    let search = aito_mock_api::McpHttpServer::start().expect("an MCP server");
    search.tool("search", "FOUND {arguments}");
    let vault = aito_mock_api::McpHttpServer::start().expect("an MCP server");
    vault.tool("read_secret", "the secret");
    let model = MockServer::start().expect("a mock server");
    model.respond_with(call_then_answer);
    let registry = McpRegistry::new()
        .with(
            "search",
            McpServer::Http {
                url: search.url(),
                headers: [("Authorization".to_owned(), "Bearer sk-mcp-test".to_owned())]
                    .into_iter()
                    .collect(),
            },
        )
        .expect("a server name")
        .with("vault", McpServer::http(vault.url()))
        .expect("a server name");
    let api = OpenAiApi::new(config("local", &format!("{}/v1", model.url()), "qwen-test"))
        .expect("a client");
    let workers = ApiWorkers::new(
        Arc::new(api),
        registry,
        Arc::new(MemoryBus::default()) as Arc<dyn Bus>,
    );
    let mut asked = task(&["search"], Duration::from_secs(30));
    asked.allowed_servers = vec!["search".into(), "vault".into()];

    let result = workers.spawn(asked).await.unwrap();
    assert_eq!(result.status, WorkerStatus::Succeeded, "{}", result.result);
    assert_eq!(result.result, r#"The tool said: FOUND {"text":"hello"}"#);

    // Only the requested server's tools were offered, on every model call.
    let calls = model.model_calls();
    assert_eq!(
        calls.len(),
        2,
        "a call with the tool, a call with its result"
    );
    for call in &calls {
        let call = ChatRequest::parse(call).unwrap();
        assert_eq!(call.tool_names(), ["mcp__search__search"]);
        assert!(!call.body.to_string().contains("read_secret"));
    }

    // The server over HTTP ran the call, in the session it opened, with the configured header.
    let calls: Vec<(Value, Value)> = search
        .calls()
        .into_iter()
        .map(|call| (call["name"].clone(), call["arguments"].clone()))
        .collect();
    assert_eq!(calls, [(json!("search"), json!({"text": "hello"}))]);
    let requests = search.requests();
    assert_eq!(requests[0].rpc_method(), Some("initialize"));
    for request in requests.iter().filter(|request| request.method == "POST") {
        assert_eq!(request.header("authorization"), Some("Bearer sk-mcp-test"));
        if request.rpc_method() != Some("initialize") {
            assert!(
                request.header(aito_mock_api::mcp::SESSION_HEADER).is_some(),
                "{request:?}"
            );
        }
    }
    assert!(
        vault.requests().is_empty(),
        "the other server was never reached"
    );
}
