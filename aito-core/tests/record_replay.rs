//! Record and replay: a recorded run replays with no divergence, and a changed answer is
//! reported at the step where it was changed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aito_core::recording::{self, Entry, FileRecorder, MemoryRecorder, Recorder, SessionOutcome};
use aito_core::replay::Replay;
use aito_core::{AgentSpec, Budget, MessageType, Priority, Role};
use common::{Harness, answer, quiet_agents};
use serde_json::json;

fn script() -> Vec<aito_core::mock::ScriptedResponse> {
    vec![
        answer(
            Role::Ceo,
            "Prepare the launch",
            json!({
                "summary": "Delegated the launch",
                "messages": [{"to": "cto", "content": "Prepare the launch checklist", "type": "task"}]
            }),
        ),
        answer(
            Role::Cto,
            "Prepare the launch checklist",
            json!({
                "summary": "Started the checklist",
                "actions": [
                    {"type": "spawn_worker", "data": {"task": "Check the status page", "servers": ["fetch"]}},
                    {"type": "propose_decision", "data": {"tier": "minor", "title": "Freeze deploys on launch day", "description": "No deploys for 24 h"}}
                ],
                "stateUpdates": {"current_focus": "launch"}
            }),
        ),
        answer(
            Role::Ceo,
            "Freeze deploys",
            json!({
                "summary": "Approved the freeze",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "sensible"}}]
            }),
        ),
        answer(
            Role::Cto,
            "worker_result",
            json!({"summary": "Status page is green", "actions": []}),
        ),
        answer(
            Role::Cto,
            "carry it out now",
            json!({
                "summary": "Deploys frozen",
                "actions": [{"type": "operational", "data": {"title": "Freeze", "files": [{"path": "ops/freeze.md", "content": "frozen"}], "commit": "Freeze deploys"}}]
            }),
        ),
    ]
}

async fn record(recorder: Arc<dyn Recorder>) -> Harness {
    let harness = Harness::new(script());
    let mut agents = quiet_agents(&[Role::Ceo, Role::Cto]);
    agents[1] = agents[1].clone().mcp_servers(["fetch"]);
    agents.push(
        AgentSpec::new(Role::Coo)
            .schedules(["*/20 * * * *"])
            .expect("schedule")
            .budget(Budget::unlimited()),
    );
    let company = harness
        .builder(agents)
        .recorder(recorder)
        .build()
        .expect("company")
        .start()
        .expect("start");
    company
        .send(
            "ceo",
            MessageType::Task,
            json!({"title": "Prepare the launch"}),
            Priority::High,
        )
        .await
        .expect("send");
    // Ticks at 10:20 and 10:40.
    tokio::time::sleep(Duration::from_secs(50 * 60)).await;
    company.shutdown().await;
    harness
}

#[tokio::test(start_paused = true)]
async fn a_recorded_run_replays_without_divergence() {
    let recorder = Arc::new(MemoryRecorder::new());
    let harness = record(recorder.clone()).await;
    let entries = recorder.entries();
    let sessions = entries
        .iter()
        .filter(|entry| matches!(entry, Entry::Session { .. }))
        .count();
    assert_eq!(
        sessions,
        5 + 2,
        "five scripted sessions and two cron ticks of the COO"
    );
    assert!(
        entries
            .iter()
            .any(|entry| matches!(entry, Entry::Worker { .. }))
    );
    assert!(matches!(entries.last(), Some(Entry::End { .. })));
    drop(harness);

    let workspaces = tempfile::tempdir().expect("tempdir");
    let report = Replay::new(entries)
        .expect("replay")
        .run(workspaces.path())
        .await
        .expect("run");
    assert!(
        report.divergence.is_none(),
        "{}",
        report.divergence.map(|d| d.to_string()).unwrap_or_default()
    );
    assert_eq!(report.sessions, sessions);
    assert_eq!(
        std::fs::read_to_string(workspaces.path().join("cto/ops/freeze.md"))
            .expect("replayed file"),
        "frozen"
    );
}

#[tokio::test(start_paused = true)]
async fn a_changed_answer_is_reported_at_its_step() {
    let recorder = Arc::new(MemoryRecorder::new());
    record(recorder.clone()).await;
    let mut entries = recorder.entries();
    // Change the CTO's first answer: a major decision instead of a minor one.
    let (index, _) = entries
        .iter()
        .enumerate()
        .find(|(_, entry)| {
            matches!(
                entry,
                Entry::Session {
                    role: Role::Cto,
                    ..
                }
            )
        })
        .expect("a CTO session");
    if let Entry::Session {
        outcome: SessionOutcome::Answer(response),
        ..
    } = &mut entries[index]
    {
        response.text = response.text.replace("\"minor\"", "\"major\"");
    }
    let workspaces = tempfile::tempdir().expect("tempdir");
    let report = Replay::new(entries)
        .expect("replay")
        .run(workspaces.path())
        .await
        .expect("run");
    let divergence = report.divergence.expect("a divergence");
    assert_eq!(divergence.step, index + 1, "{divergence}");
    assert_eq!(divergence.what, "actions", "{divergence}");
    assert!(
        divergence.expected.contains("minor") && divergence.actual.contains("major"),
        "{divergence}"
    );
}

#[tokio::test(start_paused = true)]
async fn recordings_round_trip_through_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("run.jsonl");
    let recorder = Arc::new(FileRecorder::create(&path).expect("file"));
    let memory = Arc::new(MemoryRecorder::new());
    // Record the same run twice: into the file and into memory.
    struct Both(Arc<FileRecorder>, Arc<MemoryRecorder>);
    impl Recorder for Both {
        fn record(&self, entry: Entry) {
            self.0.record(entry.clone());
            self.1.record(entry);
        }
    }
    record(Arc::new(Both(recorder, memory.clone()))).await;
    let read = recording::read(&path).expect("read");
    assert_eq!(read, memory.entries());
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"kind\": \"session\"}\n").expect("write");
    let err = recording::read(&bad).expect_err("not a recording");
    assert!(err.to_string().contains("line 1"), "{err}");
}
