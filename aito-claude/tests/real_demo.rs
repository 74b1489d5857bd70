//! The demo company through the real Claude Code CLI: the demo scenario's task goes from the
//! CEO to the CTO, the CTO's worker calls the tool of a real stdio MCP server, the decisions
//! run their course, and the company ends as it does with the replay model.
//!
//! The mock Messages API answers each agent's session with the scenario's scripted answer
//! (a [`ReplayLlm`] reads the role from the system prompt and the trigger from the prompt the
//! CLI forwarded), and the worker's session first calls the MCP tool, then reports what the
//! tool answered. The same company then runs with the replay model and scripted workers, and
//! the two end states are compared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aito_claude::{ClaudeConfig, ClaudeSession, ClaudeWorkers, McpRegistry, McpServer};
use aito_core::mock::{OnExhausted, Script, ScriptedResponse};
use aito_core::{
    AgentSpec, Bus, Company, LlmRequest, LlmSession, MemoryBus, MemoryStore, MessageType,
    MockWorkers, Priority, ReplayLlm, Role, WorkerSpawner, WorkerStatus,
};
use aito_mock_api::anthropic::MessagesRequest;
use aito_mock_api::{Recorded, Reply, Responder};
use async_trait::async_trait;
use common::{Real, test_mcp_server};
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
    serde_json::from_str(DEMO).unwrap()
}

fn replay(demo: &Demo) -> ReplayLlm {
    ReplayLlm::new(Script {
        description: None,
        responses: demo.responses.clone(),
        on_exhausted: OnExhausted::Idle,
    })
}

/// The seven roles with the servers of the repository's aito.toml, and no schedules (a cron
/// tick would add sessions).
fn agents() -> Vec<AgentSpec> {
    AgentSpec::defaults()
        .into_iter()
        .map(|spec| {
            let servers: &[&str] = match spec.role.as_str() {
                "cto" => &["filesystem", "fetch", "github"],
                "dao" | "coo" => &["filesystem"],
                _ => &["filesystem", "fetch"],
            };
            spec.without_schedules()
                .mcp_servers(servers.iter().copied())
        })
        .collect()
}

/// What a run ended with.
#[derive(Debug, PartialEq)]
struct EndState {
    /// Per role: the summary of each session (sorted: agents run concurrently, so the order
    /// of one agent's sessions may differ between runs).
    sessions: Vec<(String, Vec<String>)>,
    /// Per decision: title, tier, path and final status.
    decisions: Vec<(String, String, String, String)>,
    /// Workers that succeeded.
    workers_succeeded: usize,
    dead_letters: usize,
}

async fn run(
    llm: Arc<dyn LlmSession>,
    workers: Arc<dyn WorkerSpawner>,
    bus: Arc<MemoryBus>,
    demo: &Demo,
) -> EndState {
    let workspaces = tempfile::tempdir().unwrap();
    let company = Company::builder("acme")
        .agents(agents())
        .bus(bus)
        .store(Arc::new(MemoryStore::default()))
        .llm(llm)
        .workers(workers)
        .workspace_root(workspaces.path())
        .build()
        .unwrap();
    let running = company.start().unwrap();
    // Let every daemon subscribe before the kickoff.
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
            .unwrap();
    }
    tokio::time::timeout(
        Duration::from_secs(600),
        running.wait_idle(Duration::from_millis(1500)),
    )
    .await
    .expect("the company settles");
    let runtime = running.runtime().clone();
    let mut sessions = Vec::new();
    let mut workers_succeeded = 0;
    for role in Role::BUILT_IN.iter() {
        let id = running.id_of(role).unwrap();
        let history = runtime.store.history(id, 100).await.unwrap();
        workers_succeeded += history
            .iter()
            .flat_map(|entry| &entry.actions)
            .filter(|action| action.kind == "spawn_worker" && action.ok)
            .count();
        let mut summaries: Vec<String> = history.into_iter().map(|entry| entry.summary).collect();
        summaries.sort();
        sessions.push((role.to_string(), summaries));
    }
    let mut decisions: Vec<_> = runtime
        .store
        .decisions(None)
        .await
        .unwrap()
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
    let dead_letters = runtime.store.dead_letters(None, 100).await.unwrap().len();
    running.shutdown().await;
    EndState {
        sessions,
        decisions,
        workers_succeeded,
        dead_letters,
    }
}

/// Answers the CLI's calls: agent sessions from the scenario, the worker's session with a call
/// to its MCP tool and then a report of the tool's answer.
struct DemoModel {
    replay: ReplayLlm,
}

/// A worker's call: its system prompt holds the worker instructions.
fn is_worker(call: &MessagesRequest) -> bool {
    call.system_text().contains("You are a worker for the")
}

fn role_of(system: &str) -> Option<Role> {
    let start = system.find("You are the ")? + "You are the ".len();
    let name = system[start..].split_whitespace().next()?;
    name.to_lowercase().parse().ok()
}

#[async_trait]
impl Responder for DemoModel {
    async fn respond(&self, request: &Recorded) -> Reply {
        let Some(call) = MessagesRequest::parse(request) else {
            return Reply::error(400, "not a Messages API request");
        };
        if is_worker(&call) {
            return match call.tool_results().last() {
                None => Reply::tool_use(
                    "mcp__fetch__fetch",
                    json!({"url": "https://hosting.example/offers"}),
                ),
                Some(result) => Reply::text(result.text.clone()),
            };
        }
        let system = call.system_text();
        let Some(role) = role_of(&system) else {
            return Reply::error(400, "no role in the system prompt");
        };
        let prompt = call
            .user_texts()
            .into_iter()
            .find(|text| text.contains("# Trigger"))
            .unwrap_or_default();
        let request = LlmRequest {
            agent: aito_core::AgentId::random(),
            role,
            system_prompt: system,
            prompt,
            resume_session: None,
            keep_session: false,
            model: None,
            max_turns: None,
            timeout: Duration::from_secs(60),
            working_dir: None,
            kind: Default::default(),
            tier: None,
        };
        match self.replay.run(request).await {
            Ok(answer) => Reply::text(answer.text),
            Err(error) => Reply::error(500, error.to_string()),
        }
    }
}

fn median(sizes: &mut [usize]) -> usize {
    sizes.sort_unstable();
    sizes.get(sizes.len() / 2).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_through_the_real_cli_and_ends_as_with_the_replay_model() {
    let demo = demo();
    let real = Real::new();
    real.server.respond_with(DemoModel {
        replay: replay(&demo),
    });
    let calls_file = real.home.path().join("mcp-calls.jsonl");
    let worker_result = demo.workers[0].result.clone();
    let registry = McpRegistry::new()
        .with(
            "fetch",
            McpServer::stdio(
                test_mcp_server().display().to_string(),
                [
                    "--tool".to_owned(),
                    "fetch".to_owned(),
                    "--reply".to_owned(),
                    worker_result.clone(),
                    "--record".to_owned(),
                    calls_file.display().to_string(),
                ],
            ),
        )
        .unwrap();
    let config: ClaudeConfig = real.config().model("sonnet");
    let bus = Arc::new(MemoryBus::default());
    let session = ClaudeSession::new(config.clone());
    let workers = ClaudeWorkers::new(config, registry, Arc::clone(&bus) as Arc<dyn Bus>);
    let through_cli = run(Arc::new(session), Arc::new(workers), bus, &demo).await;

    let scripted = demo
        .workers
        .iter()
        .fold(MockWorkers::new(), |workers, rule| {
            workers.with_result(&rule.contains, WorkerStatus::Succeeded, &rule.result, 0.0)
        });
    let with_replay = run(
        Arc::new(replay(&demo)),
        Arc::new(scripted),
        Arc::new(MemoryBus::default()),
        &demo,
    )
    .await;

    assert_eq!(through_cli, with_replay);
    assert_eq!(through_cli.dead_letters, 0);
    assert_eq!(through_cli.workers_succeeded, 1);
    // CEO → CTO → worker → decision: the task reached the CTO, whose worker's report came
    // back, and the CTO's proposal was decided.
    let cto = &through_cli
        .sessions
        .iter()
        .find(|(role, _)| role == "cto")
        .unwrap()
        .1;
    assert!(
        cto.iter()
            .any(|summary| summary.contains("Read the hosting comparison")),
        "{cto:?}"
    );
    assert!(
        through_cli
            .decisions
            .iter()
            .any(|(title, _, path, _)| title.contains("Fastly") && path.contains("approved")),
        "{:?}",
        through_cli.decisions
    );

    // The worker called the MCP server's tool, with the arguments the model chose.
    let calls: Vec<Value> = std::fs::read_to_string(&calls_file)
        .expect("the MCP server was started")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|call: &Value| call["method"] == "tools/call")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["params"]["name"], "fetch");
    assert_eq!(
        calls[0]["params"]["arguments"]["url"],
        "https://hosting.example/offers"
    );
    real.assert_stayed_local();

    // Request bytes per agent session (model calls without MCP tools) and per worker call.
    let mut sessions = Vec::new();
    let mut worker_calls = Vec::new();
    for call in real.server.model_calls() {
        let parsed = MessagesRequest::parse(&call).unwrap();
        if is_worker(&parsed) {
            worker_calls.push(call.bytes());
        } else {
            sessions.push(call.bytes());
        }
    }
    let largest = sessions.iter().copied().max().unwrap_or(0);
    let count = sessions.len();
    let median = median(&mut sessions);
    eprintln!(
        "request bytes through {}: {count} agent sessions, median {median}, largest {largest}; worker calls {worker_calls:?}",
        real.cli.version
    );
    // The target for a lean session, aito's own prompt included (a default session of the
    // CLI is several times larger).
    assert!(median < 12_000, "median session request of {median} bytes");
}
