//! Who may read and who may write.
//!
//! - **Writes** (every `POST` under `/api/`) need `Authorization: Bearer <token>` with the
//!   configured token, compared in constant time. With no token configured every write is
//!   refused (403) and the pages say how to set one.
//! - **Reads** (pages, `GET /api/...`, `/metrics`) are open to clients on the loopback
//!   interface. Other clients need the token, as a bearer header or as the `aito_token`
//!   cookie that `POST /login` sets (so a browser on another host can read the pages and the
//!   live log stream). With no token configured, reads from other hosts are refused.
//! - `/healthz`, `/readyz`, `/login` and `/assets/` are open to everyone.
//!
//! The token is never logged, and never written into a page.

use std::net::SocketAddr;

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::DashboardState;
use super::error::ApiError;

/// The cookie that carries the token for reads from other hosts.
pub(crate) const COOKIE: &str = "aito_token";

/// How to configure a token, for messages and pages.
pub const HOW_TO_SET_A_TOKEN: &str = "set the AITO_DASHBOARD_TOKEN environment variable to a long random secret (for example `openssl rand -hex 32`) and restart aito";

/// Whether `given` is the configured token. Constant-time in the contents; the length of the
/// configured token is the only thing a timing attacker could learn.
pub(crate) fn token_matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The bearer token of a request, if it sent one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The token cookie of a request, if it sent one.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether the request came over the loopback interface. A request without a known peer
/// (served without connection info) is treated as remote. Tests set the peer with axum's
/// `MockConnectInfo`.
pub(crate) fn from_loopback(request: &Request) -> bool {
    let extensions = request.extensions();
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer)
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(peer)| *peer)
        });
    peer.is_some_and(|peer| peer.ip().to_canonical().is_loopback())
}

/// Middleware of the write endpoints: the bearer token or nothing.
pub(crate) async fn require_token(
    State(state): State<DashboardState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return ApiError::forbidden(format!(
            "writes are disabled because no dashboard token is configured: {HOW_TO_SET_A_TOKEN}"
        ))
        .into_response();
    };
    match bearer(request.headers()) {
        Some(given) if token_matches(expected, given) => next.run(request).await,
        Some(_) => {
            tracing::warn!(method = %request.method(), path = request.uri().path(), "write refused: wrong token");
            ApiError::unauthorized("the bearer token is wrong").into_response()
        }
        None => ApiError::unauthorized(
            "this endpoint needs the dashboard token: send `Authorization: Bearer <token>`",
        )
        .into_response(),
    }
}

/// Middleware of the read endpoints: open on loopback, the token (header or cookie) elsewhere.
pub(crate) async fn require_reader(
    State(state): State<DashboardState>,
    request: Request,
    next: Next,
) -> Response {
    if from_loopback(&request) {
        return next.run(request).await;
    }
    let Some(expected) = state.token.as_deref() else {
        return refuse_reader(
            &request,
            ApiError::forbidden(format!(
                "the dashboard is readable only from this machine because no token is configured: {HOW_TO_SET_A_TOKEN}"
            )),
        );
    };
    let headers = request.headers();
    let given = bearer(headers).or_else(|| cookie(headers));
    match given {
        Some(given) if token_matches(expected, given) => next.run(request).await,
        _ => refuse_reader(
            &request,
            ApiError::unauthorized(
                "reading the dashboard from another host needs the token: log in at /login or send `Authorization: Bearer <token>`",
            ),
        ),
    }
}

/// Browsers asking for a page go to the login page; everything else gets the JSON error.
fn refuse_reader(request: &Request, error: ApiError) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && error.status == axum::http::StatusCode::UNAUTHORIZED {
        return axum::response::Redirect::to("/login").into_response();
    }
    error.into_response()
}

/// The `Set-Cookie` value that stores `token` for reads from other hosts.
pub(crate) fn login_cookie(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400"
    ))
    .ok()
}

/// Headers on every response: a strict Content-Security-Policy (no inline script or style,
/// nothing from other origins), no sniffing, no framing, no referrer, no caching.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content_and_length() {
        assert!(token_matches("s3cret-token", "s3cret-token"));
        assert!(!token_matches("s3cret-token", "s3cret-tokem"));
        assert!(!token_matches("s3cret-token", "s3cret"));
        assert!(!token_matches("s3cret-token", ""));
    }

    #[test]
    fn bearer_and_cookie_are_read_leniently() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; aito_token=xyz; other=1"),
        );
        assert_eq!(cookie(&headers), Some("xyz"));
    }
}
