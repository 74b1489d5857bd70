//! fake-claude: a stand-in for the Claude Code CLI in headless (`-p`) mode, for aito-claude's
//! tests and the demo. It never calls a model.
//!
//! It parses the CLI's flags as the real one does (unknown options, missing values, invalid
//! choices and the `--verbose` rule are usage errors with the real messages and exit code 1),
//! reads the prompt from its arguments and stdin (to end of input, like the CLI), refuses to run
//! with `CLAUDECODE` set, reads the `--mcp-config` files it is given, and answers with the
//! result JSON (or the stream-json event sequence) of the real shape.
//!
//! What it answers is scripted: a JSON object (or an array of objects, one per invocation, the
//! last one repeating) in the file named by `FAKE_CLAUDE_SCRIPT`, overlaid by `FAKE_CLAUDE_<KEY>`
//! environment variables (`FAKE_CLAUDE_MODE=hang` sets `"mode": "hang"`; values are read as
//! JSON when they parse, else as strings). Keys:
//!
//! | key | meaning |
//! | --- | --- |
//! | `mode` | `success` (default), `error`, `max_turns`, `usage_limit` (old `\|epoch` text), `session_limit` (429, "You've hit your session limit · resets ..."), `rate_limit` (transient 429), `overloaded` (529), `auth` (401), `not_logged_in`, `prompt_too_long`, `exit` (no result, `stderr`, `exit_code`), `garbage` (non-JSON stdout), `huge` (a result of `bytes` bytes), `hang` (ignores SIGTERM, starts a child in its process group that does too, never answers), `leave_child` (answers, but leaves a SIGTERM-ignoring child holding stdout), `escape_child` (the same, but the child leaves the process group with `setsid`) |
//! | `result` | the result text |
//! | `cost`, `turns`, `duration_ms`, `input_tokens`, `output_tokens`, `cache_read_tokens`, `cache_creation_tokens` | numbers in the result |
//! | `lines` | stream-json: this many assistant events (`step 1` ... `step N`) before the answer |
//! | `line_delay_ms`, `delay_ms` | pause between streamed lines; pause before answering |
//! | `noise` | stream-json: also print a non-JSON line and an event of an unknown type |
//! | `bytes` | size of the `huge` result (default 5 MiB); its text cycles through `a-z0-9` |
//! | `reset_epoch`, `reset_text` | the reset time of the limit modes |
//! | `is_error`, `exit_code`, `stderr`, `stdout` | overrides |
//!
//! Every invocation appends one JSON line to the file named by `FAKE_CLAUDE_RECORD` (when set):
//! `argv`, `cwd`, `pid`, `pgid`, `childPid`, `stdin`, `prompt`, `mode`, `env` (`CLAUDECODE`,
//! `CLAUDE_CODE_MAX_RETRIES` and the names listed in `FAKE_CLAUDE_RECORD_ENV`), and
//! `mcpConfigs` (each `--mcp-config` value with the content it had), so tests can check what the
//! adapter passed even after its temporary files are gone.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

const HANG_CHILD_ARG: &str = "--fake-claude-hang-child";
const ESCAPED_CHILD_ARG: &str = "--fake-claude-escaped-child";
const VERSION: &str = "2.1.0 (Claude Code)";
const MODEL: &str = "claude-sonnet-4-5-20250929";
const HUGE_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const BUILTIN_TOOLS: [&str; 10] = [
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "Read",
    "Edit",
    "Write",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(HANG_CHILD_ARG) => hang_forever(),
        Some(ESCAPED_CHILD_ARG) => {
            // Leave the process group (as a daemonizing MCP server would), keep the pipes.
            let _ = rustix::process::setsid();
            hang_forever()
        }
        _ => {}
    }
    let code = run(&args);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

// ---------------------------------------------------------------------------------------------
// Flags

#[derive(Clone, Copy, PartialEq)]
enum Arity {
    Flag,
    Value(&'static str),
    Optional(&'static str),
    Variadic(&'static str),
}

/// The CLI's options in print mode: canonical name, aliases, arity.
const OPTIONS: &[(&str, &[&str], Arity)] = &[
    ("print", &["-p", "--print"], Arity::Flag),
    (
        "output-format",
        &["--output-format"],
        Arity::Value("format"),
    ),
    ("input-format", &["--input-format"], Arity::Value("format")),
    ("verbose", &["--verbose"], Arity::Flag),
    ("debug", &["-d", "--debug"], Arity::Optional("filter")),
    (
        "include-partial-messages",
        &["--include-partial-messages"],
        Arity::Flag,
    ),
    (
        "replay-user-messages",
        &["--replay-user-messages"],
        Arity::Flag,
    ),
    (
        "include-hook-events",
        &["--include-hook-events"],
        Arity::Flag,
    ),
    ("model", &["--model"], Arity::Value("model")),
    (
        "fallback-model",
        &["--fallback-model"],
        Arity::Value("model"),
    ),
    ("max-turns", &["--max-turns"], Arity::Value("turns")),
    (
        "max-budget-usd",
        &["--max-budget-usd"],
        Arity::Value("amount"),
    ),
    (
        "system-prompt",
        &["--system-prompt"],
        Arity::Value("prompt"),
    ),
    (
        "system-prompt-file",
        &["--system-prompt-file"],
        Arity::Value("file"),
    ),
    (
        "append-system-prompt",
        &["--append-system-prompt"],
        Arity::Value("prompt"),
    ),
    (
        "mcp-config",
        &["--mcp-config"],
        Arity::Variadic("configs..."),
    ),
    ("strict-mcp-config", &["--strict-mcp-config"], Arity::Flag),
    (
        "allowed-tools",
        &["--allowedTools", "--allowed-tools"],
        Arity::Variadic("tools..."),
    ),
    (
        "disallowed-tools",
        &["--disallowedTools", "--disallowed-tools"],
        Arity::Variadic("tools..."),
    ),
    ("tools", &["--tools"], Arity::Variadic("tools...")),
    (
        "permission-mode",
        &["--permission-mode"],
        Arity::Value("mode"),
    ),
    (
        "dangerously-skip-permissions",
        &["--dangerously-skip-permissions"],
        Arity::Flag,
    ),
    (
        "permission-prompt-tool",
        &["--permission-prompt-tool"],
        Arity::Value("tool"),
    ),
    ("resume", &["-r", "--resume"], Arity::Optional("sessionId")),
    ("continue", &["-c", "--continue"], Arity::Flag),
    ("fork-session", &["--fork-session"], Arity::Flag),
    ("session-id", &["--session-id"], Arity::Value("uuid")),
    ("add-dir", &["--add-dir"], Arity::Variadic("directories...")),
    ("settings", &["--settings"], Arity::Value("file-or-json")),
    (
        "setting-sources",
        &["--setting-sources"],
        Arity::Value("sources"),
    ),
    ("json-schema", &["--json-schema"], Arity::Value("schema")),
    ("effort", &["--effort"], Arity::Value("level")),
    (
        "max-thinking-tokens",
        &["--max-thinking-tokens"],
        Arity::Value("tokens"),
    ),
    ("betas", &["--betas"], Arity::Variadic("betas...")),
    ("plugin-dir", &["--plugin-dir"], Arity::Value("path")),
    ("version", &["-v", "--version"], Arity::Flag),
    ("help", &["-h", "--help"], Arity::Flag),
];

/// The parsed command line: option name to its values (flags have one empty value).
#[derive(Default)]
struct Parsed {
    options: BTreeMap<&'static str, Vec<String>>,
    positional: Vec<String>,
}

impl Parsed {
    fn has(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }
    fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name)?.last().map(String::as_str)
    }
    fn values(&self, name: &str) -> Vec<String> {
        self.options.get(name).cloned().unwrap_or_default()
    }
}

fn usage_name(alias: &str, arity: Arity) -> String {
    match arity {
        Arity::Flag => alias.to_owned(),
        Arity::Value(v) | Arity::Variadic(v) => format!("{alias} <{v}>"),
        Arity::Optional(v) => format!("{alias} [{v}]"),
    }
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            parsed.positional.extend(args[i..].iter().cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            parsed.positional.push(arg.clone());
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let Some(&(name, aliases, arity)) = OPTIONS
            .iter()
            .find(|(_, aliases, _)| aliases.contains(&flag))
        else {
            return Err(format!("error: unknown option '{arg}'"));
        };
        let shown = usage_name(aliases.last().copied().unwrap_or(flag), arity);
        let values = parsed.options.entry(name).or_default();
        match arity {
            Arity::Flag => {
                if inline.is_some() {
                    return Err(format!("error: option '{shown}' does not take an argument"));
                }
                values.push(String::new());
            }
            Arity::Value(_) => match inline.or_else(|| {
                let next = args.get(i).cloned();
                i += usize::from(next.is_some());
                next
            }) {
                Some(value) => values.push(value),
                None => return Err(format!("error: option '{shown}' argument missing")),
            },
            Arity::Optional(_) => match inline {
                Some(value) => values.push(value),
                None => match args.get(i) {
                    Some(next) if !next.starts_with('-') => {
                        values.push(next.clone());
                        i += 1;
                    }
                    _ => values.push(String::new()),
                },
            },
            Arity::Variadic(_) => {
                let before = values.len();
                if let Some(value) = inline {
                    values.push(value);
                }
                while let Some(next) = args.get(i).filter(|next| !next.starts_with('-')) {
                    values.push(next.clone());
                    i += 1;
                }
                if values.len() == before {
                    return Err(format!("error: option '{shown}' argument missing"));
                }
            }
        }
    }
    Ok(parsed)
}

fn check_choice(parsed: &Parsed, name: &str, shown: &str, choices: &[&str]) -> Result<(), String> {
    match parsed.value(name) {
        Some(value) if !choices.contains(&value) => Err(format!(
            "error: option '{shown}' argument '{value}' is invalid. Allowed choices are {}.",
            choices.join(", ")
        )),
        _ => Ok(()),
    }
}

fn validate(parsed: &Parsed) -> Result<(), String> {
    check_choice(
        parsed,
        "output-format",
        "--output-format <format>",
        &["text", "json", "stream-json"],
    )?;
    check_choice(
        parsed,
        "input-format",
        "--input-format <format>",
        &["text", "stream-json"],
    )?;
    check_choice(
        parsed,
        "permission-mode",
        "--permission-mode <mode>",
        &[
            "acceptEdits",
            "bypassPermissions",
            "default",
            "dontAsk",
            "plan",
            "auto",
        ],
    )?;
    if let Some(turns) = parsed.value("max-turns")
        && turns.parse::<u32>().is_err()
    {
        return Err(format!(
            "error: option '--max-turns <turns>' argument '{turns}' is invalid."
        ));
    }
    if let Some(id) = parsed.value("session-id")
        && !looks_like_uuid(id)
    {
        return Err("Error: Invalid session ID. Must be a valid UUID.".to_owned());
    }
    if std::env::var_os("CLAUDECODE").is_some_and(|v| !v.is_empty()) {
        return Err(
            "Error: Claude Code cannot be launched inside another Claude Code session.\n\
Nested sessions share runtime resources and will crash all active sessions.\n\
To bypass this check, unset the CLAUDECODE environment variable."
                .to_owned(),
        );
    }
    if !parsed.has("print") {
        return Err("fake-claude: only print mode (-p) is supported".to_owned());
    }
    if parsed.value("output-format") == Some("stream-json") && !parsed.has("verbose") {
        return Err(
            "Error: When using --print, --output-format=stream-json requires --verbose".to_owned(),
        );
    }
    if parsed.has("dangerously-skip-permissions")
        && rustix::process::geteuid().is_root()
        && std::env::var_os("IS_SANDBOX").is_none()
    {
        return Err(
            "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons"
                .to_owned(),
        );
    }
    Ok(())
}

fn looks_like_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------------
// MCP configuration

/// Reads each `--mcp-config` value (a file or inline JSON) into (value, content).
fn read_mcp_configs(values: &[String]) -> Result<Vec<(String, Value)>, String> {
    let mut configs = Vec::new();
    for value in values {
        let text = if value.trim_start().starts_with('{') {
            value.clone()
        } else {
            std::fs::read_to_string(value).map_err(|_| {
                format!("Error: Invalid MCP configuration:\nMCP config file not found: {value}")
            })?
        };
        let content: Value = serde_json::from_str(&text).map_err(|_| {
            "Error: Invalid MCP configuration:\nMCP config is not a valid JSON".to_owned()
        })?;
        if !content["mcpServers"].is_object() {
            return Err("Error: Invalid MCP configuration:\nmcpServers: Expected object, received undefined".to_owned());
        }
        configs.push((value.clone(), content));
    }
    Ok(configs)
}

/// `mcp_servers` of the init event: `connected` for a well-formed entry, `failed` otherwise
/// (a `url` without `type` is treated as stdio and has no command).
fn mcp_status(configs: &[(String, Value)]) -> Vec<(String, &'static str)> {
    let mut servers = Vec::new();
    for (_, content) in configs {
        if let Some(entries) = content["mcpServers"].as_object() {
            for (name, entry) in entries {
                let ok = match entry["type"].as_str().unwrap_or("stdio") {
                    "stdio" => entry["command"].as_str().is_some_and(|c| !c.is_empty()),
                    "http" | "sse" => entry["url"].as_str().is_some_and(|u| !u.is_empty()),
                    _ => false,
                };
                servers.push((name.clone(), if ok { "connected" } else { "failed" }));
            }
        }
    }
    servers
}

// ---------------------------------------------------------------------------------------------
// The script

struct Script(Map<String, Value>);

impl Script {
    fn load() -> Result<Self, String> {
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

    fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    fn u64(&self, key: &str) -> Option<u64> {
        let value = self.0.get(key)?;
        value.as_u64().or_else(|| value.as_str()?.parse().ok())
    }
    fn f64(&self, key: &str) -> Option<f64> {
        let value = self.0.get(key)?;
        value.as_f64().or_else(|| value.as_str()?.parse().ok())
    }
    fn bool(&self, key: &str) -> Option<bool> {
        let value = self.0.get(key)?;
        value
            .as_bool()
            .or_else(|| value.as_u64().map(|n| n != 0))
            .or_else(|| Some(matches!(value.as_str()?, "1" | "true" | "yes")))
    }
    fn mode(&self) -> String {
        self.str("mode").unwrap_or_else(|| "success".to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Output

struct Out {
    stream: bool,
    text: bool,
    session_id: String,
    model: String,
}

impl Out {
    fn line(&self, value: &Value) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{value}");
        let _ = stdout.flush();
    }

    fn raw(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    fn assistant(&self, text: &str, extra: Option<(&str, Value)>) {
        let mut message = json!({
            "id": format!("msg_{}", pseudo_hex(24)), "type": "message", "role": "assistant",
            "model": self.model, "content": [{"type": "text", "text": text}],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 12},
        });
        let mut event = json!({"type": "assistant", "parent_tool_use_id": null,
            "session_id": self.session_id, "uuid": pseudo_uuid()});
        if let Some((key, value)) = extra {
            message["model"] = json!("<synthetic>");
            event[key] = value;
        }
        event["message"] = message;
        self.line(&event);
    }

    /// Prints the final result in the chosen format.
    fn result(&self, result: &Value) {
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

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn pseudo_hex(len: usize) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut state = nanos ^ (u128::from(std::process::id()) << 64) ^ 0x9e37_79b9_7f4a_7c15;
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

fn pseudo_uuid() -> String {
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

fn huge_text(bytes: usize) -> String {
    HUGE_ALPHABET.chars().cycle().take(bytes).collect()
}

fn sleep_ms(ms: u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

// ---------------------------------------------------------------------------------------------
// Hanging

/// Replaces the default action of SIGTERM (terminate) for the rest of the process: a
/// registered handler that nobody reads from makes the signal a no-op.
fn ignore_sigterm() -> Option<(tokio::runtime::Runtime, tokio::signal::unix::Signal)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .ok()?;
    let signal = {
        let _entered = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()?
    };
    Some((runtime, signal))
}

fn hang_forever() -> ! {
    let _sigterm_ignored = ignore_sigterm();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Starts a copy of this program that ignores SIGTERM and sleeps forever, holding this
/// process's stdout and stderr: in this process group, or in a session of its own.
fn start_hanging_child(escape: bool) -> Option<u32> {
    let exe = std::env::current_exe().ok()?;
    let child = Command::new(exe)
        .arg(if escape {
            ESCAPED_CHILD_ARG
        } else {
            HANG_CHILD_ARG
        })
        .stdin(Stdio::null())
        .spawn()
        .ok()?;
    if escape {
        // Answer only once the child is out of the group, so that it cannot be killed with it.
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)?;
        let own = rustix::process::getpgrp();
        for _ in 0..500 {
            if rustix::process::getpgid(Some(pid)).is_ok_and(|pgid| pgid != own) {
                break;
            }
            sleep_ms(2);
        }
    }
    Some(child.id())
}

// ---------------------------------------------------------------------------------------------
// The run

fn record(
    parsed_argv: &[String],
    stdin: &str,
    prompt: &str,
    mode: &str,
    mcp: &[(String, Value)],
    child: Option<u32>,
) {
    let Some(path) = std::env::var_os("FAKE_CLAUDE_RECORD") else {
        return;
    };
    let mut env = Map::new();
    let mut names = vec![
        "CLAUDECODE".to_owned(),
        "CLAUDE_CODE_MAX_RETRIES".to_owned(),
    ];
    if let Ok(extra) = std::env::var("FAKE_CLAUDE_RECORD_ENV") {
        names.extend(
            extra
                .split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
        );
    }
    for name in names {
        env.insert(
            name.clone(),
            std::env::var(&name).map_or(Value::Null, Value::String),
        );
    }
    let configs: Vec<Value> = mcp
        .iter()
        .map(|(value, content)| json!({"value": value, "content": content}))
        .collect();
    let entry = json!({
        "argv": parsed_argv,
        "cwd": std::env::current_dir().ok().map(|d| d.display().to_string()),
        "pid": std::process::id(),
        "pgid": rustix::process::getpgrp().as_raw_pid(),
        "childPid": child,
        "stdin": stdin,
        "prompt": prompt,
        "mode": mode,
        "env": env,
        "mcpConfigs": configs,
    });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{entry}"));
    if let Err(error) = written {
        eprintln!("fake-claude: cannot write FAKE_CLAUDE_RECORD: {error}");
    }
}

fn run(args: &[String]) -> i32 {
    let parsed = match parse(args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            record(args, "", "", "usage_error", &[], None);
            return 1;
        }
    };
    if parsed.has("version") {
        println!("{VERSION}");
        return 0;
    }
    if parsed.has("help") {
        println!("Usage: claude [options] [command] [prompt]\n\n(fake-claude: a test stand-in)");
        return 0;
    }
    if let Err(message) = validate(&parsed) {
        eprintln!("{message}");
        record(args, "", "", "usage_error", &[], None);
        return 1;
    }
    let mcp = match read_mcp_configs(&parsed.values("mcp-config")) {
        Ok(mcp) => mcp,
        Err(message) => {
            eprintln!("{message}");
            record(args, "", "", "usage_error", &[], None);
            return 1;
        }
    };
    let mut stdin = String::new();
    if !std::io::stdin().is_terminal() {
        let mut bytes = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut bytes);
        stdin = String::from_utf8_lossy(&bytes).into_owned();
    }
    let mut prompt = parsed.positional.join(" ");
    if !stdin.trim().is_empty() {
        if !prompt.is_empty() {
            prompt.push('\n');
        }
        prompt.push_str(&stdin);
    }
    if prompt.trim().is_empty() {
        eprintln!(
            "Error: Input must be provided either through stdin or as a prompt argument when using --print"
        );
        record(args, &stdin, &prompt, "usage_error", &mcp, None);
        return 1;
    }
    let script = match Script::load() {
        Ok(script) => script,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    let mode = script.mode();
    let child = match mode.as_str() {
        "hang" | "leave_child" => start_hanging_child(false),
        "escape_child" => start_hanging_child(true),
        _ => None,
    };
    record(args, &stdin, &prompt, &mode, &mcp, child);
    answer(&parsed, &script, &mode, &prompt, &mcp)
}

fn answer(
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
    let model = parsed.value("model").map_or(MODEL, |m| m).to_owned();
    let out = Out {
        stream: format == "stream-json",
        text: format == "text",
        session_id: session_id.clone(),
        model: model.clone(),
    };

    if out.stream {
        let servers = mcp_status(mcp);
        let mut tools: Vec<String> = match parsed.options.get("tools") {
            Some(list) if list.iter().all(|t| t.is_empty()) => Vec::new(),
            _ => BUILTIN_TOOLS.iter().map(|t| (*t).to_owned()).collect(),
        };
        for (name, status) in &servers {
            if *status == "connected" {
                tools.push(format!("mcp__{name}__ping"));
                tools.push(format!("mcp__{name}__echo"));
            }
        }
        out.line(&json!({
            "type": "system", "subtype": "init",
            "cwd": std::env::current_dir().ok().map(|d| d.display().to_string()),
            "session_id": session_id, "tools": tools,
            "mcp_servers": servers.iter().map(|(name, status)| json!({"name": name, "status": status})).collect::<Vec<_>>(),
            "model": model,
            "permissionMode": parsed.value("permission-mode").unwrap_or("default"),
            "slash_commands": ["compact", "context", "cost"],
            "apiKeySource": if std::env::var_os("ANTHROPIC_API_KEY").is_some() { "ANTHROPIC_API_KEY" } else { "none" },
            "claude_code_version": VERSION.split(' ').next(),
            "output_style": "default", "agents": [], "skills": [], "plugins": [],
            "uuid": pseudo_uuid(), "fast_mode_state": "off",
        }));
        if script.bool("noise").unwrap_or(false) {
            out.raw("[SandboxDebug] fake sandbox note\n");
            out.line(
                &json!({"type": "fancy_new_event", "session_id": session_id, "detail": {"x": 1}}),
            );
        }
    }

    if mode == "hang" {
        hang_forever();
    }
    sleep_ms(script.u64("delay_ms").unwrap_or(0));

    let turns = script.u64("turns").unwrap_or(1);
    let cost = script.f64("cost").unwrap_or(0.0123);
    let duration_ms = script.u64("duration_ms").unwrap_or(1234);
    let base = |subtype: &str, is_error: bool, result: Option<String>| -> Value {
        let input = script.u64("input_tokens").unwrap_or(12);
        let output = script.u64("output_tokens").unwrap_or(34);
        let cache_read = script.u64("cache_read_tokens").unwrap_or(0);
        let cache_creation = script.u64("cache_creation_tokens").unwrap_or(0);
        json!({
            "type": "result", "subtype": subtype,
            "is_error": script.bool("is_error").unwrap_or(is_error),
            "duration_ms": duration_ms, "duration_api_ms": duration_ms * 3 / 4,
            "num_turns": turns, "result": result,
            "stop_reason": "end_turn", "terminal_reason": "completed",
            "session_id": session_id, "total_cost_usd": cost,
            "usage": {"input_tokens": input, "cache_creation_input_tokens": cache_creation,
                "cache_read_input_tokens": cache_read, "output_tokens": output,
                "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                "service_tier": "standard",
                "cache_creation": {"ephemeral_5m_input_tokens": cache_creation, "ephemeral_1h_input_tokens": 0}},
            "modelUsage": {model.clone(): {"inputTokens": input, "outputTokens": output,
                "cacheReadInputTokens": cache_read, "cacheCreationInputTokens": cache_creation,
                "webSearchRequests": 0, "costUSD": cost, "contextWindow": 200000}},
            "permission_denials": [], "api_error_status": null, "uuid": pseudo_uuid(),
        })
    };
    let exit_code = |default: i32| -> i32 {
        script
            .u64("exit_code")
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(default)
    };
    let max_turns: Option<u64> = parsed.value("max-turns").and_then(|t| t.parse().ok());
    let reset_epoch = script.u64("reset_epoch").unwrap_or(now_secs() + 3600);

    let api_error = |status: u64, text: String, retries: Option<(&str, u64)>| -> i32 {
        if out.stream {
            if let Some((kind, n)) = retries {
                for attempt in 1..=n {
                    out.line(
                        &json!({"type": "system", "subtype": "api_retry", "attempt": attempt,
                        "max_retries": n, "retry_delay_ms": 500 * attempt, "error_status": status,
                        "error": kind, "session_id": session_id, "uuid": pseudo_uuid()}),
                    );
                }
            }
            out.assistant(
                &text,
                Some((
                    "error",
                    json!(if status == 401 {
                        "authentication_failed"
                    } else {
                        "rate_limit"
                    }),
                )),
            );
        }
        let mut result = base("success", true, Some(text));
        result["api_error_status"] = json!(status);
        result["terminal_reason"] = json!("api_error");
        result["stop_reason"] = json!("stop_sequence");
        out.result(&result);
        exit_code(1)
    };

    match mode {
        "success" | "huge" | "leave_child" | "escape_child" => {
            if max_turns.is_some_and(|max| turns > max) {
                return max_turns_result(&out, &base, max_turns.unwrap_or(0), &exit_code);
            }
            let text = if mode == "huge" {
                huge_text(usize::try_from(script.u64("bytes").unwrap_or(5 * 1024 * 1024)).unwrap_or(0))
            } else {
                script.str("result").unwrap_or_else(|| format!("fake answer ({} prompt bytes)", prompt.len()))
            };
            if out.stream {
                let lines = script.u64("lines").unwrap_or(0);
                let delay = script.u64("line_delay_ms").unwrap_or(0);
                for step in 1..=lines {
                    out.assistant(&format!("step {step}"), None);
                    sleep_ms(delay);
                }
                out.assistant(&text, None);
            }
            out.result(&base("success", false, Some(text)));
            exit_code(0)
        }
        "max_turns" => max_turns_result(&out, &base, max_turns.unwrap_or(turns), &exit_code),
        "error" => {
            let message = script.str("result").unwrap_or_else(|| "fake failure during execution".to_owned());
            let mut result = base("error_during_execution", true, None);
            result["errors"] = json!([message]);
            result["terminal_reason"] = json!("error");
            out.result(&result);
            exit_code(1)
        }
        "prompt_too_long" => {
            let mut result = base("success", true, Some("Prompt is too long".to_owned()));
            result["terminal_reason"] = json!("prompt_too_long");
            out.result(&result);
            exit_code(1)
        }
        "usage_limit" => {
            // The old form: the notice was the result text.
            let text = format!("Claude AI usage limit reached|{reset_epoch}");
            if out.stream {
                out.assistant(&text, None);
            }
            out.result(&base("success", false, Some(text)));
            exit_code(0)
        }
        "session_limit" => {
            let text = script
                .str("reset_text")
                .unwrap_or_else(|| "You've hit your session limit · resets 9am (Europe/Berlin)".to_owned());
            if out.stream {
                out.line(&json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected",
                    "resetsAt": reset_epoch, "rateLimitType": "five_hour", "isUsingOverage": false},
                    "session_id": session_id, "uuid": pseudo_uuid()}));
            }
            api_error(429, text, None)
        }
        "rate_limit" => api_error(
            429,
            script.str("result").unwrap_or_else(|| "API Error: 429 {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"This request would exceed your account's rate limit. Please try again later.\"}}".to_owned()),
            Some(("rate_limit", 2)),
        ),
        "overloaded" => api_error(
            529,
            "API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}".to_owned(),
            Some(("overloaded", 2)),
        ),
        "auth" => api_error(401, "Failed to authenticate. API Error: 401 Invalid bearer token".to_owned(), None),
        "not_logged_in" => {
            out.result(&base("success", true, Some("Invalid API key · Please run /login".to_owned())));
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

fn max_turns_result(
    out: &Out,
    base: &dyn Fn(&str, bool, Option<String>) -> Value,
    max: u64,
    exit_code: &dyn Fn(i32) -> i32,
) -> i32 {
    let mut result = base("error_max_turns", true, None);
    result["errors"] = json!([format!("Reached maximum number of turns ({max})")]);
    result["terminal_reason"] = json!("max_turns");
    result["num_turns"] = json!(max + 1);
    out.result(&result);
    exit_code(1)
}
