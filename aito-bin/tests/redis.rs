//! The operator's client against a company running on a private `redis-server`: `aito send`
//! reaches an agent, `aito status --json` shows what it did, `aito decide` answers an
//! escalation; and `aito agent` alone, with its health endpoint.

mod binary;

use std::time::Duration;

use aito_redis::testing::RedisServer;
use binary::fleet::{agent, status};
use binary::{Running, aito, eventually, output, texts};
use serde_json::Value;

const SCRIPT: &str = r#"{
  "responses": [
    {"role": "cto", "when": "Write the changelog", "cost_usd": 0.05,
     "response": {"summary": "Wrote the changelog for 0.2", "actions": []}},
    {"role": "cfo", "when": "Pay the auditors", "cost_usd": 0.02,
     "response": {"summary": "Proposed paying the auditors from the treasury", "actions": [
       {"type": "propose_decision", "data": {"tier": "critical", "title": "Pay the auditors 20,000 USDC", "description": "Treasury transfer."}}]}},
    {"role": "ceo", "when": "Pay the auditors", "response": {"summary": "Approved", "actions": [
       {"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "planned"}}]}},
    {"role": "dao", "when": "Pay the auditors", "response": {"summary": "Approved", "actions": [
       {"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "in the budget"}}]}},
    {"role": "cfo", "when": "carry it out now", "cost_usd": 0.01,
     "response": {"summary": "Paid the auditors", "actions": []}}
  ]
}"#;

#[test]
fn send_status_and_decide_reach_a_company_running_on_redis() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    let company = Running::start(aito(
        dir.path(),
        &[
            "run",
            "--redis",
            &url,
            "--llm",
            "replay:script.json",
            "--bind",
            "127.0.0.1:0",
        ],
    ));

    // Every agent reports idle once the company serves.
    let ready = eventually("every agent idle", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        assert!(
            status["guards"].is_array(),
            "guard trips are part of the report: {status}"
        );
        let agents = status["agents"].as_array()?;
        (agents.len() == 7 && agents.iter().all(|agent| agent["status"] == "idle"))
            .then_some(status)
    });
    assert_eq!(ready["company"], "acme");
    assert_eq!(ready["open_decisions"], 0);
    assert_eq!(agent(&ready, "cto")["sessions_total"], 0);

    // A message from the operator is handled, and shows in the status.
    let send = output(aito(
        dir.path(),
        &[
            "send",
            "--redis",
            &url,
            "--to",
            "cto",
            "--type",
            "task",
            "--payload",
            r#"{"title": "Write the changelog"}"#,
        ],
    ));
    let (stdout, stderr) = texts(&send);
    assert_eq!(send.status.code(), Some(0), "{stderr}");
    let id = stdout.trim();
    assert!(
        uuid_like(id),
        "aito send prints the envelope id, got {stdout:?}"
    );
    let handled = eventually("the CTO handled the task", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        let cto = agent(&status, "cto");
        (cto["sessions_total"] == 1 && cto["status"] == "idle").then_some(status)
    });
    let cto = agent(&handled, "cto");
    assert_eq!(cto["last_summary"], "Wrote the changelog for 0.2");
    assert_eq!(cto["status"], "idle");
    assert_eq!(cto["queue"], 0);
    assert!(
        (cto["spent_today_usd"].as_f64().unwrap_or(0.0) - 0.05).abs() < 1e-9,
        "{cto}"
    );
    assert!((handled["spend"]["today_usd"].as_f64().unwrap_or(0.0) - 0.05).abs() < 1e-9);

    // A critical decision escalates; the human's answer through aito decide is carried out.
    let send = output(aito(
        dir.path(),
        &[
            "send",
            "--redis",
            &url,
            "--to",
            "cfo",
            "--payload",
            r#"{"title": "Pay the auditors"}"#,
            "--priority",
            "high",
        ],
    ));
    assert_eq!(send.status.code(), Some(0), "{}", texts(&send).1);
    let escalated = eventually("the decision escalated", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        let decision = status["decisions"].as_array()?.first()?.clone();
        (decision["status"] == "escalated").then_some(decision)
    });
    assert_eq!(escalated["tier"], "critical");
    assert_eq!(escalated["proposer"], "cfo");
    let decision_id = escalated["id"].as_str().expect("id").to_owned();
    let decide = output(aito(
        dir.path(),
        &[
            "decide",
            &decision_id,
            "approve",
            "--reason",
            "audit is due",
            "--redis",
            &url,
        ],
    ));
    let (stdout, stderr) = texts(&decide);
    assert_eq!(decide.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("is approved: pending → escalated → approved"),
        "{stdout}"
    );
    let executed = eventually("the CFO carried it out", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        let decision = status["decisions"].as_array()?.first()?.clone();
        (decision["status"] == "executed").then_some(decision)
    });
    assert_eq!(executed["human"], "approve");
    assert_eq!(
        executed["path"],
        "pending → escalated → approved → executed"
    );

    // Answering twice is refused: the decision is no longer escalated.
    let again = output(aito(
        dir.path(),
        &[
            "decide",
            &decision_id,
            "reject",
            "--reason",
            "late",
            "--redis",
            &url,
        ],
    ));
    let (_, stderr) = texts(&again);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr.contains("a human answers only escalated decisions"),
        "{stderr}"
    );

    // SIGTERM stops the company cleanly, with its summary.
    let (code, stdout) = company.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("  cto — 1 session, $0.05"), "{stdout}");
    assert!(
        stdout.contains("No decision waits for a human."),
        "{stdout}"
    );
}

#[test]
fn one_agent_serves_its_health_endpoint_and_handles_its_messages() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    let mut daemon = Running::start(aito(
        dir.path(),
        &[
            "agent",
            "--role",
            "cto",
            "--redis",
            &url,
            "--llm",
            "replay:script.json",
            "--health-bind",
            "127.0.0.1:0",
        ],
    ));
    let line = daemon.wait_for_line("health on http://", Duration::from_secs(30));
    let health = line
        .split("health on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the health URL")
        .to_owned();
    daemon.wait_for_line("serving", Duration::from_secs(30));

    let probe = output(aito(dir.path(), &["health", &health]));
    assert_eq!(probe.status.code(), Some(0), "{}", texts(&probe).1);
    let ready = health.replace("/healthz", "/readyz");
    let probe = output(aito(dir.path(), &["health", &ready]));
    assert_eq!(probe.status.code(), Some(0), "{}", texts(&probe).1);

    let send = output(aito(
        dir.path(),
        &[
            "send",
            "--redis",
            &url,
            "--to",
            "cto",
            "--payload",
            r#"{"title": "Write the changelog"}"#,
        ],
    ));
    assert_eq!(send.status.code(), Some(0), "{}", texts(&send).1);
    daemon.wait_for_line("Wrote the changelog for 0.2", Duration::from_secs(30));
    let status = status(dir.path(), &url);
    assert_eq!(agent(&status, "cto")["sessions_total"], 1);
    assert_eq!(
        agent(&status, "ceo")["status"],
        "unknown",
        "only the CTO runs here"
    );

    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    let status = self::status(dir.path(), &url);
    assert_eq!(agent(&status, "cto")["status"], "stopped");
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn budget_shows_and_changes_a_budget_in_the_store() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let show = output(aito(
        dir.path(),
        &["budget", "--agent", "cfo", "--redis", &url],
    ));
    let (stdout, stderr) = texts(&show);
    assert_eq!(show.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("Budget of the cfo"), "{stdout}");
    assert!(stdout.contains("of 3"), "the configured $3 a day: {stdout}");

    let raise = output(aito(
        dir.path(),
        &[
            "budget",
            "--agent",
            "cfo",
            "--usd-per-day",
            "10",
            "--sessions-per-hour",
            "none",
            "--redis",
            &url,
        ],
    ));
    let (stdout, stderr) = texts(&raise);
    assert_eq!(raise.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("set; every daemon was told"), "{stdout}");

    let show = output(aito(
        dir.path(),
        &["budget", "--agent", "cfo", "--redis", &url],
    ));
    let (stdout, _) = texts(&show);
    let usd_day = stdout
        .lines()
        .find(|line| line.contains("USD today"))
        .unwrap_or_default();
    assert!(usd_day.ends_with("of 10"), "{stdout}");
    let sessions = stdout
        .lines()
        .find(|line| line.contains("sessions this hour"))
        .unwrap_or_default();
    assert!(sessions.ends_with("of no limit"), "{stdout}");

    let company = output(aito(dir.path(), &["budget", "--redis", &url]));
    assert!(texts(&company).0.contains("Budget of the company"));
    let bad = output(aito(
        dir.path(),
        &["budget", "--agent", "nobody", "--redis", &url],
    ));
    assert_eq!(bad.status.code(), Some(2));
    let bad = output(aito(
        dir.path(),
        &["budget", "--usd-per-day", "-1", "--redis", &url],
    ));
    assert_eq!(bad.status.code(), Some(2));
}

/// The records of an export, without the header and with what differs by nature between two
/// stores taken out (versions restart, times to live run down).
fn comparable(text: &str) -> Vec<Value> {
    let mut records: Vec<Value> = text
        .lines()
        .skip(1)
        .map(|line| {
            let mut record: Value = serde_json::from_str(line).expect("a record");
            if let Some(object) = record.as_object_mut() {
                object.remove("ttl_ms");
                for versioned in ["decision", "task"] {
                    if let Some(record) = object.get_mut(versioned).and_then(Value::as_object_mut) {
                        record.remove("version");
                    }
                }
            }
            record
        })
        .collect();
    records.sort_by_key(|record| record.to_string());
    records
}

#[test]
fn export_and_import_move_a_company_from_its_data_directory_to_redis_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut run = aito(
        dir.path(),
        &["run", "--exit-when-idle", "--bind", "127.0.0.1:0"],
    );
    for role in ["CEO", "DAO", "CMO", "CTO", "CFO", "COO", "CCO"] {
        run.env(format!("AITO_AGENTS_{role}_SCHEDULES"), "[]");
    }
    let demo = output(run);
    assert_eq!(demo.status.code(), Some(0), "{}", texts(&demo).1);
    // A message left for the next run: it must move too.
    let sent = output(aito(
        dir.path(),
        &[
            "send",
            "--to",
            "cto",
            "--payload",
            r#"{"title": "Rotate the keys"}"#,
        ],
    ));
    assert_eq!(sent.status.code(), Some(0), "{}", texts(&sent).1);

    let exported = output(aito(dir.path(), &["export", "--out", "company.jsonl"]));
    assert_eq!(exported.status.code(), Some(0), "{}", texts(&exported).1);
    let from_file = std::fs::read_to_string(dir.path().join("company.jsonl")).expect("export");
    assert!(
        from_file.starts_with(r#"{"kind":"export","format":"aito-export/1","company":"acme""#),
        "{from_file}"
    );
    for kind in [
        "state", "history", "decision", "counter", "log", "status", "message", "mark", "task",
        "session",
    ] {
        assert!(
            from_file.contains(&format!(r#"{{"kind":"{kind}""#)),
            "no {kind} record in the export"
        );
    }

    let server = RedisServer::start();
    let url = server.url();
    let imported = output(aito(
        dir.path(),
        &["import", "company.jsonl", "--redis", &url],
    ));
    let (stdout, stderr) = texts(&imported);
    assert_eq!(imported.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("records imported into redis"), "{stdout}");
    // Importing again is refused: the target holds the company now.
    let again = output(aito(
        dir.path(),
        &["import", "company.jsonl", "--redis", &url],
    ));
    assert_eq!(again.status.code(), Some(2), "{}", texts(&again).1);
    assert!(texts(&again).1.contains("holds a company already"));

    // On Redis it is the same company: the escalation waits there, the message too.
    let report = status(dir.path(), &url);
    assert_eq!(report["escalated_decisions"], 1, "{report}");
    let from_redis = output(aito(dir.path(), &["export", "--redis", &url]));
    let (redis_text, stderr) = texts(&from_redis);
    assert_eq!(from_redis.status.code(), Some(0), "{stderr}");
    assert_eq!(comparable(&from_file), comparable(&redis_text));

    // And back into a new data directory.
    std::fs::write(dir.path().join("from-redis.jsonl"), &redis_text).expect("write");
    let back = output(aito(
        dir.path(),
        &["import", "from-redis.jsonl", "--data-dir", "elsewhere"],
    ));
    assert_eq!(back.status.code(), Some(0), "{}", texts(&back).1);
    let round = output(aito(dir.path(), &["export", "--data-dir", "elsewhere"]));
    assert_eq!(comparable(&from_file), comparable(&texts(&round).0));
}
