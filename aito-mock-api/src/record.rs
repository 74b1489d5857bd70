//! [`Recorded`]: one request the server received, kept whole.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::Value;

/// Which API a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Api {
    /// The Anthropic Messages API (`POST /v1/messages`).
    Anthropic,
    /// The OpenAI-compatible Chat Completions API (`POST /v1/chat/completions`).
    OpenAi,
}

/// Where a request was headed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A model call of this API; answered from the script.
    Api(Api),
    /// Another path of this server (`HEAD /` connectivity checks, unknown paths); answered 404.
    Other,
    /// Another host, reached through this server as a proxy (a `CONNECT`, or a request with an
    /// absolute URL naming another host): the client tried to leave the machine. Refused.
    Foreign(String),
}

/// One request, as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Its position among all requests the server received, from 0.
    pub seq: usize,
    /// When it arrived, measured from the server's start.
    pub at: Duration,
    /// Where it was headed.
    pub target: Target,
    /// The method (`POST`, `HEAD`, ...).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without the `?`.
    pub query: Option<String>,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: Bytes,
    pub(crate) received: Instant,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The size of the body in bytes: what the client sent on the wire for this call.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    /// Whether it was a model call of `api`.
    pub fn is_api(&self, api: Api) -> bool {
        self.target == Target::Api(api)
    }

    /// The time between `earlier` and this request.
    pub fn since(&self, earlier: &Recorded) -> Duration {
        self.received.saturating_duration_since(earlier.received)
    }
}
