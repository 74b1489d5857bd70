//! Scripted mode: the answer comes from a script (`FAKE_CLAUDE_SCRIPT`, `FAKE_CLAUDE_<KEY>`),
//! in the shapes and texts of Claude Code 2.1.332, without any API call.

use serde_json::{Map, Value, json};

use crate::flags::Parsed;
use crate::mcp;
use crate::out::{self, Out, Spend, now_secs, pseudo_uuid, sleep_ms};

const HUGE_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

/// Claude Code 2.1.332's built-in tools, as its init event lists them.
pub(crate) const BUILTIN_TOOLS: [&str; 21] = [
    "Task",
    "Bash",
    "CronCreate",
    "CronDelete",
    "CronList",
    "Edit",
    "EnterWorktree",
    "ExitWorktree",
    "ListAgents",
    "Monitor",
    "NotebookEdit",
    "Read",
    "ReportFindings",
    "ScheduleWakeup",
    "SendMessage",
    "Skill",
    "TaskStop",
    "WebFetch",
    "WebSearch",
    "Workflow",
    "Write",
];

/// The script of this invocation.
pub(crate) struct Script(Map<String, Value>);

impl Script {
    pub(crate) fn load() -> Result<Self, String> {
        let mut script = Map::new();
        if let Some(path) = std::env::var_os("FAKE_CLAUDE_SCRIPT") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("fake-claude: cannot read FAKE_CLAUDE_SCRIPT: {e}"))?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| format!("fake-claude: FAKE_CLAUDE_SCRIPT is not JSON: {e}"))?;
            let entry = match value {
                Value::Array(entries) => {
                    // One entry per invocation, in order; the last one repeats.
                    let mut state = path.clone();
                    state.push(".next");
                    let index: usize = std::fs::read_to_string(&state)
                        .ok()
                        .and_then(|t| t.trim().parse().ok())
                        .unwrap_or(0);
                    let _ = std::fs::write(&state, (index + 1).to_string());
                    entries
                        .get(index)
                        .or(entries.last())
                        .cloned()
                        .unwrap_or_else(|| json!({}))
                }
                other => other,
            };
            if let Value::Object(entry) = entry {
                script = entry;
            }
        }
        for (key, value) in std::env::vars() {
            let Some(name) = key.strip_prefix("FAKE_CLAUDE_") else {
                continue;
            };
            if matches!(name, "SCRIPT" | "RECORD" | "RECORD_ENV") {
                continue;
            }
            let parsed = serde_json::from_str(&value).unwrap_or(Value::String(value));
            script.insert(name.to_ascii_lowercase(), parsed);
        }
        Ok(Self(script))
    }

    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        let value = self.0.get(key)?;
        value.as_u64().or_else(|| value.as_str()?.parse().ok())
    }

    pub(crate) fn f64(&self, key: &str) -> Option<f64> {
        let value = self.0.get(key)?;
        value.as_f64().or_else(|| value.as_str()?.parse().ok())
    }

    pub(crate) fn bool(&self, key: &str) -> Option<bool> {
        let value = self.0.get(key)?;
        value
            .as_bool()
            .or_else(|| value.as_u64().map(|n| n != 0))
            .or_else(|| Some(matches!(value.as_str()?, "1" | "true" | "yes")))
    }

    pub(crate) fn mode(&self) -> String {
        self.str("mode").unwrap_or_else(|| "success".to_owned())
    }
}

/// `CLAUDE_CODE_MAX_RETRIES`, or the CLI's default of 10.
pub(crate) fn max_retries() -> u32 {
    std::env::var("CLAUDE_CODE_MAX_RETRIES")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(10)
}

/// The CLI's backoff before retry `attempt` (1-based) without a `retry-after`: about half a
/// second, doubling, with up to a quarter of jitter, capped at 32 s. A float, as the CLI
/// prints it.
pub(crate) fn backoff_ms(attempt: u32) -> f64 {
    let base = 500.0 * 2f64.powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(6).min(6));
    (base * (1.0 + 0.25 * out::fraction())).min(32_000.0)
}

/// Whether the command of a stdio server can be found.
fn command_exists(command: &str) -> bool {
    let command = mcp::expand(command);
    if command.contains('/') {
        return std::path::Path::new(&command).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(&command).is_file()))
}

/// `mcp_servers` of the init event: `connected` for a well-formed entry whose program exists,
/// `failed` otherwise.
fn mcp_status(configs: &[(String, Value)]) -> Vec<(String, &'static str)> {
    mcp::entries(configs)
        .into_iter()
        .map(|(name, entry)| {
            let ok = mcp::well_formed(&entry)
                && (entry["type"].as_str().unwrap_or("stdio") != "stdio"
                    || entry["command"].as_str().is_some_and(command_exists));
            (name, if ok { "connected" } else { "failed" })
        })
        .collect()
}

fn huge_text(bytes: usize) -> String {
    HUGE_ALPHABET.chars().cycle().take(bytes).collect()
}

/// The scripted answer; returns the exit code.
pub(crate) fn answer(
    parsed: &Parsed,
    script: &Script,
    mode: &str,
    prompt: &str,
    mcp: &[(String, Value)],
) -> i32 {
    let format = parsed.value("output-format").unwrap_or("text");
    let session_id = parsed
        .value("resume")
        .filter(|id| !id.is_empty())
        .or(parsed.value("session-id"))
        .map(str::to_owned)
        .unwrap_or_else(pseudo_uuid);
    let out = Out {
        stream: format == "stream-json",
        text: format == "text",
        session_id: session_id.clone(),
        model: out::model_name(parsed.value("model")),
    };

    if mode == "unknown_resume" {
        let text = format!("No conversation found with session ID: {session_id}");
        if out.stream {
            let mut result = out::result(
                &out,
                "error_during_execution",
                true,
                None,
                0,
                0,
                Spend::default(),
            );
            result["errors"] = json!([text]);
            result["terminal_reason"] = Value::Null;
            out.line(&result);
        }
        eprintln!("{text}");
        return 1;
    }

    if out.stream {
        let servers = mcp_status(mcp);
        let mut tools: Vec<String> = match parsed.list("tools") {
            Some(list) if list.is_empty() => Vec::new(),
            Some(list) if list != ["default"] => list,
            _ => BUILTIN_TOOLS.iter().map(|t| (*t).to_owned()).collect(),
        };
        for (name, status) in &servers {
            if *status == "connected" {
                tools.push(format!("mcp__{name}__ping"));
                tools.push(format!("mcp__{name}__echo"));
            }
        }
        out.event(json!({
            "type": "system", "subtype": "init",
            "cwd": std::env::current_dir().ok().map(|d| d.display().to_string()),
            "tools": tools,
            "mcp_servers": servers.iter().map(|(name, status)| json!({"name": name, "status": status})).collect::<Vec<_>>(),
            "model": out.model,
            "permissionMode": parsed.value("permission-mode").unwrap_or("default"),
            "slash_commands": ["compact", "context", "cost"],
            "apiKeySource": if std::env::var_os("ANTHROPIC_API_KEY").is_some() { "ANTHROPIC_API_KEY" } else { "none" },
            "claude_code_version": out::VERSION.split(' ').next(),
            "output_style": "default", "agents": [], "skills": [], "plugins": [],
            "fast_mode_state": "off",
        }));
        if script.bool("noise").unwrap_or(false) {
            out.raw("[SandboxDebug] fake sandbox note\n");
            out.event(json!({"type": "fancy_new_event", "detail": {"x": 1}}));
        }
    }

    if mode == "hang" {
        crate::hang_forever();
    }
    sleep_ms(script.u64("delay_ms").unwrap_or(0));

    let turns = script.u64("turns").unwrap_or(1);
    let spend = Spend {
        input: script.u64("input_tokens").unwrap_or(12),
        output: script.u64("output_tokens").unwrap_or(34),
        cache_read: script.u64("cache_read_tokens").unwrap_or(0),
        cache_creation: script.u64("cache_creation_tokens").unwrap_or(0),
        cost: script.f64("cost").unwrap_or(0.0123),
    };
    let duration_ms = script.u64("duration_ms").unwrap_or(1234);
    let base = |subtype: &str, is_error: bool, result: Option<String>| -> Value {
        let mut value = out::result(&out, subtype, is_error, result, turns, duration_ms, spend);
        if let Some(is_error) = script.bool("is_error") {
            value["is_error"] = json!(is_error);
        }
        value
    };
    let exit_code = |default: i32| -> i32 {
        script
            .u64("exit_code")
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(default)
    };
    let max_turns: Option<u64> = parsed
        .value("max-turns")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| *t >= 1.0)
        .map(|t| t as u64);
    let reset_epoch = script.u64("reset_epoch").unwrap_or(now_secs() + 3600);
    let gateway = "api.anthropic.com";

    // An API failure after the CLI's own retries (when the status is retried).
    let api_error =
        |status: Option<u16>, text: String, retried: Option<&str>, error: &str| -> i32 {
            if let Some(kind) = retried {
                let max = max_retries();
                for attempt in 1..=max {
                    out.api_retry(attempt, max, backoff_ms(attempt), status, kind);
                }
            }
            out.synthetic_error(&text, error);
            let reason = if text.starts_with("Prompt is too long") {
                "prompt_too_long"
            } else {
                "api_error"
            };
            out.result(&out::api_error_result(&out, status, &text, reason));
            exit_code(1)
        };
    let server_side = |status: u16, message: &str| {
        format!(
            "API Error: {status} {message}. This is a server-side issue, usually temporary — try again in a moment. If it persists, check your inference gateway ({gateway})."
        )
    };

    match mode {
        "success" | "huge" | "leave_child" | "escape_child" | "denied" => {
            if max_turns.is_some_and(|max| turns > max) {
                out.result(&out::max_turns_result(&out, max_turns.unwrap_or(0), spend));
                return exit_code(1);
            }
            let text = if mode == "huge" {
                huge_text(usize::try_from(script.u64("bytes").unwrap_or(5 * 1024 * 1024)).unwrap_or(0))
            } else {
                script.str("result").unwrap_or_else(|| format!("fake answer ({} prompt bytes)", prompt.len()))
            };
            let lines = script.u64("lines").unwrap_or(0);
            let delay = script.u64("line_delay_ms").unwrap_or(0);
            for step in 1..=lines {
                out.assistant(&format!("step {step}"));
                sleep_ms(delay);
            }
            let mut result = base("success", false, Some(text.clone()));
            if mode == "denied" {
                // A tool call the CLI refused: the run still succeeds.
                let tool = script.str("tool").unwrap_or_else(|| "mcp__echo__echo".to_owned());
                let id = format!("toolu_{}", out::pseudo_hex(24));
                out.assistant_content(&format!("msg_{}", out::pseudo_hex(24)),
                    json!([{"type": "tool_use", "id": id, "name": tool, "input": {}}]), Some("tool_use"));
                out.event(json!({"type": "user", "message": {"role": "user", "content": [{
                    "type": "tool_result", "tool_use_id": id, "is_error": true,
                    "content": format!("Claude requested permissions to use {tool}, but you haven't granted it yet.")}]},
                    "parent_tool_use_id": null}));
                result["permission_denials"] = json!([{"tool_name": tool, "tool_use_id": id, "tool_input": {}}]);
                result["num_turns"] = json!(turns + 1);
            }
            out.assistant(&text);
            out.result(&result);
            exit_code(0)
        }
        "max_turns" => {
            out.result(&out::max_turns_result(&out, max_turns.unwrap_or(turns), spend));
            exit_code(1)
        }
        "error" => {
            let message = script.str("result").unwrap_or_else(|| "fake failure during execution".to_owned());
            let mut result = base("error_during_execution", true, None);
            result["errors"] = json!([message]);
            result["terminal_reason"] = json!("error");
            out.result(&result);
            exit_code(1)
        }
        "prompt_too_long" => api_error(
            Some(400),
            "Prompt is too long · the request is ~250000 tokens (limit 200000) but this conversation is only ~256 tokens — the rest is system prompt, tool definitions, and attachment content. A single-exchange conversation cannot be compacted; reduce attached files/tools or start with less context.".to_owned(),
            None,
            "invalid_request",
        ),
        "usage_limit" => {
            // The old form: the notice was the result text.
            let text = format!("Claude AI usage limit reached|{reset_epoch}");
            out.assistant(&text);
            out.result(&base("success", false, Some(text)));
            exit_code(0)
        }
        "session_limit" => {
            let text = script
                .str("reset_text")
                .unwrap_or_else(|| "You've hit your session limit · resets 9am (Europe/Berlin)".to_owned());
            out.event(json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected",
                "resetsAt": reset_epoch, "rateLimitType": "five_hour", "isUsingOverage": false}}));
            api_error(Some(429), text, None, "rate_limit")
        }
        "rate_limit" => api_error(
            Some(429),
            script.str("result").unwrap_or_else(|| "API Error: Request rejected (429) · This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to the documentation.".to_owned()),
            Some("rate_limit"),
            "rate_limit",
        ),
        "overloaded" => api_error(Some(529), server_side(529, "Overloaded"), Some("overloaded"), "server_error"),
        "server_error" => api_error(Some(500), server_side(500, "Internal server error"), Some("server_error"), "server_error"),
        "connection_refused" => api_error(
            None,
            "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)".to_owned(),
            Some("unknown"),
            "server_error",
        ),
        "api_timeout" => api_error(
            None,
            "Request timed out. If the API is slow to answer, or a proxy or gateway holds responses, set API_TIMEOUT_MS above 600000.".to_owned(),
            Some("unknown"),
            "server_error",
        ),
        "auth" => api_error(Some(401), "Invalid API key · Fix external API key".to_owned(), Some("authentication_failed"), "authentication_failed"),
        "low_credit" => api_error(Some(400), "Credit balance is too low".to_owned(), None, "billing_error"),
        "not_logged_in" => {
            out.result(&out::api_error_result(&out, None, "Not logged in · Please run /login", "api_error"));
            exit_code(1)
        }
        "exit" => {
            if let Some(text) = script.str("stdout") {
                out.raw(&text);
            }
            eprintln!("{}", script.str("stderr").unwrap_or_else(|| "fake-claude: failing as told".to_owned()));
            exit_code(1)
        }
        "garbage" => {
            out.raw(&script.str("stdout").unwrap_or_else(|| {
                "<html><body>502 Bad Gateway</body></html>\nthis is not json {{{\n".to_owned()
            }));
            exit_code(0)
        }
        other => {
            eprintln!("fake-claude: unknown FAKE_CLAUDE_MODE {other:?}");
            2
        }
    }
}
