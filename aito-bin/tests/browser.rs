//! The dashboard in a real browser: a demo company whose critical decision is escalated and
//! whose webhook sources have had a delivery each (one queued, one refused), the dashboard
//! served on a free port, and `scripts/browser/dashboard.mjs` driving Debian's headless
//! Chromium through it (see that script for the steps): the agents, the escalated decision,
//! the worker log, health, the task board with the launch's tasks, the conversation and its
//! flow picture, a stored session and the spend chart. Screenshots go to
//! `target/dashboard*.png`.
//!
//! Run it with `scripts/browser-test.sh`, which installs Chromium and playwright-core when
//! missing and sets `AITO_BROWSER_TEST=1`. Without that variable, and without Chromium or the
//! node modules, the test says so and passes, so that a plain `cargo test` works on machines
//! without a browser; with the variable, anything missing is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aito_bin::dashboard::hooks::{HookSource, Scheme};
use aito_bin::dashboard::{router, serve};
use aito_core::decision::DecisionStatus;
use aito_core::task::{Task, TaskChange, TaskStatus};
use aito_core::{AgentId, Bus, Channel, Envelope, MessageType, Priority, Role, Sender, TaskId};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{DemoOptions, LEASE, TOKEN, demo_with, remote, send};
use ring::hmac;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The title of the demo's finished task.
const DONE_TASK: &str = "Price the European plans";

/// A task of the CEO's for `assignee`, in `status`.
fn task(title: &str, assignee: Role, status: TaskStatus) -> Task {
    let now = chrono::Utc::now();
    let creator = AgentId::derived("demo", "ceo");
    let mut history = vec![TaskChange {
        at: now,
        by: Some(creator),
        by_name: "ceo".into(),
        status: TaskStatus::Open,
        note: "created".into(),
    }];
    if status != TaskStatus::Open {
        history.push(TaskChange {
            at: now,
            by: Some(AgentId::derived("demo", assignee.as_str())),
            by_name: assignee.to_string(),
            status,
            note: "on it".into(),
        });
    }
    Task {
        id: TaskId::random(),
        title: title.into(),
        description: format!("{title}, for the European launch"),
        creator,
        creator_role: Role::Ceo,
        assignee: AgentId::derived("demo", assignee.as_str()),
        assignee_role: assignee,
        priority: Priority::High,
        deadline: None,
        parent: None,
        status,
        note: String::new(),
        created_at: now,
        updated_at: now,
        history,
        overdue_reminded_at: None,
        assignee_sessions_at_change: 0,
        version: 0,
    }
}

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("AITO_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
    ];
    candidates.into_iter().flatten().find(|path| path.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_approves_an_escalated_decision_in_chromium() {
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

    let demo = demo_with(DemoOptions {
        configure: Box::new(|state| {
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
        }),
        ..DemoOptions::default()
    })
    .await;
    // The launch's tasks on the ledger: one open, one in progress, one done.
    let store = &demo.state.runtime.store;
    for (title, assignee, status) in [
        (
            "Open the Frankfurt region",
            Role::Cto,
            TaskStatus::InProgress,
        ),
        ("Start the European newsletter", Role::Cmo, TaskStatus::Open),
        (DONE_TASK, Role::Cfo, TaskStatus::Done),
    ] {
        store
            .create_task(&task(title, assignee, status))
            .await
            .expect("task");
    }
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
    let mut node = Command::new("node");
    node.arg(&script)
        .env("DASHBOARD_URL", &url)
        .env("DASHBOARD_TOKEN", TOKEN)
        .env("DECISION_TITLE", LEASE)
        .env("DONE_TASK", DONE_TASK)
        .env("SCREENSHOT_DIR", &target)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(90), node.status())
        .await
        .expect("the browser test finishes within 90 s")
        .expect("node runs");
    writer.abort();
    assert!(status.success(), "the browser steps failed: {status}");

    let lease = demo.decision(LEASE).await.expect("lease");
    let human = lease.human.as_ref().expect("a human answered");
    assert!(human.approve);
    assert_eq!(human.reason, "Budget confirmed with the board");
    assert!(
        matches!(
            lease.status,
            DecisionStatus::Approved | DecisionStatus::Executed
        ),
        "{}",
        lease.path()
    );
    assert!(
        target.join("dashboard.png").exists(),
        "the screenshot is written"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the dashboard stops")
        .expect("task")
        .expect("serve");
    demo.stop().await;
}
