//! [`MockServer`]: an HTTP server on a free port of 127.0.0.1, running on a thread of its own,
//! that answers model calls from its script and records every request.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::record::{Api, Recorded, Target};
use crate::reply::Reply;
use crate::script::{Responder, Script};
use crate::{anthropic, openai};

/// The largest request body the server reads.
const MAX_BODY: usize = 256 * 1024 * 1024;

struct Inner {
    addr: SocketAddr,
    started: Instant,
    script: Script,
    requests: Mutex<Vec<Recorded>>,
    arrived: Notify,
    ids: AtomicU64,
    stop: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A local stand-in for the model APIs.
///
/// It listens on a free port of 127.0.0.1 and serves on a thread of its own, so it answers
/// whatever the caller's runtime is doing (a test may block on a child process while the
/// child calls the server). Dropping it stops the server; requests still hanging get a 503.
///
/// - `POST /v1/messages` is the Anthropic Messages API ([`anthropic`]) and
///   `POST /v1/chat/completions` the OpenAI-compatible Chat Completions API ([`openai`]);
///   both take their replies from one script: queued replies first ([`MockServer::push`]), then the responder
///   ([`MockServer::respond_with`]), else a 500 saying that nothing is scripted.
/// - A request that names another host (`CONNECT`, or an absolute URL, as clients send
///   through a proxy) is recorded as [`Target::Foreign`] and refused with 403: point a
///   client's `HTTPS_PROXY` here to see whether it tries to leave the machine.
/// - Anything else (the `HEAD /` connectivity check of Claude Code, unknown paths) is
///   recorded and answered 404.
///
/// ```no_run
/// use aito_mock_api::{MockServer, Reply};
///
/// let server = MockServer::start().expect("a free port");
/// server.push(Reply::error(500, "try again"));
/// server.push(Reply::text("{\"summary\": \"done\", \"actions\": []}"));
/// // ... point the client at server.url() ...
/// for request in server.model_calls() {
///     println!("{} bytes", request.bytes());
/// }
/// ```
pub struct MockServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.inner.addr)
            .field("requests", &lock(&self.inner.requests).len())
            .field("queued", &self.inner.script.queued())
            .finish()
    }
}

impl MockServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        Self::start_at(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Starts a server at `addr` (for example the port of a [`closed_port_url`], to bring an
    /// API back after clients found it refusing connections).
    pub fn start_at(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = StdListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            addr,
            started: Instant::now(),
            script: Script::default(),
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            ids: AtomicU64::new(1),
            stop: CancellationToken::new(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = Arc::clone(&inner);
        std::thread::Builder::new()
            .name(format!("aito-mock-api-{}", addr.port()))
            .spawn(move || {
                let stop = state.stop.clone();
                let app = Router::new().fallback(handle).with_state(state);
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!(%error, "aito-mock-api: cannot listen");
                            return;
                        }
                    };
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await;
                    if let Err(error) = served {
                        tracing::error!(%error, "aito-mock-api: the server failed");
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Self { inner })
    }

    /// The base URL, `http://127.0.0.1:PORT` (no trailing slash): what `ANTHROPIC_BASE_URL`
    /// takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Queues `reply` for the next model call that finds the queue otherwise empty.
    pub fn push(&self, reply: impl Into<Reply>) {
        self.inner.script.push(reply.into());
    }

    /// Queues each of `replies`, in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        for reply in replies {
            self.push(reply);
        }
    }

    /// Answers model calls with `responder` once the queue is empty.
    pub fn respond_with(&self, responder: impl Responder) {
        self.inner.script.set_responder(Arc::new(responder));
    }

    /// Replies still queued.
    pub fn queued(&self) -> usize {
        self.inner.script.queued()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner.requests).clone()
    }

    /// The model calls received so far, of any API.
    pub fn model_calls(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| matches!(request.target, Target::Api(_)))
            .collect()
    }

    /// The requests that tried to reach another host through this server.
    pub fn foreign(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| matches!(request.target, Target::Foreign(_)))
            .collect()
    }

    /// Waits until at least `count` model calls have arrived, for up to `within`; whether
    /// they did.
    pub async fn wait_for_calls(&self, count: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.inner.arrived.notified();
            if self.model_calls().len() >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.model_calls().len() >= count;
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.inner.stop.cancel();
    }
}

/// The URL of a port of 127.0.0.1 where nothing listens: a connection there is refused.
pub fn closed_port_url() -> std::io::Result<String> {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}"))
}

fn target(inner: &Inner, method: &Method, request: &Request) -> Target {
    let uri = request.uri();
    if method == Method::CONNECT {
        return Target::Foreign(uri.to_string());
    }
    if let Some(authority) = uri.authority() {
        let ours = authority.port_u16() == Some(inner.addr.port())
            && matches!(authority.host(), "127.0.0.1" | "localhost");
        if !ours {
            return Target::Foreign(authority.to_string());
        }
    }
    if method == Method::POST && uri.path() == anthropic::MESSAGES_PATH {
        return Target::Api(Api::Anthropic);
    }
    if method == Method::POST && uri.path() == openai::CHAT_PATH {
        return Target::Api(Api::OpenAi);
    }
    Target::Other
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let method = request.method().clone();
    let target = target(&inner, &method, &request);
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(error) => {
            return (StatusCode::BAD_REQUEST, format!("unreadable body: {error}")).into_response();
        }
    };
    let received = Instant::now();
    let recorded = {
        let mut requests = lock(&inner.requests);
        let recorded = Recorded {
            seq: requests.len(),
            at: received.saturating_duration_since(inner.started),
            target: target.clone(),
            method: method.to_string(),
            path,
            query,
            headers,
            body,
            received,
        };
        requests.push(recorded.clone());
        recorded
    };
    inner.arrived.notify_waiters();
    match target {
        Target::Api(api) => {
            let reply = inner.script.next(&recorded).await;
            match (reply, api) {
                (Reply::Message(message), Api::Anthropic) => {
                    anthropic::message_response(&message, &recorded, &inner.ids)
                }
                (Reply::Message(message), Api::OpenAi) => {
                    openai::message_response(&message, &recorded, &inner.ids)
                }
                (Reply::Error(error), Api::Anthropic) => {
                    anthropic::error_response(&error, &inner.ids)
                }
                (Reply::Error(error), Api::OpenAi) => openai::error_response(&error),
                (Reply::Hang, _) => {
                    inner.stop.cancelled().await;
                    (StatusCode::SERVICE_UNAVAILABLE, "aito-mock-api stopped").into_response()
                }
            }
        }
        Target::Foreign(host) => {
            tracing::warn!(%host, "aito-mock-api: a client tried to reach another host");
            (
                StatusCode::FORBIDDEN,
                Body::from(format!(
                    "aito-mock-api: {host} is another host; tests never leave the machine"
                )),
            )
                .into_response()
        }
        Target::Other => StatusCode::NOT_FOUND.into_response(),
    }
}
