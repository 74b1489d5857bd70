//! The fault suite through the binary: real `aito agent` processes on a real `redis-server`
//! (append-only file on), thinking on the local API server of the tests, with the faults a
//! deployment meets injected from outside: a daemon killed with SIGKILL in the middle of a
//! session and in the middle of an action, a daemon frozen (SIGSTOP) past its lease while a
//! successor takes over, Redis killed and restarted under load, seven daemons starting
//! together at the edge of the company's budget, and the
//! publish of a decision's notices refused while the decision changes. Each test prints how
//! long the recovery took (docs/reliability.md quotes them).

mod binary;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aito_mock_api::openai::ChatRequest;
use aito_mock_api::{Message, Recorded, Reply, Usage};
use binary::eventually;
use binary::fleet::{Fleet, PRICES, ROLES, job_of};
use serde_json::json;

fn usage() -> Usage {
    Usage {
        input_tokens: 1000,
        output_tokens: 100,
        ..Usage::default()
    }
}

fn answer(value: serde_json::Value) -> Message {
    Message::text(value.to_string()).usage(usage())
}

fn git_log(dir: &std::path::Path) -> Vec<String> {
    let run = Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(dir)
        .output()
        .expect("git log");
    String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// SIGKILL while the model is still answering: nothing of the session is kept; the restarted
/// daemon asks again and carries the action out once.
#[test]
fn a_daemon_killed_mid_session_handles_the_trigger_once_after_its_restart() {
    let mut fleet = Fleet::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    fleet.api.respond_with(move |_: &Recorded| {
        let message = answer(json!({
            "summary": "Wrote the release notes",
            "actions": [{"type": "operational", "data": {
                "title": "Release notes",
                "files": [{"path": "notes.md", "content": "Version 0.3: faster intake."}],
                "commit": "Write the release notes"}}]
        }));
        // The first session streams for about five seconds; the daemon is killed in it.
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Message(message.paced(Duration::from_millis(300)))
        } else {
            Reply::Message(message)
        }
    });
    fleet.start(&["cto"]);
    let message = fleet.send("cto", 1, "Write the release notes");
    eventually(
        "the first session to start",
        Duration::from_secs(30),
        || (calls.load(Ordering::SeqCst) == 1).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(600));
    fleet.kill(&["cto"]);
    let killed = Instant::now();
    let workspace = fleet.workspace("cto");
    assert!(
        !workspace.join("notes.md").exists(),
        "the kill came after the action"
    );
    assert_eq!(fleet.finished("cto"), Some((0, 0)), "nothing was recorded");

    fleet.start(&["cto"]);
    eventually(
        "the restarted CTO to finish",
        Duration::from_secs(120),
        || (fleet.finished("cto") == Some((1, 1))).then_some(()),
    );
    eprintln!(
        "fault suite: killed mid-session, the trigger was handled {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    // Long enough for a second copy to come, if one were coming.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fleet.finished("cto"), Some((1, 1)));
    assert!(fleet.handled("cto", message));
    let history = fleet.history("cto");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].trigger_id, message.to_string());
    assert!(history[0].actions[0].ok, "{:?}", history[0].actions);
    assert_eq!(
        std::fs::read_to_string(workspace.join("notes.md")).expect("notes"),
        "Version 0.3: faster intake."
    );
    let commits = git_log(&workspace);
    assert_eq!(
        commits
            .iter()
            .filter(|subject| subject.contains("Write the release notes"))
            .count(),
        1,
        "{commits:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "asked once more, not more");
    assert!(fleet.dead_letters("cto").is_empty());
}

/// SIGKILL while an operational action writes its files: the restarted daemon re-uses the
/// recorded answer, writes every file and commits once, and reports the action done only then.
#[test]
fn a_daemon_killed_mid_action_finishes_the_files_after_its_restart() {
    const FILES: usize = 3000;
    let mut fleet = Fleet::new();
    let files: Vec<_> = (0..FILES)
        .map(|n| {
            json!({"path": format!("site/page{n:04}.html"), "content": format!("<p>page {n}</p>\n").repeat(40)})
        })
        .collect();
    let reply = answer(json!({
        "summary": "Built the site",
        "actions": [{"type": "operational", "data": {"title": "Site", "files": files, "commit": "Build the site"}}]
    }));
    fleet
        .api
        .respond_with(move |_: &Recorded| Reply::Message(reply.clone()));
    fleet.start(&["cto"]);
    let message = fleet.send("cto", 1, "Build the site");
    let workspace = fleet.workspace("cto");
    let first = workspace.join("site/page0000.html");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !first.exists() {
        assert!(Instant::now() < deadline, "the action never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    fleet.kill(&["cto"]);
    let killed = Instant::now();
    let written = std::fs::read_dir(workspace.join("site"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert!(
        !git_log(&workspace)
            .iter()
            .any(|subject| subject.contains("Build the site")),
        "the kill came after the commit"
    );
    eprintln!("fault suite: killed mid-action after {written} of {FILES} files, before the commit");

    fleet.start(&["cto"]);
    eventually(
        "the restarted CTO to finish",
        Duration::from_secs(120),
        || (fleet.finished("cto").is_some_and(|(done, _)| done == 1)).then_some(()),
    );
    eprintln!(
        "fault suite: killed mid-action, finished {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    let history = fleet.history("cto");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].trigger_id, message.to_string());
    let record = &history[0].actions[0];
    assert!(record.ok, "{}", record.detail);
    assert!(
        record.detail.contains("carried out again"),
        "{}",
        record.detail
    );
    for n in [0, FILES / 2, FILES - 1] {
        assert_eq!(
            std::fs::read_to_string(workspace.join(format!("site/page{n:04}.html"))).expect("page"),
            format!("<p>page {n}</p>\n").repeat(40)
        );
    }
    assert_eq!(
        std::fs::read_dir(workspace.join("site"))
            .expect("site")
            .count(),
        FILES
    );
    let commits = git_log(&workspace);
    assert_eq!(
        commits
            .iter()
            .filter(|subject| subject.contains("Build the site"))
            .count(),
        1,
        "{commits:?}"
    );
    assert_eq!(
        fleet.api.model_calls().len(),
        1,
        "the answer recorded before the kill was re-used"
    );
}

/// SIGSTOP of a daemon in the middle of a session, for longer than its lease: a second daemon
/// of the same agent takes the lease and the pending message over and handles it; when the
/// frozen one resumes with its model's answer, the store refuses its term's writes, so nothing
/// of its answer is carried out, and it stands by.
#[test]
fn a_daemon_frozen_past_its_lease_does_not_act_beside_its_successor() {
    let mut fleet = Fleet::new();
    fleet.lease_ttl(3);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    fleet.api.respond_with(move |_: &Recorded| {
        // The first session (the daemon that is frozen) streams for some six seconds and
        // would write frozen.md; the successor's is answered at once and writes notes.md.
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            let message = answer(json!({
                "summary": "Wrote the notes while frozen",
                "actions": [{"type": "operational", "data": {
                    "title": "Frozen notes",
                    "files": [{"path": "frozen.md", "content": "written by a holder without its lease"}],
                    "commit": "Frozen holder's notes"}}]
            }));
            Reply::Message(message.paced(Duration::from_millis(400)))
        } else {
            Reply::Message(answer(json!({
                "summary": "Wrote the release notes",
                "actions": [{"type": "operational", "data": {
                    "title": "Release notes",
                    "files": [{"path": "notes.md", "content": "Version 0.3: faster intake."}],
                    "commit": "Write the release notes"}}]
            })))
        }
    });
    fleet.start_as("first", &["cto"], "serving");
    let message = fleet.send("cto", 1, "Write the release notes");
    eventually(
        "the first session to start",
        Duration::from_secs(30),
        || (calls.load(Ordering::SeqCst) == 1).then_some(()),
    );
    std::thread::sleep(Duration::from_millis(300));
    fleet.signal("first", "STOP");
    let frozen = Instant::now();

    fleet.start_as("second", &["cto"], "daemon starting");
    eventually(
        "the successor to handle the message",
        Duration::from_secs(60),
        || (fleet.finished("cto") == Some((1, 1))).then_some(()),
    );
    eprintln!(
        "fault suite: a holder frozen mid-session, its successor handled the trigger {:.1} s after the freeze",
        frozen.elapsed().as_secs_f64()
    );

    fleet.signal("first", "CONT");
    fleet
        .daemon_as("first")
        .wait_for_line("lost", Duration::from_secs(30));
    // Long enough for the resumed daemon's answer to be carried out, if it were.
    let resumed = fleet
        .daemon_as("first")
        .stderr_lines(Duration::from_secs(8));
    assert!(
        resumed
            .iter()
            .any(|line| line.contains("lease lost") || line.contains("refused the term's writes")),
        "the resumed daemon said its term ended: {resumed:#?}"
    );
    let workspace = fleet.workspace("cto");
    assert!(
        !workspace.join("frozen.md").exists(),
        "the frozen holder carried its answer out beside its successor"
    );
    assert_eq!(
        std::fs::read_to_string(workspace.join("notes.md")).expect("notes"),
        "Version 0.3: faster intake."
    );
    let commits = git_log(&workspace);
    assert!(
        !commits.iter().any(|subject| subject.contains("Frozen")),
        "{commits:?}"
    );
    assert_eq!(
        commits
            .iter()
            .filter(|subject| subject.contains("Write the release notes"))
            .count(),
        1,
        "{commits:?}"
    );
    assert_eq!(fleet.finished("cto"), Some((1, 1)));
    assert!(fleet.handled("cto", message));
    let history = fleet.history("cto");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].summary, "Wrote the release notes");
    assert!(fleet.dead_letters("cto").is_empty());
    assert!(
        fleet
            .daemon_as("first")
            .child
            .try_wait()
            .expect("wait")
            .is_none(),
        "the resumed daemon stands by instead of exiting"
    );
}

/// Redis killed (SIGKILL) and started again from its append-only file while three daemons
/// work through 300 messages: every message is handled, none twice.
#[test]
fn redis_restarted_under_load_loses_nothing_and_handles_nothing_twice() {
    const MESSAGES: u64 = 300;
    let roles = ["cto", "cfo", "coo"];
    let mut fleet = Fleet::new();
    fleet.api.respond_with(|request: &Recorded| {
        let job = job_of(request).unwrap_or(0);
        Reply::Message(
            answer(json!({"summary": format!("Shipped order {job}"), "actions": []}))
                .paced(Duration::from_millis(5)),
        )
    });
    for role in roles {
        fleet.start(&[role]);
    }
    let finished = |fleet: &Fleet| -> Option<u64> {
        roles
            .iter()
            .map(|role| fleet.finished(role).map(|(done, _)| done))
            .sum()
    };
    let mut sent = BTreeMap::new();
    let mut outage = None;
    for job in 0..MESSAGES {
        let role = roles[usize::try_from(job).unwrap_or(0) % roles.len()];
        sent.insert(
            job,
            (role, fleet.send(role, job, &format!("Ship order {job}"))),
        );
        if job == MESSAGES / 3 {
            // Under load: the daemons are busy with the first hundred.
            fleet.redis.kill();
            std::thread::sleep(Duration::from_secs(2));
            fleet.redis.restart();
            outage = Some(Instant::now());
        }
    }
    eventually(
        "every message to be handled",
        Duration::from_secs(180),
        || (finished(&fleet) == Some(MESSAGES)).then_some(()),
    );
    eprintln!(
        "fault suite: Redis restarted; all {MESSAGES} messages handled {:.1} s after it was back",
        outage.expect("restarted").elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(finished(&fleet), Some(MESSAGES), "nothing handled twice");
    let mut handled = BTreeMap::new();
    for role in roles {
        assert!(fleet.dead_letters(role).is_empty(), "{role}");
        for entry in fleet.history(role) {
            *handled.entry(entry.trigger_id.clone()).or_insert(0) += 1;
        }
    }
    for (job, (role, message)) in &sent {
        assert!(fleet.handled(role, *message), "job {job} lost");
        assert_eq!(
            handled.get(&message.to_string()),
            Some(&1),
            "job {job}: history entries"
        );
    }
}

/// The vote requests of a new decision cannot be published (Redis refuses XADD to the daemons
/// while the proposal is written): they wait in the decision's outbox, are published at the
/// next deadline check, and the decision is voted on and carried out.
#[test]
fn a_decision_notice_whose_publish_failed_still_arrives() {
    let mut fleet = Fleet::new();
    let port = fleet.redis.port().to_string();
    let refused = Arc::new(AtomicUsize::new(0));
    let refusing = Arc::clone(&refused);
    fleet.api.respond_with(move |request: &Recorded| {
        let text = ChatRequest::parse(request)
            .map(|call| call.user_texts().join("\n"))
            .unwrap_or_default();
        if text.contains("carry it out now") {
            return Reply::Message(answer(json!({"summary": "Paid the auditors", "actions": []})));
        }
        if let Some(at) = text.find("\"decisionId\": \"") {
            let id: String = text[at + 15..].chars().take(36).collect();
            return Reply::Message(answer(json!({"summary": "Approved", "actions": [
                {"type": "vote", "data": {"decisionId": id, "vote": "approve", "reason": "in the budget"}}]})));
        }
        // The proposer's session: from now on Redis refuses to append to any stream.
        let acl = Command::new("redis-cli")
            .args(["-p", &port, "ACL", "SETUSER", "default", "-xadd"])
            .output()
            .expect("redis-cli");
        assert!(acl.status.success(), "{acl:?}");
        refusing.fetch_add(1, Ordering::SeqCst);
        Reply::Message(answer(json!({
            "summary": "Proposed paying the auditors",
            "actions": [{"type": "propose_decision", "data": {"tier": "major", "title": "Pay the auditors 20,000 USDC", "description": "The audit is due."}}]
        })))
    });
    fleet.start(&["cfo", "ceo", "dao"]);
    fleet.send("cfo", 1, "Pay the auditors");
    eventually(
        "the proposal to be recorded",
        Duration::from_secs(60),
        || (fleet.finished("cfo") == Some((1, 1))).then_some(()),
    );
    assert_eq!(refused.load(Ordering::SeqCst), 1);
    let decisions = fleet.status()["decisions"].clone();
    assert_eq!(decisions[0]["status"], "pending", "{decisions}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        fleet.api.model_calls().len(),
        1,
        "no vote request got through while Redis refused them"
    );
    let acl = fleet.redis.cli(&["ACL", "SETUSER", "default", "+xadd"]);
    assert!(acl.contains("OK"), "{acl}");
    let restored = Instant::now();

    let executed = eventually(
        "the decision to be voted on and carried out",
        Duration::from_secs(150),
        || {
            let decision = fleet.status()["decisions"][0].clone();
            (decision["status"] == "executed").then_some(decision)
        },
    );
    eprintln!(
        "fault suite: vote requests published from the outbox; the decision was executed {:.1} s after Redis took appends again",
        restored.elapsed().as_secs_f64()
    );
    assert_eq!(
        executed["path"], "pending → approved → executed",
        "{executed}"
    );
}

/// Seven daemons, one per role, each sent a task at the same moment, with $1.00 of the
/// company's day left and sessions of $0.30: each daemon holds its estimate against the
/// company's limit before its session starts, so only the sessions whose holds fit run, and
/// the day's spend stays within the limit. (Checked against the limit alone, all seven would
/// run: $2.10.)
#[test]
fn seven_daemons_starting_together_do_not_spend_past_the_company_budget() {
    const LIMIT: f64 = 1.0;
    let mut fleet = Fleet::new();
    fleet.company_budget(LIMIT);
    // 300,000 input tokens at $1 and 100 output tokens at $2 per million: $0.3002 a session.
    let cost = (300_000.0 * PRICES.0 + 100.0 * PRICES.1) / 1_000_000.0;
    fleet.api.respond_with(move |_: &Recorded| {
        let message = Message::text(
            json!({"summary": "Priced the plans", "actions": []}).to_string(),
        )
        .usage(Usage {
            input_tokens: 300_000,
            output_tokens: 100,
            ..Usage::default()
        });
        // Long enough for every daemon to ask for its hold while the first sessions run.
        Reply::Message(message.paced(Duration::from_millis(150)))
    });
    for role in ROLES {
        fleet.start(&[role]);
    }
    for (job, role) in ROLES.iter().enumerate() {
        fleet.send(role, job as u64, "Price the European plans");
    }
    eventually("a session to start", Duration::from_secs(30), || {
        (!fleet.api.model_calls().is_empty()).then_some(())
    });
    // Holds refused for others' holds ask again after ten seconds: wait out two rounds.
    std::thread::sleep(Duration::from_secs(25));
    let sessions = fleet.api.model_calls().len();
    let handled: u64 = ROLES
        .iter()
        .filter_map(|role| fleet.finished(role).map(|(_, handled)| handled))
        .sum();
    let booked = fleet.status()["spend"]["today_usd"]
        .as_f64()
        .expect("spend");
    eprintln!(
        "fault suite: seven daemons at ${LIMIT:.2} left: {sessions} sessions ran, ${booked:.4} booked, {handled} handled"
    );
    assert!(sessions >= 1, "no session ran");
    assert!(
        booked <= LIMIT,
        "${booked} spent past the company's ${LIMIT} ({sessions} sessions)"
    );
    assert!(
        (booked - sessions as f64 * cost).abs() < 1e-6,
        "booked ${booked} for {sessions} sessions of ${cost}"
    );
    assert_eq!(
        handled, sessions as u64,
        "every session that ran was handled"
    );
    assert!(sessions < ROLES.len(), "every daemon ran its session");
    for role in ROLES {
        assert!(
            fleet.dead_letters(role).is_empty(),
            "{role}'s task was dropped instead of waiting for the budget"
        );
    }
}
