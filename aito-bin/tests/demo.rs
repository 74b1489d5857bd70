//! The demo scenario through the real binary: `aito run --exit-when-idle` on a machine without
//! Claude and without Redis runs the whole company and ends with exit 0 and a summary.

mod binary;

use binary::{aito, output, texts};

/// The lines of the summary's block about the decision titled `title`.
fn decision_block<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = stdout.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.starts_with("  [") && line.contains(title))
        .unwrap_or_else(|| panic!("no decision {title:?} in the summary:\n{stdout}"));
    lines[start..]
        .iter()
        .enumerate()
        .take_while(|(index, line)| *index == 0 || line.starts_with("    "))
        .map(|(_, line)| *line)
        .collect()
}

#[test]
fn the_demo_runs_the_whole_company_and_ends_with_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = aito(
        dir.path(),
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"],
    );
    // A cron tick during the run (the CEO's comes every 15 minutes) would add a session to the
    // counts below; the demo itself does not need the schedules.
    for role in ["CEO", "DAO", "CMO", "CTO", "CFO", "COO", "CCO"] {
        command.env(format!("AITO_AGENTS_{role}_SCHEDULES"), "[]");
    }
    let run = output(command);
    let (stdout, stderr) = texts(&run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // Without claude on the PATH, the demo is chosen, and the log says so.
    assert!(
        stderr.contains("is not on the PATH: running the built-in demo scenario"),
        "{stderr}"
    );
    assert!(
        stdout.starts_with("== aito run summary: acme ("),
        "{stdout}"
    );
    assert!(stdout.contains("model: replay scenario demo"), "{stdout}");

    // Who did what: every role had its part, the CEO the most.
    for (role, sessions) in [
        ("ceo", 9),
        ("dao", 3),
        ("cmo", 2),
        ("cto", 4),
        ("cfo", 1),
        ("coo", 1),
        ("cco", 1),
    ] {
        let plural = if sessions == 1 { "" } else { "s" };
        let line = format!("  {role} — {sessions} session{plural}, $");
        assert!(stdout.contains(&line), "no {line:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("Split the portal launch: the build to the CTO, the announcement to the CMO, the funding to the CFO [3 × create_task]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("on worker_result from worker:"),
        "the worker's result woke the CTO:\n{stdout}"
    );

    // Each decision's path and final status.
    let minor = decision_block(
        &stdout,
        "Publish the developer portal launch post on the blog",
    );
    assert!(
        minor[0].starts_with("  [minor]") && minor[0].ends_with("proposed by cmo"),
        "{minor:?}"
    );
    assert!(
        minor.contains(&"    path: pending → approved → executed"),
        "{minor:?}"
    );
    assert!(minor.contains(&"    final: executed"), "{minor:?}");

    let major = decision_block(
        &stdout,
        "Host the developer portal on Fastly at $450/month, capped",
    );
    assert!(major[0].starts_with("  [major]"), "{major:?}");
    assert!(
        major.contains(&"    path: pending → revising → pending → approved → executed"),
        "{major:?}"
    );
    assert!(
        major
            .iter()
            .any(|line| line.starts_with("    round 1: dao vetoed")),
        "{major:?}"
    );
    assert!(major.contains(&"    final: executed"), "{major:?}");

    let critical = decision_block(&stdout, "Release 50,000 USDC");
    assert!(critical[0].starts_with("  [critical]"), "{critical:?}");
    assert!(
        critical.contains(&"    path: pending → escalated"),
        "{critical:?}"
    );
    assert!(
        critical
            .iter()
            .any(|line| line.starts_with("    final: escalated, waiting for a human")),
        "{critical:?}"
    );

    // The three tracked tasks end done; the CTO's waited for its decision.
    let tasks = &stdout[stdout.find("\nTasks\n").expect("a Tasks section")..];
    for (title, assignee) in [
        ("Build the developer portal", "cto"),
        ("Prepare the announcement of the developer portal", "cmo"),
        ("Fund the developer portal launch from the treasury", "cfo"),
    ] {
        let line = format!("  [done] \"{title}\" for {assignee}, from ceo");
        assert!(tasks.contains(&line), "no {line:?} in:\n{tasks}");
    }
    assert!(
        tasks.contains("    path: open → blocked → done\n    blocked by cto: waiting for the hosting decision\n    result: portal hosted on the capped Fastly plan"),
        "{tasks}"
    );
    assert!(
        tasks.contains("    path: open → in_progress → done"),
        "{tasks}"
    );

    // Spend, and the escalation that is still open.
    assert!(
        stdout.contains("  this run: $1.20 (21 sessions, 1 worker)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Open escalations: 1 decision still waits for a human"),
        "{stdout}"
    );
    assert!(
        stdout.contains("answer: aito decide "),
        "the command that answers it: {stdout}"
    );

    // The CTO carried out the approved decision in its workspace.
    let hosting = dir.path().join("aito-data/workspaces/cto/ops/hosting.md");
    let written = std::fs::read_to_string(&hosting).expect("the CTO wrote its hosting notes");
    assert!(written.contains("hard cap $450/month"), "{written}");

    // The ledger as the operator reads it, from the data directory the run left.
    let listed = output(aito(dir.path(), &["tasks", "--json"]));
    let (json_text, stderr) = texts(&listed);
    assert_eq!(listed.status.code(), Some(0), "{stderr}");
    let listed: serde_json::Value = serde_json::from_str(&json_text).expect("JSON");
    let tasks = listed["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 3, "{json_text}");
    assert!(
        tasks.iter().all(|task| task["status"] == "done"),
        "{json_text}"
    );
    let cto_task = tasks
        .iter()
        .find(|task| task["assignee_role"] == "cto")
        .expect("the CTO's task");

    let table = output(aito(dir.path(), &["tasks", "--agent", "cmo"]));
    let (table, _) = texts(&table);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains("Prepare the announcement of the developer portal"),
        "{table}"
    );
    assert!(!table.contains("Build the developer portal"), "{table}");
    let none_open = output(aito(dir.path(), &["tasks", "--status", "blocked"]));
    assert_eq!(texts(&none_open).0, "No tasks.\n");

    let id = cto_task["id"].as_str().expect("id");
    let shown = output(aito(dir.path(), &["task", id]));
    let (shown, stderr) = texts(&shown);
    assert!(
        shown.starts_with(&format!("Task {id} \"Build the developer portal\"")),
        "{shown}{stderr}"
    );
    let history: Vec<&str> = shown
        .lines()
        .skip_while(|line| *line != "History:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .collect();
    assert_eq!(history.len(), 3, "{shown}");
    assert!(
        history[0].contains("ceo") && history[0].contains("open") && history[0].contains("created"),
        "{shown}"
    );
    assert!(
        history[1].contains("cto")
            && history[1].contains("blocked")
            && history[1].contains("waiting for the hosting decision"),
        "{shown}"
    );
    assert!(
        history[2].contains("cto") && history[2].contains("done"),
        "{shown}"
    );
    let bad = output(aito(dir.path(), &["task", "not-a-task"]));
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_replay_file_can_stand_in_for_the_demo_and_the_summary_says_when_nothing_is_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("tiny.json");
    std::fs::write(
        &script,
        r#"{
  "kickoff": [{"to": "cto", "payload": {"title": "Tidy the README"}}],
  "responses": [{"role": "cto", "when": "Tidy the README", "cost_usd": 0.25,
                 "response": {"summary": "Tidied the README", "actions": []}}]
}"#,
    )
    .expect("write the script");
    let llm = format!("replay:{}", script.display());
    let run = output(aito(
        dir.path(),
        &[
            "run",
            "--exit-when-idle",
            "--bind",
            "127.0.0.1:0",
            "--llm",
            &llm,
        ],
    ));
    let (stdout, stderr) = texts(&run);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("  cto — 1 session, $0.25"), "{stdout}");
    assert!(stdout.contains("Tidied the README"), "{stdout}");
    assert!(
        stdout.contains("No decision waits for a human."),
        "{stdout}"
    );
    assert!(!stdout.contains("Open escalations"), "{stdout}");
}
