//! The company kept in its data directory, through the real binary: a kill -9 in the middle of
//! a session loses nothing and doubles nothing; the operator's commands work beside a running
//! company and after it stopped; the demo's escalation is answered with the command its
//! summary prints; a damaged file, a second `aito run` and `--memory` behave as documented.

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

/// The CLI's result object around the model's answer `answer`, costing `cost` USD.
fn cli_result(answer: &Value, cost: f64) -> String {
    json!({
        "type": "result", "subtype": "success", "is_error": false,
        "result": answer.to_string(), "session_id": "00000000-0000-4000-8000-000000000001",
        "total_cost_usd": cost, "usage": {"input_tokens": 100, "output_tokens": 20},
        "num_turns": 1, "duration_ms": 5
    })
    .to_string()
}

/// A `claude` program of the test's own: it answers the changelog task after hanging the first
/// time (so the run can be killed in the middle of that session), the greeting at once, and
/// anything else with a summary and no action. Every changelog session is written down in
/// `calls.log`.
fn slow_model(dir: &Path) -> String {
    let changelog = json!({
        "summary": "Wrote the changelog",
        "actions": [
            {"type": "operational", "data": {"title": "Changelog",
                "files": [{"path": "CHANGELOG.md", "content": "# Changelog\n\n- v1: first release\n"}],
                "commit": "Write the changelog"}},
            {"type": "propose_decision", "data": {"tier": "minor",
                "title": "Keep a changelog from now on", "description": "Every release adds its entry."}}
        ]
    });
    let hello = json!({"summary": "Said hello to the team", "actions": []});
    let idle = json!({"summary": "Nothing to do", "actions": []});
    std::fs::write(dir.join("changelog.json"), cli_result(&changelog, 0.5)).expect("write");
    std::fs::write(dir.join("hello.json"), cli_result(&hello, 0.25)).expect("write");
    std::fs::write(dir.join("idle.json"), cli_result(&idle, 0.01)).expect("write");
    let d = dir.display();
    let script = format!(
        r#"#!/bin/sh
input=$(cat)
case "$input" in
  *"Marker K7731"*)
    echo changelog >> "{d}/calls.log"
    if [ ! -e "{d}/slow-once" ]; then
      : > "{d}/slow-once"
      echo $$ > "{d}/slow.pid"
      sleep 120
    fi
    cat "{d}/changelog.json" ;;
  *"Marker H2210"*) cat "{d}/hello.json" ;;
  *) cat "{d}/idle.json" ;;
esac
"#
    );
    let path = dir.join("slow-claude");
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

fn send(dir: &Path, to: &str, payload: &Value) {
    let sent = output(aito(
        dir,
        &["send", "--to", to, "--payload", &payload.to_string()],
    ));
    let (stdout, stderr) = texts(&sent);
    assert_eq!(sent.status.code(), Some(0), "{stdout}{stderr}");
}

/// Rows of the company's database, read as another process would.
fn query(dir: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("aito-data/aito.db")).expect("open the file");
    let mut statement = conn.prepare(sql).expect("prepare");
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn status(dir: &Path) -> Value {
    let run = output(aito(dir, &["status", "--json"]));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    serde_json::from_str(&stdout).expect("status JSON")
}

#[test]
fn a_kill_in_the_middle_of_a_session_loses_nothing_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = slow_model(dir.path());
    let mut company = run_with_model(dir.path(), &model);
    company.wait_for_line("company running", Duration::from_secs(60));

    // Work done before the crash: a greeting, sent from another terminal, picked up within a
    // second and handled.
    send(
        dir.path(),
        "cfo",
        &json!({"title": "Say hello", "description": "Marker H2210"}),
    );
    let sent = Instant::now();
    company.wait_for_line("Say hello", Duration::from_secs(30));
    let picked_up = sent.elapsed();
    eprintln!("a sent message was picked up {picked_up:?} after `aito send` returned");
    assert!(
        picked_up < Duration::from_secs(1),
        "the running company took {picked_up:?} to pick up a sent message"
    );
    eventually("the greeting handled", Duration::from_secs(30), || {
        let summaries = query(
            dir.path(),
            "SELECT entry FROM history WHERE entry LIKE '%Said hello to the team%'",
        );
        (summaries.len() == 1).then_some(())
    });

    // The changelog task; its session hangs, and the process is killed in the middle of it.
    send(
        dir.path(),
        "cto",
        &json!({"title": "Write the changelog", "description": "Marker K7731"}),
    );
    eventually(
        "the changelog session to start",
        Duration::from_secs(30),
        || dir.path().join("slow.pid").exists().then_some(()),
    );
    company.child.kill().expect("kill -9");
    company.child.wait().expect("reap");
    if let Ok(pid) = std::fs::read_to_string(dir.path().join("slow.pid")) {
        // The model's process group outlives the killed run; end it.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", pid.trim())])
            .status();
    }
    assert!(
        query(
            dir.path(),
            "SELECT entry FROM history WHERE entry LIKE '%Wrote the changelog%'"
        )
        .is_empty(),
        "the killed session did not finish"
    );

    // Started again: the task comes back and is handled, once.
    let mut again = run_with_model(dir.path(), &model);
    again.wait_for_line("found from before", Duration::from_secs(60));
    eventually("the changelog handled", Duration::from_secs(60), || {
        let handled = query(
            dir.path(),
            "SELECT entry FROM history WHERE entry LIKE '%Wrote the changelog%'",
        );
        (handled.len() == 1).then_some(())
    });
    // Let anything that would run twice have its chance.
    std::thread::sleep(Duration::from_secs(2));
    let (code, summary) = again.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{summary}");

    let calls = std::fs::read_to_string(dir.path().join("calls.log")).expect("calls");
    assert_eq!(
        calls.lines().count(),
        2,
        "one session killed, one that finished: {calls}"
    );
    assert_eq!(
        query(
            dir.path(),
            "SELECT entry FROM history WHERE entry LIKE '%Write the changelog%'"
        )
        .len(),
        1,
        "the task is in the history once"
    );
    assert_eq!(
        query(
            dir.path(),
            "SELECT entry FROM history WHERE entry LIKE '%Said hello to the team%'"
        )
        .len(),
        1,
        "the work from before the crash is kept"
    );
    // Its actions ran once: one commit, one decision.
    let workspace = dir.path().join("aito-data/workspaces/cto");
    let log = std::process::Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(&workspace)
        .output()
        .expect("git log");
    let subjects = String::from_utf8_lossy(&log.stdout).into_owned();
    assert_eq!(
        subjects
            .lines()
            .filter(|s| s.contains("Write the changelog"))
            .count(),
        1,
        "{subjects}"
    );
    assert!(workspace.join("CHANGELOG.md").is_file());
    let report = status(dir.path());
    let decisions: Vec<&Value> = report["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter(|d| d["title"] == "Keep a changelog from now on")
        .collect();
    assert_eq!(decisions.len(), 1, "{report}");
    // The spend from before the crash is counted with today's.
    let budget = output(aito(dir.path(), &["budget", "--agent", "cfo"]));
    let (stdout, _) = texts(&budget);
    assert!(
        stdout.contains("USD today               0.2500"),
        "{stdout}"
    );
    // Nothing is left waiting.
    assert_eq!(query(dir.path(), "SELECT envelope FROM messages").len(), 0);
}

/// The summary's lines, and the exact command it gives to answer the escalation.
fn answer_command(summary: &str) -> Vec<String> {
    let line = summary
        .lines()
        .find_map(|line| line.trim().strip_prefix("answer: "))
        .unwrap_or_else(|| panic!("no answer command in:\n{summary}"));
    let command = line.split("   (").next().unwrap_or(line);
    let words: Vec<String> = command
        .split_whitespace()
        .map(|word| word.trim_matches('"').to_owned())
        .collect();
    assert_eq!(words[0], "aito", "{line}");
    assert_eq!(words.last().map(String::as_str), Some("..."), "{line}");
    words
}

#[test]
fn the_demo_ends_with_the_command_that_answers_its_escalation_and_it_works_after_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = output(quiet(
        dir.path(),
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"],
    ));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("Company kept in ./aito-data/aito.db (new)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bus and store: embedded, ./aito-data/aito.db"),
        "{stdout}"
    );
    let mut words = answer_command(&stdout);
    let id = words[2].clone();
    // The reason the user types in place of "...".
    if let Some(last) = words.last_mut() {
        *last = "the board agreed on the launch budget".to_owned();
    }
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let decide = output(aito(dir.path(), &args));
    let (out, err) = texts(&decide);
    assert_eq!(decide.status.code(), Some(0), "{args:?}: {out}{err}");
    assert!(out.contains("is approved"), "{out}");

    let report = status(dir.path());
    let decision = report["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .find(|d| d["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in {report}"));
    assert_eq!(decision["status"], "approved", "{decision}");
    assert_eq!(decision["human"], "approve", "{decision}");
    assert!(
        decision["path"]
            .as_str()
            .is_some_and(|path| path.ends_with("escalated → approved")),
        "{decision}"
    );
    assert_eq!(report["escalated_decisions"], 0, "{report}");

    // The stopped company's knowledge is searched from its data directory.
    let search = output(aito(
        dir.path(),
        &["context", "search", "launch budget", "--agent", "cfo"],
    ));
    let (out, err) = texts(&search);
    assert_eq!(search.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("CFO would get"), "{out}");
    // A task sent while nothing runs waits in its inbox for the next run.
    send(
        dir.path(),
        "cmo",
        &json!({"title": "Draft the newsletter", "description": "Marker N5120"}),
    );

    // The demo again on the same directory: it says what it found, and the CFO, told of the
    // approval, carries the decision out first. (The CEO, woken for every task's outcome, runs
    // more sessions in two demos than its 12 an hour: this run lets it.)
    let mut again = quiet(
        dir.path(),
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"],
    );
    again.env("AITO_AGENTS_CEO_BUDGET_SESSIONS_PER_HOUR", "30");
    let second = output(again);
    let (stdout, stderr) = texts(&second);
    assert_eq!(second.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("found from before: 21 sessions in the agents' history, 3 decisions (0 waiting for a human), 2 messages not yet handled"),
        "{stdout}"
    );
    assert!(
        stdout.contains("on decision_result"),
        "the CFO heard of the answer:\n{stdout}"
    );
    assert!(
        stdout.contains("Open escalations: 1 decision still waits for a human"),
        "the new run's own escalation:\n{stdout}"
    );
    assert_eq!(
        query(
            dir.path(),
            "SELECT entry FROM history WHERE entry LIKE '%Draft the newsletter%'"
        )
        .len(),
        1,
        "the task sent between the runs was handled by the second"
    );
}

#[test]
fn a_second_run_on_the_same_directory_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Running::start(quiet(
        dir.path(),
        &["run", "--llm", "demo", "--bind", "127.0.0.1:0"],
    ));
    first.wait_for_line("company running", Duration::from_secs(60));
    let second = output(quiet(
        dir.path(),
        &["run", "--llm", "demo", "--bind", "127.0.0.1:0"],
    ));
    let (stdout, stderr) = texts(&second);
    assert_eq!(second.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("is in use by another `aito run` (aito run, pid"),
        "{stderr}"
    );
    // The first is unharmed: the operator's commands still reach it. The demo escalates its
    // critical decision; answered from here, the running company hears of it at once.
    let id = eventually("the escalation", Duration::from_secs(60), || {
        let report = status(dir.path());
        report["decisions"].as_array().and_then(|decisions| {
            decisions
                .iter()
                .find(|d| d["status"] == "escalated")
                .and_then(|d| d["id"].as_str().map(str::to_owned))
        })
    });
    let decide = output(aito(
        dir.path(),
        &["decide", &id, "approve", "--reason", "go ahead"],
    ));
    assert_eq!(decide.status.code(), Some(0), "{}", texts(&decide).1);
    eventually(
        "the proposer told, by the running company",
        Duration::from_secs(30),
        || {
            let told = query(
                dir.path(),
                "SELECT entry FROM history WHERE entry LIKE '%decision_result from orchestrator%'",
            );
            (!told.is_empty()).then_some(())
        },
    );
    // The budget as the running company counts it.
    let budget = output(aito(dir.path(), &["budget", "--agent", "cfo"]));
    let (stdout, stderr) = texts(&budget);
    assert_eq!(budget.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("USD today"), "{stdout}");
    // The context index is the running company's; a search reads what it committed.
    let search = output(aito(
        dir.path(),
        &["context", "search", "treasury", "--agent", "ceo"],
    ));
    let (stdout, stderr) = texts(&search);
    assert_eq!(search.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("CEO would get"), "{stdout}");
    let (code, _) = first.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}

#[test]
fn a_damaged_database_is_refused_with_exit_2_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("aito-data")).expect("mkdir");
    let file = dir.path().join("aito-data/aito.db");
    for damage in [&b"SQLite format 3\0 but then nothing"[..], &[0u8; 8192][..]] {
        std::fs::write(&file, damage).expect("write");
        for args in [
            &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"][..],
            &["status"][..],
        ] {
            let run = output(quiet(dir.path(), args));
            let (stdout, stderr) = texts(&run);
            assert_eq!(run.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
            assert!(
                stderr.contains("aito-data/aito.db is not a usable aito database"),
                "{args:?}: {stderr}"
            );
            assert!(stderr.contains("Restore it from a backup"), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
        assert_eq!(
            std::fs::read(&file).expect("read"),
            damage,
            "left as it was"
        );
    }
    // A real company's file, cut short.
    std::fs::remove_file(&file).expect("remove");
    let demo = output(quiet(
        dir.path(),
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"],
    ));
    assert_eq!(demo.status.code(), Some(0), "{}", texts(&demo).1);
    let whole = std::fs::read(&file).expect("read");
    assert!(whole.len() >= 16 * 4096, "{} bytes", whole.len());
    std::fs::write(&file, &whole[..whole.len() / 2]).expect("truncate");
    let cut = std::fs::read(&file).expect("read");
    // Every command that opens the company refuses it the same way.
    for args in [
        &["status"][..],
        &["send", "--to", "cto", "--payload", r#"{"title": "Ship"}"#][..],
        &[
            "decide",
            "00000000-0000-4000-8000-000000000001",
            "approve",
            "--reason",
            "fine",
        ][..],
        &["budget"][..],
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"][..],
    ] {
        let run = output(quiet(dir.path(), args));
        let (stdout, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("is not a usable aito database"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read(&file).expect("read"), cut, "left as it was");
}

#[test]
fn a_company_file_of_a_newer_aito_is_refused_with_exit_2_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = output(quiet(
        dir.path(),
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"],
    ));
    assert_eq!(demo.status.code(), Some(0), "{}", texts(&demo).1);
    let file = dir.path().join("aito-data/aito.db");
    let recorded: i64 = {
        let conn = rusqlite::Connection::open(&file).expect("open");
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version")
    };
    assert_eq!(
        recorded,
        aito_sqlite::SCHEMA_VERSION,
        "the schema version is recorded"
    );
    {
        let conn = rusqlite::Connection::open(&file).expect("open");
        conn.pragma_update(None, "user_version", recorded + 1)
            .expect("a newer version");
    }
    for args in [
        &["status"][..],
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"][..],
    ] {
        let run = output(quiet(dir.path(), args));
        let (stdout, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "has schema version {}, newer than this aito knows",
                recorded + 1
            )),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let conn = rusqlite::Connection::open(&file).expect("open");
    let kept: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert_eq!(kept, recorded + 1, "left alone");
}

#[test]
fn memory_runs_keep_nothing_and_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = output(quiet(
        dir.path(),
        &[
            "run",
            "--memory",
            "--exit-when-idle",
            "--bind",
            "127.0.0.1:0",
        ],
    ));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("bus and store: in memory (this process only)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("This run kept the company in memory (--memory)"),
        "{stdout}"
    );
    assert!(!dir.path().join("aito-data/aito.db").exists());
}

#[test]
fn context_search_works_in_a_fresh_checkout_with_the_shipped_knowledge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(repo.join("aito.toml"), dir.path().join("aito.toml")).expect("copy aito.toml");
    copy_tree(&repo.join("knowledge"), &dir.path().join("knowledge"));
    let search = output(aito(
        dir.path(),
        &["context", "search", "budget", "--agent", "cfo"],
    ));
    let (stdout, stderr) = texts(&search);
    assert_eq!(search.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("[knowledge/finance/treasury-and-budgets.md § Treasury and budgets"),
        "{stdout}"
    );
    assert!(
        stdout.contains("The CFO owns the treasury and the budgets."),
        "{stdout}"
    );
    // The index is on disk under the data directory.
    assert!(dir.path().join("aito-data/context").is_dir());
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A `claude` program that writes each prompt it is given to `prompts/<n>.txt` and answers with
/// a summary and no action.
fn recording_model(dir: &Path) -> String {
    let idle = json!({"summary": "Read the brief", "actions": []});
    std::fs::write(dir.join("idle.json"), cli_result(&idle, 0.01)).expect("write");
    std::fs::create_dir_all(dir.join("prompts")).expect("mkdir");
    let d = dir.display();
    let script = format!("#!/bin/sh\ncat > \"{d}/prompts/$$.txt\"\ncat \"{d}/idle.json\"\n");
    let path = dir.join("recording-claude");
    std::fs::write(&path, script).expect("write the model");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

#[test]
fn the_default_company_puts_passages_of_the_shipped_knowledge_into_its_prompts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(repo.join("aito.toml"), dir.path().join("aito.toml")).expect("copy aito.toml");
    copy_tree(&repo.join("knowledge"), &dir.path().join("knowledge"));
    let model = recording_model(dir.path());
    let mut company = run_with_model(dir.path(), &model);
    company.wait_for_line("company running", Duration::from_secs(60));
    send(
        dir.path(),
        "cfo",
        &json!({"title": "Propose the launch budget",
                "description": "How much may we release from the treasury for the launch?"}),
    );
    let prompt = eventually("the CFO's prompt", Duration::from_secs(30), || {
        std::fs::read_dir(dir.path().join("prompts"))
            .ok()?
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .find(|prompt| prompt.contains("Propose the launch budget"))
    });
    let (code, summary) = company.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{summary}");
    // The passage, named by its document and section, as the shipped file has it.
    assert!(
        prompt.contains("knowledge/finance/treasury-and-budgets.md"),
        "no passage of the shipped knowledge in the prompt:\n{prompt}"
    );
    let shipped = std::fs::read_to_string(repo.join("knowledge/finance/treasury-and-budgets.md"))
        .expect("the shipped document");
    let sentence =
        "Every launch gets a budget of its own, proposed by the CFO with what it pays for";
    assert!(shipped.contains(sentence), "the shipped document changed");
    assert!(prompt.contains(sentence), "{prompt}");
}
