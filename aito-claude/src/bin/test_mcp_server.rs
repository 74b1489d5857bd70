//! test-mcp-server: a real MCP server on stdin and stdout (newline-delimited JSON-RPC 2.0), with
//! one scripted tool, for the tests that run workers through the real Claude Code CLI or
//! `fake-claude`.
//!
//! ```text
//! test-mcp-server [--tool NAME] [--reply TEXT] [--record FILE] [--fail]
//! ```
//! - `--tool` names its tool (default `echo`); its input schema takes any object.
//! - `--reply` is the tool's answer (default `echo: {arguments}`); `{arguments}` is replaced by
//!   the call's arguments as JSON.
//! - `--record` appends one JSON line per request it receives (`{"method", "params"}`), so a
//!   test can check that the tool was called and with what.
//! - `--fail` exits at once with status 1, as a server that cannot start.
//!
//! It answers `initialize` (echoing the client's protocol version), `tools/list`,
//! `tools/call` and `ping`; notifications get no answer; other methods get the JSON-RPC error
//! "method not found".

use std::io::{BufRead, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

struct Options {
    tool: String,
    reply: String,
    record: Option<String>,
    fail: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        tool: "echo".to_owned(),
        reply: "echo: {arguments}".to_owned(),
        record: None,
        fail: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--tool" => options.tool = value("--tool")?,
            "--reply" => options.reply = value("--reply")?,
            "--record" => options.record = Some(value("--record")?),
            "--fail" => options.fail = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn record(path: Option<&str>, message: &Value) {
    let Some(path) = path else { return };
    let line = json!({"method": message["method"], "params": message["params"]});
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(error) = written {
        eprintln!("test-mcp-server: cannot write {path}: {error}");
    }
}

fn answer(options: &Options, message: &Value) -> Option<Value> {
    let id = message.get("id")?.clone();
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"].as_str().unwrap_or("2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "test-mcp-server", "version": env!("CARGO_PKG_VERSION")},
        }),
        "tools/list" => json!({"tools": [{
            "name": options.tool,
            "description": "A scripted tool of the tests: answers with a fixed text.",
            "inputSchema": {"type": "object", "additionalProperties": true},
        }]}),
        "tools/call" if message["params"]["name"].as_str() == Some(options.tool.as_str()) => {
            let arguments = message["params"]["arguments"].to_string();
            json!({"content": [{"type": "text", "text": options.reply.replace("{arguments}", &arguments)}]})
        }
        "tools/call" => {
            return Some(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32602, "message": "unknown tool"}}));
        }
        "ping" => json!({}),
        _ => {
            return Some(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "method not found"}}));
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("test-mcp-server: {message}");
            return ExitCode::from(2);
        }
    };
    if options.fail {
        eprintln!("test-mcp-server: failing to start, as told");
        return ExitCode::from(1);
    }
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        record(options.record.as_deref(), &message);
        if let Some(reply) = answer(&options, &message)
            && (writeln!(stdout, "{reply}").is_err() || stdout.flush().is_err())
        {
            break;
        }
    }
    ExitCode::SUCCESS
}
