//! What a model process started, after its daemon was killed with `kill -9`, through the real
//! binary: the model process itself dies with the daemon (its parent-death signal), what it
//! started in its process group outlives it, and the next `aito run` on the same data
//! directory kills that group before it starts work, then handles the message again.

mod binary;

use std::path::Path;
use std::time::{Duration, Instant};

use binary::{Running, aito, eventually, output, texts};
use serde_json::{Value, json};

const ROLES: [&str; 7] = ["CEO", "DAO", "CMO", "CTO", "CFO", "COO", "CCO"];

/// `aito` with every schedule off, so that only what a test sends runs.
fn quiet(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut command = aito(dir, args);
    for role in ROLES {
        command.env(format!("AITO_AGENTS_{role}_SCHEDULES"), "[]");
    }
    command
}

/// The CLI's result object around the model's answer `answer`.
fn cli_result(answer: &Value) -> String {
    json!({
        "type": "result", "subtype": "success", "is_error": false,
        "result": answer.to_string(), "session_id": "00000000-0000-4000-8000-000000000002",
        "total_cost_usd": 0.01, "usage": {"input_tokens": 100, "output_tokens": 20},
        "num_turns": 1, "duration_ms": 5
    })
    .to_string()
}

/// A `claude` program of the test's own. The first time it is asked about the marker it
/// starts a background job in its process group (`sleep 600`, as an MCP server or a tool's
/// background job would be), writes down its own pid (the group's id) and the job's, and
/// hangs; after that it answers at once. Anything else gets a summary and no action.
fn leaky_model(dir: &Path) -> String {
    let answer = json!({"summary": "Checked the leak marker", "actions": []});
    let idle = json!({"summary": "Nothing to do", "actions": []});
    std::fs::write(dir.join("answer.json"), cli_result(&answer)).expect("write");
    std::fs::write(dir.join("idle.json"), cli_result(&idle)).expect("write");
    let d = dir.display();
    let script = format!(
        r#"#!/bin/sh
input=$(cat)
case "$input" in
  *"Marker L5501"*)
    echo session >> "{d}/calls.log"
    if [ ! -e "{d}/leaked-once" ]; then
      : > "{d}/leaked-once"
      sleep 600 >/dev/null 2>&1 &
      echo "$$ $!" > "{d}/pids.tmp" && mv "{d}/pids.tmp" "{d}/pids"
      sleep 600
    fi
    cat "{d}/answer.json" ;;
  *) cat "{d}/idle.json" ;;
esac
"#
    );
    let path = dir.join("leaky-claude");
    std::fs::write(&path, script).expect("write the model");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

fn run_with_model(dir: &Path, model: &str) -> Running {
    let mut command = quiet(dir, &["run", "--llm", "claude", "--bind", "127.0.0.1:0"]);
    command.env("AITO_LLM_CLAUDE_BINARY", model);
    Running::start(command)
}

/// The fields 3 (state) and 5 (process group) of `/proc/<pid>/stat`.
fn state_and_group(pid: i32) -> Option<(String, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(((*fields.first()?).to_owned(), fields.get(2)?.parse().ok()?))
}

/// Whether `pid` runs (a zombie counts as gone).
fn running(pid: i32) -> bool {
    state_and_group(pid).is_some_and(|(state, _)| state != "Z" && state != "X")
}

/// The processes of group `pgid` that run.
fn members(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            state_and_group(pid).is_some_and(|(state, group)| group == pgid && state != "Z")
        })
        .collect()
}

/// Kills group `pgid` when dropped, so that a failed test leaves nothing behind.
struct EndGroup(i32);

impl Drop for EndGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .status();
    }
}

fn records(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("aito-data/process-groups"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn handled(dir: &Path) -> usize {
    let conn = rusqlite::Connection::open(dir.join("aito-data/aito.db")).expect("open the file");
    conn.query_row(
        "SELECT COUNT(*) FROM history WHERE entry LIKE '%Checked the leak marker%'",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map_or(0, |count| usize::try_from(count).unwrap_or(0))
}

#[test]
fn a_restarted_run_kills_the_process_group_its_killed_predecessor_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = leaky_model(dir.path());
    let mut company = run_with_model(dir.path(), &model);
    company.wait_for_line("company running", Duration::from_secs(60));
    let sent = output(aito(
        dir.path(),
        &[
            "send",
            "--to",
            "cto",
            "--payload",
            &json!({"title": "Check the leak", "description": "Marker L5501"}).to_string(),
        ],
    ));
    let (stdout, stderr) = texts(&sent);
    assert_eq!(sent.status.code(), Some(0), "{stdout}{stderr}");

    // The session hangs after starting its background job.
    let pids = eventually(
        "the session to start its job",
        Duration::from_secs(60),
        || std::fs::read_to_string(dir.path().join("pids")).ok(),
    );
    let mut pids = pids
        .split_whitespace()
        .map(|pid| pid.parse::<i32>().expect("a pid"));
    let (leader, job) = (pids.next().expect("leader"), pids.next().expect("job"));
    let _cleanup = EndGroup(leader);
    assert_eq!(state_and_group(job).map(|(_, group)| group), Some(leader));
    assert_eq!(
        records(dir.path()).len(),
        1,
        "the running session's group is recorded: {:?}",
        records(dir.path())
    );

    company.child.kill().expect("kill -9");
    company.child.wait().expect("reap");
    drop(company);
    // The model process dies with the daemon; its job does not.
    eventually(
        "the model process to die with the daemon",
        Duration::from_secs(5),
        || (!running(leader)).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        running(job),
        "the job died with the daemon (nothing left to reap)"
    );
    assert!(members(leader).contains(&job));

    // Started again on the same data directory: the group is killed before work starts, and
    // the message is handled.
    let restarted = Instant::now();
    let mut again = run_with_model(dir.path(), &model);
    let gone = {
        let mut gone = None;
        while restarted.elapsed() < Duration::from_secs(10) {
            if members(leader).is_empty() {
                gone = Some(restarted.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        gone
    };
    let left = members(leader);
    assert!(
        gone.is_some(),
        "the killed run's process group {leader} (members {left:?}) outlived the restart by 10 s"
    );
    eprintln!(
        "the killed run's process group was gone {:?} after the restart began",
        gone.unwrap_or_default()
    );
    // The operator is told.
    again.wait_for_line(
        "killed a process group that a killed daemon left running",
        Duration::from_secs(30),
    );
    again.wait_for_line("company running", Duration::from_secs(60));
    eventually(
        "the message handled after the restart",
        Duration::from_secs(60),
        || (handled(dir.path()) == 1).then_some(()),
    );
    let (code, summary) = again.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{summary}");
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).expect("calls");
    assert_eq!(
        calls.lines().count(),
        2,
        "one session killed, one that finished"
    );
    assert!(
        records(dir.path()).is_empty(),
        "records outlived their groups: {:?}",
        records(dir.path())
    );
}
