//! Health of the daemons of `aito agent`: `GET /healthz` answers while the process runs, with
//! what each daemon is doing (one agent: its fields at the top level; several: an `agents`
//! list); `GET /readyz` answers `200` once the store and the bus answer and every daemon holds
//! its agent's lease, `503` with the reason otherwise (a daemon in standby says whose lease it
//! waits for, on `/healthz` too).
//! [`probe`] is the client side, for container health checks (`aito health URL`) in images
//! that have no curl.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use aito_core::daemon::{Monitor, Standby};
use aito_core::{AgentId, Role, Runtime};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One daemon the health endpoints report on.
#[derive(Clone)]
pub struct AgentHealth {
    /// The agent.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// Its daemon's live counters.
    pub monitor: Arc<Monitor>,
}

impl std::fmt::Debug for AgentHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHealth")
            .field("agent", &self.agent)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What the health endpoints read.
#[derive(Clone, Debug)]
pub struct HealthState {
    /// The daemons of this process.
    pub agents: Vec<AgentHealth>,
    /// The adapters, for readiness.
    pub runtime: Runtime,
}

/// The health application.
pub fn router(state: HealthState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serves the health endpoints on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: HealthState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

fn agent_health(agent: &AgentHealth) -> serde_json::Value {
    let snapshot = agent.monitor.snapshot();
    let standby = agent.monitor.standby();
    json!({
        "status": if standby.is_some() { "standby" } else { "ok" },
        "waiting": standby.as_ref().map(|standby| json!({
            "reason": waiting_reason(standby),
            "holder": standby.holder,
            "until": standby.until,
        })),
        "agent": agent.agent,
        "role": agent.role,
        "busy": snapshot.busy,
        "blocked": snapshot.blocked,
        "queue": snapshot.queue_len,
        "workers": snapshot.workers,
        "handled": snapshot.handled,
        "sessions": snapshot.sessions,
    })
}

async fn healthz(State(state): State<HealthState>) -> Json<serde_json::Value> {
    match state.agents.as_slice() {
        [one] => Json(agent_health(one)),
        agents => Json(json!({
            "status": "ok",
            "agents": agents.iter().map(agent_health).collect::<Vec<_>>(),
        })),
    }
}

/// Why a daemon in standby does not serve, in words.
fn waiting_reason(standby: &Standby) -> String {
    match (&standby.holder, standby.until) {
        (Some(holder), Some(until)) => format!(
            "waiting for the agent's lease, held by {holder} until about {}",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        (Some(holder), None) => format!("waiting for the agent's lease, held by {holder}"),
        _ => "waiting for the agent's lease, held by another daemon".to_owned(),
    }
}

async fn readyz(State(state): State<HealthState>) -> Response {
    let store = state.runtime.store.ping().await;
    let bus = state.runtime.bus.ping().await;
    let mut problems = Vec::new();
    if let Err(err) = store {
        problems.push(format!("store: {err}"));
    }
    if let Err(err) = bus {
        problems.push(format!("bus: {err}"));
    }
    for agent in &state.agents {
        if let Some(standby) = agent.monitor.standby() {
            problems.push(format!("{}: {}", agent.role, waiting_reason(&standby)));
        }
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("; ")).into_response()
    }
}

/// Asks `url` (`http://host:port/path`) and succeeds when it answers `200`.
pub fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("expected an http:// URL, saw {url:?}"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let address = authority
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {authority:?}: {err}"))?
        .next()
        .ok_or_else(|| format!("{authority:?} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|err| format!("cannot connect to {address}: {err}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|err| format!("cannot set timeouts: {err}"))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|err| format!("cannot send the request: {err}"))?;
    let mut head = [0u8; 64];
    let read = stream
        .read(&mut head)
        .map_err(|err| format!("no answer from {address}: {err}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status_line = status_line.lines().next().unwrap_or_default().to_owned();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code == "200" {
        Ok(())
    } else {
        Err(format!("{url} answered {status_line:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aito_core::{
        AgentSpec, Budget, Company, MemoryBus, MemoryStore, MockWorkers, ReplayLlm, Settings,
    };

    async fn get_text(address: std::net::SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
            .await
            .expect("send");
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
            .await
            .expect("read");
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (code, body)
    }

    /// A daemon that starts while its predecessor's lease is live is not ready, and says
    /// whose lease it waits for and until when; once the lease lapses and it takes over, it is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readyz_is_503_while_the_daemon_waits_for_a_live_lease_and_200_once_it_holds_it() {
        let store = Arc::new(MemoryStore::new());
        let workspaces = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            lease_ttl: Duration::from_millis(900),
            ..Settings::default()
        };
        let company = Company::builder("acme")
            .agent(
                AgentSpec::new(Role::Cto)
                    .without_schedules()
                    .budget(Budget::unlimited()),
            )
            .bus(Arc::new(MemoryBus::new()))
            .store(Arc::clone(&store) as Arc<dyn aito_core::store::StateStore>)
            .llm(Arc::new(ReplayLlm::from_texts(Vec::<String>::new())))
            .workers(Arc::new(MockWorkers::new()))
            .settings(settings)
            .workspace_root(workspaces.path())
            .build()
            .expect("company");
        let daemon = company.daemon(&Role::Cto).expect("daemon");
        // The predecessor, killed without releasing: its lease runs out on its own.
        let lease = format!("agent:{}", daemon.id());
        assert!(
            aito_core::store::StateStore::acquire_lease(
                &*store,
                &lease,
                "dead-predecessor",
                Duration::from_secs(3)
            )
            .await
            .expect("lease")
            .is_some()
        );
        let state = HealthState {
            agents: vec![AgentHealth {
                agent: daemon.id(),
                role: daemon.spec().role.clone(),
                monitor: daemon.monitor(),
            }],
            runtime: company.runtime().clone(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, state, stop.clone()));
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(daemon.run(shutdown.clone()));

        let started = tokio::time::Instant::now();
        let mut seen_standby = false;
        let mut ready_after = None;
        while started.elapsed() < Duration::from_secs(10) {
            let (code, body) = get_text(address, "/readyz").await;
            if code == 200 {
                ready_after = Some(started.elapsed());
                break;
            }
            assert_eq!(code, 503, "{body}");
            if body.contains("dead-predecessor") {
                let (health, health_body) = get_text(address, "/healthz").await;
                assert_eq!(health, 200);
                let health: serde_json::Value = serde_json::from_str(&health_body).expect("json");
                assert_eq!(health["status"], "standby", "{health}");
                assert_eq!(health["waiting"]["holder"], "dead-predecessor", "{health}");
                assert!(
                    health["waiting"]["until"].is_string()
                        && health["waiting"]["reason"]
                            .as_str()
                            .is_some_and(|reason| reason.contains("until about")),
                    "{health}"
                );
                seen_standby = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(seen_standby, "/readyz never named the lease's holder");
        let ready_after = ready_after.expect("ready once the lease lapsed");
        assert!(
            ready_after >= Duration::from_secs(2),
            "ready after {ready_after:?}, before the predecessor's lease lapsed"
        );
        let (_, health_body) = get_text(address, "/healthz").await;
        let health: serde_json::Value = serde_json::from_str(&health_body).expect("json");
        assert_eq!(health["status"], "ok", "{health}");
        assert!(health["waiting"].is_null(), "{health}");

        shutdown.cancel();
        running.await.expect("daemon");
        stop.cancel();
        server.await.expect("join").expect("serve");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_probe_passes_on_200_and_fails_on_anything_else() {
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let token = CancellationToken::new();
        let stop = token.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        let timeout = Duration::from_secs(3);
        let ok = format!("http://{address}/healthz");
        let down = format!("http://{address}/down");
        let results =
            tokio::task::spawn_blocking(move || (probe(&ok, timeout), probe(&down, timeout)))
                .await
                .expect("probe");
        assert_eq!(results.0, Ok(()));
        assert!(results.1.is_err_and(|err| err.contains("503")));
        token.cancel();
        server.await.expect("join").expect("serve");
        assert!(probe("https://x", timeout).is_err());
    }
}
