//! Signed webhooks from outside services: `POST /hooks/<name>` as GitHub, Stripe and an
//! HMAC-signing service call it, from another host and without the dashboard's token. The
//! deliveries wake a real company (embedded bus and store, a model that records every
//! session), so each test checks who was woken, how often, and with what. The last tests run
//! the `aito` binary: `config check` on the sources, and `aito run` (embedded, then on a
//! private `redis-server` across a restart) woken by a signed delivery.

mod binary;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aito_bin::dashboard::hooks::{HmacScheme, HookSource, Scheme};
use aito_bin::dashboard::{DashboardState, router};
use aito_core::store::StateStore;
use aito_core::{
    AgentId, AgentSpec, Budget, Company, LlmError, LlmRequest, LlmResponse, LlmSession, MemoryBus,
    MemoryStore, MockWorkers, Priority, Role, RunningCompany,
};
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TOKEN, get_json, local, remote, send, send_json};
use ring::hmac;
use serde_json::{Value, json};
use tokio::sync::watch;

/// GitHub's published test secret ("Validating webhook deliveries").
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
/// The signature GitHub publishes for `Hello, World!` under that secret.
const GITHUB_EXAMPLE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
const STRIPE_SECRET: &str = "whsec_5f3e2d1c0b9a8f7e6d5c4b3a29181706";
const SHOP_SECRET: &str = "shpss_0123456789abcdef";

/// A model that records every session and answers only while its gate is open.
struct GatedModel {
    requests: Mutex<Vec<LlmRequest>>,
    open: watch::Sender<bool>,
}

impl GatedModel {
    fn new(open: bool) -> Arc<Self> {
        Arc::new(Self {
            requests: Mutex::new(Vec::new()),
            open: watch::channel(open).0,
        })
    }

    fn requests(&self) -> Vec<LlmRequest> {
        self.requests.lock().expect("requests").clone()
    }

    fn sessions_of(&self, role: Role) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|request| request.role == role)
            .map(|request| request.prompt)
            .collect()
    }

    fn open(&self) {
        self.open.send_replace(true);
    }
}

#[async_trait]
impl LlmSession for GatedModel {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        self.requests.lock().expect("requests").push(request);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        Ok(LlmResponse {
            text: json!({"summary": "noted the delivery", "actions": []}).to_string(),
            session_id: None,
            cost_usd: 0.0,
            usage: Default::default(),
            turns: 1,
            duration: Duration::from_millis(1),
            provider: None,
        })
    }
}

fn sources() -> Vec<HookSource> {
    let cto = AgentId::derived("acme", "cto");
    let cfo = AgentId::derived("acme", "cfo");
    let cmo = AgentId::derived("acme", "cmo");
    let mut shop = HmacScheme::new("x-shopify-hmac-sha256".parse().expect("header"));
    shop.encoding = aito_bin::dashboard::hooks::Encoding::Base64;
    shop.event_header = Some("x-shopify-topic".parse().expect("header"));
    shop.delivery_header = Some("x-shopify-webhook-id".parse().expect("header"));
    vec![
        HookSource::new("github", Role::Cto, cto, Scheme::GitHub)
            .with_secret(GITHUB_SECRET)
            .with_priority(Priority::High),
        HookSource::new("github-push", Role::Cto, cto, Scheme::GitHub)
            .with_secret(GITHUB_SECRET)
            .with_events(["push"]),
        HookSource::new("stripe", Role::Cfo, cfo, Scheme::stripe()).with_secret(STRIPE_SECRET),
        HookSource::new("shop", Role::Cmo, cmo, Scheme::Hmac(shop))
            .with_secret(SHOP_SECRET)
            .with_events(["orders/*"]),
        HookSource::new("unset", Role::Cto, cto, Scheme::GitHub),
    ]
}

/// A running company of CTO, CFO and CMO with the webhook sources above.
struct Fixture {
    company: RunningCompany,
    state: DashboardState,
    model: Arc<GatedModel>,
    _workspaces: tempfile::TempDir,
}

impl Fixture {
    async fn start(store: Arc<MemoryStore>, open: bool) -> Self {
        common::logs();
        let model = GatedModel::new(open);
        let workspaces = tempfile::tempdir().expect("tempdir");
        let agents = [Role::Cto, Role::Cfo, Role::Cmo].map(|role| {
            AgentSpec::new(role).without_schedules().budget(Budget {
                sessions_per_hour: Some(100),
                ..Budget::unlimited()
            })
        });
        let company = Company::builder("acme")
            .agents(agents)
            .bus(Arc::new(MemoryBus::new()))
            .store(store)
            .llm(model.clone())
            .workers(Arc::new(MockWorkers::new()))
            .settings(common::settings())
            .workspace_root(workspaces.path())
            .build()
            .expect("company");
        let state = DashboardState::new(company.runtime().clone(), Some(TOKEN.to_owned()))
            .with_webhooks(sources());
        let company = company.start().expect("start");
        Self {
            company,
            state,
            model,
            _workspaces: workspaces,
        }
    }

    /// The dashboard as a sender on another host sees it.
    fn sender(&self) -> Router {
        remote(router(self.state.clone()))
    }

    async fn idle(&self) {
        self.company.wait_idle(Duration::from_millis(200)).await;
    }

    async fn wait_for_sessions(&self, role: Role, count: usize) -> Vec<String> {
        for _ in 0..500 {
            let sessions = self.model.sessions_of(role.clone());
            if sessions.len() >= count {
                return sessions;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {count} {role} session(s)");
    }

    /// The last delivery of `source` as `GET /api/health` shows it.
    async fn last_delivery(&self, source: &str) -> Value {
        let (status, health) = get_json(&local(router(self.state.clone())), "/api/health").await;
        assert_eq!(status, StatusCode::OK);
        health["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
            .find(|entry| entry["name"] == source)
            .unwrap_or_else(|| panic!("no {source} in {health}"))["last"]
            .clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn sign(secret: &str, message: &[u8]) -> Vec<u8> {
    hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        message,
    )
    .as_ref()
    .to_vec()
}

fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request<Body> {
    let mut builder = Request::builder().method("POST").uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body.to_vec())).expect("request")
}

/// A GitHub delivery of `event` with id `delivery`, signed with `secret` as GitHub signs.
fn github(path: &str, event: &str, delivery: &str, body: &[u8], secret: &str) -> Request<Body> {
    let signature = format!("sha256={}", hex(&sign(secret, body)));
    post(
        path,
        &[
            ("content-type", "application/json"),
            ("x-github-event", event),
            ("x-github-delivery", delivery),
            ("x-hub-signature-256", &signature),
        ],
        body,
    )
}

/// A Stripe delivery signed at `timestamp` as Stripe signs.
fn stripe(body: &[u8], timestamp: i64, secret: &str) -> Request<Body> {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let header = format!("t={timestamp},v1={}", hex(&sign(secret, &signed)));
    post(
        "/hooks/stripe",
        &[
            ("content-type", "application/json"),
            ("stripe-signature", &header),
        ],
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn githubs_published_example_reaches_the_configured_agent_and_one_byte_changed_is_refused() {
    let fixture = Fixture::start(Arc::new(MemoryStore::new()), true).await;
    let app = fixture.sender();
    let headers = |signature: &'static str| {
        [
            ("x-github-event", "push"),
            ("x-github-delivery", "0b4ac7e0-0000-11f0-8000-000000000001"),
            ("x-hub-signature-256", signature),
        ]
    };

    // GitHub's published secret, body and signature, posted from another host, no token.
    let (status, queued) = send_json(
        &app,
        post("/hooks/github", &headers(GITHUB_EXAMPLE), b"Hello, World!"),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["event"], "push");
    assert_eq!(queued["delivery"], "0b4ac7e0-0000-11f0-8000-000000000001");
    let prompt = fixture.wait_for_sessions(Role::Cto, 1).await.remove(0);
    assert!(
        prompt.contains("A webhook message from webhook:github (priority high"),
        "{prompt}"
    );
    assert!(prompt.contains("\"body\": \"Hello, World!\""), "{prompt}");
    assert!(prompt.contains("\"title\": \"GitHub push\""), "{prompt}");

    // One byte changed: refused, and nothing is queued.
    let (status, refused) = send_json(
        &app,
        post("/hooks/github", &headers(GITHUB_EXAMPLE), b"Hello, World?"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .expect("reason")
            .contains("does not match"),
        "{refused}"
    );
    let last = fixture.last_delivery("github").await;
    assert_eq!(last["outcome"], "refused", "{last}");
    assert_eq!(last["status"], 401);
    // A different secret, and no signature at all: refused too.
    let (status, _) = send(
        &app,
        github(
            "/hooks/github",
            "push",
            "d-2",
            b"Hello, World!",
            "not the secret",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, refused) = send_json(
        &app,
        post(
            "/hooks/github",
            &[("x-github-event", "push")],
            b"Hello, World!",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        refused["error"]
            .as_str()
            .expect("reason")
            .contains("no x-hub-signature-256 header"),
        "{refused}"
    );
    fixture.idle().await;
    assert_eq!(
        fixture.model.sessions_of(Role::Cto).len(),
        1,
        "refused deliveries wake nobody"
    );
    assert!(fixture.model.sessions_of(Role::Cfo).is_empty());

    // A JSON body signed the same way: the title names the event, action and repository.
    let body = json!({
        "action": "opened",
        "number": 42,
        "pull_request": {"number": 42, "title": "Add the Frankfurt region"},
        "repository": {"full_name": "acme/site"}
    })
    .to_string();
    let (status, _) = send(
        &app,
        github(
            "/hooks/github",
            "pull_request",
            "0b4ac7e0-0000-11f0-8000-000000000002",
            body.as_bytes(),
            GITHUB_SECRET,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let prompt = fixture.wait_for_sessions(Role::Cto, 2).await.remove(1);
    assert!(
        prompt.contains("\"title\": \"GitHub pull_request opened #42 on acme/site\""),
        "{prompt}"
    );
    assert!(prompt.contains("Add the Frankfurt region"), "{prompt}");
    assert!(
        prompt.contains("\"delivery\": \"0b4ac7e0-0000-11f0-8000-000000000002\""),
        "{prompt}"
    );
    let last = fixture.last_delivery("github").await;
    assert_eq!(last["outcome"], "queued", "{last}");
    assert_eq!(last["event"], "pull_request");

    // Unknown sources are 404; the secret-less source refuses everything.
    let (status, _) = send(
        &app,
        github("/hooks/gitlab", "push", "d-3", b"{}", GITHUB_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &app,
        github("/hooks/unset", "push", "d-4", b"{}", GITHUB_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fixture.last_delivery("unset").await["outcome"], "no_secret");

    let (status, metrics) = send(
        &local(router(fixture.state.clone())),
        common::request("GET", "/metrics", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "aito_webhook_deliveries_total{source=\"github\",outcome=\"queued\"} 2",
        "aito_webhook_deliveries_total{source=\"github\",outcome=\"refused\"} 3",
        "aito_webhook_deliveries_total{source=\"unset\",outcome=\"no_secret\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }
    assert!(
        !metrics.contains("gitlab"),
        "unknown sources make no series"
    );
    fixture.company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_is_accepted_within_the_tolerance_and_refused_outside_it() {
    let fixture = Fixture::start(Arc::new(MemoryStore::new()), true).await;
    let app = fixture.sender();
    let body = json!({
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "object": "event",
        "type": "invoice.paid",
        "data": {"object": {"id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "object": "invoice", "amount_paid": 4200}}
    })
    .to_string();
    let now = chrono::Utc::now().timestamp();

    let (status, refused) =
        send_json(&app, stripe(body.as_bytes(), now - 6 * 60, STRIPE_SECRET)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .expect("reason")
            .contains("beyond the tolerance of 300 s"),
        "{refused}"
    );
    let (status, _) = send(&app, stripe(body.as_bytes(), now + 6 * 60, STRIPE_SECRET)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "ahead of the clock too");
    fixture.idle().await;
    assert!(
        fixture.model.sessions_of(Role::Cfo).is_empty(),
        "a stale signature wakes nobody"
    );

    let (status, queued) =
        send_json(&app, stripe(body.as_bytes(), now - 4 * 60, STRIPE_SECRET)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["event"], "invoice.paid");
    assert_eq!(queued["delivery"], "evt_1NG8Du2eZvKYlo2CUI79vXWy");
    let prompt = fixture.wait_for_sessions(Role::Cfo, 1).await.remove(0);
    assert!(
        prompt.contains("\"title\": \"Stripe invoice.paid in_1MtHbELkdIwHu7ixl4OzzPMv\""),
        "{prompt}"
    );
    assert!(prompt.contains("\"amount_paid\": 4200"), "{prompt}");
    fixture.idle().await;
    assert_eq!(
        fixture.model.sessions_of(Role::Cfo).len(),
        1,
        "only the delivery within the tolerance woke the CFO"
    );
    fixture.company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_github_delivery_posted_twice_wakes_the_agent_once() {
    let store = Arc::new(MemoryStore::new());
    // The model holds the first session open, so the retry arrives while it runs.
    let fixture = Fixture::start(store.clone(), false).await;
    let app = fixture.sender();
    let body = br#"{"ref": "refs/heads/main", "repository": {"full_name": "acme/site"}}"#;
    let delivery = "9f2c1a40-1111-11f0-8000-0000000000aa";
    let (status, first) = send_json(
        &app,
        github("/hooks/github", "push", delivery, body, GITHUB_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    fixture.wait_for_sessions(Role::Cto, 1).await;

    // GitHub retries: same delivery id, while the first is being handled.
    let (status, retry) = send_json(
        &app,
        github("/hooks/github", "push", delivery, body, GITHUB_SECRET),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the sender is told it arrived"
    );
    assert_eq!(
        retry["id"], first["id"],
        "the delivery id derives the envelope id"
    );
    fixture.model.open();
    fixture.idle().await;

    // And again once it was handled; then a new delivery of the same body, which is another
    // event. Both go to the same inbox in order, so once the new one has been handled, a retry
    // that got through would have been handled before it.
    let (status, _) = send(
        &app,
        github("/hooks/github", "push", delivery, body, GITHUB_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let newer = "9f2c1a40-1111-11f0-8000-0000000000bb";
    let (status, _) = send(
        &app,
        github("/hooks/github", "push", newer, body, GITHUB_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sessions = fixture.wait_for_sessions(Role::Cto, 2).await;
    assert!(sessions[1].contains(newer), "{}", sessions[1]);
    fixture.idle().await;
    assert_eq!(
        fixture.model.sessions_of(Role::Cto).len(),
        2,
        "one session per delivery, retries none"
    );
    fixture.company.shutdown().await;

    // After a restart on the same store, the handled mark still recognises it.
    let restarted = Fixture::start(store, true).await;
    let app = restarted.sender();
    for id in [delivery, "9f2c1a40-1111-11f0-8000-0000000000cc"] {
        let (status, _) = send(
            &app,
            github("/hooks/github", "push", id, body, GITHUB_SECRET),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let sessions = restarted.wait_for_sessions(Role::Cto, 1).await;
    assert!(
        sessions[0].contains("0000000000cc"),
        "a retry after a restart wakes nobody: {}",
        sessions[0]
    );
    restarted.idle().await;
    assert_eq!(restarted.model.sessions_of(Role::Cto).len(), 1);
    restarted.company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_types_not_accepted_are_ignored_and_githubs_ping_wakes_nobody() {
    let fixture = Fixture::start(Arc::new(MemoryStore::new()), true).await;
    let app = fixture.sender();
    let (status, ignored) = send_json(
        &app,
        github(
            "/hooks/github-push",
            "issues",
            "d-10",
            br#"{"action": "opened"}"#,
            GITHUB_SECRET,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ignored}");
    assert_eq!(ignored["ignored"], true);
    let last = fixture.last_delivery("github-push").await;
    assert_eq!(last["outcome"], "ignored", "{last}");
    assert_eq!(last["event"], "issues");

    let (status, pong) = send_json(
        &app,
        github(
            "/hooks/github",
            "ping",
            "d-11",
            br#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#,
            GITHUB_SECRET,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pong}");
    assert_eq!(pong["pong"], true);
    fixture.idle().await;
    assert!(
        fixture.model.requests().is_empty(),
        "neither wakes anyone: {:?}",
        fixture.model.requests()
    );

    // The accepted type does.
    let (status, _) = send(
        &app,
        github("/hooks/github-push", "push", "d-12", b"{}", GITHUB_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sessions = fixture.wait_for_sessions(Role::Cto, 1).await;
    fixture.idle().await;
    assert_eq!(
        fixture.model.requests().len(),
        1,
        "only the accepted type woke anyone"
    );
    assert!(
        sessions[0].contains("\"delivery\": \"d-12\""),
        "{}",
        sessions[0]
    );
    fixture.company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hmac_service_signs_in_a_header_of_its_own() {
    use base64::Engine as _;
    let fixture = Fixture::start(Arc::new(MemoryStore::new()), true).await;
    let app = fixture.sender();
    let body = br#"{"id": 820982911946154508, "total_price": "199.00"}"#;
    let signature = base64::engine::general_purpose::STANDARD.encode(sign(SHOP_SECRET, body));
    let shop = |topic: &str, signature: &str, body: &[u8]| {
        post(
            "/hooks/shop",
            &[
                ("x-shopify-hmac-sha256", signature),
                ("x-shopify-topic", topic),
                (
                    "x-shopify-webhook-id",
                    "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                ),
            ],
            body,
        )
    };
    let (status, queued) = send_json(&app, shop("orders/create", &signature, body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let prompt = fixture.wait_for_sessions(Role::Cmo, 1).await.remove(0);
    assert!(
        prompt.contains("\"title\": \"Webhook shop: orders/create\""),
        "{prompt}"
    );
    let (status, _) = send(
        &app,
        shop(
            "orders/create",
            &signature,
            br#"{"id": 1, "total_price": "0.01"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ignored) = send_json(&app, shop("customers/create", &signature, body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(ignored["ignored"], true, "{ignored}");
    fixture.company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_and_shown_on_the_health_page() {
    let fixture = Fixture::start(Arc::new(MemoryStore::new()), true).await;
    let app = fixture.sender();
    let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(300 * 1024));
    let (status, _) = send(
        &app,
        github(
            "/hooks/github",
            "push",
            "d-20",
            big.as_bytes(),
            GITHUB_SECRET,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        fixture.last_delivery("github").await["outcome"],
        "too_large"
    );

    // Within the limit, a body near it still reaches the agent.
    let near = format!(r#"{{"blob": "{}"}}"#, "y".repeat(250 * 1024));
    let (status, _) = send(
        &app,
        github(
            "/hooks/github",
            "push",
            "d-21",
            near.as_bytes(),
            GITHUB_SECRET,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    fixture.wait_for_sessions(Role::Cto, 1).await;

    let (status, page) = send(
        &local(router(fixture.state.clone())),
        common::request("GET", "/health", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"webhooks\""), "{page}");
    assert!(page.contains("<code>/hooks/github</code>"), "{page}");
    assert!(page.contains("data-outcome=\"queued\""), "{page}");
    let unset = page
        .split("data-source=\"unset\"")
        .nth(1)
        .expect("the secret-less source is listed");
    assert!(unset.contains("not set"), "{unset}");
    fixture.company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_delivery_is_kept_in_the_store() {
    let store = Arc::new(MemoryStore::new());
    let fixture = Fixture::start(store.clone(), true).await;
    let (status, _) = send(
        &fixture.sender(),
        github("/hooks/github", "push", "d-30", b"{}", GITHUB_SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    fixture.idle().await;
    fixture.company.shutdown().await;
    let kept = store
        .get_value("webhooks:last:github")
        .await
        .expect("store")
        .expect("recorded");
    assert_eq!(kept["outcome"], "queued");
    assert_eq!(kept["delivery"], "d-30");
    let restarted = Fixture::start(store, true).await;
    assert_eq!(
        restarted.last_delivery("github").await["delivery"],
        "d-30",
        "a restarted dashboard shows it"
    );
    restarted.company.shutdown().await;
}

/// One HTTP/1.1 request to `address`; returns the status and the body.
fn http(address: &str, request: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "{request}Host: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

const CONFIG: &str = r#"
[[agents]]
role = "ceo"
schedules = []

[[agents]]
role = "cto"
schedules = []

[webhooks.github]
agent = "cto"
kind = "github"
events = ["push"]
"#;

#[test]
fn config_check_lists_the_sources_and_whether_their_secret_is_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("aito.toml"), CONFIG).expect("config");
    let check = |env: &[(&str, &str)]| {
        let mut command = binary::aito(dir.path(), &["config", "check"]);
        command.envs(env.iter().copied());
        let output = binary::output(command);
        let (stdout, stderr) = binary::texts(&output);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        stdout
    };
    let without = check(&[]);
    assert!(without.contains("[webhooks.github]"), "{without}");
    assert!(without.contains("path = \"/hooks/github\""), "{without}");
    assert!(
        without.contains("(not set: every delivery is refused; set AITO_WEBHOOKS_GITHUB_SECRET)"),
        "{without}"
    );
    assert!(
        without.contains("# warning: webhook source github has no secret"),
        "{without}"
    );
    let with = check(&[("AITO_WEBHOOKS_GITHUB_SECRET", GITHUB_SECRET)]);
    assert!(
        with.contains("secret = \"*** (from AITO_WEBHOOKS_GITHUB_SECRET)\""),
        "{with}"
    );
    assert!(!with.contains(GITHUB_SECRET), "{with}");

    std::fs::write(
        dir.path().join("aito.toml"),
        format!("{CONFIG}secret = \"{GITHUB_SECRET}\"\n"),
    )
    .expect("config");
    let output = binary::output(binary::aito(dir.path(), &["config", "check"]));
    let (_, stderr) = binary::texts(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("webhooks.github.secret") && stderr.contains("AITO_WEBHOOKS_GITHUB_SECRET"),
        "{stderr}"
    );
    assert!(!stderr.contains("Secret to Everybody"), "{stderr}");
}

/// Starts `aito run` in `dir` with `args` and the GitHub secret; returns it and its
/// dashboard's address.
fn run_company(dir: &std::path::Path, args: &[&str]) -> (binary::Running, String) {
    let mut command = binary::aito(
        dir,
        &[
            &[
                "run",
                "--llm",
                "replay:script.json",
                "--bind",
                "127.0.0.1:0",
            ],
            args,
        ]
        .concat(),
    );
    command.env("AITO_WEBHOOKS_GITHUB_SECRET", GITHUB_SECRET);
    let mut company = binary::Running::start(command);
    let line = company.wait_for_line("dashboard on http://", Duration::from_secs(30));
    let address = line
        .split("dashboard on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("address")
        .trim_end_matches(['"', ',', '}'])
        .to_owned();
    (company, address)
}

/// Posts GitHub's published example as delivery `delivery`, signed with `signature`.
fn post_example(address: &str, signature: &str, delivery: &str) -> (u16, String) {
    http(
        address,
        &format!(
            "POST /hooks/github HTTP/1.1\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {signature}\r\n"
        ),
        b"Hello, World!",
    )
}

/// The CTO's history as the dashboard shows it, once it has at least `count` entries.
fn cto_history(address: &str, count: usize) -> Vec<Value> {
    binary::eventually("the CTO's history", Duration::from_secs(30), || {
        let (status, body) = http(address, "GET /api/agents/cto HTTP/1.1\r\n", b"");
        let agent: Value = serde_json::from_str(&body).ok()?;
        let history = agent["history"].as_array()?.clone();
        (status == 200 && history.len() >= count).then_some(history)
    })
}

#[test]
fn aito_run_wakes_the_configured_agent_with_a_signed_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("aito.toml"), CONFIG).expect("config");
    std::fs::write(dir.path().join("script.json"), r#"{"responses": []}"#).expect("script");
    let (company, address) = run_company(dir.path(), &[]);
    let (status, body) = post_example(&address, GITHUB_EXAMPLE, "d-1");
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_example(&address, &GITHUB_EXAMPLE.replace("757107", "757108"), "d-2");
    assert_eq!(status, 401, "{body}");
    let history = cto_history(&address, 1);
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(
        history[0]["trigger"]
            .as_str()
            .is_some_and(|trigger| trigger.contains("webhook from webhook:github: GitHub push")),
        "{history:?}"
    );
    let (code, _) = company.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}

#[test]
fn on_redis_a_retry_after_a_restart_wakes_nobody() {
    let server = aito_redis::testing::RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("aito.toml"), CONFIG).expect("config");
    std::fs::write(dir.path().join("script.json"), r#"{"responses": []}"#).expect("script");
    let (company, address) = run_company(dir.path(), &["--redis", &url]);
    let (status, body) = post_example(&address, GITHUB_EXAMPLE, "retried-1");
    assert_eq!(status, 202, "{body}");
    assert_eq!(cto_history(&address, 1).len(), 1);
    let (code, _) = company.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));

    // The sender retries after the restart, then sends a new delivery.
    let (company, address) = run_company(dir.path(), &["--redis", &url]);
    let (status, body) = post_example(&address, GITHUB_EXAMPLE, "retried-1");
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_example(&address, GITHUB_EXAMPLE, "new-2");
    assert_eq!(status, 202, "{body}");
    let new: Value = serde_json::from_str(&body).expect("JSON");
    // The retry is older than the new delivery, so it was judged first: once the new one is
    // in the history, a retry handled again would be there too.
    let history = binary::eventually("the new delivery handled", Duration::from_secs(30), || {
        let history = cto_history(&address, 1);
        history
            .iter()
            .any(|entry| entry["trigger_id"] == new["id"])
            .then_some(history)
    });
    assert_eq!(
        history.len(),
        2,
        "the retry was handled again: {history:#?}"
    );
    let (code, _) = company.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}
