//! [`McpHttpServer`]: an MCP server over the streamable-HTTP transport, on a free port of
//! 127.0.0.1, with scripted tools, recording every request.
//!
//! It speaks the transport's plain-JSON form: each JSON-RPC request `POST`ed to `/mcp` gets its
//! response as `application/json`; notifications and responses get `202 Accepted`; `GET` (the
//! optional stream from server to client) is `405 Method Not Allowed`, as the specification
//! lets a server answer; `DELETE` ends the session. The `initialize` response carries an
//! `Mcp-Session-Id`, and every later request must send it back (else `400`).
//!
//! ```no_run
//! use aito_mock_api::McpHttpServer;
//!
//! let server = McpHttpServer::start().expect("a free port");
//! server.tool("search", "found: {arguments}");
//! // ... point an MCP client at server.url() ...
//! assert_eq!(server.calls().len(), 1);
//! ```

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The session header of the transport.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The session id this server hands out.
const SESSION: &str = "aito-mock-mcp-session";

/// The largest request body the server reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request the server received.
#[derive(Clone, Debug)]
pub struct McpRequest {
    /// The HTTP method.
    pub method: String,
    /// The request's headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON-RPC message (`Value::Null` for a request without a body).
    pub message: Value,
}

impl McpRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The JSON-RPC method (`initialize`, `tools/list`, `tools/call`, ...), if any.
    pub fn rpc_method(&self) -> Option<&str> {
        self.message["method"].as_str()
    }
}

#[derive(Default)]
struct Inner {
    /// Tool name and reply (`{arguments}` replaced by the call's arguments as JSON).
    tools: Mutex<Vec<(String, String)>>,
    requests: Mutex<Vec<McpRequest>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A local MCP server over streamable HTTP (see the module docs). Dropping it stops it.
pub struct McpHttpServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: CancellationToken,
}

impl std::fmt::Debug for McpHttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHttpServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl McpHttpServer {
    /// Starts a server with no tool on a free port of 127.0.0.1, on a thread of its own.
    pub fn start() -> std::io::Result<Self> {
        let listener = StdListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let stop = CancellationToken::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (state, until) = (Arc::clone(&inner), stop.clone());
        std::thread::Builder::new()
            .name(format!("aito-mock-mcp-{}", addr.port()))
            .spawn(move || {
                let app = Router::new().fallback(handle).with_state(state);
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!(%error, "aito-mock-api: the MCP server cannot listen");
                            return;
                        }
                    };
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(until.cancelled_owned())
                        .await;
                    if let Err(error) = served {
                        tracing::error!(%error, "aito-mock-api: the MCP server failed");
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Self { inner, addr, stop })
    }

    /// Adds tool `name`, answering `reply` (`{arguments}` in it replaced by the call's
    /// arguments as JSON).
    pub fn tool(&self, name: impl Into<String>, reply: impl Into<String>) -> &Self {
        lock(&self.inner.tools).push((name.into(), reply.into()));
        self
    }

    /// The endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<McpRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The `tools/call` requests so far: their `params` (`name`, `arguments`).
    pub fn calls(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|request| request.rpc_method() == Some("tools/call"))
            .map(|request| request.message["params"].clone())
            .collect()
    }
}

impl Drop for McpHttpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn headers_of(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let method = request.method().clone();
    let headers = request.headers().clone();
    let body = match to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&inner.requests).push(McpRequest {
        method: method.to_string(),
        headers: headers_of(&headers),
        message: message.clone(),
    });
    let session = headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok());
    match method {
        Method::GET => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
        Method::DELETE => return StatusCode::OK.into_response(),
        Method::POST => {}
        _ => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
    let initialize = message["method"] == "initialize";
    if !initialize && session != Some(SESSION) {
        return (StatusCode::BAD_REQUEST, "no or unknown session").into_response();
    }
    let Some(id) = message.get("id").cloned() else {
        // A notification, or a response to the server: nothing to answer.
        return StatusCode::ACCEPTED.into_response();
    };
    if message.get("method").is_none() {
        return StatusCode::ACCEPTED.into_response();
    }
    let tools = lock(&inner.tools).clone();
    let reply = answer(&tools, &message, id);
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json");
    if initialize {
        response = response.header(SESSION_HEADER, SESSION);
    }
    response
        .body(Body::from(reply.to_string()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn answer(tools: &[(String, String)], message: &Value, id: Value) -> Value {
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"].as_str().unwrap_or("2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "aito-mock-mcp", "version": env!("CARGO_PKG_VERSION")},
        }),
        "tools/list" => json!({"tools": tools.iter().map(|(name, _)| json!({
            "name": name,
            "description": "A scripted tool of the tests: answers with a fixed text.",
            "inputSchema": {"type": "object", "additionalProperties": true},
        })).collect::<Vec<_>>()}),
        "tools/call" => {
            let name = message["params"]["name"].as_str().unwrap_or_default();
            match tools.iter().find(|(tool, _)| tool == name) {
                Some((_, reply)) => {
                    let arguments = message["params"]["arguments"].to_string();
                    json!({"content": [{"type": "text", "text": reply.replace("{arguments}", &arguments)}]})
                }
                None => {
                    return json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32602, "message": format!("unknown tool {name}")}});
                }
            }
        }
        "ping" => json!({}),
        _ => {
            return json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "method not found"}});
        }
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}
