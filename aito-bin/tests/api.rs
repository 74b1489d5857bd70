//! The dashboard's JSON API, exercised in-process with `oneshot` against a running demo
//! company: every endpoint, the token checks, bad input and unknown ids.

mod common;

use std::time::Duration;

use aito_core::decision::DecisionStatus;
use aito_core::{AgentId, DecisionId, Role, control};
use axum::http::{StatusCode, header};
use common::{
    DemoOptions, LEASE, NEWSLETTER, TOKEN, demo, demo_with, get_json, local, remote, request, send,
    send_json,
};
use serde_json::json;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer() {
    let demo = demo().await;
    let app = demo.app();
    let (status, body) = send(&app, request("GET", "/healthz", None, None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (status, body) = send(&app, request("GET", "/readyz", None, None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));
    let (status, health) = get_json(&app, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["ok"], true);
    assert_eq!(health["store"]["ok"], true);
    assert_eq!(health["feed"]["subscribed"], true);
    let agents = health["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 7);
    assert!(
        agents
            .iter()
            .all(|agent| agent["stale"] == false && agent["heartbeat"].is_string()),
        "every running agent has a fresh heartbeat: {agents:?}"
    );
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_show_status_queue_and_spend() {
    let demo = demo().await;
    let app = demo.app();
    let (status, body) = get_json(&app, "/api/agents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["company"], "demo");
    assert_eq!(body["paused"], false);
    assert!(
        (body["spent_today_usd"].as_f64().expect("spend") - 0.12).abs() < 1e-9,
        "{body}"
    );
    assert_eq!(
        body["budget_usd_per_day"],
        serde_json::Value::Null,
        "unlimited in the demo"
    );
    let agents = body["agents"].as_array().expect("agents");
    let roles: Vec<&str> = agents.iter().filter_map(|a| a["role"].as_str()).collect();
    assert_eq!(roles, ["ceo", "dao", "cmo", "cto", "cfo", "coo", "cco"]);
    let cto = &agents[3];
    assert_eq!(cto["status"], "idle");
    assert_eq!(cto["queue_len"], 0);
    assert_eq!(cto["budget_usd_per_day"], 5.0);
    assert!(
        cto["spent_today_usd"].as_f64().expect("spend") >= 0.04 - 1e-9,
        "the CTO ran two scripted sessions at $0.02: {cto}"
    );
    assert!(cto["last_activity"].is_string(), "{cto}");

    let (status, detail) = get_json(&app, "/api/agents/cto").await;
    assert_eq!(status, StatusCode::OK);
    let summaries: Vec<&str> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|entry| entry["summary"].as_str())
        .collect();
    assert!(
        summaries.contains(&"Comparing colocation offers and proposing the lease"),
        "{summaries:?}"
    );
    let id = cto["id"].as_str().expect("id");
    let (status, by_id) = get_json(&app, &format!("/api/agents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["agent"]["role"], "cto");

    for unknown in [
        "/api/agents/cmo2",
        &format!("/api/agents/{}", AgentId::random()),
    ] {
        let (status, body) = get_json(&app, unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
        assert!(
            body["error"].as_str().expect("reason").contains("ceo, dao"),
            "{body}"
        );
    }
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_filter_and_show_every_round_vote_and_reason() {
    let demo = demo().await;
    let app = demo.app();
    let (status, body) = get_json(&app, "/api/decisions?status=escalated").await;
    assert_eq!(status, StatusCode::OK);
    let escalated = body["decisions"].as_array().expect("decisions");
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0]["title"], LEASE);

    let (_, open) = get_json(&app, "/api/decisions?status=open").await;
    let titles: Vec<&str> = open["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter_map(|d| d["title"].as_str())
        .collect();
    assert_eq!(titles.len(), 2);
    assert!(
        titles.contains(&LEASE) && titles.contains(&NEWSLETTER),
        "{titles:?}"
    );
    let (_, pending) = get_json(&app, "/api/decisions?status=pending").await;
    assert_eq!(pending["decisions"][0]["title"], NEWSLETTER);
    let (_, executed) = get_json(&app, "/api/decisions?status=executed").await;
    assert_eq!(executed["decisions"], json!([]));

    let id = escalated[0]["id"].as_str().expect("id");
    let (status, decision) = get_json(&app, &format!("/api/decisions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decision["status"], "escalated");
    assert_eq!(decision["tier"], "critical");
    let votes = decision["votes"].as_array().expect("votes");
    let reasons: Vec<(&str, &str, &str)> = votes
        .iter()
        .map(|vote| {
            (
                vote["role"].as_str().unwrap_or(""),
                vote["choice"].as_str().unwrap_or(""),
                vote["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("ceo", "approve", "Europe needs low latency")),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("dao", "approve", "the treasury can carry it")),
        "{reasons:?}"
    );
    assert!(votes.iter().all(|vote| vote["round"] == 1));
    let path: Vec<&str> = decision["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|t| t["to"].as_str())
        .collect();
    assert_eq!(path, ["pending", "escalated"]);
    assert!(
        decision["escalation"]
            .as_str()
            .expect("reason")
            .contains("a human confirms"),
        "{decision}"
    );

    let (status, body) = get_json(&app, "/api/decisions?status=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .expect("reason")
            .contains("unknown decision status")
    );
    let (status, _) = get_json(&app, &format!("/api/decisions/{}", DecisionId::random())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get_json(&app, "/api/decisions/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .expect("reason")
            .contains("not a decision id")
    );

    let (_, escalations) = get_json(&app, "/api/escalations").await;
    assert_eq!(escalations["decisions"][0]["title"], LEASE);
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deciding_needs_the_token() {
    let demo = demo().await;
    let app = demo.app();
    let lease = demo.decision(LEASE).await.expect("lease");
    let path = format!("/api/decisions/{}/decide", lease.id);
    let body = r#"{"approve": true, "reason": "go"}"#;

    let response = app
        .clone()
        .oneshot(request("POST", &path, None, Some(body)))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"aito\""
    );
    let (status, reason) = send_json(
        &app,
        request("POST", &path, Some("wrong-token"), Some(body)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(reason["error"], "the bearer token is wrong");
    // The prefix of the right token is not enough.
    let (status, _) = send(&app, request("POST", &path, Some(&TOKEN[..10]), Some(body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let lease = demo.decision(LEASE).await.expect("lease");
    assert_eq!(
        lease.status,
        DecisionStatus::Escalated,
        "nothing was decided"
    );
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_writes_are_refused_with_instructions() {
    let demo = demo_with(DemoOptions {
        token: None,
        ..DemoOptions::default()
    })
    .await;
    let app = demo.app();
    let lease = demo.decision(LEASE).await.expect("lease");
    for (path, body) in [
        (
            format!("/api/decisions/{}/decide", lease.id),
            r#"{"approve": true}"#,
        ),
        (
            "/api/messages".to_owned(),
            r#"{"to": "ceo", "payload": "hi"}"#,
        ),
        ("/api/webhooks/ceo".to_owned(), "{}"),
        ("/api/pause".to_owned(), ""),
        ("/api/resume".to_owned(), ""),
    ] {
        // Whatever token the caller sends.
        let (status, reason) =
            send_json(&app, request("POST", &path, Some(TOKEN), Some(body))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            reason["error"]
                .as_str()
                .expect("reason")
                .contains("AITO_DASHBOARD_TOKEN"),
            "{reason}"
        );
    }
    let (status, page) = send(&app, request("GET", "/", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Writes are disabled"), "the page says why");
    assert!(
        page.contains("AITO_DASHBOARD_TOKEN"),
        "and how to set a token"
    );
    assert!(!page.contains("data-decide"), "no buttons that cannot work");
    assert_eq!(
        demo.decision(LEASE).await.expect("lease").status,
        DecisionStatus::Escalated
    );
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_an_escalated_decision_reaches_the_proposer() {
    let demo = demo().await;
    let app = demo.app();
    let lease = demo.decision(LEASE).await.expect("lease");
    let newsletter = demo.decision(NEWSLETTER).await.expect("newsletter");
    let path = format!("/api/decisions/{}/decide", lease.id);

    for (body, expected) in [
        (r#"{"approve": "yes"}"#, "invalid JSON body"),
        ("{}", "say what to do"),
        (r#"{"decision": "maybe"}"#, "unknown decision"),
        (r#"{"approve": true, "decision": "reject"}"#, "disagree"),
        (r#"{"approve": true, "because": "x"}"#, "unknown field"),
        (r#"{"approve": true"#, "EOF"),
    ] {
        let (status, reason) =
            send_json(&app, request("POST", &path, Some(TOKEN), Some(body))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            reason["error"].as_str().expect("reason").contains(expected),
            "{body}: {reason}"
        );
    }
    let (status, _) = send(
        &app,
        request(
            "POST",
            &format!("/api/decisions/{}/decide", DecisionId::random()),
            Some(TOKEN),
            Some(r#"{"approve": true}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, reason) = send_json(
        &app,
        request(
            "POST",
            &format!("/api/decisions/{}/decide", newsletter.id),
            Some(TOKEN),
            Some(r#"{"decision": "approve"}"#),
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a pending decision is not a human's to answer"
    );
    assert!(
        reason["error"]
            .as_str()
            .expect("reason")
            .contains("pending")
    );

    let (status, decided) = send_json(
        &app,
        request(
            "POST",
            &path,
            Some(TOKEN),
            Some(r#"{"decision": "approve", "reason": "Budget confirmed with the board"}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["human"]["approve"], true);
    assert_eq!(
        decided["human"]["reason"],
        "Budget confirmed with the board"
    );

    let (status, _) = send(
        &app,
        request("POST", &path, Some(TOKEN), Some(r#"{"approve": false}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "answered once");

    // The proposer hears of it and carries it out.
    demo.wait_for("the CTO to carry out the lease", |demo| async move {
        demo.decision(LEASE)
            .await
            .filter(|decision| decision.status == DecisionStatus::Executed)
    })
    .await;
    let (_, escalations) = get_json(&app, "/api/escalations").await;
    assert_eq!(escalations["decisions"], json!([]), "no longer waiting");
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_their_agent_and_bad_ones_are_refused() {
    let demo = demo().await;
    let app = demo.app();
    let (status, sent) = send_json(
        &app,
        request(
            "POST",
            "/api/messages",
            Some(TOKEN),
            Some(r#"{"to": "CFO", "type": "task", "payload": "Prepare the Q3 forecast", "priority": "high"}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert!(
        sent["id"].as_str().is_some_and(|id| id.len() == 36),
        "{sent}"
    );
    assert_eq!(
        sent["channel"],
        format!("channel:agent:{}", AgentId::derived("demo", "cfo"))
    );
    demo.wait_for("the CFO's session", |demo| async move {
        demo.llm.requests().into_iter().find(|request| {
            request.role == Role::Cfo && request.prompt.contains("Prepare the Q3 forecast")
        })
    })
    .await;

    let (status, _) = send(
        &app,
        request(
            "POST",
            "/api/messages",
            None,
            Some(r#"{"to": "cfo", "payload": "x"}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let unknown_agent = format!(r#"{{"to": "{}", "payload": "x"}}"#, AgentId::random());
    let cases: Vec<(&str, StatusCode, &str)> = vec![
        (
            r#"{"to": "the board", "payload": "x"}"#,
            StatusCode::BAD_REQUEST,
            "unknown recipient",
        ),
        (&unknown_agent, StatusCode::NOT_FOUND, "no agent with id"),
        (
            r#"{"payload": "x"}"#,
            StatusCode::BAD_REQUEST,
            "missing field `to`",
        ),
        (
            r#"{"to": "cfo", "priority": "asap"}"#,
            StatusCode::BAD_REQUEST,
            "unknown priority",
        ),
        (
            r#"{"to": "cfo", "type": "Task!"}"#,
            StatusCode::BAD_REQUEST,
            "invalid message type",
        ),
        (
            r#"{"to": "cfo", "payload": [1, 2]}"#,
            StatusCode::BAD_REQUEST,
            "object or a string",
        ),
        ("to=cfo", StatusCode::BAD_REQUEST, "invalid JSON body"),
    ];
    for (body, expected, reason) in cases {
        let (status, answer) = send_json(
            &app,
            request("POST", "/api/messages", Some(TOKEN), Some(body)),
        )
        .await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(
            answer["error"].as_str().expect("reason").contains(reason),
            "{body}: {answer}"
        );
    }
    let huge = format!(
        r#"{{"to": "cfo", "payload": "{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let (status, _) = send(
        &app,
        request("POST", "/api/messages", Some(TOKEN), Some(&huge)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "bodies are limited");
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_wake_the_agent_with_the_body_as_payload() {
    let demo = demo().await;
    let app = demo.app();
    let (status, queued) = send_json(
        &app,
        request(
            "POST",
            "/api/webhooks/coo?priority=urgent",
            Some(TOKEN),
            Some(r#"{"event": "invoice.paid", "invoice": 4711}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert!(queued["id"].is_string());
    let prompt = demo
        .wait_for("the COO's session", |demo| async move {
            demo.llm
                .requests()
                .into_iter()
                .find(|request| request.role == Role::Coo)
                .map(|request| request.prompt)
        })
        .await;
    assert!(
        prompt.contains("A webhook message from webhook (priority urgent"),
        "{prompt}"
    );
    assert!(prompt.contains("\"invoice\": 4711"), "{prompt}");

    let coo = AgentId::derived("demo", "coo");
    let (status, _) = send(
        &app,
        request("POST", &format!("/api/webhooks/{coo}"), Some(TOKEN), None),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "by id, with an empty body");
    let (status, _) = send(&app, request("POST", "/api/webhooks/coo", None, Some("{}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        &app,
        request("POST", "/api/webhooks/nobody", Some(TOKEN), Some("{}")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &app,
        request("POST", "/api/webhooks/all", Some(TOKEN), Some("{}")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "webhooks go to one agent");
    let (status, reason) = send_json(
        &app,
        request("POST", "/api/webhooks/coo", Some(TOKEN), Some("<xml/>")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reason["error"]
            .as_str()
            .expect("reason")
            .contains("invalid JSON body")
    );
    let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(200 * 1024));
    let (status, _) = send(
        &app,
        request("POST", "/api/webhooks/coo", Some(TOKEN), Some(&big)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "webhooks may be larger than messages"
    );
    let bigger = format!(r#"{{"blob": "{}"}}"#, "x".repeat(300 * 1024));
    let (status, _) = send(
        &app,
        request("POST", "/api/webhooks/coo", Some(TOKEN), Some(&bigger)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_switch_the_company() {
    let demo = demo().await;
    let app = demo.app();
    let (status, _) = send(&app, request("POST", "/api/pause", None, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send_json(&app, request("POST", "/api/pause", Some(TOKEN), None)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"paused": true})));
    assert!(control::is_paused(&*demo.store).await.expect("store"));
    let (_, agents) = get_json(&app, "/api/agents").await;
    assert_eq!(agents["paused"], true);
    assert!(
        agents["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .all(|a| a["paused"] == true)
    );
    let (_, page) = send(&app, request("GET", "/", None, None)).await;
    assert!(page.contains("company paused"));

    // A message sent while paused waits.
    let (status, _) = send(
        &app,
        request(
            "POST",
            "/api/messages",
            Some(TOKEN),
            Some(r#"{"to": "cco", "payload": "Plan the meetup"}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cco_sessions = || {
        demo.llm
            .requests()
            .iter()
            .filter(|r| r.role == Role::Cco)
            .count()
    };
    assert_eq!(cco_sessions(), 0, "no session starts while paused");

    let (status, body) = send_json(
        &app,
        request("POST", "/api/resume", Some(TOKEN), Some("{}")),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"paused": false})));
    assert!(!control::is_paused(&*demo.store).await.expect("store"));
    demo.wait_for("the CCO's session after resuming", |demo| async move {
        demo.llm
            .requests()
            .into_iter()
            .find(|r| r.role == Role::Cco)
    })
    .await;
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_open_on_loopback_and_need_the_token_elsewhere() {
    let demo = demo().await;
    let far = remote(aito_bin::dashboard::router(demo.state.clone()));
    let (status, _) = send(&far, request("GET", "/api/agents", None, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&far, request("GET", "/api/agents", Some("nope"), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&far, request("GET", "/api/agents", Some(TOKEN), None)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&far, request("GET", "/metrics", None, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&far, request("GET", "/healthz", None, None)).await;
    assert_eq!(status, StatusCode::OK, "probes stay open");

    // A browser is sent to the login page, which sets a cookie that opens the pages.
    let page = axum::http::Request::get("/")
        .header(header::ACCEPT, "text/html")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = far.clone().oneshot(page).await.expect("response");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/login");
    let login = |token: &str| {
        axum::http::Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(format!("token={token}")))
            .expect("request")
    };
    let refused = far.clone().oneshot(login("wrong")).await.expect("response");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get(header::SET_COOKIE).is_none());
    let accepted = far.clone().oneshot(login(TOKEN)).await.expect("response");
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    let cookie = accepted.headers()[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let with_cookie = axum::http::Request::get("/api/logs/stream")
        .header(header::COOKIE, cookie.split(';').next().expect("pair"))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = far.clone().oneshot(with_cookie).await.expect("response");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the live log opens with the cookie"
    );
    // The cookie does not authorise writes.
    let write = axum::http::Request::post("/api/pause")
        .header(header::COOKIE, cookie.split(';').next().expect("pair"))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = far.clone().oneshot(write).await.expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Without a configured token, other hosts cannot read at all.
    let closed = remote(aito_bin::dashboard::router(
        aito_bin::dashboard::DashboardState::new(demo.state.runtime.clone(), None),
    ));
    let (status, body) = send_json(&closed, request("GET", "/api/agents", Some(TOKEN), None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]
            .as_str()
            .expect("reason")
            .contains("AITO_DASHBOARD_TOKEN")
    );
    let near = local(aito_bin::dashboard::router(
        aito_bin::dashboard::DashboardState::new(demo.state.runtime.clone(), None),
    ));
    let (status, _) = send(&near, request("GET", "/api/agents", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404() {
    let demo = demo().await;
    let app = demo.app();
    let (status, body) = get_json(&app, "/api/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .expect("reason")
            .contains("/api/nothing")
    );
    let (status, page) = send(&app, request("GET", "/nothing", None, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("Not Found"));
    let (status, _) = send(&app, request("GET", "/decisions/not-a-uuid", None, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, request("GET", "/agents/nobody", None, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, request("DELETE", "/api/agents", None, None)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_are_read_and_changed_with_the_token() {
    let demo = demo().await;
    let app = demo.app();
    let (status, body) = get_json(&app, "/api/budget?agent=cfo").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "cfo");
    let configured = body["budget"]["usd_per_day"].clone();
    assert!(configured.is_number(), "{body}");

    let change = r#"{"agent": "cfo", "usd_per_day": 42.5, "sessions_per_hour": null}"#;
    let (status, _) = send(&app, request("POST", "/api/budget", None, Some(change))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send_json(
        &app,
        request("POST", "/api/budget", Some(TOKEN), Some(change)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["budget"]["usd_per_day"], 42.5);
    assert!(
        body["budget"]["sessions_per_hour"].is_null(),
        "null removes the limit: {body}"
    );
    let (_, read) = get_json(&app, "/api/budget?agent=cfo").await;
    assert_eq!(read["budget"], body["budget"], "the change is stored");

    // The other limits were kept; the company's budget is separate.
    let (_, company) = get_json(&app, "/api/budget").await;
    assert_eq!(company["scope"], "company");
    assert_ne!(company["budget"]["usd_per_day"], 42.5);

    for (body, expected) in [
        (r#"{"agent": "cfo"}"#, StatusCode::BAD_REQUEST),
        (r#"{"usd_per_day": -3}"#, StatusCode::BAD_REQUEST),
        (r#"{"usd_per_day": "lots"}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"usd_per_day": 1, "surprise": true}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"agent": "nobody", "usd_per_day": 1}"#,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, reply) = send(
            &app,
            request("POST", "/api/budget", Some(TOKEN), Some(body)),
        )
        .await;
        assert_eq!(status, expected, "{body}: {reply}");
    }
    let (status, _) = get_json(&app, "/api/budget?agent=nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    demo.stop().await;
}
