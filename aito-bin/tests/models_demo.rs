//! The whole demo company through the binary on each HTTP backend: `aito run --kickoff demo`
//! with the model router over one provider, the Anthropic Messages API and then an
//! OpenAI-compatible API (the local API server of the tests answering with the demo
//! scenario's answers), ends as `aito run --llm demo` does: the same sessions, decisions,
//! tasks and escalation. The CTO's worker runs on the API provider too, calling the tool of
//! an MCP server reached over HTTP.

mod binary;

use std::path::Path;

use aito_core::mock::{OnExhausted, Script, ScriptedResponse};
use aito_mock_api::{McpHttpServer, MockServer, ScenarioModel};
use aito_models::workers::WORKER_SYSTEM_PROMPT;
use binary::{aito, output, texts};
use serde_json::{Value, json};

const DEMO: &str = include_str!("../defaults/demo.json");
const DEFAULTS: &str = include_str!("../defaults/aito.toml");

fn demo() -> Value {
    serde_json::from_str(DEMO).expect("the demo scenario")
}

fn demo_model() -> ScenarioModel {
    let responses: Vec<ScriptedResponse> =
        serde_json::from_value(demo()["responses"].clone()).expect("the demo's answers");
    ScenarioModel::new(Script {
        description: None,
        responses,
        on_exhausted: OnExhausted::Idle,
    })
    .worker(
        WORKER_SYSTEM_PROMPT,
        "mcp__fetch__fetch",
        json!({"url": "https://hosting.example/offers"}),
    )
}

/// The default configuration, with `fetch` served over HTTP at `fetch_url`, and `provider`
/// (a `[llm.providers.model]` table body) appended when given.
fn configure(dir: &Path, fetch_url: &str, provider: Option<&str>) {
    let stdio_fetch = "[mcp.fetch]\ncommand = \"uvx\"\nargs = [\"mcp-server-fetch\"]\n";
    assert!(DEFAULTS.contains(stdio_fetch), "the default [mcp.fetch]");
    let mut config = DEFAULTS.replace(
        stdio_fetch,
        &format!("[mcp.fetch]\ntype = \"http\"\nurl = \"{fetch_url}\"\n"),
    );
    if let Some(provider) = provider {
        config.push_str("\n[llm.providers.model]\n");
        config.push_str(provider);
    }
    std::fs::write(dir.join("aito.toml"), config).expect("aito.toml");
    // The knowledge folder the default configuration indexes, as in a checkout.
    std::fs::create_dir_all(dir.join("knowledge")).expect("knowledge/");
}

/// Runs the demo to the end in `dir` with `args` after `run`, and returns its summary.
fn run_demo(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["run", "--exit-when-idle", "--bind", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut command = aito(dir, &all);
    // No cron tick during the run (see tests/demo.rs).
    for role in ["CEO", "DAO", "CMO", "CTO", "CFO", "COO", "CCO"] {
        command.env(format!("AITO_AGENTS_{role}_SCHEDULES"), "[]");
    }
    command.env("AITO_TEST_ANTHROPIC_KEY", "sk-test-key");
    let run = output(command);
    let (stdout, stderr) = texts(&run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("sk-test-key"),
        "the key stays out of the logs"
    );
    stdout
}

/// What the summary says the company did, without what depends on the model's price and the
/// clock: the sessions of each role, each decision's tier, title, proposer, path and final
/// status, each task's path and result, the counts of the run, the open escalations. Each
/// decision and task is one block of lines; the blocks are sorted, since decisions proposed
/// at the same moment come in either order.
fn outcome(summary: &str) -> Vec<Vec<String>> {
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for line in lines(summary) {
        // A block starts at a decision or task, and after one at any line not indented under it.
        let after_block = blocks
            .last()
            .is_some_and(|block| block[0].starts_with("  ["));
        if line.starts_with("  [")
            || blocks.is_empty()
            || (after_block && !line.starts_with("    "))
        {
            blocks.push(Vec::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push(line);
        }
    }
    blocks.sort();
    blocks
}

fn lines(summary: &str) -> Vec<String> {
    let mut kept = Vec::new();
    for line in summary.lines() {
        let trimmed = line.trim_start();
        if let Some((who, _cost)) = line.split_once(", $")
            && who.starts_with("  ")
            && who.contains(" session")
        {
            // "  ceo — 9 sessions, $1.20 ..." → "  ceo — 9 sessions"
            kept.push(who.to_owned());
        } else if line.starts_with("  [")
            || trimmed.starts_with("path:")
            || trimmed.starts_with("final:")
            || trimmed.starts_with("result:")
            || trimmed.starts_with("blocked by")
            || line.starts_with("Open escalations")
        {
            kept.push(line.to_owned());
        } else if let Some(at) = line.find(" sessions, ") {
            // "  this run: $1.20 (21 sessions, 1 worker)" → "(21 sessions, 1 worker)"
            if let Some(open) = line[..at].rfind('(') {
                kept.push(line[open..].to_owned());
            }
        }
    }
    kept
}

fn on_backend(provider: impl Fn(&str) -> String, name: &str) {
    let fetch = McpHttpServer::start().expect("an MCP server");
    let offers = demo()["workers"][0]["result"]
        .as_str()
        .expect("the worker's result")
        .to_owned();
    fetch.tool("fetch", offers);

    // The demo as it runs on the built-in replay model.
    let replayed = tempfile::tempdir().expect("tempdir");
    configure(replayed.path(), &fetch.url(), None);
    let expected = outcome(&run_demo(replayed.path(), &["--llm", "demo"]));
    assert!(
        expected
            .concat()
            .iter()
            .any(|line| line.contains("final: executed")),
        "{expected:?}"
    );

    // The same company thinking through the API.
    let server = MockServer::start().expect("a mock server");
    server.respond_with(demo_model());
    let dir = tempfile::tempdir().expect("tempdir");
    configure(dir.path(), &fetch.url(), Some(&provider(&server.url())));
    let summary = run_demo(dir.path(), &["--kickoff", "demo"]);
    assert!(
        summary.contains(&format!("model: model router over model ({name}")),
        "{summary}"
    );
    assert_eq!(outcome(&summary), expected, "{summary}");

    // Every session went to the API; the worker's tool ran on the MCP server over HTTP.
    let calls = server.model_calls();
    assert!(calls.len() >= 21, "{} model calls", calls.len());
    assert!(server.foreign().is_empty());
    let calls: Vec<(Value, Value)> = fetch
        .calls()
        .into_iter()
        .map(|call| (call["name"].clone(), call["arguments"].clone()))
        .collect();
    assert_eq!(
        calls,
        [(
            json!("fetch"),
            json!({"url": "https://hosting.example/offers"})
        )]
    );
    let hosting = dir.path().join("aito-data/workspaces/cto/ops/hosting.md");
    let written = std::fs::read_to_string(&hosting).expect("the CTO wrote its hosting notes");
    assert!(written.contains("hard cap $450/month"), "{written}");
}

#[test]
fn the_demo_company_runs_on_the_anthropic_backend() {
    on_backend(
        |url| {
            format!(
                "type = \"anthropic\"\nbase_url = \"{url}\"\nmodel = \"claude-test\"\napi_key_env = \"AITO_TEST_ANTHROPIC_KEY\"\nretries = 0\n"
            )
        },
        "anthropic",
    );
}

#[test]
fn the_demo_company_runs_on_the_openai_compatible_backend() {
    on_backend(
        |url| {
            format!(
                "type = \"openai\"\nbase_url = \"{url}/v1\"\nmodel = \"qwen-test\"\nretries = 0\n"
            )
        },
        "openai",
    );
}
