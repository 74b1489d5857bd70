//! What the fake prints: stream-json events, the result object in the shape of Claude Code
//! 2.1.332, ids and clocks.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The version the fake answers to `--version`, and names in its events.
pub(crate) const VERSION: &str = "2.1.332 (Claude Code)";

/// The model of a run that names none, as 2.1.332 picks it.
pub(crate) const DEFAULT_MODEL: &str = "claude-opus-5-5";

/// The model an alias stands for in 2.1.332.
pub(crate) fn model_name(alias: Option<&str>) -> String {
    match alias {
        None | Some("" | "default" | "opus") => DEFAULT_MODEL.to_owned(),
        Some("sonnet") => "claude-sonnet-5-5".to_owned(),
        Some("haiku") => "claude-haiku-4-5-20251001".to_owned(),
        Some("fable") => "claude-fable-5".to_owned(),
        Some(name) => name.to_owned(),
    }
}

/// Where output goes and how it is shaped.
pub(crate) struct Out {
    /// `--output-format stream-json`.
    pub(crate) stream: bool,
    /// `--output-format text`.
    pub(crate) text: bool,
    pub(crate) session_id: String,
    pub(crate) model: String,
}

impl Out {
    pub(crate) fn line(&self, value: &Value) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{value}");
        let _ = stdout.flush();
    }

    pub(crate) fn raw(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// A stream event with the session id and a uuid.
    pub(crate) fn event(&self, mut event: Value) {
        if self.stream {
            event["session_id"] = json!(self.session_id);
            event["uuid"] = json!(pseudo_uuid());
            self.line(&event);
        }
    }

    /// An `assistant` event with `content` (API content blocks).
    pub(crate) fn assistant_content(&self, id: &str, content: Value, stop_reason: Option<&str>) {
        self.event(json!({
            "type": "assistant",
            "message": {"id": id, "type": "message", "role": "assistant", "model": self.model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": null,
                "usage": {"input_tokens": 3, "output_tokens": 12}},
            "parent_tool_use_id": null, "request_id": format!("req_{}", pseudo_hex(24)),
        }));
    }

    /// An `assistant` event with one text block.
    pub(crate) fn assistant(&self, text: &str) {
        self.assistant_content(
            &format!("msg_{}", pseudo_hex(24)),
            json!([{"type": "text", "text": text}]),
            None,
        );
    }

    /// The synthetic assistant message the CLI prints for an API error, with its `error`.
    pub(crate) fn synthetic_error(&self, text: &str, error: &str) {
        self.event(json!({
            "type": "assistant",
            "message": {"id": pseudo_uuid(), "type": "message", "role": "assistant",
                "model": "<synthetic>", "content": [{"type": "text", "text": text}],
                "stop_reason": "stop_sequence", "stop_sequence": "",
                "usage": {"input_tokens": 0, "output_tokens": 0,
                    "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}},
            "parent_tool_use_id": null, "error": error,
        }));
    }

    /// A `system/api_retry` event.
    pub(crate) fn api_retry(
        &self,
        attempt: u32,
        max: u32,
        delay_ms: f64,
        status: Option<u16>,
        error: &str,
    ) {
        self.event(json!({
            "type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": max,
            "retry_delay_ms": delay_json(delay_ms), "error_status": status, "error": error,
        }));
    }

    /// Prints the final result in the chosen format.
    pub(crate) fn result(&self, result: &Value) {
        if self.text {
            let text = result["result"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| result["errors"].to_string());
            self.raw(&format!("{text}\n"));
        } else {
            self.line(result);
        }
    }
}

/// A delay as the CLI prints it: whole milliseconds when it is whole, else a float.
fn delay_json(ms: f64) -> Value {
    if ms.fract() == 0.0 && (0.0..9.0e15).contains(&ms) {
        json!(ms as u64)
    } else {
        json!((ms * 100.0).round() / 100.0)
    }
}

/// Token counts and cost of a run.
#[derive(Clone, Copy, Default)]
pub(crate) struct Spend {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: u64,
    pub(crate) cache_creation: u64,
    pub(crate) cost: f64,
}

/// A result object of 2.1.332's shape.
pub(crate) fn result(
    out: &Out,
    subtype: &str,
    is_error: bool,
    text: Option<String>,
    turns: u64,
    duration_ms: u64,
    spend: Spend,
) -> Value {
    json!({
        "type": "result", "subtype": subtype, "is_error": is_error, "api_error_status": null,
        "duration_ms": duration_ms, "duration_api_ms": duration_ms * 3 / 4,
        "num_turns": turns, "result": text,
        "stop_reason": "end_turn", "session_id": out.session_id, "total_cost_usd": spend.cost,
        "usage": {"input_tokens": spend.input, "cache_creation_input_tokens": spend.cache_creation,
            "cache_read_input_tokens": spend.cache_read, "output_tokens": spend.output,
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": "standard",
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": spend.cache_creation}},
        "modelUsage": {out.model.clone(): {"inputTokens": spend.input, "outputTokens": spend.output,
            "cacheReadInputTokens": spend.cache_read, "cacheCreationInputTokens": spend.cache_creation,
            "webSearchRequests": 0, "costUSD": spend.cost, "contextWindow": 200000}},
        "permission_denials": [], "terminal_reason": "completed", "fast_mode_state": "off",
        "uuid": pseudo_uuid(),
    })
}

/// The result of an API failure: `subtype` success with `is_error`, the status (null for a
/// connection failure), nothing spent.
pub(crate) fn api_error_result(
    out: &Out,
    status: Option<u16>,
    text: &str,
    terminal_reason: &str,
) -> Value {
    let mut value = result(
        out,
        "success",
        true,
        Some(text.to_owned()),
        1,
        0,
        Spend::default(),
    );
    value["api_error_status"] = json!(status);
    value["duration_api_ms"] = json!(0);
    value["stop_reason"] = json!("stop_sequence");
    value["terminal_reason"] = json!(terminal_reason);
    value["modelUsage"] = json!({});
    value
}

/// `error_max_turns`: no `result`, the turn count one past the limit.
pub(crate) fn max_turns_result(out: &Out, max: u64, spend: Spend) -> Value {
    let mut value = result(out, "error_max_turns", true, None, max + 1, 0, spend);
    if let Some(object) = value.as_object_mut() {
        object.remove("result");
        object.remove("api_error_status");
    }
    value["errors"] = json!([format!("Reached maximum number of turns ({max})")]);
    value["stop_reason"] = json!("tool_use");
    value["terminal_reason"] = json!("max_turns");
    value
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A small pseudo-random number in `[0, 1)`, for jitter.
pub(crate) fn fraction() -> f64 {
    let hex = pseudo_hex(8);
    u32::from_str_radix(&hex, 16).map_or(0.0, |n| f64::from(n) / f64::from(u32::MAX))
}

pub(crate) fn pseudo_hex(len: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut state = nanos
        ^ (u128::from(std::process::id()) << 64)
        ^ (u128::from(COUNTER.fetch_add(1, Ordering::Relaxed)) << 32)
        ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let digit = u32::try_from((state >> 64) & 0xf).unwrap_or(0);
            char::from_digit(digit, 16).unwrap_or('0')
        })
        .collect()
}

pub(crate) fn pseudo_uuid() -> String {
    let hex = pseudo_hex(32);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

pub(crate) fn sleep_ms(ms: u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
}
