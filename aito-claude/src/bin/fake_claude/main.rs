//! fake-claude: a stand-in for the Claude Code CLI (2.1.332) in headless (`-p`) mode, for
//! aito-claude's tests. It never calls a model.
//!
//! It parses the CLI's flags as the real one does (unknown options, missing values, invalid
//! choices and the `--verbose` rule are usage errors with the real messages and exit code 1),
//! reads the prompt from its arguments and stdin (to end of input, like the CLI), reads the
//! `--mcp-config` files it is given, and answers in one of two ways:
//!
//! - **API mode** (`FAKE_CLAUDE_MODE=api`): it acts as the CLI does against the Messages API
//!   at `ANTHROPIC_BASE_URL`, which must be a server on this machine (aito-mock-api's): the
//!   requests, the retries, the error texts, the tool calls (MCP servers really started, tool
//!   calls refused without permission) and the transcripts are the CLI's. See [`api`]. The
//!   adapter's contract tests run the same scripts through it and through the real CLI.
//! - **Scripted mode** (anything else): the answer comes from a script, without any API
//!   call, in the CLI's shapes and texts. See [`script`] and docs/claude.md for the keys.
//!
//! Every invocation appends one JSON line to the file named by `FAKE_CLAUDE_RECORD` (when set):
//! `argv`, `cwd`, `pid`, `pgid`, `childPid`, `stdin`, `prompt`, `mode`, `env` (`CLAUDECODE`,
//! `CLAUDE_CODE_MAX_RETRIES` and the names listed in `FAKE_CLAUDE_RECORD_ENV`), and
//! `mcpConfigs` (each `--mcp-config` value with the content it had), so tests can check what the
//! adapter passed even after its temporary files are gone.

mod api;
mod flags;
mod http;
mod mcp;
mod out;
mod script;

use std::io::{IsTerminal, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::flags::Parsed;
use crate::script::Script;

const HANG_CHILD_ARG: &str = "--fake-claude-hang-child";
const ESCAPED_CHILD_ARG: &str = "--fake-claude-escaped-child";

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

pub(crate) fn hang_forever() -> ! {
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
            out::sleep_ms(2);
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

/// A usage error: the message on stderr, exit 1.
fn usage_error(args: &[String], message: &str, stdin: &str, mcp: &[(String, Value)]) -> i32 {
    eprintln!("{message}");
    record(args, stdin, "", "usage_error", mcp, None);
    1
}

fn run(args: &[String]) -> i32 {
    let parsed: Parsed = match flags::parse(args) {
        Ok(parsed) => parsed,
        Err(message) => return usage_error(args, &message, "", &[]),
    };
    if parsed.has("version") {
        println!("{}", out::VERSION);
        return 0;
    }
    if parsed.has("help") {
        println!("Usage: claude [options] [command] [prompt]\n\n(fake-claude: a test stand-in)");
        return 0;
    }
    if let Err(message) = flags::validate(&parsed) {
        return usage_error(args, &message, "", &[]);
    }
    let mcp = match mcp::read_configs(&parsed.values("mcp-config")) {
        Ok(mcp) => mcp,
        Err(message) => return usage_error(args, &message, "", &[]),
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
        return usage_error(
            args,
            "Error: Input must be provided either through stdin or as a prompt argument when using --print",
            &stdin,
            &mcp,
        );
    }
    if let Err(message) = flags::check_resume(&parsed) {
        return usage_error(args, &message, &stdin, &mcp);
    }
    let script = match Script::load() {
        Ok(script) => script,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    let mode = script.mode();
    if mode == "api" {
        record(args, &stdin, &prompt, &mode, &mcp, None);
        return api::run(&parsed, &prompt, &mcp);
    }
    let child = match mode.as_str() {
        "hang" | "leave_child" => start_hanging_child(false),
        "escape_child" => start_hanging_child(true),
        _ => None,
    };
    record(args, &stdin, &prompt, &mode, &mcp, child);
    script::answer(&parsed, &script, &mode, &prompt, &mcp)
}
