//! The daemon's overhead per session on the HTTP backends, against the local API server of
//! the tests (aito-mock-api), which answers every call at once with a short streamed answer.
//!
//! Two measurements per backend (the Anthropic Messages API and the OpenAI-compatible Chat
//! Completions API):
//! - criterion: one `ApiSession::run` (the request body built and sent, the streamed answer
//!   read and assembled, usage and cost computed) against one plain POST of the same body
//!   whose answer is read whole: the difference is the backend's own cost per call;
//! - the whole trigger through the daemon (intake, queue, budget, prompt, session over HTTP,
//!   parse, state, history, events), 2,000 tasks one after the other, minus the plain POST's
//!   median: an upper bound of the daemon's overhead per session on that backend (it counts
//!   intake and persistence as well as the prompt-to-request and response-to-actions steps).
//!
//!     cargo bench -p aito-benches --bench http_backends
//!
//! Environment: `AITO_BENCH_TRIGGERS` (default 2000), `AITO_BENCH_WARMUP` (default 200).

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_core::{
    AgentId, AgentSpec, Budget, Company, LlmRequest, LlmSession, MessageType, MockWorkers,
    Priority, Role, RunningCompany, SessionKind, Settings,
};
use aito_mock_api::{MockServer, Recorded, Reply};
use aito_models::{ApiConfig, ApiSession};
use criterion::Criterion;
use serde_json::json;

const ANSWER: &str = r#"{"summary": "done", "actions": []}"#;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct Backend {
    name: &'static str,
    server: MockServer,
    session: ApiSession,
    url: String,
    body: Vec<u8>,
}

fn request(prompt: &str) -> LlmRequest {
    LlmRequest {
        agent: AgentId::random(),
        role: Role::Cto,
        system_prompt: "You are the CTO. ".repeat(200),
        prompt: prompt.to_owned(),
        resume_session: None,
        keep_session: false,
        model: None,
        max_turns: None,
        timeout: Duration::from_secs(30),
        working_dir: None,
        kind: SessionKind::Message,
        tier: None,
    }
}

fn backends(runtime: &tokio::runtime::Runtime) -> Vec<Backend> {
    let mut backends = Vec::new();
    for name in ["anthropic", "openai"] {
        let server = MockServer::start().expect("a local server");
        server.respond_with(|_: &Recorded| Reply::text(ANSWER));
        let (session, url) = if name == "anthropic" {
            let config = ApiConfig::new(name, server.url(), "claude-bench").api_key("sk-bench");
            (
                ApiSession::anthropic(config).expect("a client"),
                format!("{}/v1/messages", server.url()),
            )
        } else {
            let config = ApiConfig::new(name, format!("{}/v1", server.url()), "bench");
            (
                ApiSession::openai(config).expect("a client"),
                format!("{}/v1/chat/completions", server.url()),
            )
        };
        // The body the backend sends, captured once, for the plain POST.
        runtime
            .block_on(session.run(request("Plan the week.")))
            .expect("the backend answers");
        let body = server.model_calls()[0].body.to_vec();
        backends.push(Backend {
            name,
            server,
            session,
            url,
            body,
        });
    }
    backends
}

async fn plain_post(client: &reqwest::Client, backend: &Backend) {
    let response = client
        .post(&backend.url)
        .header("content-type", "application/json")
        .body(backend.body.clone())
        .send()
        .await
        .expect("an answer");
    response.bytes().await.expect("a body");
}

fn handled(company: &RunningCompany) -> u64 {
    company
        .snapshots()
        .iter()
        .map(|(_, _, snapshot)| snapshot.handled)
        .sum()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The median of `count` plain POSTs.
async fn plain_median(backend: &Backend, count: usize) -> Duration {
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        plain_post(&client, backend).await;
        times.push(started.elapsed());
    }
    median(&mut times)
}

/// The median round trip of a task through a daemon whose model is `backend`.
async fn trigger_median(backend: &Backend, warmup: usize, triggers: usize) -> Duration {
    let workspaces = tempfile::tempdir().expect("tempdir");
    let company = Company::builder("bench")
        .agent(
            AgentSpec::new(Role::Cto)
                .without_schedules()
                .budget(Budget::unlimited()),
        )
        .embedded()
        .llm(Arc::new(backend.session.clone()))
        .workers(Arc::new(MockWorkers::new()))
        .settings(Settings {
            company_budget: Budget::unlimited(),
            ..Settings::default()
        })
        .workspace_root(workspaces.path())
        .build()
        .expect("company")
        .start()
        .expect("start");
    while company
        .runtime()
        .store
        .statuses()
        .await
        .map_or(true, |statuses| statuses.is_empty())
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut expected = handled(&company);
    let mut times = Vec::with_capacity(triggers);
    for index in 0..warmup + triggers {
        expected += 1;
        let started = Instant::now();
        company
            .send(
                "cto",
                MessageType::Task,
                json!({ "title": format!("task {index}") }),
                Priority::Normal,
            )
            .await
            .expect("send");
        while handled(&company) < expected {
            tokio::task::yield_now().await;
        }
        if index >= warmup {
            times.push(started.elapsed());
        }
    }
    company.shutdown().await;
    median(&mut times)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let backends = backends(&runtime);
    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("http_backends");
        let client = reqwest::Client::new();
        for backend in &backends {
            group.bench_function(format!("{}/session", backend.name), |b| {
                b.to_async(&runtime)
                    .iter(|| async { backend.session.run(request("Plan the week.")).await })
            });
            group.bench_function(format!("{}/plain_post", backend.name), |b| {
                b.to_async(&runtime)
                    .iter(|| async { plain_post(&client, backend).await })
            });
        }
        group.finish();
    }
    criterion.final_summary();

    let triggers = env_or("AITO_BENCH_TRIGGERS", 2_000);
    let warmup = env_or("AITO_BENCH_WARMUP", 200);
    for backend in &backends {
        let (plain, session, trigger) = runtime.block_on(async {
            let plain = plain_median(backend, 2_000).await;
            let mut sessions = Vec::with_capacity(2_000);
            for _ in 0..2_000 {
                let started = Instant::now();
                backend
                    .session
                    .run(request("Plan the week."))
                    .await
                    .expect("an answer");
                sessions.push(started.elapsed());
            }
            let session = median(&mut sessions);
            let trigger = trigger_median(backend, warmup, triggers).await;
            (plain, session, trigger)
        });
        let backend_cost = session.saturating_sub(plain);
        let overhead = trigger.saturating_sub(plain);
        println!(
            "{}: plain POST median {plain:?}, session median {session:?} (backend's own cost {backend_cost:?}), trigger round trip median {trigger:?}: daemon overhead per session at most {overhead:?} ({} calls served)",
            backend.name,
            backend.server.model_calls().len()
        );
        println!(
            "RESULT http_{}_overhead_median_us {:.1}",
            backend.name,
            overhead.as_secs_f64() * 1e6
        );
        println!(
            "RESULT http_{}_backend_cost_median_us {:.1}",
            backend.name,
            backend_cost.as_secs_f64() * 1e6
        );
    }
}
