//! The demo company on each HTTP backend: the demo scenario's task goes from the CEO to the
//! CTO, the CTO's worker calls the tool of a real stdio MCP server through rmcp, the decisions
//! run their course, and the company ends as it does with the replay model: on the Anthropic
//! backend, on the OpenAI-compatible backend, and on a router that mixes them.
//!
//! The local API server answers each agent's session with the scenario's scripted answer
//! ([`ScenarioModel`]: a replay model reads the role from the system prompt and the trigger
//! from the prompt), and the worker's session first calls the MCP tool, then reports what the
//! tool answered.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aito_claude::{McpRegistry, McpServer};
use aito_core::mock::{OnExhausted, Script, ScriptedResponse};
use aito_core::{
    AgentSpec, Bus, Company, LlmSession, MemoryBus, MemoryStore, MessageType, MockWorkers,
    Priority, ReplayLlm, Role, SessionKind, WorkerSpawner, WorkerStatus,
};
use aito_mock_api::anthropic::MessagesRequest;
use aito_mock_api::openai::ChatRequest;
use aito_mock_api::{Api, MockServer, Recorded, ScenarioModel};
use aito_models::workers::WORKER_SYSTEM_PROMPT;
use aito_models::{AnthropicApi, ApiSession, ApiWorkers, ChatApi, OpenAiApi, Router, Rule};
use common::{config, test_mcp_server};
use serde::Deserialize;
use serde_json::{Value, json};

const DEMO: &str = include_str!("../../examples/scenarios/demo.json");

#[derive(Deserialize)]
struct Kickoff {
    to: String,
    #[serde(rename = "type")]
    kind: String,
    priority: Priority,
    payload: Value,
}

#[derive(Deserialize)]
struct WorkerRule {
    contains: String,
    result: String,
}

#[derive(Deserialize)]
struct Demo {
    kickoff: Vec<Kickoff>,
    workers: Vec<WorkerRule>,
    responses: Vec<ScriptedResponse>,
}

fn demo() -> Demo {
    serde_json::from_str(DEMO).expect("the demo scenario")
}

fn script(demo: &Demo) -> Script {
    Script {
        description: None,
        responses: demo.responses.clone(),
        on_exhausted: OnExhausted::Idle,
    }
}

fn replay(demo: &Demo) -> ReplayLlm {
    ReplayLlm::new(script(demo))
}

fn agents() -> Vec<AgentSpec> {
    AgentSpec::defaults()
        .into_iter()
        .map(|spec| spec.without_schedules().mcp_servers(["fetch"]))
        .collect()
}

/// What a run ended with.
#[derive(Debug, PartialEq)]
struct EndState {
    /// Per role: the summary of each session, sorted.
    sessions: Vec<(String, Vec<String>)>,
    /// Per decision: title, tier, path and final status.
    decisions: Vec<(String, String, String, String)>,
    workers_succeeded: usize,
    dead_letters: usize,
    /// The providers named in the history.
    providers: Vec<String>,
}

async fn run(
    llm: Arc<dyn LlmSession>,
    workers: Arc<dyn WorkerSpawner>,
    bus: Arc<MemoryBus>,
    demo: &Demo,
) -> EndState {
    let workspaces = tempfile::tempdir().expect("a temp dir");
    let company = Company::builder("acme")
        .agents(agents())
        .bus(bus)
        .store(Arc::new(MemoryStore::default()))
        .llm(llm)
        .workers(workers)
        .workspace_root(workspaces.path())
        .build()
        .expect("a company");
    let running = company.start().expect("started");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for message in &demo.kickoff {
        running
            .send(
                &message.to,
                MessageType::from(message.kind.as_str()),
                message.payload.clone(),
                message.priority,
            )
            .await
            .expect("sent");
    }
    tokio::time::timeout(
        Duration::from_secs(300),
        running.wait_idle(Duration::from_millis(1500)),
    )
    .await
    .expect("the company settles");
    let runtime = running.runtime().clone();
    let mut sessions = Vec::new();
    let mut workers_succeeded = 0;
    let mut providers = Vec::new();
    for role in Role::BUILT_IN.iter() {
        let id = running.id_of(role).expect("an agent");
        let history = runtime.store.history(id, 100).await.expect("history");
        workers_succeeded += history
            .iter()
            .flat_map(|entry| &entry.actions)
            .filter(|action| action.kind == "spawn_worker" && action.ok)
            .count();
        providers.extend(history.iter().filter_map(|entry| entry.provider.clone()));
        let mut summaries: Vec<String> = history.into_iter().map(|entry| entry.summary).collect();
        summaries.sort();
        sessions.push((role.to_string(), summaries));
    }
    let mut decisions: Vec<_> = runtime
        .store
        .decisions(None)
        .await
        .expect("decisions")
        .into_iter()
        .map(|decision| {
            (
                decision.title.clone(),
                decision.tier.to_string(),
                decision.path(),
                decision.status.to_string(),
            )
        })
        .collect();
    decisions.sort();
    let dead_letters = runtime
        .store
        .dead_letters(None, 100)
        .await
        .expect("dead letters")
        .len();
    running.shutdown().await;
    providers.sort();
    providers.dedup();
    EndState {
        sessions,
        decisions,
        workers_succeeded,
        dead_letters,
        providers,
    }
}

/// The parts of a model call the tests read, from either API.
fn user_texts(request: &Recorded) -> Option<Vec<String>> {
    if request.is_api(Api::Anthropic) {
        Some(MessagesRequest::parse(request)?.user_texts())
    } else {
        Some(ChatRequest::parse(request)?.user_texts())
    }
}

/// Answers agent sessions from the scenario, and the worker with a call to its MCP tool, then
/// a report of the tool's answer.
fn demo_model(demo: &Demo) -> ScenarioModel {
    ScenarioModel::new(script(demo)).worker(
        WORKER_SYSTEM_PROMPT,
        "mcp__fetch__fetch",
        json!({"url": "https://hosting.example/offers"}),
    )
}

fn registry(demo: &Demo, calls: &std::path::Path) -> McpRegistry {
    McpRegistry::new()
        .with(
            "fetch",
            McpServer::stdio(
                test_mcp_server().display().to_string(),
                [
                    "--tool".to_owned(),
                    "fetch".to_owned(),
                    "--reply".to_owned(),
                    demo.workers[0].result.clone(),
                    "--record".to_owned(),
                    calls.display().to_string(),
                ],
            ),
        )
        .expect("a server name")
}

async fn with_replay(demo: &Demo) -> EndState {
    let scripted = demo
        .workers
        .iter()
        .fold(MockWorkers::new(), |workers, rule| {
            workers.with_result(&rule.contains, WorkerStatus::Succeeded, &rule.result, 0.0)
        });
    let mut state = run(
        Arc::new(replay(demo)),
        Arc::new(scripted),
        Arc::new(MemoryBus::default()),
        demo,
    )
    .await;
    state.providers.clear();
    state
}

fn tool_calls(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .expect("the MCP server was started")
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|call: &Value| call["method"] == "tools/call")
        .collect()
}

async fn on_backend(anthropic: bool) {
    let demo = demo();
    let server = MockServer::start().expect("a mock server");
    server.respond_with(demo_model(&demo));
    let dir = tempfile::tempdir().expect("a temp dir");
    let calls = dir.path().join("mcp-calls.jsonl");
    let api: Arc<dyn ChatApi> = if anthropic {
        Arc::new(
            AnthropicApi::new(config("anthropic", &server.url(), "claude-test")).expect("a client"),
        )
    } else {
        Arc::new(
            OpenAiApi::new(config(
                "local",
                &format!("{}/v1", server.url()),
                "qwen-test",
            ))
            .expect("a client"),
        )
    };
    let bus = Arc::new(MemoryBus::default());
    let workers = ApiWorkers::new(
        Arc::clone(&api),
        registry(&demo, &calls),
        Arc::clone(&bus) as Arc<dyn Bus>,
    );
    let mut on_api = run(
        Arc::new(ApiSession::new(api)),
        Arc::new(workers),
        bus,
        &demo,
    )
    .await;
    let name = if anthropic { "anthropic" } else { "local" };
    assert_eq!(on_api.providers, [name]);
    on_api.providers.clear();
    let expected = with_replay(&demo).await;
    assert_eq!(on_api, expected);
    assert_eq!(on_api.dead_letters, 0);
    assert_eq!(on_api.workers_succeeded, 1);
    let calls = tool_calls(&calls);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["params"]["name"], "fetch");
    assert_eq!(
        calls[0]["params"]["arguments"]["url"],
        "https://hosting.example/offers"
    );
    assert!(server.foreign().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_company_runs_on_the_anthropic_backend() {
    on_backend(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_company_runs_on_the_openai_compatible_backend() {
    on_backend(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_company_runs_on_a_router_with_votes_and_decisions_on_the_strong_model() {
    let demo = demo();
    let strong = MockServer::start().expect("a mock server");
    let local = MockServer::start().expect("a mock server");
    strong.respond_with(demo_model(&demo));
    local.respond_with(demo_model(&demo));
    let sessions: Vec<(String, Arc<dyn LlmSession>)> = vec![
        (
            "local".into(),
            Arc::new(
                ApiSession::openai(config("local", &format!("{}/v1", local.url()), "qwen-test"))
                    .expect("a client"),
            ),
        ),
        (
            "strong".into(),
            Arc::new(
                ApiSession::anthropic(config("strong", &strong.url(), "claude-test"))
                    .expect("a client"),
            ),
        ),
    ];
    let router = Router::new(
        sessions,
        vec![Rule::to(["strong", "local"]).kinds([SessionKind::Vote, SessionKind::Decision])],
    )
    .expect("a router");
    let dir = tempfile::tempdir().expect("a temp dir");
    let calls = dir.path().join("mcp-calls.jsonl");
    let bus = Arc::new(MemoryBus::default());
    let api: Arc<dyn ChatApi> = Arc::new(
        OpenAiApi::new(config("local", &format!("{}/v1", local.url()), "qwen-test"))
            .expect("a client"),
    );
    let workers = ApiWorkers::new(
        api,
        registry(&demo, &calls),
        Arc::clone(&bus) as Arc<dyn Bus>,
    );
    let mut routed = run(Arc::new(router), Arc::new(workers), bus, &demo).await;
    assert_eq!(routed.providers, ["local", "strong"]);
    routed.providers.clear();
    assert_eq!(routed, with_replay(&demo).await);
    // Every vote went to the strong model, and nothing else did.
    let triggers = |server: &MockServer| -> Vec<String> {
        server
            .model_calls()
            .iter()
            .map(|call| user_texts(call).expect("a model call").join("\n"))
            .collect()
    };
    let vote = "# Trigger\nA vote message";
    assert!(
        triggers(&local).iter().all(|text| !text.contains(vote)),
        "a vote reached the local model"
    );
    let strong_calls = triggers(&strong);
    assert!(!strong_calls.is_empty());
    assert!(strong_calls.iter().any(|text| text.contains(vote)));
    assert!(
        strong_calls.iter().all(|text| text.contains(vote)
            || text.contains("# Trigger\nA decision message")
            || text.contains("# Trigger\nA decision_result message")),
        "only votes and decisions reached the strong model"
    );
    assert_eq!(tool_calls(&calls).len(), 1);
}
