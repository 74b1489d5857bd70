//! The HTML pages: what a person sees, the escalation banner on every page, escaping of
//! untrusted text, and the security headers.

mod common;

use aito_core::decision::DecisionStatus;
use axum::http::{StatusCode, header};
use common::{LEASE, NEWSLETTER, TOKEN, demo, parts, request, send};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_the_escalated_decision_until_it_is_answered() {
    let demo = demo().await;
    let app = demo.app();
    let lease = demo.decision(LEASE).await.expect("lease");
    let link = format!("href=\"/decisions/{}\"", lease.id);
    let pages = [
        "/".to_owned(),
        "/decisions".to_owned(),
        "/decisions?status=pending".to_owned(),
        format!("/decisions/{}", lease.id),
        "/agents/cto".to_owned(),
        "/logs".to_owned(),
        "/health".to_owned(),
    ];
    for path in &pages {
        let (status, page) = send(&app, request("GET", path, None, None)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let banner = page
            .split("id=\"escalations\"")
            .nth(1)
            .expect("banner slot");
        assert!(banner.contains("A decision needs your answer"), "{path}");
        assert!(banner.contains(&link), "{path} links to the decision");
    }
    let (_, fragment) = send(&app, request("GET", "/fragments/escalations", None, None)).await;
    assert!(fragment.contains(LEASE));

    demo.state
        .runtime
        .engine
        .human_decide(lease.id, false, "too expensive")
        .await
        .expect("decide");
    for path in &pages[..3] {
        let (_, page) = send(&app, request("GET", path, None, None)).await;
        assert!(
            !page.contains("needs your answer"),
            "{path} after the answer"
        );
    }
    let (_, fragment) = send(&app, request("GET", "/fragments/escalations", None, None)).await;
    assert_eq!(fragment, "");
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_page_lists_the_seven_agents_with_their_numbers() {
    let demo = demo().await;
    let app = demo.app();
    let (_, page) = send(&app, request("GET", "/", None, None)).await;
    for role in ["CEO", "DAO", "CMO", "CTO", "CFO", "COO", "CCO"] {
        assert!(page.contains(&format!("<strong>{role}</strong>")), "{role}");
    }
    assert_eq!(page.matches("<tr data-agent=").count(), 7);
    assert!(
        page.contains("$0.040 / $5.00"),
        "the CTO's spend against its budget"
    );
    assert!(
        page.contains("data-post=\"/api/pause\""),
        "the pause button, with a token configured"
    );
    assert!(page.contains("id=\"send-message\""));
    let (_, fragment) = send(&app, request("GET", "/fragments/agents", None, None)).await;
    assert_eq!(fragment.matches("<tr data-agent=").count(), 7);
    assert!(!fragment.contains("<html"), "a fragment, not a page");

    let (_, cto) = send(&app, request("GET", "/agents/cto", None, None)).await;
    assert!(cto.contains("Comparing colocation offers and proposing the lease"));
    assert!(
        cto.contains("spawn_worker"),
        "actions of each history entry"
    );
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_page_shows_rounds_votes_reasons_and_the_answer_panel() {
    let demo = demo().await;
    let app = demo.app();
    let lease = demo.decision(LEASE).await.expect("lease");
    let (_, page) = send(
        &app,
        request("GET", &format!("/decisions/{}", lease.id), None, None),
    )
    .await;
    assert!(page.contains("Round 1"));
    assert!(page.contains("Europe needs low latency"));
    assert!(page.contains("the treasury can carry it"));
    assert!(page.contains("$40k a month for three years"));
    assert!(page.contains("data-decide=\"approve\""));
    assert!(page.contains("data-decide=\"reject\""));
    assert!(page.contains("id=\"decision-status\" data-status=\"escalated\""));

    demo.state
        .runtime
        .engine
        .human_decide(lease.id, true, "go ahead")
        .await
        .expect("decide");
    let (_, page) = send(
        &app,
        request("GET", &format!("/decisions/{}", lease.id), None, None),
    )
    .await;
    assert!(
        !page.contains("data-decide"),
        "no answer panel once answered"
    );
    assert!(page.contains("go ahead"));

    let (_, list) = send(
        &app,
        request("GET", "/decisions?status=escalated", None, None),
    )
    .await;
    assert!(list.contains("No decisions here."));
    demo.wait_for("the CTO to carry out the lease", |demo| async move {
        demo.decision(LEASE)
            .await
            .filter(|decision| decision.status == DecisionStatus::Executed)
    })
    .await;
    let (_, list) = send(
        &app,
        request("GET", "/decisions?status=executed", None, None),
    )
    .await;
    assert!(list.contains(LEASE));
    let (status, _) = send(
        &app,
        request("GET", "/decisions?status=nonsense", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_agents_is_escaped_and_pages_carry_a_strict_policy() {
    let demo = demo().await;
    let app = demo.app();
    let newsletter = demo.decision(NEWSLETTER).await.expect("newsletter");
    for path in [
        "/decisions".to_owned(),
        format!("/decisions/{}", newsletter.id),
        "/agents/cmo".to_owned(),
    ] {
        let response = app
            .clone()
            .oneshot(request("GET", &path, None, None))
            .await
            .expect("response");
        let (status, headers, page) = parts(response).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !page.contains("<script>alert(1)</script>"),
            "{path} runs agent markup"
        );
        assert!(!page.contains("<b>now</b>"), "{path} renders agent markup");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || page.contains("&lt;b&gt;now&lt;/b&gt;"),
            "{path} shows the text as text"
        );
        let policy = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    }
    let (_, page) = send(&app, request("GET", "/", None, None)).await;
    assert!(!page.contains(TOKEN), "the token never reaches a page");
    assert!(!page.contains("<script>"), "no inline script at all");

    for (path, kind) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let response = app
            .clone()
            .oneshot(request("GET", path, None, None))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .expect("type")
                .starts_with(kind)
        );
    }
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_trips_are_listed_on_the_agents_page() {
    let demo = demo().await;
    let app = demo.app();
    let (_, page) = send(&app, request("GET", "/", None, None)).await;
    assert!(page.contains("No guard has stopped anything yet"), "{page}");
    let runtime = demo.company.runtime();
    let cto = runtime.directory.id_of(&aito_core::Role::Cto).expect("cto");
    runtime
        .emit(aito_core::Event::GuardTripped {
            agent: cto,
            role: aito_core::Role::Cto,
            guard: "ping_pong".into(),
            reason: "cto and <b>cmo</b> exchanged 8 messages".into(),
            figures: serde_json::json!({"exchanges": 8}),
        })
        .await;
    let (_, page) = send(&app, request("GET", "/", None, None)).await;
    assert!(page.contains("<code>ping_pong</code>"), "{page}");
    assert!(
        page.contains("cto and &lt;b&gt;cmo&lt;/b&gt; exchanged 8 messages"),
        "escaped: {page}"
    );
    assert!(
        page.contains("id=\"set-budget\""),
        "the budget form is offered with a token"
    );
    demo.stop().await;
}
