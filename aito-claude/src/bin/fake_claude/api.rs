//! API mode (`FAKE_CLAUDE_MODE=api`): the fake acts as Claude Code 2.1.332 does against the
//! Messages API at `ANTHROPIC_BASE_URL` (a server on this machine, such as aito-mock-api's):
//! it sends streamed `POST /v1/messages?beta=true` requests with a system prompt, the tools
//! it offers and the conversation; retries what the CLI retries (`CLAUDE_CODE_MAX_RETRIES`,
//! `retry-after`, backoff) with `system/api_retry` events; turns API errors, refused
//! connections and timeouts into the CLI's texts; runs tool calls (MCP tools through the
//! servers of `--mcp-config`, which it really starts; `Read` inside the working directory),
//! refuses the calls it has no permission for (`permission_denials`), answers calls of tools
//! it does not offer as the CLI does; and keeps transcripts so that `--resume` works.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::flags::Parsed;
use crate::http::{self, Base, NetError};
use crate::mcp::{self, Server};
use crate::out::{self, Out, Spend, pseudo_hex, pseudo_uuid};
use crate::script::{BUILTIN_TOOLS, backoff_ms, max_retries};

/// Stands in for Claude Code's own system prompt (about 6 KB), so that a request without
/// `--system-prompt` has the size of the real one.
const DEFAULT_PROMPT_LINE: &str = "fake-claude stands in here for Claude Code's own system prompt for coding agents: how to use its tools, edit files, run commands and keep the user informed.\n";

/// The answer the API gave: its blocks, why it stopped, its tokens.
struct Message {
    id: String,
    content: Vec<Value>,
    stop_reason: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
}

/// Why a call failed for good.
enum Failure {
    Status {
        status: u16,
        kind: String,
        message: String,
    },
    Refused,
    Timeout(u64),
    Broken(String),
}

/// One run against the API.
struct Run<'a> {
    parsed: &'a Parsed,
    out: Out,
    base: Base,
    key: String,
    timeout_ms: u64,
    servers: Vec<Server>,
    offered: Vec<Value>,
    spend: Spend,
    denials: Vec<Value>,
    cwd: PathBuf,
}

fn truthy(name: &str) -> bool {
    std::env::var(name)
        .map(|value| matches!(value.trim(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// The directory of this machine's transcripts: `$CLAUDE_CONFIG_DIR` or `~/.claude`.
fn config_dir() -> PathBuf {
    std::env::var_os("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".claude")))
        .unwrap_or_else(|| PathBuf::from(".claude"))
}

fn transcript_path(cwd: &Path, session: &str) -> PathBuf {
    let project = cwd.display().to_string().replace(['/', '.'], "-");
    config_dir()
        .join("projects")
        .join(project)
        .join(format!("{session}.jsonl"))
}

/// The messages of an earlier session, wherever its transcript is.
fn load_transcript(session: &str) -> Option<Vec<Value>> {
    let projects = config_dir().join("projects");
    let file = std::fs::read_dir(projects)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join(format!("{session}.jsonl")))
        .find(|path| path.is_file())?;
    let text = std::fs::read_to_string(file).ok()?;
    Some(
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .map(|entry| entry["message"].clone())
            .collect(),
    )
}

/// `YYYY-MM-DD` of today (UTC).
fn today() -> String {
    let days = i64::try_from(out::now_secs() / 86_400).unwrap_or(0);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The `CLAUDE.md` files the CLI would put into the request, with their text.
fn claude_mds(parsed: &Parsed, cwd: &Path) -> Vec<(PathBuf, String)> {
    if parsed.has("safe-mode") || parsed.has("bare") || truthy("CLAUDE_CODE_DISABLE_CLAUDE_MDS") {
        return Vec::new();
    }
    let sources: Vec<String> = match parsed.value("setting-sources") {
        Some(list) => list.split(',').map(|s| s.trim().to_owned()).collect(),
        None => vec!["user".into(), "project".into(), "local".into()],
    };
    let mut found = Vec::new();
    if sources.iter().any(|s| s == "user") {
        let path = config_dir().join("CLAUDE.md");
        if let Ok(text) = std::fs::read_to_string(&path) {
            found.push((path, text));
        }
    }
    if sources.iter().any(|s| s == "project") {
        let mut dirs: Vec<&Path> = cwd.ancestors().collect();
        dirs.reverse();
        for dir in dirs {
            for path in [dir.join("CLAUDE.md"), dir.join(".claude").join("CLAUDE.md")] {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    found.push((path, text));
                }
            }
        }
    }
    found
}

fn read_file(path: Option<&str>) -> Option<String> {
    std::fs::read_to_string(path?).ok()
}

/// Whether `patterns` (`--allowedTools`) allow `tool`: its name, `mcp__<server>` for every
/// tool of a server, `mcp__<server>__*`, or `Tool(...)` for a built-in.
fn allowed(patterns: &[String], tool: &str) -> bool {
    patterns.iter().any(|pattern| {
        pattern == tool
            || (tool.starts_with(pattern.as_str())
                && pattern.starts_with("mcp__")
                && tool[pattern.len()..].starts_with("__"))
            || pattern
                .strip_suffix("__*")
                .is_some_and(|prefix| tool.starts_with(&format!("{prefix}__")))
            || pattern.split('(').next() == Some(tool) && pattern.contains('(')
    })
}

/// Runs the prompt against the API; returns the exit code.
pub(crate) fn run(parsed: &Parsed, prompt: &str, configs: &[(String, Value)]) -> i32 {
    let format = parsed.value("output-format").unwrap_or("text");
    let resume = parsed.value("resume").filter(|id| !id.is_empty());
    let session_id = resume
        .or(parsed.value("session-id"))
        .map(str::to_owned)
        .unwrap_or_else(pseudo_uuid);
    let out = Out {
        stream: format == "stream-json",
        text: format == "text",
        session_id: session_id.clone(),
        model: out::model_name(parsed.value("model")),
    };
    let base = match std::env::var("ANTHROPIC_BASE_URL")
        .map_err(|_| {
            "fake-claude: the API mode needs ANTHROPIC_BASE_URL (a server on this machine)"
                .to_owned()
        })
        .and_then(|url| Base::parse(&url))
    {
        Ok(base) => base,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    let earlier = match resume {
        Some(id) => match load_transcript(id) {
            Some(messages) => messages,
            None => {
                let text = format!("No conversation found with session ID: {id}");
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
        },
        None => Vec::new(),
    };
    let Some(key) = std::env::var("ANTHROPIC_API_KEY")
        .ok()
        .or_else(|| std::env::var("ANTHROPIC_AUTH_TOKEN").ok())
        .filter(|key| !key.is_empty())
    else {
        out.result(&out::api_error_result(
            &out,
            None,
            "Not logged in · Please run /login",
            "api_error",
        ));
        return 1;
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut run = Run {
        parsed,
        out,
        base,
        key,
        timeout_ms: std::env::var("API_TIMEOUT_MS")
            .ok()
            .and_then(|ms| ms.trim().parse().ok())
            .unwrap_or(600_000),
        servers: Vec::new(),
        offered: Vec::new(),
        spend: Spend::default(),
        denials: Vec::new(),
        cwd,
    };
    run.connectivity_check();
    let statuses = run.start_servers(configs);
    run.offer_tools();
    run.init_event(&statuses);
    let code = run.converse(earlier, prompt);
    drop(run.servers);
    code
}

impl Run<'_> {
    fn connectivity_check(&self) {
        let _ = http::request(&self.base, "HEAD", "/", &[], &[], Duration::from_secs(5));
    }

    /// Starts the servers of `--mcp-config` (none in safe mode); their statuses.
    fn start_servers(&mut self, configs: &[(String, Value)]) -> Vec<(String, &'static str)> {
        if self.parsed.has("safe-mode") {
            return Vec::new();
        }
        let mut statuses = Vec::new();
        for (name, entry) in mcp::entries(configs) {
            match Server::start(&name, &entry) {
                Ok(server) => {
                    statuses.push((name, "connected"));
                    self.servers.push(server);
                }
                // The CLI says nothing on stderr; the init event reports it.
                Err(_) => statuses.push((name, "failed")),
            }
        }
        statuses
    }

    /// The built-in tools `--tools` leaves (all by default), less `--disallowedTools`, and the
    /// tools of the connected servers.
    fn offer_tools(&mut self) {
        let builtins: Vec<String> = match self.parsed.list("tools") {
            Some(list) if list.is_empty() => Vec::new(),
            Some(list) if list != ["default"] => list
                .into_iter()
                .filter(|tool| BUILTIN_TOOLS.contains(&tool.as_str()))
                .collect(),
            _ => BUILTIN_TOOLS
                .iter()
                .map(|tool| (*tool).to_owned())
                .collect(),
        };
        let denied = self.parsed.list("disallowed-tools").unwrap_or_default();
        for tool in builtins.iter().filter(|tool| !denied.contains(tool)) {
            self.offered.push(json!({
                "name": tool,
                "description": format!("Claude Code's built-in {tool} tool (fake-claude's stand-in)."),
                "input_schema": {"type": "object", "properties": {}, "additionalProperties": true},
            }));
        }
        for server in &self.servers {
            self.offered
                .extend(server.api_tools().into_iter().filter(|tool| {
                    !denied
                        .iter()
                        .any(|d| Some(d.as_str()) == tool["name"].as_str())
                }));
        }
    }

    fn offered_names(&self) -> Vec<String> {
        self.offered
            .iter()
            .filter_map(|tool| tool["name"].as_str().map(str::to_owned))
            .collect()
    }

    fn init_event(&self, statuses: &[(String, &'static str)]) {
        self.out.event(json!({
            "type": "system", "subtype": "init",
            "cwd": self.cwd.display().to_string(),
            "tools": self.offered_names(),
            "mcp_servers": statuses.iter().map(|(name, status)| json!({"name": name, "status": status})).collect::<Vec<_>>(),
            "model": self.out.model,
            "permissionMode": self.parsed.value("permission-mode").unwrap_or("default"),
            "slash_commands": [],
            "apiKeySource": "ANTHROPIC_API_KEY",
            "claude_code_version": out::VERSION.split(' ').next(),
            "output_style": "default", "agents": [], "skills": [], "plugins": [],
            "fast_mode_state": "off",
        }));
    }

    fn system(&self) -> Value {
        let custom = self
            .parsed
            .value("system-prompt")
            .map(str::to_owned)
            .or_else(|| read_file(self.parsed.value("system-prompt-file")));
        let identity = if custom.is_some() {
            "You are a Claude agent, built on Anthropic's Claude Agent SDK."
        } else {
            "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK."
        };
        let mut main = custom.unwrap_or_else(|| DEFAULT_PROMPT_LINE.repeat(40));
        for appended in [
            self.parsed.value("append-system-prompt").map(str::to_owned),
            read_file(self.parsed.value("append-system-prompt-file")),
        ]
        .into_iter()
        .flatten()
        {
            main.push_str("\n\n");
            main.push_str(&appended);
        }
        json!([
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.fake; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": identity, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": main, "cache_control": {"type": "ephemeral"}},
        ])
    }

    fn first_message(&self, prompt: &str) -> Value {
        let mut context = String::from(
            "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n",
        );
        let mds = claude_mds(self.parsed, &self.cwd);
        if !mds.is_empty() {
            context.push_str("# claudeMd\nCodebase and user instructions are shown below.\n\n");
            for (path, text) in mds {
                context.push_str(&format!("Contents of {}:\n\n{text}\n\n", path.display()));
            }
        }
        context.push_str(&format!(
            "# currentDate\nToday's date is {}.\n\n      IMPORTANT: this context may or may not be relevant to your tasks. You should not respond to this context unless it is highly relevant to your task.\n</system-reminder>\n",
            today()
        ));
        json!({"role": "user", "content": [
            {"type": "text", "text": context},
            {"type": "text", "text": prompt},
        ]})
    }

    fn body(&self, messages: &[Value]) -> Value {
        json!({
            "model": self.out.model,
            "messages": messages,
            "system": self.system(),
            "tools": self.offered,
            "metadata": {"user_id": format!("{{\"session_id\":\"{}\"}}", self.out.session_id)},
            "max_tokens": 32000,
            "stream": true,
        })
    }

    /// The conversation: calls until the model stops calling tools, or the turn limit.
    fn converse(&mut self, earlier: Vec<Value>, prompt: &str) -> i32 {
        let started = Instant::now();
        let mut messages = earlier;
        messages.push(self.first_message(prompt));
        let max_turns = self
            .parsed
            .value("max-turns")
            .and_then(|turns| turns.trim().parse::<f64>().ok())
            .filter(|turns| *turns >= 1.0)
            .map(|turns| turns as u64);
        let mut turns = 0u64;
        let code = loop {
            let message = match self.call(&messages) {
                Ok(message) => message,
                Err(failure) => break self.fail(failure),
            };
            turns += 1;
            self.spend.input += message.input_tokens;
            self.spend.output += message.output_tokens;
            self.spend.cost = self.spend.input as f64 * 3e-6 + self.spend.output as f64 * 15e-6;
            self.out.assistant_content(
                &message.id,
                Value::Array(message.content.clone()),
                message.stop_reason.as_deref(),
            );
            messages.push(json!({"role": "assistant", "content": message.content}));
            let calls: Vec<Value> = message
                .content
                .iter()
                .filter(|block| block["type"] == "tool_use")
                .cloned()
                .collect();
            if calls.is_empty() {
                let text: String = message
                    .content
                    .iter()
                    .filter_map(|block| block["text"].as_str())
                    .collect();
                let mut result = out::result(
                    &self.out,
                    "success",
                    false,
                    Some(text),
                    turns,
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(0),
                    self.spend,
                );
                result["stop_reason"] = json!(message.stop_reason);
                result["permission_denials"] = json!(self.denials);
                self.out.result(&result);
                break 0;
            }
            let results: Vec<Value> = calls.iter().map(|call| self.run_tool(call)).collect();
            self.out.event(
                json!({"type": "user", "message": {"role": "user", "content": results},
                "parent_tool_use_id": null}),
            );
            messages.push(json!({"role": "user", "content": results}));
            if let Some(max) = max_turns.filter(|max| turns >= *max) {
                let mut result = out::max_turns_result(&self.out, max, self.spend);
                result["permission_denials"] = json!(self.denials);
                self.out.result(&result);
                break 1;
            }
        };
        if !self.parsed.has("no-session-persistence") {
            self.save(&messages);
        }
        code
    }

    fn save(&self, messages: &[Value]) {
        let path = transcript_path(&self.cwd, &self.out.session_id);
        let text: String = messages
            .iter()
            .map(|message| format!("{}\n", json!({"type": message["role"], "message": message})))
            .collect();
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        if let Err(error) = written {
            eprintln!(
                "fake-claude: cannot write the transcript {}: {error}",
                path.display()
            );
        }
    }

    /// Runs one tool call, or refuses it; the `tool_result` block.
    fn run_tool(&mut self, call: &Value) -> Value {
        let id = call["id"].as_str().unwrap_or_default().to_owned();
        let name = call["name"].as_str().unwrap_or_default().to_owned();
        let input = call["input"].clone();
        let error = |text: String| json!({"type": "tool_result", "tool_use_id": id, "content": text, "is_error": true});
        if !self.offered_names().contains(&name) {
            return error(if BUILTIN_TOOLS.contains(&name.as_str()) {
                format!(
                    "<tool_use_error>Error: No such tool available: {name}. {name} is disabled for this session, in subagents as well as here.</tool_use_error>"
                )
            } else {
                format!("<tool_use_error>Error: No such tool available: {name}</tool_use_error>")
            });
        }
        let patterns = self.parsed.list("allowed-tools").unwrap_or_default();
        let bypass = self.parsed.has("dangerously-skip-permissions")
            || self.parsed.value("permission-mode") == Some("bypassPermissions");
        let read_path = (name == "Read").then(|| {
            let path = PathBuf::from(input["file_path"].as_str().unwrap_or_default());
            path.canonicalize().unwrap_or(path)
        });
        let inside = read_path.as_ref().is_some_and(|path| {
            let mut roots = vec![self.cwd.canonicalize().unwrap_or_else(|_| self.cwd.clone())];
            roots.extend(self.parsed.values("add-dir").into_iter().map(PathBuf::from));
            roots.iter().any(|root| path.starts_with(root))
        });
        if self.parsed.value("permission-mode") == Some("plan") && !inside {
            self.denials
                .push(json!({"tool_name": name, "tool_use_id": id, "tool_input": input}));
            return error(format!("Cannot call {name} while in plan mode."));
        }
        if !(bypass || allowed(&patterns, &name) || inside) {
            self.denials
                .push(json!({"tool_name": name, "tool_use_id": id, "tool_input": input}));
            self.out.event(json!({"type": "system", "subtype": "permission_denied", "tool_name": name, "tool_use_id": id}));
            return match &read_path {
                Some(path) => error(format!(
                    "Claude requested permissions to read from {}, but you haven't granted it yet.",
                    path.display()
                )),
                None => error(format!(
                    "Claude requested permissions to use {name}, but you haven't granted it yet."
                )),
            };
        }
        if let Some(path) = read_path {
            return match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let numbered: String = text
                        .split('\n')
                        .enumerate()
                        .map(|(n, line)| format!("{}\t{line}\n", n + 1))
                        .collect();
                    json!({"type": "tool_result", "tool_use_id": id, "content": numbered.trim_end_matches('\n')})
                }
                Err(e) => error(format!("<tool_use_error>{e}</tool_use_error>")),
            };
        }
        let Some(server) = self.servers.iter_mut().find(|server| {
            name.strip_prefix(&format!("mcp__{}__", server.name))
                .is_some()
        }) else {
            return error(format!("fake-claude does not run the built-in tool {name}"));
        };
        let tool = name
            .strip_prefix(&format!("mcp__{}__", server.name))
            .unwrap_or_default()
            .to_owned();
        let (text, is_error) = server.call(&tool, &input, &id);
        let mut block = json!({"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": text}]});
        if is_error {
            block["is_error"] = json!(true);
        }
        block
    }

    /// One call with the CLI's retries.
    fn call(&mut self, messages: &[Value]) -> Result<Message, Failure> {
        let body = self.body(messages).to_string();
        let max = max_retries();
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("x-api-key", self.key.clone()),
            ("anthropic-version", "2023-06-01".to_owned()),
            ("anthropic-beta", "claude-code-20250219".to_owned()),
            (
                "user-agent",
                "claude-cli/2.1.332 (external, sdk-cli) fake-claude".to_owned(),
            ),
            ("x-app", "cli".to_owned()),
            ("x-claude-code-session-id", self.out.session_id.clone()),
        ];
        let mut attempt = 0;
        loop {
            let answer = http::request(
                &self.base,
                "POST",
                "/v1/messages?beta=true",
                &headers,
                body.as_bytes(),
                Duration::from_millis(self.timeout_ms),
            );
            let (failure, retry_after) = match answer {
                Ok(response) if response.status == 200 => {
                    return parse_message(&response.body).map_err(Failure::Broken);
                }
                Ok(response) => {
                    let error: Value =
                        serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                    let retry_after = response
                        .header("retry-after")
                        .and_then(|secs| secs.trim().parse::<f64>().ok());
                    (
                        Failure::Status {
                            status: response.status,
                            kind: error["error"]["type"]
                                .as_str()
                                .unwrap_or("api_error")
                                .to_owned(),
                            message: error["error"]["message"]
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| {
                                    String::from_utf8_lossy(&response.body).into_owned()
                                }),
                        },
                        retry_after,
                    )
                }
                Err(NetError::Refused) => (Failure::Refused, None),
                Err(NetError::Timeout) => (Failure::Timeout(self.timeout_ms), None),
                Err(NetError::Other(reason)) => (Failure::Broken(reason), None),
            };
            let (retried, status, kind) = match &failure {
                Failure::Status { status, .. } => (
                    matches!(status, 401 | 408 | 409 | 429 | 500..=599),
                    Some(*status),
                    match status {
                        401 => "authentication_failed",
                        429 => "rate_limit",
                        529 => "overloaded",
                        500..=599 => "server_error",
                        _ => "unknown",
                    },
                ),
                Failure::Refused | Failure::Timeout(_) | Failure::Broken(_) => {
                    (true, None, "unknown")
                }
            };
            if !retried || attempt >= max {
                return Err(failure);
            }
            attempt += 1;
            let delay = retry_after.map_or_else(|| backoff_ms(attempt), |secs| secs * 1000.0);
            self.out.api_retry(attempt, max, delay, status, kind);
            std::thread::sleep(Duration::from_secs_f64(delay / 1000.0));
        }
    }

    /// Reports a call that failed for good, as the CLI does; the exit code.
    fn fail(&self, failure: Failure) -> i32 {
        let gateway = self.base.authority();
        let (status, text, error, reason) = match failure {
            Failure::Refused => (
                None,
                "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)".to_owned(),
                "server_error",
                "api_error",
            ),
            Failure::Timeout(ms) => (
                None,
                format!("Request timed out. If the API is slow to answer, or a proxy or gateway holds responses, set API_TIMEOUT_MS above {ms}."),
                "server_error",
                "api_error",
            ),
            Failure::Broken(reason) => (None, format!("API Error: {reason}"), "server_error", "api_error"),
            Failure::Status { status, kind, message } => {
                let lower = message.to_ascii_lowercase();
                match status {
                    401 => (Some(401), "Invalid API key · Fix external API key".to_owned(), "authentication_failed", "api_error"),
                    403 => (Some(403), format!("Failed to authenticate. API Error: 403 {message}"), "authentication_failed", "api_error"),
                    429 => (Some(429), format!("API Error: Request rejected (429) · {message}"), "rate_limit", "api_error"),
                    500..=599 => (
                        Some(status),
                        format!("API Error: {status} {message}. This is a server-side issue, usually temporary — try again in a moment. If it persists, check your inference gateway ({gateway})."),
                        "server_error",
                        "api_error",
                    ),
                    400 if lower.contains("credit balance is too low") => {
                        (Some(400), "Credit balance is too low".to_owned(), "billing_error", "api_error")
                    }
                    400 if lower.starts_with("prompt is too long") => {
                        let numbers: Vec<&str> = message
                            .split(|c: char| !c.is_ascii_digit())
                            .filter(|n| !n.is_empty())
                            .collect();
                        let (asked, limit) = (numbers.first().copied().unwrap_or("?"), numbers.get(1).copied().unwrap_or("?"));
                        (
                            Some(400),
                            format!("Prompt is too long · the request is ~{asked} tokens (limit {limit}) but this conversation is only ~256 tokens — the rest is system prompt, tool definitions, and attachment content. A single-exchange conversation cannot be compacted; reduce attached files/tools or start with less context."),
                            "invalid_request",
                            "prompt_too_long",
                        )
                    }
                    404 => (
                        Some(404),
                        format!("There's an issue with the selected model ({}). It may not exist or you may not have access to it. Run --model to pick a different model.", self.out.model),
                        "invalid_request",
                        "api_error",
                    ),
                    _ => (Some(status), format!("API Error: {status} {message}"), if kind == "invalid_request_error" { "invalid_request" } else { "unknown" }, "api_error"),
                }
            }
        };
        self.out.synthetic_error(&text, error);
        let mut result = out::api_error_result(&self.out, status, &text, reason);
        result["permission_denials"] = json!(self.denials);
        self.out.result(&result);
        1
    }
}

/// A message from a stream of server-sent events (or one JSON message).
fn parse_message(body: &[u8]) -> Result<Message, String> {
    let text = String::from_utf8_lossy(body);
    if text.trim_start().starts_with('{') {
        let message: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        return Ok(Message {
            id: message["id"].as_str().unwrap_or_default().to_owned(),
            content: message["content"].as_array().cloned().unwrap_or_default(),
            stop_reason: message["stop_reason"].as_str().map(str::to_owned),
            input_tokens: message["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: message["usage"]["output_tokens"].as_u64().unwrap_or(0),
        });
    }
    let mut message = Message {
        id: format!("msg_{}", pseudo_hex(24)),
        content: Vec::new(),
        stop_reason: None,
        input_tokens: 0,
        output_tokens: 0,
    };
    let mut partial_json: Vec<String> = Vec::new();
    for frame in text.split("\n\n") {
        let Some(data) = frame.lines().find_map(|line| line.strip_prefix("data:")) else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        let index = event["index"]
            .as_u64()
            .and_then(|i| usize::try_from(i).ok());
        match event["type"].as_str() {
            Some("message_start") => {
                let start = &event["message"];
                if let Some(id) = start["id"].as_str() {
                    message.id = id.to_owned();
                }
                let usage = &start["usage"];
                message.input_tokens = usage["input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_read_input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
            }
            Some("content_block_start") => {
                message.content.push(event["content_block"].clone());
                partial_json.push(String::new());
            }
            Some("content_block_delta") => {
                let Some(i) = index.filter(|i| *i < message.content.len()) else {
                    continue;
                };
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let text = format!(
                            "{}{}",
                            message.content[i]["text"].as_str().unwrap_or_default(),
                            delta["text"].as_str().unwrap_or_default()
                        );
                        message.content[i]["text"] = json!(text);
                    }
                    Some("input_json_delta") => {
                        partial_json[i]
                            .push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            Some("content_block_stop") => {
                if let Some(i) = index.filter(|i| *i < message.content.len())
                    && message.content[i]["type"] == "tool_use"
                    && !partial_json[i].is_empty()
                {
                    message.content[i]["input"] =
                        serde_json::from_str(&partial_json[i]).unwrap_or(json!({}));
                }
            }
            Some("message_delta") => {
                message.stop_reason = event["delta"]["stop_reason"].as_str().map(str::to_owned);
                message.output_tokens = event["usage"]["output_tokens"].as_u64().unwrap_or(0);
            }
            Some("error") => {
                return Err(event["error"]["message"]
                    .as_str()
                    .unwrap_or("an error event in the stream")
                    .to_owned());
            }
            _ => {}
        }
    }
    Ok(message)
}
