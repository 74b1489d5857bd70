//! Health of the daemons of `aito agent`: `GET /healthz` answers while the process runs, with
//! what each daemon is doing (one agent: its fields at the top level; several: an `agents`
//! list); `GET /readyz` checks that the store and the bus answer.
//! [`probe`] is the client side, for container health checks (`aito health URL`) in images
//! that have no curl.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use aito_core::daemon::Monitor;
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
    json!({
        "status": "ok",
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
