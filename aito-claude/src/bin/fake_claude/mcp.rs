//! MCP: the `--mcp-config` values, and (in API mode) a client that starts each stdio server,
//! lists its tools and calls them, as the CLI does.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

/// Reads each `--mcp-config` value (a file or inline JSON) into (value, content).
pub(crate) fn read_configs(values: &[String]) -> Result<Vec<(String, Value)>, String> {
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

/// Every server entry of the configurations, in the order written (a later file's entry of
/// the same name wins).
pub(crate) fn entries(configs: &[(String, Value)]) -> Vec<(String, Value)> {
    let mut servers: Vec<(String, Value)> = Vec::new();
    for (_, content) in configs {
        if let Some(entries) = content["mcpServers"].as_object() {
            for (name, entry) in entries {
                match servers.iter_mut().find(|(known, _)| known == name) {
                    Some(known) => known.1 = entry.clone(),
                    None => servers.push((name.clone(), entry.clone())),
                }
            }
        }
    }
    servers
}

/// Whether an entry is well formed: a stdio server with a command, a remote one with a URL
/// (a `url` without `type` is taken for stdio and has no command).
pub(crate) fn well_formed(entry: &Value) -> bool {
    match entry["type"].as_str().unwrap_or("stdio") {
        "stdio" => entry["command"].as_str().is_some_and(|c| !c.is_empty()),
        "http" | "sse" => entry["url"].as_str().is_some_and(|u| !u.is_empty()),
        _ => false,
    }
}

/// `${VAR}` and `${VAR:-default}` expanded from this process's environment; an unset
/// variable without a default becomes empty, as in the CLI.
pub(crate) fn expand(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..start + end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => out.push_str(&value),
            _ => out.push_str(default.unwrap_or_default()),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// How long a server may take to answer `initialize` and `tools/list` (`MCP_TIMEOUT`).
fn startup_timeout() -> Duration {
    let ms = std::env::var("MCP_TIMEOUT")
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .unwrap_or(30_000u64);
    Duration::from_millis(ms.min(60_000))
}

/// A running stdio server.
pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) tools: Vec<Value>,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: u64,
}

impl Server {
    /// Starts the server of `entry` and lists its tools.
    pub(crate) fn start(name: &str, entry: &Value) -> Result<Self, String> {
        if entry["type"].as_str().unwrap_or("stdio") != "stdio" {
            return Err("fake-claude reaches no remote MCP server".to_owned());
        }
        let command = entry["command"]
            .as_str()
            .ok_or("a stdio server needs a command")?;
        let args: Vec<String> = entry["args"]
            .as_array()
            .map(|args| args.iter().filter_map(Value::as_str).map(expand).collect())
            .unwrap_or_default();
        let mut spawn = Command::new(expand(command));
        spawn
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(env) = entry["env"].as_object() {
            for (key, value) in env {
                spawn.env(key, expand(value.as_str().unwrap_or_default()));
            }
        }
        let mut child = spawn.spawn().map_err(|error| error.to_string())?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            name: name.to_owned(),
            tools: Vec::new(),
            child,
            stdin,
            lines,
            next_id: 0,
        };
        let timeout = startup_timeout();
        server.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "fake-claude", "version": super::out::VERSION}}),
            timeout,
        )?;
        server.notify("notifications/initialized")?;
        let listed = server.request("tools/list", json!({}), timeout)?;
        server.tools = listed["tools"].as_array().cloned().unwrap_or_default();
        Ok(server)
    }

    fn send(&mut self, message: &Value) -> Result<(), String> {
        writeln!(self.stdin, "{message}")
            .and_then(|()| self.stdin.flush())
            .map_err(|error| format!("the server's stdin closed: {error}"))
    }

    fn notify(&mut self, method: &str) -> Result<(), String> {
        self.send(&json!({"jsonrpc": "2.0", "method": method}))
    }

    fn request(&mut self, method: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => return Err(format!("{method} timed out")),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the server exited".to_owned());
                }
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message["id"] != json!(id) {
                continue;
            }
            if let Some(error) = message.get("error") {
                return Err(error["message"].as_str().unwrap_or("an error").to_owned());
            }
            return Ok(message["result"].clone());
        }
    }

    /// Calls `tool` with `arguments`: the result's text and whether it is an error.
    pub(crate) fn call(&mut self, tool: &str, arguments: &Value, use_id: &str) -> (String, bool) {
        let params = json!({"name": tool, "arguments": arguments,
            "_meta": {"claudecode/toolUseId": use_id}});
        match self.request("tools/call", params, Duration::from_secs(120)) {
            Ok(result) => {
                let text = result["content"]
                    .as_array()
                    .map(|parts| {
                        parts
                            .iter()
                            .filter_map(|part| part["text"].as_str())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default();
                (text, result["isError"].as_bool().unwrap_or(false))
            }
            Err(error) => (format!("MCP error: {error}"), true),
        }
    }

    /// The tools as the API offers them: `mcp__<server>__<tool>`.
    pub(crate) fn api_tools(&self) -> Vec<Value> {
        self.tools
            .iter()
            .filter_map(|tool| {
                let name = tool["name"].as_str()?;
                let mut offered = Map::new();
                offered.insert(
                    "name".to_owned(),
                    json!(format!("mcp__{}__{name}", self.name)),
                );
                offered.insert("description".to_owned(), tool["description"].clone());
                offered.insert(
                    "input_schema".to_owned(),
                    tool.get("inputSchema")
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object"})),
                );
                Some(Value::Object(offered))
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
