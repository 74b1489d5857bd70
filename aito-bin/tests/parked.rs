//! `aito run --exit-when-idle` and its summary when the model parks an agent: a short rate
//! limit is waited out and its sessions counted; a long quota ends the run, and the summary
//! says which agent still holds work and until when.

mod binary;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use binary::{aito, output, texts};

/// A stand-in for `claude` whose first session fails with `first` (JSON lines) and exit 1,
/// and whose later sessions answer.
fn stand_in(dir: &Path, first: &str) {
    let script = format!(
        r#"#!/bin/sh
dir="$(dirname "$0")"
cat > /dev/null
n=$(cat "$dir/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/count"
if [ "$n" = 1 ]; then
{first}
exit 1
fi
printf '%s\n' '{{"type":"result","subtype":"success","is_error":false,"result":"{{\"summary\": \"Planned the quarter\", \"actions\": []}}","session_id":"s-2","total_cost_usd":0.01,"usage":{{"input_tokens":100,"output_tokens":20}},"num_turns":1,"duration_ms":5}}'
"#
    );
    let path = dir.join("claude");
    std::fs::write(&path, script).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        dir.join("aito.toml"),
        "[company]\nname = \"parked-co\"\n\n[[agents]]\nrole = \"ceo\"\nschedules = []\nrun_on_startup = true\n\n[claude]\nbinary = \"./claude\"\n",
    )
    .expect("config");
}

fn run(dir: &Path) -> (Option<i32>, String, String) {
    let mut command = aito(
        dir,
        &[
            "run",
            "--llm",
            "claude",
            "--exit-when-idle",
            "--bind",
            "127.0.0.1:0",
        ],
    );
    command.env("AITO_LLM_CLAUDE_BINARY", "");
    let run = output(command);
    let (stdout, stderr) = texts(&run);
    (run.status.code(), stdout, stderr)
}

#[test]
fn a_short_rate_limit_is_waited_out_and_both_sessions_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    stand_in(
        dir.path(),
        r#"printf '%s\n' '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":2,"retry_delay_ms":1500.25,"error_status":429,"error":"rate_limit"}'
printf '%s\n' '{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"API Error: Request rejected (429) · This request would exceed the rate limit for your organization","num_turns":1,"total_cost_usd":0,"terminal_reason":"api_error"}'"#,
    );
    let (code, stdout, stderr) = run(dir.path());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // The agent was parked, then tried again: the run did not stop while it waited.
    assert!(
        stderr.contains("rate limited; parking the agent"),
        "{stderr}"
    );
    assert!(stdout.contains("  ceo — 2 sessions, $"), "{stdout}");
    assert!(stdout.contains("Planned the quarter"), "{stdout}");
    assert!(stdout.contains("(2 sessions, 0 workers)"), "{stdout}");
    assert!(!stdout.contains("still held work"), "{stdout}");
}

#[test]
fn a_long_quota_ends_the_run_and_the_summary_names_the_waiting_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    stand_in(
        dir.path(),
        r#"printf '{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"Claude AI usage limit reached|%s","num_turns":1,"total_cost_usd":0}\n' "$(($(date +%s) + 7200))""#,
    );
    let (code, stdout, stderr) = run(dir.path());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("  ceo — 1 session, $"), "{stdout}");
    assert!(
        stdout.contains("    - still waiting: rate limited by the model; it tries again at"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "The run stopped while one agent still held work: ceo (rate limited by the model until"
        ),
        "{stdout}"
    );
    // The default company is durable: the waiting trigger stays in its data directory.
    assert!(
        stdout
            .contains("Their triggers are kept in the store and run when their daemons next run."),
        "{stdout}"
    );
    assert!(
        stderr.contains("stopping while ceo still holds work"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("count"))
            .expect("count")
            .trim(),
        "1",
        "no second session before the reset"
    );
}
