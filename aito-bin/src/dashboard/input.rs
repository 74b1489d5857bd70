//! Request bodies: JSON read within the body limit, with a 400 that says what was wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest body of an ordinary write request (messages, decisions, pause), in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Largest body of a webhook call, in bytes: the bus's envelope cap
/// ([`MAX_ENVELOPE_BYTES`](aito_core::envelope::MAX_ENVELOPE_BYTES)), within which the webhook
/// envelope is also kept.
pub const WEBHOOK_BODY_LIMIT: usize = aito_core::envelope::MAX_ENVELOPE_BYTES;

/// A JSON request body. Unlike axum's `Json`, the content type is not required (so `curl -d`
/// works), and every unreadable body is a 400 whose reason names what was expected and where
/// the text went wrong; a body over the limit is a 413.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body; an empty body reads as `null`, so that optional bodies can be
/// declared as `Option<T>`.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Message {
        #[allow(dead_code)]
        to: String,
    }

    #[test]
    fn reasons_say_what_was_wrong() {
        let err = parse::<Message>(br#"{"to": 3}"#).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(err.reason.contains("expected a string"), "{}", err.reason);
        let err = parse::<Message>(b"{\"to\": ").unwrap_err();
        assert!(err.reason.contains("line 1"), "{}", err.reason);
        let err = parse::<Message>(b"").unwrap_err();
        assert!(err.reason.contains("null"), "{}", err.reason);
        assert!(parse::<Option<Message>>(b"  ").unwrap().is_none());
    }
}
