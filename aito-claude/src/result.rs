//! The CLI's result object (`{"type": "result", ...}`): finding it in the output, reading it
//! leniently, and deciding what it means.
//!
//! Classification follows the reference: on `is_error`, `api_error_status`, `terminal_reason`
//! and the text, never on `subtype` alone (API failures arrive as `subtype: "success"` with
//! `is_error: true`).

use std::time::Duration;

use aito_core::TokenUsage;
use aito_core::envelope::preview;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::ClaudeError;
use crate::limit::{self, Failure};
use crate::process::Exit;

/// The fields of a result object that aito uses. Unknown fields are ignored; fields of an
/// unexpected type read as absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CliResult {
    /// `subtype`: `success`, `error_max_turns`, `error_during_execution`, ...
    pub(crate) subtype: Option<String>,
    /// `is_error`.
    pub(crate) is_error: bool,
    /// `result`: the final text.
    pub(crate) result: Option<String>,
    /// `errors`: messages of the error subtypes.
    pub(crate) errors: Vec<String>,
    /// `session_id`.
    pub(crate) session_id: Option<String>,
    /// `total_cost_usd`.
    pub(crate) cost_usd: f64,
    /// `usage`, cache reads and writes counted as input.
    pub(crate) usage: TokenUsage,
    /// `num_turns`.
    pub(crate) num_turns: u32,
    /// `duration_ms`.
    pub(crate) duration: Option<Duration>,
    /// `api_error_status`: the HTTP status of a failed API call.
    pub(crate) api_error_status: Option<u64>,
    /// `terminal_reason`: `completed`, `api_error`, `blocking_limit`, `prompt_too_long`, ...
    pub(crate) terminal_reason: Option<String>,
    /// `permission_denials`: tool calls the CLI refused (the run still ends `success`).
    pub(crate) denials: Vec<Denial>,
}

/// A tool call the CLI refused, from `permission_denials`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Denial {
    /// `tool_name`: `mcp__server__tool`, `Read`, ...
    pub(crate) tool: String,
    /// `tool_input`, as JSON.
    pub(crate) input: String,
}

/// An MCP server as the init event reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerStatus {
    /// Its name.
    pub(crate) name: String,
    /// `connected`, `failed`, `needs-auth`, `pending`, ...
    pub(crate) status: String,
}

impl ServerStatus {
    /// Whether the server could not be used: it failed to start or needs a login.
    pub(crate) fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "needs-auth")
    }
}

/// What the stream said besides the result: reset and retry hints for rate limits, and the
/// state of the MCP servers.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Hints {
    /// `rate_limit_event.rate_limit_info.resetsAt` of a rejected request.
    pub(crate) resets_at: Option<DateTime<Utc>>,
    /// The last `system/api_retry` event's `retry_delay_ms`.
    pub(crate) retry_after: Option<Duration>,
    /// `mcp_servers` of the last `system/init` event.
    pub(crate) servers: Vec<ServerStatus>,
}

/// A number of milliseconds in any JSON form (`576`, `576.23`, `"576.23"`), when it is one.
pub(crate) fn millis(value: &Value) -> Option<Duration> {
    let ms = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // Anything past a year is not a retry hint.
    (ms.is_finite() && (0.0..=3.2e10).contains(&ms)).then(|| Duration::from_secs_f64(ms / 1000.0))
}

impl Hints {
    /// Takes what a stream-json event says about limits.
    pub(crate) fn observe(&mut self, event: &Value) {
        match (event["type"].as_str(), event["subtype"].as_str()) {
            (Some("rate_limit_event"), _) => {
                let info = &event["rate_limit_info"];
                if info["status"].as_str() == Some("rejected")
                    && let Some(at) = limit::epoch_time(&info["resetsAt"])
                {
                    self.resets_at = Some(at);
                }
            }
            (Some("system"), Some("api_retry")) => {
                if let Some(delay) = millis(&event["retry_delay_ms"]) {
                    self.retry_after = Some(delay);
                }
            }
            (Some("system"), Some("init")) => {
                if let Some(servers) = event["mcp_servers"].as_array() {
                    self.servers = servers
                        .iter()
                        .filter_map(|server| {
                            Some(ServerStatus {
                                name: server["name"].as_str()?.to_owned(),
                                status: server["status"].as_str().unwrap_or("unknown").to_owned(),
                            })
                        })
                        .collect();
                }
            }
            _ => {}
        }
    }
}

fn count(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

impl CliResult {
    /// Reads a result object; `None` when `value` is not one.
    pub(crate) fn from_value(value: &Value) -> Option<Self> {
        if value.get("type")?.as_str()? != "result" {
            return None;
        }
        let usage = &value["usage"];
        let errors = match &value["errors"] {
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Self {
            subtype: value["subtype"].as_str().map(str::to_owned),
            is_error: value["is_error"].as_bool().unwrap_or(false),
            result: value["result"].as_str().map(str::to_owned),
            errors,
            session_id: value["session_id"].as_str().map(str::to_owned),
            cost_usd: value["total_cost_usd"].as_f64().unwrap_or(0.0),
            usage: TokenUsage {
                input_tokens: count(&usage["input_tokens"])
                    + count(&usage["cache_creation_input_tokens"])
                    + count(&usage["cache_read_input_tokens"]),
                output_tokens: count(&usage["output_tokens"]),
            },
            num_turns: value["num_turns"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            duration: value["duration_ms"].as_u64().map(Duration::from_millis),
            api_error_status: value["api_error_status"]
                .as_u64()
                .or_else(|| value["api_error_status"].as_str()?.parse().ok()),
            terminal_reason: value["terminal_reason"].as_str().map(str::to_owned),
            denials: value["permission_denials"]
                .as_array()
                .map(|denials| {
                    denials
                        .iter()
                        .map(|denial| Denial {
                            tool: denial["tool_name"].as_str().unwrap_or("a tool").to_owned(),
                            input: match &denial["tool_input"] {
                                Value::Null => String::new(),
                                input => input.to_string(),
                            },
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Whether the run failed: `is_error`, an error subtype, or an API error status.
    pub(crate) fn failed(&self) -> bool {
        self.is_error
            || self
                .subtype
                .as_deref()
                .is_some_and(|subtype| subtype.starts_with("error"))
            || self.api_error_status.is_some()
    }

    /// The failure text: `result`, else the `errors`, else the subtype.
    fn message(&self) -> String {
        match &self.result {
            Some(text) if !text.trim().is_empty() => text.trim().to_owned(),
            _ if !self.errors.is_empty() => self.errors.join("; "),
            _ => self
                .subtype
                .clone()
                .unwrap_or_else(|| "an error result without a message".to_owned()),
        }
    }

    /// The final text, or the failure classified.
    pub(crate) fn outcome(&self, now: DateTime<Utc>, hints: &Hints) -> Result<String, ClaudeError> {
        let text = self.result.clone().unwrap_or_default();
        if !self.failed() {
            // Old builds printed the usage-limit notice as an ordinary result.
            if text.len() < 200 && limit::is_epoch_notice(&text) {
                return Err(rate_limited(
                    Failure::Quota {
                        resets_at: limit::reset_time(&text, now),
                    },
                    text.trim().to_owned(),
                    now,
                    hints,
                ));
            }
            return Ok(text);
        }
        let message = self.message();
        let reason = self.terminal_reason.as_deref();
        if matches!(reason, Some("blocking_limit" | "prompt_too_long"))
            && self.api_error_status != Some(429)
        {
            // The context is full: not a quota, and waiting will not help.
            return Err(ClaudeError::ErrorResult {
                kind: reason.unwrap_or_default().to_owned(),
                message,
            });
        }
        match limit::classify(self.api_error_status, &message, now) {
            Some(Failure::Auth) => Err(ClaudeError::Auth(message)),
            Some(failure) => Err(rate_limited(failure, message, now, hints)),
            None => Err(ClaudeError::ErrorResult {
                kind: match (self.api_error_status, self.subtype.as_deref()) {
                    (Some(status), _) => format!("API error {status}"),
                    (None, Some(subtype)) => subtype.to_owned(),
                    (None, None) => "error".to_owned(),
                },
                message,
            }),
        }
    }
}

fn rate_limited(
    failure: Failure,
    message: String,
    now: DateTime<Utc>,
    hints: &Hints,
) -> ClaudeError {
    match failure {
        Failure::Quota { resets_at } => {
            let resets_at = resets_at.or(hints.resets_at);
            ClaudeError::RateLimited {
                quota: true,
                resets_at,
                retry_after: resets_at.map(|at| limit::until(at, now)),
                message,
            }
        }
        Failure::Transient { retry_after } => ClaudeError::RateLimited {
            quota: false,
            resets_at: None,
            retry_after: retry_after.or(hints.retry_after),
            message,
        },
        Failure::Auth => ClaudeError::Auth(message),
        Failure::Unavailable { status } => ClaudeError::Unavailable { status, message },
    }
}

/// What the JSON lines of `--output-format stream-json` output say besides the result.
pub(crate) fn stream_hints(stdout: &[u8]) -> Hints {
    let mut hints = Hints::default();
    for line in stdout.split(|&byte| byte == b'\n') {
        let line = line.trim_ascii();
        if line.first() == Some(&b'{')
            && let Ok(event) = serde_json::from_slice::<Value>(line)
        {
            hints.observe(&event);
        }
    }
    hints
}

/// Finds the result object in `--output-format json` or `stream-json` output: the whole
/// output, else (for an array of messages, a stream of events, or a warning printed before
/// it) the last result object in it.
pub(crate) fn find_in_json_output(stdout: &[u8]) -> Result<CliResult, ClaudeError> {
    let text = String::from_utf8_lossy(stdout);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ClaudeError::Unreadable {
            reason: "expected a JSON result object on stdout, got nothing".to_owned(),
            preview: String::new(),
        });
    }
    let whole = serde_json::from_str::<Value>(trimmed);
    if let Ok(value) = &whole {
        if let Some(result) = CliResult::from_value(value) {
            return Ok(result);
        }
        if let Some(result) = value
            .as_array()
            .and_then(|items| items.iter().rev().find_map(CliResult::from_value))
        {
            return Ok(result);
        }
    }
    if let Some(result) = trimmed.lines().rev().find_map(|line| {
        let line = line.trim();
        if !line.starts_with('{') {
            return None;
        }
        CliResult::from_value(&serde_json::from_str(line).ok()?)
    }) {
        return Ok(result);
    }
    let reason = match whole {
        Ok(_) => {
            "expected a JSON object with \"type\": \"result\", got JSON without one".to_owned()
        }
        Err(error) => format!("expected a JSON result object, got text that is not JSON ({error})"),
    };
    // In a stream of events, show where it stopped being one.
    let from = trimmed
        .lines()
        .position(|line| serde_json::from_str::<Value>(line.trim()).is_err())
        .filter(|first| *first > 0)
        .and_then(|first| trimmed.lines().nth(first))
        .and_then(|line| trimmed.find(line))
        .unwrap_or(0);
    Err(ClaudeError::Unreadable {
        reason,
        preview: preview(&trimmed[from..], 200),
    })
}

/// What a run that produced no result object means: a non-zero exit is a process failure
/// (unless its text names a rate limit or an auth failure); a clean exit is `unreadable`.
pub(crate) fn without_result(
    exit: &Exit,
    unreadable: ClaudeError,
    now: DateTime<Utc>,
) -> ClaudeError {
    if exit.status.success() {
        return unreadable;
    }
    let stdout = String::from_utf8_lossy(&exit.stdout[..exit.stdout.len().min(4096)]);
    let text = format!("{}\n{}", exit.stderr_tail, stdout.trim());
    match limit::classify(None, &text, now) {
        Some(Failure::Auth) => ClaudeError::Auth(text.trim().to_owned()),
        Some(failure) => rate_limited(failure, text.trim().to_owned(), now, &Hints::default()),
        None => ClaudeError::Exit {
            code: exit.status.code(),
            stderr_tail: exit.stderr_tail.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-24T10:00:00Z".parse().unwrap()
    }

    fn read(value: Value) -> CliResult {
        CliResult::from_value(&value).unwrap()
    }

    #[test]
    fn reads_a_success_with_cost_usage_and_turns() {
        let result = find_in_json_output(
            br#"{"type":"result","subtype":"success","is_error":false,"duration_ms":3952,
            "num_turns":2,"result":"final text","session_id":"s-1","total_cost_usd":0.10457895,
            "usage":{"input_tokens":2,"cache_creation_input_tokens":7924,"cache_read_input_tokens":13368,
            "output_tokens":9,"server_tool_use":{"web_search_requests":0}},"api_error_status":null,
            "some_new_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(result.session_id.as_deref(), Some("s-1"));
        assert_eq!(result.cost_usd, 0.10457895);
        assert_eq!(result.usage.input_tokens, 2 + 7924 + 13368);
        assert_eq!(result.usage.output_tokens, 9);
        assert_eq!(result.num_turns, 2);
        assert_eq!(result.duration, Some(Duration::from_millis(3952)));
        assert!(!result.failed());
        assert_eq!(
            result.outcome(now(), &Hints::default()).unwrap(),
            "final text"
        );
    }

    #[test]
    fn finds_the_result_after_a_warning_or_in_an_array() {
        let out =
            b"Warning: something\n{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"x\"}\n";
        assert_eq!(
            find_in_json_output(out).unwrap().result.as_deref(),
            Some("x")
        );
        let out = br#"[{"type":"system"},{"type":"result","result":"y"}]"#;
        assert_eq!(
            find_in_json_output(out).unwrap().result.as_deref(),
            Some("y")
        );
    }

    #[test]
    fn other_output_is_unreadable_with_a_preview() {
        for out in [
            &b"<html>oops</html>"[..],
            b"{\"type\":\"assistant\"}",
            b"",
            b"{\"type\":\"res",
        ] {
            match find_in_json_output(out) {
                Err(ClaudeError::Unreadable { reason, preview }) => {
                    assert!(reason.starts_with("expected"), "{reason}");
                    assert_eq!(preview, String::from_utf8_lossy(out).trim());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn an_api_error_with_subtype_success_is_still_an_error() {
        let result = read(json!({"type":"result","subtype":"success","is_error":true,
            "api_error_status":401,"terminal_reason":"api_error",
            "result":"Failed to authenticate. API Error: 401 Invalid bearer token"}));
        assert!(
            matches!(result.outcome(now(), &Hints::default()), Err(ClaudeError::Auth(m)) if m.contains("401"))
        );
    }

    #[test]
    fn max_turns_and_context_overflow_are_not_rate_limits() {
        let turns = read(
            json!({"type":"result","subtype":"error_max_turns","is_error":false,
            "errors":["Reached maximum number of turns (1)"]}),
        );
        assert!(matches!(
            turns.outcome(now(), &Hints::default()),
            Err(ClaudeError::ErrorResult { kind, message }) if kind == "error_max_turns" && message.contains("maximum")
        ));
        let full = read(json!({"type":"result","subtype":"success","is_error":true,
            "terminal_reason":"blocking_limit","result":"Context limit reached"}));
        assert!(matches!(
            full.outcome(now(), &Hints::default()),
            Err(ClaudeError::ErrorResult { kind, .. }) if kind == "blocking_limit"
        ));
    }

    #[test]
    fn a_success_that_mentions_limits_is_a_success() {
        let result = read(json!({"type":"result","subtype":"success","is_error":false,
            "result":"We hit your usage limit analysis: rate limits are fine."}));
        assert!(result.outcome(now(), &Hints::default()).is_ok());
    }

    #[test]
    fn stream_hints_fill_in_reset_and_retry_times() {
        let mut hints = Hints::default();
        hints.observe(&json!({"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1764000000}}));
        hints.observe(&json!({"type":"system","subtype":"api_retry","retry_delay_ms":1500.75}));
        let quota = read(
            json!({"type":"result","is_error":true,"api_error_status":429,
            "result":"You've hit your weekly limit"}),
        );
        match quota.outcome(now(), &hints) {
            Err(ClaudeError::RateLimited {
                quota: true,
                resets_at,
                ..
            }) => {
                assert_eq!(resets_at, limit::epoch_time(&json!(1764000000)));
            }
            other => panic!("{other:?}"),
        }
        let busy = read(
            json!({"type":"result","is_error":true,"api_error_status":529,
            "result":"API Error: 529 Overloaded"}),
        );
        assert!(matches!(
            busy.outcome(now(), &hints),
            Err(ClaudeError::RateLimited { quota: false, retry_after: Some(d), .. }) if d == Duration::from_micros(1_500_750)
        ));
    }

    #[test]
    fn retry_delays_are_read_in_any_numeric_form() {
        assert_eq!(millis(&json!(1000)), Some(Duration::from_secs(1)));
        assert_eq!(millis(&json!(576.23)), Some(Duration::from_micros(576_230)));
        assert_eq!(
            millis(&json!("1205.97")),
            Some(Duration::from_micros(1_205_970))
        );
        assert_eq!(millis(&json!(-1)), None);
        assert_eq!(millis(&json!("soon")), None);
        assert_eq!(millis(&Value::Null), None);
    }

    #[test]
    fn server_errors_and_lost_connections_are_unavailable() {
        let down = read(json!({"type":"result","subtype":"success","is_error":true,
            "api_error_status":500,"terminal_reason":"api_error",
            "result":"API Error: 500 Internal server error. This is a server-side issue, usually temporary — try again in a moment."}));
        assert!(matches!(
            down.outcome(now(), &Hints::default()),
            Err(ClaudeError::Unavailable {
                status: Some(500),
                ..
            })
        ));
        let refused = read(json!({"type":"result","subtype":"success","is_error":true,
            "api_error_status":null,"result":"API Error: Unable to connect to API (ConnectionRefused)"}));
        assert!(matches!(
            refused.outcome(now(), &Hints::default()),
            Err(ClaudeError::Unavailable { status: None, .. })
        ));
    }

    #[test]
    fn reads_refused_tool_calls_and_server_states() {
        let result = read(
            json!({"type":"result","subtype":"success","is_error":false,"result":"done",
            "permission_denials":[{"tool_name":"mcp__echo__echo","tool_use_id":"t1","tool_input":{"text":"hi"}}]}),
        );
        assert_eq!(
            result.denials,
            [Denial {
                tool: "mcp__echo__echo".into(),
                input: r#"{"text":"hi"}"#.into()
            }]
        );
        let mut hints = Hints::default();
        hints.observe(&json!({"type":"system","subtype":"init","mcp_servers":[
            {"name":"echo","status":"connected"},{"name":"broken","status":"failed"}]}));
        assert_eq!(hints.servers.len(), 2);
        assert!(!hints.servers[0].failed());
        assert!(hints.servers[1].failed());
    }
}
