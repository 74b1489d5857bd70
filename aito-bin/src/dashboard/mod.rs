//! The dashboard: watch and govern the company from a browser, and the health endpoints that
//! containers and load balancers probe.
//!
//! [`router`] builds the whole application for a [`DashboardState`]; [`serve`] runs it on a
//! listener until the shutdown token is cancelled.

use std::sync::Arc;

use aito_core::Runtime;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the dashboard reads from and acts on.
#[derive(Clone)]
pub struct DashboardState {
    /// The company's adapters, directory, decision engine and clock. In `aito run` it is the
    /// running company's; `aito dashboard` builds one without starting any daemon.
    pub runtime: Runtime,
    /// The bearer token that write endpoints require; `None` refuses every write.
    pub token: Option<Arc<str>>,
}

impl std::fmt::Debug for DashboardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardState")
            .field("company", &self.runtime.company)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The dashboard application.
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serves the dashboard on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: DashboardState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use aito_core::{AgentSpec, Company, MockWorkers, ReplayLlm, Role};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn state() -> DashboardState {
        let company = Company::builder("test")
            .agent(AgentSpec::new(Role::Ceo))
            .embedded()
            .llm(Arc::new(ReplayLlm::from_texts(Vec::<String>::new())))
            .workers(Arc::new(MockWorkers::new()))
            .build()
            .expect("company");
        DashboardState {
            runtime: company.runtime().clone(),
            token: None,
        }
    }

    #[tokio::test]
    async fn health_and_readiness_answer() {
        for path in ["/healthz", "/readyz"] {
            let response = router(state())
                .oneshot(Request::get(path).body(Body::empty()).expect("request"))
                .await
                .expect("response");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
    }
}
