//! A demo company for the dashboard tests: seven agents on the embedded adapters and a
//! scripted model, whose conversation ends with a critical decision escalated to a human and a
//! major decision still waiting for votes. The dashboard's background work is started before
//! the company, so its metrics see every event. [`shipped::shipped_demo`] runs the shipped
//! demo scenario (the one `aito run` runs) on the same company instead.
#![allow(dead_code, unreachable_pub)]

pub mod shipped;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aito_bin::dashboard::{Background, DashboardState, router, start_background};
use aito_core::decision::{Decision, DecisionStatus};
use aito_core::mock::{Script, ScriptedResponse};
use aito_core::store::StateStore;
use aito_core::{
    AgentSpec, Budget, Company, MemoryBus, MemoryStore, MessageType, MockWorkers, Priority,
    ReplayLlm, Role, RunningCompany, Settings,
};
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The token the tests configure.
pub const TOKEN: &str = "test-token-0123456789";

/// The title of the critical decision that escalates.
pub const LEASE: &str = "Sign the Frankfurt data-center lease";

/// The title of the major decision that stays pending. It carries markup, as an untrusted
/// model might write, to check that pages escape it.
pub const NEWSLETTER: &str = "Weekly newsletter <script>alert(1)</script>";

fn answer(role: Role, when: &str, response: Value) -> ScriptedResponse {
    ScriptedResponse {
        role: Some(role),
        when: Some(when.to_owned()),
        response: Some(response),
        cost_usd: 0.02,
        tokens: 1200,
        ..ScriptedResponse::default()
    }
}

/// The demo's script.
pub fn script() -> Vec<ScriptedResponse> {
    vec![
        answer(
            Role::Ceo,
            "Expand to Europe",
            json!({
                "summary": "Asked the CTO for a Frankfurt region and the CMO for a newsletter",
                "messages": [
                    {"to": "cto", "content": "Open a Frankfurt region; propose the lease.", "type": "task", "priority": "high"},
                    {"to": "cmo", "content": "Start a newsletter for European customers.", "type": "task"}
                ]
            }),
        ),
        answer(
            Role::Cto,
            "Frankfurt region",
            json!({
                "summary": "Comparing colocation offers and proposing the lease",
                "actions": [
                    {"type": "spawn_worker", "data": {"task": "Compare Frankfurt colocation offers", "servers": ["fetch"], "timeout": 60000}},
                    {"type": "propose_decision", "data": {"tier": "critical", "title": LEASE, "description": "$40k a month for three years, 2 MW, on-site security."}}
                ]
            }),
        ),
        answer(
            Role::Cto,
            "worker_result",
            json!({"summary": "Noted the colocation comparison", "actions": []}),
        ),
        answer(
            Role::Ceo,
            LEASE,
            json!({
                "summary": "Approved the lease",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "Europe needs low latency"}}]
            }),
        ),
        answer(
            Role::Dao,
            LEASE,
            json!({
                "summary": "Approved the lease for the community",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "the treasury can carry it"}}]
            }),
        ),
        answer(
            Role::Cmo,
            "newsletter",
            json!({
                "summary": "Proposed a weekly newsletter <b>now</b>",
                "actions": [
                    {"type": "propose_decision", "data": {"tier": "major", "title": NEWSLETTER, "description": "A paid email tool, $600 a month."}}
                ]
            }),
        ),
        answer(
            Role::Cto,
            "carry it out now",
            json!({"summary": "Signed the Frankfurt lease", "actions": []}),
        ),
    ]
}

/// Settings for tests: no company budget, quick retries, a short heartbeat.
#[allow(clippy::field_reassign_with_default)]
pub fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.company_budget = Budget::unlimited();
    settings.retry.base_delay = Duration::from_millis(10);
    settings.retry.max_delay = Duration::from_millis(50);
    settings.shutdown_grace = Duration::from_secs(2);
    settings.heartbeat = Duration::from_secs(1);
    settings
}

/// The seven roles, woken only by messages; the CTO may use the `fetch` server.
pub fn agents() -> Vec<AgentSpec> {
    AgentSpec::defaults()
        .into_iter()
        .map(|spec| {
            let spec = spec.without_schedules().budget(Budget {
                usd_per_day: Some(5.0),
                sessions_per_hour: Some(100),
                ..Budget::unlimited()
            });
            if spec.role == Role::Cto {
                spec.mcp_servers(["fetch"])
            } else {
                spec
            }
        })
        .collect()
}

/// A running demo company with its dashboard state.
pub struct Demo {
    pub company: RunningCompany,
    pub state: DashboardState,
    pub background: Option<Background>,
    pub llm: Arc<ReplayLlm>,
    pub store: Arc<MemoryStore>,
    pub bus: Arc<MemoryBus>,
    pub workspaces: tempfile::TempDir,
}

/// Options of [`demo_with`].
pub struct DemoOptions {
    pub token: Option<&'static str>,
    pub configure: Box<dyn FnOnce(DashboardState) -> DashboardState + Send>,
    pub background: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            token: Some(TOKEN),
            configure: Box::new(|state| state),
            background: true,
        }
    }
}

/// The demo with the token configured, run until the lease is escalated and the company is idle.
pub async fn demo() -> Demo {
    demo_with(DemoOptions::default()).await
}

/// The demo with options.
pub async fn demo_with(options: DemoOptions) -> Demo {
    let llm = Arc::new(ReplayLlm::new(Script {
        description: None,
        responses: script(),
        on_exhausted: Default::default(),
    }));
    let demo = launch(options, llm, Arc::new(MockWorkers::new())).await;
    demo.company
        .send(
            "ceo",
            MessageType::Task,
            json!({"title": "Expand to Europe", "content": "Open a region in Europe and tell our customers."}),
            Priority::High,
        )
        .await
        .expect("send");
    demo.wait_for("the lease to escalate", |demo| async move {
        demo.decision(LEASE)
            .await
            .filter(|decision| decision.status == DecisionStatus::Escalated)
            .map(|_| ())
    })
    .await;
    demo.company.wait_idle(Duration::from_millis(200)).await;
    demo
}

/// The seven agents of [`agents`] on the embedded adapters with `llm` and `workers`, the
/// dashboard's state (and its background work, started first) and the company started.
pub(crate) async fn launch(
    options: DemoOptions,
    llm: Arc<ReplayLlm>,
    workers: Arc<MockWorkers>,
) -> Demo {
    logs();
    let bus = Arc::new(MemoryBus::new());
    let store = Arc::new(MemoryStore::new());
    let workspaces = tempfile::tempdir().expect("tempdir");
    let company = Company::builder("demo")
        .agents(agents())
        .bus(bus.clone())
        .store(store.clone())
        .llm(llm.clone())
        .workers(workers)
        .settings(settings())
        .workspace_root(workspaces.path())
        .build()
        .expect("company");
    let state = (options.configure)(DashboardState::new(
        company.runtime().clone(),
        options.token.map(str::to_owned),
    ));
    let background = if options.background {
        Some(start_background(&state).await)
    } else {
        None
    };
    let company = company.start().expect("start");
    Demo {
        company,
        state,
        background,
        llm,
        store,
        bus,
        workspaces,
    }
}

impl Demo {
    /// The decision titled `title`.
    pub async fn decision(&self, title: &str) -> Option<Decision> {
        self.store
            .decisions(None)
            .await
            .expect("decisions")
            .into_iter()
            .find(|decision| decision.title == title)
    }

    /// Polls `check` every 20 ms for up to 10 s.
    pub async fn wait_for<'a, T, F, Fut>(&'a self, what: &str, check: F) -> T
    where
        F: Fn(&'a Demo) -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        for _ in 0..500 {
            if let Some(value) = check(self).await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// The application as a loopback client sees it.
    pub fn app(&self) -> Router {
        local(router(self.state.clone()))
    }

    /// Stops the company and the dashboard's background work.
    pub async fn stop(mut self) {
        if let Some(background) = self.background.take() {
            background.shutdown().await;
        }
        self.company.shutdown().await;
    }
}

/// `app` as seen from the loopback interface.
pub fn local(app: Router) -> Router {
    app.layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50000))))
}

/// `app` as seen from another host.
pub fn remote(app: Router) -> Router {
    app.layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 50000))))
}

/// A request with an optional bearer token and JSON body.
pub fn request(method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_owned())))
        .expect("request")
}

/// Sends `request` to `app`; returns the status and the body as text.
pub async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.expect("response");
    let (status, _, body) = parts(response).await;
    (status, body)
}

/// Sends `request` and reads the body as JSON.
pub async fn send_json(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let (status, body) = send(app, request).await;
    let value =
        serde_json::from_str(&body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"));
    (status, value)
}

/// GET `path` as JSON.
pub async fn get_json(app: &Router, path: &str) -> (StatusCode, Value) {
    send_json(app, request("GET", path, None, None)).await
}

/// Status, headers and body text of a response.
pub async fn parts(response: Response<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Sends the daemons' and the dashboard's logs to the test output.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "aito_bin=info,aito_core=warn".to_owned()),
        )
        .with_test_writer()
        .try_init();
}
