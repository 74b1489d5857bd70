//! Errors: what a request gets back when it cannot be served, and what can go wrong while
//! configuring the dashboard.

use aito_core::decision_engine::DecisionError;
use aito_core::{BusError, StoreError};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A request that could not be served: an HTTP status and a reason, answered as
/// `{"error": "<reason>"}`.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {reason}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the caller.
    pub reason: String,
}

impl ApiError {
    /// An error with `status` and `reason`.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    /// 404: no such thing.
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, reason)
    }

    /// 409: the thing exists but is not in a state that allows the request.
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, reason)
    }

    /// 401: a token is needed and was missing or wrong.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, reason)
    }

    /// 403: refused whatever the caller sends (no token is configured).
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason)
    }

    /// 503: a backend is unreachable; the request may succeed later.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, reason)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, reason = %self.reason, "request failed");
        }
        let mut response = (self.status, Json(json!({ "error": self.reason }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"aito\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(format!("not found: {what}")),
            other => ApiError::unavailable(format!("the store failed: {other}")),
        }
    }
}

impl From<BusError> for ApiError {
    fn from(err: BusError) -> Self {
        ApiError::unavailable(format!("the bus failed: {err}"))
    }
}

impl From<DecisionError> for ApiError {
    fn from(err: DecisionError) -> Self {
        match err {
            DecisionError::NotFound(_) => ApiError::not_found(err.to_string()),
            DecisionError::NotAllowed(reason) => ApiError::conflict(reason),
            DecisionError::Contended(_) => ApiError::conflict(err.to_string()),
            DecisionError::Store(store) => store.into(),
        }
    }
}

/// A dashboard setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The escalation webhook URL is not an absolute `http` or `https` URL.
    #[error("invalid escalation webhook URL: {0}")]
    WebhookUrl(String),
    /// The HTTPS client could not be set up.
    #[error("cannot set up the HTTPS client for the escalation webhook: {0}")]
    Tls(String),
}
