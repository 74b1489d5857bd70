//! The HTTP side shared by the backends: a rustls client, one call with retries that honour
//! `retry-after`, and a reader of server-sent events that notices a hung stream.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::ApiConfig;
use crate::error::ApiError;

/// The longest error body kept.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// A client for `config`: rustls with the ring provider and the system's roots, HTTP/1.1 and
/// HTTP/2, the configured connect timeout.
pub(crate) fn client(config: &ApiConfig) -> Result<reqwest::Client, ApiError> {
    // Already installed by another client of the process: that one serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .user_agent(concat!("aito-models/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| {
            ApiError::Config(format!(
                "{}: could not build the HTTP client: {error}",
                config.name
            ))
        })
}

/// The wait a response asks for: `retry-after-ms`, else `retry-after` in seconds or as an
/// HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let text = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// Reads an error answer: the API's error type and message from its JSON body (both the
/// Anthropic `{"error": {"type", "message"}}` and the OpenAI `{"error": {"message", "type",
/// "code"}}` shapes), else the body's text.
fn error_from(provider: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let body = &body[..body.len().min(MAX_ERROR_BODY)];
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let error = json.as_ref().map(|json| &json["error"]);
    let kind = error
        .and_then(|error| {
            error["type"]
                .as_str()
                .or_else(|| error["code"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "http_error".to_owned());
    let message = error
        .and_then(|error| error["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    ApiError::Status {
        provider: provider.to_owned(),
        status,
        kind,
        message,
        retry_after: retry_after(headers),
    }
}

fn connect_error(provider: &str, error: &reqwest::Error) -> ApiError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ApiError::Connect {
        provider: provider.to_owned(),
        message,
    }
}

/// Posts `body` to `url` until it gets a success, a failure retrying will not fix, or runs out
/// of retries or time. A retryable failure is retried after its `retry-after` when that is
/// within [`ApiConfig::max_retry_wait`] and the deadline (else returned at once, so that a
/// router can fall back), or after an exponential backoff when the API named no wait.
pub(crate) async fn post(
    client: &reqwest::Client,
    config: &ApiConfig,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    deadline: Instant,
    timeout: Duration,
) -> Result<reqwest::Response, ApiError> {
    let mut attempt = 0u32;
    loop {
        let left = crate::chat::remaining(deadline, timeout)?;
        let call = client
            .post(url)
            .headers(headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send();
        let error = match tokio::time::timeout(left.min(config.idle_timeout), call).await {
            Err(_) if left <= config.idle_timeout => return Err(ApiError::Timeout(timeout)),
            Err(_) => ApiError::Hung {
                provider: config.name.clone(),
                after: config.idle_timeout,
            },
            Ok(Err(error)) => connect_error(&config.name, &error),
            Ok(Ok(response)) if response.status().is_success() => return Ok(response),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = tokio::time::timeout(config.idle_timeout, response.bytes())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                error_from(&config.name, status, &headers, &body)
            }
        };
        if !error.is_retryable() || attempt >= config.retries {
            return Err(error);
        }
        let wait = match error.retry_after() {
            Some(wait) if wait > config.max_retry_wait => return Err(error),
            Some(wait) => wait,
            None => config.backoff.saturating_mul(2u32.saturating_pow(attempt)),
        };
        if Instant::now() + wait >= deadline {
            return Err(error);
        }
        attempt += 1;
        tracing::warn!(provider = %config.name, %error, attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "model call failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// One server-sent event: its `event:` name (empty when it had none) and its `data:` lines
/// joined.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) data: String,
}

/// Reads the events of `response` and hands each to `on_event` until it returns `false` or
/// the stream ends; a stream silent for longer than the idle timeout is a hang.
pub(crate) async fn read_events(
    response: reqwest::Response,
    config: &ApiConfig,
    deadline: Instant,
    timeout: Duration,
    mut on_event: impl FnMut(Event) -> Result<bool, ApiError>,
) -> Result<(), ApiError> {
    let mut stream = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut event = Event::default();
    loop {
        let left = crate::chat::remaining(deadline, timeout)?;
        let chunk = match tokio::time::timeout(left.min(config.idle_timeout), stream.next()).await {
            Err(_) if left <= config.idle_timeout => return Err(ApiError::Timeout(timeout)),
            Err(_) => {
                return Err(ApiError::Hung {
                    provider: config.name.clone(),
                    after: config.idle_timeout,
                });
            }
            Ok(None) => return Ok(()),
            Ok(Some(Err(error))) => return Err(connect_error(&config.name, &error)),
            Ok(Some(Ok(chunk))) => chunk,
        };
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if (!event.data.is_empty() || !event.name.is_empty())
                    && !on_event(std::mem::take(&mut event))?
                {
                    return Ok(());
                }
                continue;
            }
            if let Some(name) = line.strip_prefix("event:") {
                event.name = name.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
            }
        }
    }
}

/// The start of `text`, for error messages.
pub(crate) fn preview(text: &str) -> String {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn reads_retry_after_in_its_forms() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut dated = HeaderMap::new();
        let at = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc2822();
        dated.insert("retry-after", HeaderValue::from_str(&at).unwrap());
        let wait = retry_after(&dated).unwrap();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn reads_both_error_shapes() {
        let anthropic = error_from(
            "a",
            529,
            &HeaderMap::new(),
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert!(
            matches!(anthropic, ApiError::Status { ref kind, ref message, .. } if kind == "overloaded_error" && message == "Overloaded")
        );
        let openai = error_from(
            "o",
            429,
            &HeaderMap::new(),
            br#"{"error":{"message":"quota","type":null,"code":"insufficient_quota"}}"#,
        );
        assert!(
            matches!(openai, ApiError::Status { ref kind, .. } if kind == "insufficient_quota")
        );
        let plain = error_from("o", 502, &HeaderMap::new(), b"Bad Gateway");
        assert!(matches!(plain, ApiError::Status { ref message, .. } if message == "Bad Gateway"));
    }
}
