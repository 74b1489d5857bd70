//! The dashboard's background work against a running demo company: metrics from the event
//! stream, worker logs (history and live over server-sent events), escalation notices to an
//! outgoing webhook with retries, and serving on a real socket with a graceful shutdown.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aito_bin::dashboard::{
    DashboardState, EscalationWebhook, NoticeRetry, router, serve, start_background,
};
use aito_core::{AgentId, Bus, Channel, Envelope, MessageType, Sender};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use common::{DemoOptions, LEASE, demo, demo_with, get_json, local, request, send};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_company_did() {
    let demo = demo().await;
    let app = demo.app();
    let response = app
        .clone()
        .oneshot(request("GET", "/metrics", None, None))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let (_, _, text) = common::parts(response).await;
    // CEO: the task and two vote requests; DAO: two vote requests; CTO: the task and the
    // worker result; CMO: its task.
    let expected = [
        ("aito_sessions_total{role=\"ceo\"}", 3.0),
        ("aito_sessions_total{role=\"cto\"}", 2.0),
        ("aito_sessions_total{role=\"dao\"}", 2.0),
        (
            "aito_triggers_handled_total{role=\"cto\",outcome=\"handled\"}",
            2.0,
        ),
        ("aito_session_duration_seconds_count{role=\"cto\"}", 2.0),
        (
            "aito_session_duration_seconds_bucket{role=\"cto\",le=\"+Inf\"}",
            2.0,
        ),
        ("aito_workers_total{role=\"cto\",status=\"started\"}", 1.0),
        ("aito_escalations_total", 1.0),
        ("aito_queue_length{role=\"cto\"}", 0.0),
        ("aito_agent_up{role=\"cco\"}", 1.0),
        ("aito_decisions_open{status=\"escalated\"}", 1.0),
        ("aito_decisions_open{status=\"pending\"}", 1.0),
        ("aito_paused", 0.0),
        ("aito_store_up", 1.0),
    ];
    for (series, value) in expected {
        assert_eq!(metric(&text, series), Some(value), "{series} in\n{text}");
    }
    let cost = metric(
        &text,
        "aito_cost_usd_total{role=\"cto\",source=\"session\"}",
    )
    .expect("cost");
    assert!((cost - 0.04).abs() < 1e-9, "{cost}");
    assert!(text.contains("# HELP aito_session_duration_seconds "));
    assert!(text.contains("# TYPE aito_session_duration_seconds histogram"));
    assert!(text.contains("# TYPE aito_triggers_handled_total counter"));
    assert!(text.contains("# TYPE aito_queue_length gauge"));
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap_or("");
        assert!(name.starts_with("aito_"), "{line}");
        assert!(
            text.contains(&format!(
                "# TYPE {}",
                name.trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count")
            )),
            "{line} has no TYPE line"
        );
    }
    demo.stop().await;
}

fn log_line(task: &str, role: &str, seq: u64, event: Value) -> Envelope {
    Envelope::new(
        MessageType::WorkerLog,
        Sender::Worker(task.to_owned()),
        json!({
            "taskId": task,
            "agent": AgentId::derived("demo", role),
            "role": role,
            "seq": seq,
            "event": event,
        }),
    )
}

fn text_event(text: &str) -> Value {
    json!({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}})
}

/// Reads `body` until `needle` has appeared `times` times, for at most five seconds.
async fn read_until(body: &mut Body, seen: &mut String, needle: &str, times: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen.matches(needle).count() < times {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("{needle:?} did not arrive; got:\n{seen}"))
            .expect("stream ended")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_logs_arrive_live_after_the_recent_history() {
    let demo = demo().await;
    let app = demo.app();
    let bus: Arc<dyn Bus> = demo.bus.clone();
    bus.publish(
        Channel::WorkerLogs,
        log_line(
            "task-a",
            "cto",
            1,
            text_event("Comparing <b>three</b> offers"),
        ),
    )
    .await
    .expect("publish");
    let lines = demo
        .wait_for("the first line in the history", |demo| async move {
            let (_, body) = get_json(&demo.app(), "/api/logs").await;
            let lines = body["lines"].as_array().cloned().unwrap_or_default();
            (!lines.is_empty()).then_some(lines)
        })
        .await;
    assert_eq!(lines[0]["task_id"], "task-a");
    assert_eq!(lines[0]["kind"], "assistant");
    assert_eq!(lines[0]["text"], "Comparing <b>three</b> offers");

    let response = app
        .clone()
        .oneshot(request("GET", "/api/logs/stream", None, None))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "Comparing <b>three</b> offers", 1).await;
    assert!(seen.starts_with("event: line\n"), "{seen}");

    let filtered = app
        .clone()
        .oneshot(request("GET", "/api/logs/stream?role=cmo", None, None))
        .await
        .expect("response");
    let mut filtered_body = filtered.into_body();
    let mut filtered_seen = String::new();

    bus.publish(
        Channel::WorkerLogs,
        log_line(
            "task-a",
            "cto",
            2,
            json!({"type": "result", "subtype": "success", "result": "Equinix FR5 is cheapest", "total_cost_usd": 0.05}),
        ),
    )
    .await
    .expect("publish");
    bus.publish(
        Channel::WorkerLogs,
        log_line("task-b", "cmo", 1, text_event("Drafting the newsletter")),
    )
    .await
    .expect("publish");
    read_until(&mut body, &mut seen, "Drafting the newsletter", 1).await;
    assert!(
        seen.contains("result (success): Equinix FR5 is cheapest [cost $0.0500]"),
        "{seen}"
    );
    assert_eq!(
        seen.matches("Comparing <b>three</b> offers").count(),
        1,
        "no duplicates"
    );
    read_until(
        &mut filtered_body,
        &mut filtered_seen,
        "Drafting the newsletter",
        1,
    )
    .await;
    assert!(
        !filtered_seen.contains("Equinix"),
        "the role filter holds: {filtered_seen}"
    );

    // The page renders the history, escaped.
    let (_, page) = send(&app, request("GET", "/logs", None, None)).await;
    assert!(page.contains("Comparing &lt;b&gt;three&lt;/b&gt; offers"));
    assert!(page.contains("data-stream=\"/api/logs/stream\""));
    let (_, page) = send(&app, request("GET", "/logs?role=cmo", None, None)).await;
    assert!(!page.contains("Comparing"), "filtered page");
    assert!(page.contains("data-stream=\"/api/logs/stream?role=cmo\""));
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_stream_skips_the_history_it_has_seen() {
    let demo = demo().await;
    let app = demo.app();
    let bus: Arc<dyn Bus> = demo.bus.clone();
    let first = log_line("task-c", "cfo", 1, text_event("first line"));
    let first_id = first.id.to_string();
    bus.publish(Channel::WorkerLogs, first)
        .await
        .expect("publish");
    bus.publish(
        Channel::WorkerLogs,
        log_line("task-c", "cfo", 2, text_event("second line")),
    )
    .await
    .expect("publish");
    demo.wait_for("both lines in the history", |demo| async move {
        let (_, body) = get_json(&demo.app(), "/api/logs?task=task-c").await;
        (body["lines"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .await;
    let reconnect = axum::http::Request::get("/api/logs/stream")
        .header("last-event-id", &first_id)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(reconnect).await.expect("response");
    let mut body = response.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "second line", 1).await;
    assert!(
        !seen.contains("first line"),
        "already seen before the reconnect: {seen}"
    );
    demo.stop().await;
}

/// A webhook receiver that fails its first `fail_first` calls with 503, or every call with
/// `always` when set.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Value>>>,
    fail_first: usize,
    always: Option<StatusCode>,
}

impl Receiver {
    async fn start(self) -> (String, Self) {
        async fn hook(State(receiver): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
            let mut calls = receiver.calls.lock().expect("lock");
            calls.push(body);
            if let Some(status) = receiver.always {
                status
            } else if calls.len() <= receiver.fail_first {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let app = axum::Router::new()
            .route("/hooks/{secret}", axum::routing::post(hook))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{address}/hooks/SECRET-42?key=abc"), self)
    }

    fn calls(&self) -> Vec<Value> {
        self.calls.lock().expect("lock").clone()
    }
}

fn quick_retry() -> NoticeRetry {
    NoticeRetry {
        attempts: 5,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalations_are_announced_once_with_retries() {
    let (url, receiver) = Receiver {
        fail_first: 2,
        ..Receiver::default()
    }
    .start()
    .await;
    let webhook = EscalationWebhook::new(&url)
        .expect("url")
        .with_retry(quick_retry());
    let demo = demo_with(DemoOptions {
        configure: Box::new(move |state: DashboardState| {
            state
                .with_escalation_webhook(webhook)
                .with_public_url("https://aito.example.com/")
        }),
        ..DemoOptions::default()
    })
    .await;
    let lease = demo.decision(LEASE).await.expect("lease");
    demo.wait_for("three attempts", |_| {
        let receiver = receiver.clone();
        async move { (receiver.calls().len() >= 3).then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = receiver.calls();
    assert_eq!(
        calls.len(),
        3,
        "two failures, one delivery, nothing after: {calls:?}"
    );
    let notice = &calls[2];
    assert_eq!(calls[0], calls[1], "the same notice each time");
    assert_eq!(notice["kind"], "decision_escalated");
    assert_eq!(notice["company"], "demo");
    assert_eq!(notice["decision"]["id"], lease.id.to_string());
    assert_eq!(notice["decision"]["title"], LEASE);
    assert_eq!(notice["decision"]["tier"], "critical");
    assert_eq!(notice["decision"]["proposer"], "cto");
    assert_eq!(
        notice["url"],
        format!("https://aito.example.com/decisions/{}", lease.id)
    );
    assert!(
        notice["text"]
            .as_str()
            .expect("text")
            .contains("needs a human")
    );

    let app = demo.app();
    let (_, health) = get_json(&app, "/api/health").await;
    assert_eq!(health["notices"]["delivered"], 1);
    assert_eq!(health["notices"]["failed"], 0);
    assert!(
        health["notices"]["url"]
            .as_str()
            .expect("url")
            .starts_with("http://127.0.0.1")
    );
    let (_, text) = send(&app, request("GET", "/metrics", None, None)).await;
    assert_eq!(
        metric(&text, "aito_escalation_notices_total{result=\"delivered\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "aito_escalation_notices_total{result=\"retried\"}"),
        Some(2.0)
    );
    for (path, body) in [("/api/health", health.to_string()), ("/metrics", text)] {
        assert!(
            !body.contains("SECRET-42"),
            "{path} shows the webhook's secret"
        );
    }
    let (_, page) = send(&app, request("GET", "/health", None, None)).await;
    assert!(!page.contains("SECRET-42"));
    assert!(page.contains("1 delivered, 0 failed"));
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalations_from_before_the_start_are_announced_once() {
    // The lease escalates while no dashboard runs.
    let demo = demo_with(DemoOptions {
        background: false,
        ..DemoOptions::default()
    })
    .await;
    let (url, receiver) = Receiver::default().start().await;
    let webhook = EscalationWebhook::new(&url)
        .expect("url")
        .with_retry(quick_retry());
    let first = demo.state.clone().with_escalation_webhook(webhook.clone());
    let background = start_background(&first).await;
    demo.wait_for("the notice", |_| {
        let receiver = receiver.clone();
        async move { (!receiver.calls().is_empty()).then_some(()) }
    })
    .await;
    // A second dashboard on the same store does not announce it again.
    let second =
        DashboardState::new(demo.state.runtime.clone(), None).with_escalation_webhook(webhook);
    let other = start_background(&second).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.calls().len(), 1);
    assert_eq!(receiver.calls()[0]["decision"]["title"], LEASE);
    other.shutdown().await;
    background.shutdown().await;
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_notice_is_not_retried() {
    let (url, receiver) = Receiver {
        always: Some(StatusCode::UNAUTHORIZED),
        ..Receiver::default()
    }
    .start()
    .await;
    let webhook = EscalationWebhook::new(&url)
        .expect("url")
        .with_retry(quick_retry());
    let demo = demo_with(DemoOptions {
        configure: Box::new(move |state: DashboardState| state.with_escalation_webhook(webhook)),
        ..DemoOptions::default()
    })
    .await;
    let health = demo
        .wait_for("the failure to be recorded", |demo| async move {
            let (_, health) = get_json(&demo.app(), "/api/health").await;
            (health["notices"]["failed"] == 1).then_some(health)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        receiver.calls().len(),
        1,
        "a 401 will not change by retrying"
    );
    assert!(
        health["notices"]["last_error"]
            .as_str()
            .expect("error")
            .contains("401"),
        "{health}"
    );
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_on_a_socket_and_stops_with_live_streams_open() {
    let demo = demo_with(DemoOptions {
        background: false,
        ..DemoOptions::default()
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, demo.state.clone(), shutdown.clone()));
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |path: &str| {
        axum::http::Request::get(format!("http://{address}{path}"))
            .body(Empty::new())
            .expect("request")
    };
    let agents = client.request(get("/api/agents")).await.expect("agents");
    assert_eq!(
        agents.status(),
        StatusCode::OK,
        "reads are open from loopback"
    );
    let body = agents.into_body().collect().await.expect("body").to_bytes();
    let agents: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(agents["agents"].as_array().expect("agents").len(), 7);

    let stream = client
        .request(get("/api/logs/stream"))
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns promptly with a live stream open");
    stopped.expect("task").expect("serve");
    drop(stream);
    // The router alone (no serve) still works for in-process use.
    let (status, _) = send(
        &local(router(demo.state.clone())),
        request("GET", "/healthz", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    demo.stop().await;
}
