//! The fake CLI behaves like the real one where the adapters depend on it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{Fake, fake_binary};
use serde_json::{Value, json};

/// Runs the fake with `args`, `stdin` and `env`, recording to `fake`.
fn run(fake: &Fake, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(fake_binary());
    command
        .args(args)
        .env_remove("CLAUDECODE")
        .env("FAKE_CLAUDE_RECORD", &fake.record)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // The fake may refuse before reading; a broken pipe is then expected.
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn usage_errors_exit_1_with_the_cli_messages() {
    let fake = Fake::new();
    for (args, env, message) in [
        (
            &["-p", "--output-format", "stream-json"][..],
            &[][..],
            "Error: When using --print, --output-format=stream-json requires --verbose",
        ),
        (&["-p", "--bogus"], &[], "error: unknown option '--bogus'"),
        (
            &["-p", "--model"],
            &[],
            "error: option '--model <model>' argument missing",
        ),
        (
            &["-p", "--output-format", "xml"],
            &[],
            "error: option '--output-format <format>' argument 'xml' is invalid. Allowed choices are text, json, stream-json.",
        ),
        (
            &["-p", "--mcp-config", "/nonexistent.json"],
            &[],
            "Error: Invalid MCP configuration:\nMCP config file not found: /nonexistent.json",
        ),
        (
            &["-p", "--max-turns", "abc"],
            &[],
            "error: option '--max-turns <turns>' argument 'abc' is invalid. must be a number",
        ),
        (
            &["-p", "--resume=-abc"],
            &[],
            "Error: --resume requires a valid session ID or session title when used with --print.",
        ),
    ] {
        let output = run(&fake, args, "hello", env);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).starts_with(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // What 2.1.332 accepts: odd turn limits, and CLAUDECODE in print mode.
    for (args, env) in [
        (&["-p", "--max-turns", "0"][..], &[][..]),
        (&["-p", "--max-turns=-1"], &[]),
        (&["-p", "--max-turns", "2.5"], &[]),
        (&["-p"], &[("CLAUDECODE", "1")]),
    ] {
        let output = run(&fake, args, "hello", env);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = run(&fake, &["-p", "--output-format", "json"], "", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "Error: Input must be provided either through stdin or as a prompt argument when using --print"
    );
}

#[test]
fn prompt_comes_from_arguments_and_stdin_and_variadic_options_swallow_what_follows() {
    let fake = Fake::new();
    let output = run(
        &fake,
        &["-p", "--output-format", "json", "from argv"],
        "from stdin",
        &[],
    );
    assert!(output.status.success());
    let record = &fake.records()[0];
    assert_eq!(record["prompt"], json!("from argv\nfrom stdin"));

    // As in the real CLI, `--allowedTools` takes the words after it: the prompt is gone.
    let output = run(&fake, &["-p", "--allowedTools", "Bash", "do it"], "", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).starts_with("Error: Input must be provided"));
}

#[test]
fn stream_json_is_init_then_assistant_then_result_with_mcp_servers_echoed() {
    let fake = Fake::new();
    let config = fake.dir.path().join("mcp.json");
    std::fs::write(
        &config,
        r#"{"mcpServers":{"a":{"type":"stdio","command":"sh"},"b":{"url":"https://h/mcp"},"c":{"command":"/nonexistent/server"}}}"#,
    )
    .unwrap();
    let output = run(
        &fake,
        &[
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--mcp-config",
            config.to_str().unwrap(),
            "--strict-mcp-config",
        ],
        "go",
        &[("FAKE_CLAUDE_LINES", "2")],
    );
    assert!(output.status.success());
    let events = lines(&output);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["system", "assistant", "assistant", "assistant", "result"]
    );
    assert_eq!(
        events[0]["mcp_servers"],
        json!([
            {"name": "a", "status": "connected"},
            {"name": "b", "status": "failed"},
            {"name": "c", "status": "failed"}
        ])
    );
    let session = &events[0]["session_id"];
    assert!(events.iter().all(|e| &e["session_id"] == session));
    assert_eq!(
        fake.records()[0]["mcpConfigs"][0]["content"]["mcpServers"]["a"]["command"],
        json!("sh")
    );
}

#[test]
fn error_results_exit_1_and_a_script_file_answers_each_invocation_in_turn() {
    let fake = Fake::new();
    let script = fake.dir.path().join("script.json");
    std::fs::write(
        &script,
        r#"[{"mode": "overloaded"}, {"mode": "success", "result": "second"}]"#,
    )
    .unwrap();
    let env = [("FAKE_CLAUDE_SCRIPT", script.to_str().unwrap())];
    let first = run(&fake, &["-p", "--output-format", "json"], "x", &env);
    assert_eq!(first.status.code(), Some(1));
    let result: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        (
            result["is_error"].clone(),
            result["api_error_status"].clone()
        ),
        (json!(true), json!(529))
    );
    for _ in 0..2 {
        let next = run(&fake, &["-p", "--output-format", "json"], "x", &env);
        assert!(next.status.success());
        let result: Value = serde_json::from_slice(&next.stdout).unwrap();
        assert_eq!(result["result"], json!("second"), "the last entry repeats");
    }
}
