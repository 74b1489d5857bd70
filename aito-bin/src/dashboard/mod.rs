//! The dashboard: watch and govern the company from a browser, a JSON API for tools, and the
//! health endpoints that containers and load balancers probe.
//!
//! - Pages: agents, one agent's history, decisions (filter, detail with every round,
//!   approve or veto an escalated one), worker logs (live over server-sent events, with the
//!   recent history on load), health. Server-rendered HTML with one small script and no build
//!   step; every value that comes from agents or models is HTML-escaped. A decision waiting for
//!   a human is shown at the top of every page until it is answered. The task board, the
//!   conversation between agents with a picture of the message flow, each stored session
//!   (prompt, answer, actions and outcomes) and spend per agent today and over 7 days, the
//!   pictures drawn on the server as SVG.
//! - JSON API ([`api`]) under `/api/`, the same data, and the writes: send a message, call an
//!   agent's webhook, decide an escalated decision, pause and resume the company.
//! - `GET /healthz` (the process answers), `GET /readyz` (store and bus reachable),
//!   `GET /metrics` (Prometheus text, counters from the event stream and gauges from the store).
//! - Signed webhooks ([`hooks`]): `POST /hooks/<name>` for GitHub, Stripe and HMAC-signing
//!   services, checked by signature instead of the token.
//! - Access ([`auth`]): writes need the bearer token; reads are open on loopback.
//! - Background work ([`feeds`], [`notify`]): one bus subscription for events and worker logs,
//!   and the escalation notices to an optional outgoing webhook.
//!
//! [`router`] builds the application for a [`DashboardState`]; [`serve`] runs it on a listener,
//! with its background work, until the shutdown token is cancelled.
//!
//! ```no_run
//! # async fn run(runtime: aito_core::Runtime) -> Result<(), Box<dyn std::error::Error>> {
//! use aito_bin::dashboard::{DashboardState, EscalationWebhook, serve};
//!
//! let mut state = DashboardState::new(runtime, std::env::var("AITO_DASHBOARD_TOKEN").ok());
//! if let Ok(url) = std::env::var("AITO_ESCALATION_WEBHOOK") {
//!     state = state.with_escalation_webhook(EscalationWebhook::new(&url)?);
//! }
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, state, tokio_util::sync::CancellationToken::new()).await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
mod assets;
pub mod auth;
mod charts;
mod decision_pages;
pub mod error;
pub mod feeds;
pub mod hooks;
mod input;
mod metrics;
pub mod notify;
pub mod overview;
mod pages;
mod session_pages;
mod sessions_api;
mod stream;
mod task_pages;
mod tasks_api;
pub mod worker_logs;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use aito_core::Runtime;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use error::{ApiError, DashboardError};
pub use feeds::{Background, FeedStatus, start_background};
pub use input::{BODY_LIMIT, WEBHOOK_BODY_LIMIT};
pub use notify::{EscalationWebhook, NoticeRetry, NoticeStats};
pub use worker_logs::LogLine;

use metrics::Metrics;

/// How many live worker log lines wait for a slow stream before it skips ahead.
const LIVE_LOG_BUFFER: usize = 1024;

/// What the dashboard reads from and acts on. Cheap to clone.
#[derive(Clone)]
pub struct DashboardState {
    /// The company's adapters, directory, decision engine and clock. In `aito run` it is the
    /// running company's; `aito dashboard` builds one without starting any daemon.
    pub runtime: Runtime,
    /// The bearer token that write endpoints require; `None` refuses every write.
    pub token: Option<Arc<str>>,
    /// Where escalation notices are posted, if anywhere.
    escalation_webhook: Option<EscalationWebhook>,
    /// The dashboard's address as people reach it, for links in notices.
    public_url: Option<Arc<str>>,
    /// The webhook sources that may call `POST /hooks/<name>`.
    hooks: hooks::Sources,
    /// Live state shared by the handlers and the background work.
    hub: Arc<Hub>,
}

impl std::fmt::Debug for DashboardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardState")
            .field("company", &self.runtime.company)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("escalation_webhook", &self.escalation_webhook)
            .field("public_url", &self.public_url)
            .field("hooks", &self.hooks.values().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl DashboardState {
    /// A dashboard of `runtime`'s company. `token` is the write token (from
    /// `AITO_DASHBOARD_TOKEN`); `None`, an empty or a blank one refuses every write.
    pub fn new(runtime: Runtime, token: Option<String>) -> Self {
        let token = token
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty())
            .map(Arc::from);
        let (logs, _) = broadcast::channel(LIVE_LOG_BUFFER);
        Self {
            runtime,
            token,
            escalation_webhook: None,
            public_url: None,
            hooks: Arc::default(),
            hub: Arc::new(Hub {
                metrics: Arc::new(Metrics::default()),
                logs,
                notices: Arc::default(),
                feed: Mutex::default(),
                closing: CancellationToken::new(),
                instance: format!("dashboard-{}", uuid::Uuid::new_v4()),
            }),
        }
    }

    /// Posts a JSON notice to `webhook` whenever a decision escalates to a human.
    pub fn with_escalation_webhook(mut self, webhook: EscalationWebhook) -> Self {
        self.escalation_webhook = Some(webhook);
        self
    }

    /// The dashboard's address as people reach it (`https://aito.example.com`), used for the
    /// link to the decision in escalation notices.
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into().trim().trim_end_matches('/').to_owned();
        self.public_url = (!url.is_empty()).then(|| Arc::from(url));
        self
    }

    /// Accepts signed deliveries from `sources` at `POST /hooks/<name>` ([`hooks`]).
    pub fn with_webhooks(mut self, sources: impl IntoIterator<Item = hooks::HookSource>) -> Self {
        let sources: std::collections::BTreeMap<_, _> = sources
            .into_iter()
            .map(|source| (source.name.clone(), source))
            .collect();
        for source in sources.values().filter(|source| !source.has_secret()) {
            tracing::warn!(source = %source.name, variable = %hooks::secret_variable(&source.name), "webhook source without a secret: its deliveries are refused");
        }
        self.hooks = Arc::new(sources);
        self
    }

    /// Whether writes are possible (a token is configured).
    pub fn writes_enabled(&self) -> bool {
        self.token.is_some()
    }
}

/// Live state shared by the handlers and the background work.
pub(crate) struct Hub {
    /// Counters from the event stream.
    pub(crate) metrics: Arc<Metrics>,
    /// Live worker log lines, for the server-sent event streams.
    pub(crate) logs: broadcast::Sender<Arc<LogLine>>,
    /// What the escalation webhook has done.
    pub(crate) notices: Arc<Mutex<NoticeStats>>,
    /// The bus subscription.
    feed: Mutex<FeedStatus>,
    /// Cancelled when the dashboard stops: ends the live streams and the background work.
    pub(crate) closing: CancellationToken,
    /// This dashboard's consumer name on the bus.
    pub(crate) instance: String,
}

impl Hub {
    pub(crate) fn feed_status(&self) -> MutexGuard<'_, FeedStatus> {
        self.feed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn notice_stats(&self) -> NoticeStats {
        self.notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The dashboard application. Reads are open only to loopback peers, which the router learns
/// from `ConnectInfo<SocketAddr>`: serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`] does), or every reader
/// counts as remote and needs the token.
pub fn router(state: DashboardState) -> Router {
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .route(
            "/hooks/{name}",
            post(hooks::receive).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        );
    let reads = Router::new()
        .route("/", get(pages::agents))
        .route("/agents", get(pages::agents))
        .route("/agents/{agent}", get(pages::agent))
        .route("/decisions", get(decision_pages::decisions))
        .route("/decisions/{id}", get(decision_pages::decision))
        .route("/tasks", get(task_pages::board))
        .route("/tasks/{id}", get(task_pages::task))
        .route("/conversations", get(session_pages::conversations))
        .route("/sessions/{agent}/{trigger}", get(session_pages::session))
        .route("/spend", get(session_pages::spend))
        .route("/logs", get(pages::logs))
        .route("/health", get(pages::health))
        .route("/fragments/agents", get(pages::agents_fragment))
        .route("/fragments/escalations", get(pages::escalations_fragment))
        .route("/metrics", get(api::metrics))
        .route("/api/agents", get(api::agents))
        .route("/api/agents/{agent}", get(api::agent))
        .route("/api/decisions", get(api::decisions))
        .route("/api/decisions/{id}", get(api::decision))
        .route("/api/escalations", get(api::escalations))
        .route("/api/events", get(api::events))
        .route("/api/logs", get(api::logs))
        .route("/api/logs/stream", get(stream::logs))
        .route("/api/health", get(api::health))
        .route("/api/budget", get(api::budget))
        .route("/api/tasks", get(tasks_api::tasks))
        .route("/api/tasks/{id}", get(tasks_api::task))
        .route("/api/agents/{agent}/sessions", get(sessions_api::sessions))
        .route(
            "/api/agents/{agent}/sessions/{trigger}",
            get(sessions_api::session),
        )
        .route("/api/conversations", get(sessions_api::conversations))
        .route("/api/flow", get(sessions_api::flow))
        .route("/api/spend", get(sessions_api::spend_api))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_reader,
        ));
    let writes = Router::new()
        .route("/api/messages", post(api::send_message))
        .route(
            "/api/webhooks/{agent}",
            post(api::webhook).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .route("/api/decisions/{id}/decide", post(api::decide))
        .route("/api/pause", post(api::pause))
        .route("/api/budget", post(api::set_budget))
        .route("/api/resume", post(api::resume))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    open.merge(reads)
        .merge(writes)
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(auth::security_headers))
        .layer(middleware::from_fn(trace_requests))
        .with_state(state)
}

/// Serves the dashboard on `listener` until `shutdown` is cancelled: starts the background
/// work ([`start_background`]), serves, then ends the live streams and waits for the
/// background work to stop.
pub async fn serve(
    listener: TcpListener,
    state: DashboardState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let background = start_background(&state).await;
    let closing = state.hub.closing.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "dashboard listening");
    }
    // Live streams never end by themselves: end them when shutdown starts, so that the
    // graceful shutdown does not wait for them.
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.cancelled().await;
            closing.cancel();
        })
        .await;
    background.shutdown().await;
    result
}

/// Logs every request: method, path (never the query), status and time taken.
async fn trace_requests(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if method == axum::http::Method::GET {
        tracing::debug!(%method, path, status, elapsed_ms, "request");
    } else {
        tracing::info!(%method, path, status, elapsed_ms, "request");
    }
    response
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store and the bus are reachable.
async fn readyz(State(state): State<DashboardState>) -> Response {
    let store = state.runtime.store.ping().await;
    let bus = state.runtime.bus.ping().await;
    match (store, bus) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready").into_response(),
        (store, bus) => {
            let mut problems = Vec::new();
            if let Err(err) = store {
                problems.push(format!("store: {err}"));
            }
            if let Err(err) = bus {
                problems.push(format!("bus: {err}"));
            }
            (StatusCode::SERVICE_UNAVAILABLE, problems.join("; ")).into_response()
        }
    }
}
