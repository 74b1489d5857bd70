//! The dashboard in a real browser, on the company of the shipped demo scenario (the one
//! `aito run` runs, `aito-bin/defaults/demo.json`): its scripted model, scripted workers and
//! kickoff message run in process on the embedded adapters until the demo's critical decision
//! is escalated and every agent is idle. Nothing is seeded by hand. Its webhook sources then
//! get a delivery each (one queued, one refused), the dashboard is served on a free port, and
//! `scripts/browser/dashboard.mjs` drives Debian's headless Chromium through it (see that
//! script for the steps): the seven agents and the demo's escalation, the task board with the
//! demo's three tasks done and the history of the one that was blocked first, the
//! conversation with the CEO's task to the CTO, that session's prompt and answer, the spend
//! chart with each agent's spend (checked against the run's session records and the
//! scenario's worker cost), then approving the escalated decision, the worker log, health and
//! the phone layout. What the pages must show is read from the scenario (see
//! `common/shipped.rs`). Screenshots go to `target/dashboard*.png`.
//!
//! Run it with `scripts/browser-test.sh`, which installs Chromium and playwright-core when
//! missing and sets `AITO_BROWSER_TEST=1`. Without that variable, and without Chromium or the
//! node modules, the test says so and passes, so that a plain `cargo test` works on machines
//! without a browser; with the variable, anything missing is a failure.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aito_bin::dashboard::hooks::{HookSource, Scheme};
use aito_bin::dashboard::{router, serve};
use aito_bin::scenario::Scenario;
use aito_core::decision::DecisionStatus;
use aito_core::store::StateStore;
use aito_core::{AgentId, Bus, Channel, Envelope, MessageType, Role, Sender};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::shipped::{self, shipped_demo_with};
use common::{Demo, DemoOptions, TOKEN, remote, send};
use ring::hmac;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// The screenshots the browser steps write.
const SCREENSHOTS: [&str; 9] = [
    "dashboard-agents.png",
    "dashboard-tasks.png",
    "dashboard-task.png",
    "dashboard-conversations.png",
    "dashboard-session.png",
    "dashboard-spend.png",
    "dashboard.png",
    "dashboard-health.png",
    "dashboard-phone.png",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("AITO_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
    ];
    candidates.into_iter().flatten().find(|path| path.exists())
}

/// What each agent spent in the run: its kept sessions' costs, and for the agent that spawned
/// a scripted worker, that worker's cost as the scenario gives it.
async fn spend_per_role(demo: &Demo, scenario: &Scenario) -> BTreeMap<String, f64> {
    let keep = demo.state.runtime.settings.sessions_keep;
    let mut spend = BTreeMap::new();
    for entry in demo.state.runtime.directory.agents() {
        let sessions = demo.store.sessions(entry.id, keep).await.expect("sessions");
        let usd: f64 = sessions.iter().map(|record| record.cost_usd).sum();
        spend.insert(entry.role.as_str().to_owned(), usd);
    }
    for rule in &scenario.workers {
        let spawner = shipped::actions(scenario)
            .into_iter()
            .find(|(_, action)| {
                action["type"] == "spawn_worker"
                    && action["data"]["task"]
                        .as_str()
                        .is_some_and(|task| task.contains(&rule.contains))
            })
            .and_then(|(response, _)| response.role.clone())
            .expect("the scripted worker is spawned by an agent of the scenario");
        *spend.entry(spawner.as_str().to_owned()).or_default() += rule.cost_usd;
    }
    spend
}

/// What the pages must show of the demo, read from the scenario and the run, for the script.
async fn expected(demo: &Demo, scenario: &Scenario) -> Value {
    let tasks = shipped::tasks(scenario);
    let (blocked, note) = shipped::blocked(scenario);
    // The CEO's task to the CTO, and what the CTO answered to it.
    let to_cto = tasks
        .iter()
        .find(|task| task.assignee == "cto" && task.creator == Role::Ceo)
        .expect("the CEO gives the CTO a task");
    let answer = shipped::answer_to(scenario, "cto", &to_cto.title)
        .response
        .as_ref()
        .expect("the CTO's answer");
    let proposed = answer["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|action| action["type"] == "propose_decision")
        .map(|action| action["data"]["title"].clone())
        .expect("the CTO proposes a decision");
    let sent = &answer["messages"][0];
    let escalated = shipped::escalated(scenario);
    let spend = spend_per_role(demo, scenario).await;
    let total: f64 = spend.values().sum();
    json!({
        "tasks": tasks.iter().map(|task| json!({
            "title": task.title, "assignee": task.assignee, "creator": task.creator.as_str(),
        })).collect::<Vec<_>>(),
        "blocked": {"title": blocked.title, "note": note},
        "turn": {
            "from": to_cto.creator.as_str(), "to": "cto",
            "title": to_cto.title, "description": to_cto.description,
            "proposed": proposed,
            "sentTo": sent["to"], "sent": sent["content"],
        },
        "decision": {"title": escalated, "votes": shipped::votes_on(scenario, &escalated)},
        "spend": spend,
        "total": total,
    })
}

/// Configures the demo's webhook sources, GitHub for the CTO and Stripe for the CFO.
fn webhooks(state: aito_bin::dashboard::DashboardState) -> aito_bin::dashboard::DashboardState {
    state.with_webhooks([
        HookSource::new(
            "github",
            Role::Cto,
            AgentId::derived("demo", "cto"),
            Scheme::GitHub,
        )
        .with_secret("It's a Secret to Everybody"),
        HookSource::new(
            "stripe",
            Role::Cfo,
            AgentId::derived("demo", "cfo"),
            Scheme::stripe(),
        )
        .with_secret("whsec_browser"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_the_shipped_demo_and_approves_its_escalation_in_chromium() {
    let required = std::env::var_os("AITO_BROWSER_TEST").is_some();
    let script = workspace().join("scripts/browser/dashboard.mjs");
    let modules = workspace().join("scripts/browser/node_modules/playwright-core");
    let Some(chromium) = chromium().filter(|_| modules.exists()) else {
        assert!(
            !required,
            "AITO_BROWSER_TEST is set but Chromium or playwright-core is missing; run scripts/browser-test.sh"
        );
        eprintln!(
            "skipped: Chromium or playwright-core is not installed; run scripts/browser-test.sh"
        );
        return;
    };

    let scenario = shipped::scenario();
    let demo = shipped_demo_with(DemoOptions {
        configure: Box::new(webhooks),
        ..DemoOptions::default()
    })
    .await;

    // One signed GitHub delivery, and a Stripe one signed with the wrong secret.
    let app = remote(router(demo.state.clone()));
    let body = br#"{"action": "opened", "issue": {"number": 7}, "repository": {"full_name": "acme/site"}}"#;
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"It's a Secret to Everybody");
    let signature: String = hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let delivery = Request::post("/hooks/github")
        .header("x-github-event", "issues")
        .header("x-github-delivery", "browser-1")
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(Body::from(&body[..]))
        .expect("request");
    assert_eq!(send(&app, delivery).await.0, StatusCode::ACCEPTED);
    let now = chrono::Utc::now().timestamp();
    let forged = Request::post("/hooks/stripe")
        .header("stripe-signature", format!("t={now},v1={signature}"))
        .body(Body::from(r#"{"id": "evt_1", "type": "invoice.paid"}"#))
        .expect("request");
    assert_eq!(send(&app, forged).await.0, StatusCode::UNAUTHORIZED);
    // The delivery woke the CTO; the script has nothing more for it to do.
    demo.company.wait_idle(Duration::from_millis(300)).await;

    let expected = expected(&demo, &scenario).await;
    let escalated = shipped::escalated(&scenario);

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, demo.state.clone(), shutdown.clone()));

    // A worker that keeps writing, for the live log.
    let bus: std::sync::Arc<dyn Bus> = demo.bus.clone();
    let writer = tokio::spawn(async move {
        for seq in 1.. {
            let envelope = Envelope::new(
                MessageType::WorkerLog,
                Sender::Worker("compare-offers".to_owned()),
                json!({
                    "taskId": "compare-offers", "role": "cto", "seq": seq,
                    "event": {"type": "assistant", "message": {"content": [
                        {"type": "text", "text": format!("<b>live</b> line {seq}")}
                    ]}}
                }),
            );
            if bus.publish(Channel::WorkerLogs, envelope).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });

    let target = workspace().join("target");
    std::fs::create_dir_all(&target).expect("target dir");
    for name in SCREENSHOTS {
        let _ = std::fs::remove_file(target.join(name));
    }
    let mut node = Command::new("node");
    node.arg(&script)
        .env("DASHBOARD_URL", &url)
        .env("DASHBOARD_TOKEN", TOKEN)
        .env("DEMO_EXPECTED", expected.to_string())
        .env("SCREENSHOT_DIR", &target)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(120), node.status())
        .await
        .expect("the browser test finishes within 120 s")
        .expect("node runs");
    writer.abort();
    assert!(status.success(), "the browser steps failed: {status}");

    let decision = demo
        .decision(&escalated)
        .await
        .expect("the escalated decision");
    let human = decision.human.as_ref().expect("a human answered");
    assert!(human.approve);
    assert_eq!(human.reason, "Budget confirmed with the board");
    assert!(
        matches!(
            decision.status,
            DecisionStatus::Approved | DecisionStatus::Executed
        ),
        "{}",
        decision.path()
    );
    for name in SCREENSHOTS {
        assert!(
            target.join(name).exists(),
            "the screenshot {name} is written"
        );
    }

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the dashboard stops")
        .expect("task")
        .expect("serve");
    demo.stop().await;
}
