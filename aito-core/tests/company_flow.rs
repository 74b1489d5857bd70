//! A whole company on the embedded adapters: a task to the CEO becomes a message to the CTO,
//! a worker, a major decision, two votes, an approval and its execution.

mod common;

use aito_core::decision::DecisionStatus;
use aito_core::store::{Outcome, StateStore};
use aito_core::{MessageType, Priority, Role};
use common::{Harness, answer, settle, seven_quiet_agents};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_to_the_ceo_runs_through_the_whole_company() {
    let harness = Harness::new(vec![
        answer(
            Role::Ceo,
            "Launch the developer portal",
            json!({
                "summary": "Delegated the portal to the CTO",
                "messages": [{"to": "cto", "content": "Build the developer portal; propose the hosting spend.", "type": "task", "priority": "high"}],
                "stateUpdates": {"current_focus": "developer portal"}
            }),
        ),
        answer(
            Role::Cto,
            "Build the developer portal",
            json!({
                "summary": "Researching hosting with a worker and proposing the spend",
                "actions": [
                    {"type": "spawn_worker", "data": {"task": "Compare static hosting offers", "servers": ["fetch"], "timeout": 60000}},
                    {"type": "propose_decision", "data": {"tier": "major", "title": "Host the portal on Fastly", "description": "$800/month for the CDN"}}
                ]
            }),
        ),
        answer(
            Role::Cto,
            "worker_result",
            json!({
                "summary": "Noted the hosting comparison",
                "actions": [],
                "stateUpdates": {"hosting": "fastly"}
            }),
        ),
        answer(
            Role::Ceo,
            "Host the portal on Fastly",
            json!({
                "summary": "Approved the hosting spend",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "within plan"}}]
            }),
        ),
        answer(
            Role::Dao,
            "Host the portal on Fastly",
            json!({
                "summary": "Approved for the community",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "treasury can afford it"}}]
            }),
        ),
        answer(
            Role::Cto,
            "carry it out now",
            json!({
                "summary": "Set up the Fastly service",
                "actions": [{"type": "operational", "data": {"title": "Hosting setup", "files": [{"path": "ops/hosting.md", "content": "Fastly service configured"}], "commit": "Set up portal hosting"}}]
            }),
        ),
    ]);
    common::logs();
    let agents = seven_quiet_agents()
        .into_iter()
        .map(|spec| {
            if spec.role == Role::Cto {
                spec.mcp_servers(["fetch", "github"])
            } else {
                spec
            }
        })
        .collect();
    let company = harness.company(agents).start().expect("start");

    company
        .send(
            "ceo",
            MessageType::Task,
            json!({"title": "Launch the developer portal"}),
            Priority::High,
        )
        .await
        .expect("send");
    settle(&company).await;
    assert_eq!(
        harness
            .store
            .get_value(&format!("workers:{}", harness.id("cto")))
            .await
            .unwrap(),
        None,
        "a worker whose result was sent is no longer written down as running"
    );

    let ceo = harness.history("ceo").await;
    assert_eq!(ceo[0].summary, "Delegated the portal to the CTO");
    assert!(ceo[0].actions[0].ok, "{:?}", ceo[0].actions);
    let ceo_state = harness
        .store
        .load_state(harness.id("ceo"))
        .await
        .unwrap()
        .value;
    assert_eq!(ceo_state.values["current_focus"], "developer portal");

    let workers = harness.workers.tasks();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].servers, ["fetch"]);
    assert_eq!(workers[0].agent, harness.id("cto"));

    let decisions = harness.store.decisions(None).await.unwrap();
    assert_eq!(decisions.len(), 1);
    let decision = &decisions[0];
    assert_eq!(decision.title, "Host the portal on Fastly");
    assert_eq!(
        decision.status,
        DecisionStatus::Executed,
        "path: {}",
        decision.path()
    );
    assert_eq!(decision.path(), "pending → approved → executed");
    let voters: Vec<_> = decision
        .votes
        .iter()
        .map(|vote| vote.role.as_str())
        .collect();
    assert!(
        voters.contains(&"ceo") && voters.contains(&"dao"),
        "{voters:?}"
    );

    let cto = harness.history("cto").await;
    let summaries: Vec<_> = cto.iter().map(|entry| entry.summary.as_str()).collect();
    assert!(
        summaries.contains(&"Noted the hosting comparison"),
        "{summaries:?}"
    );
    assert!(
        summaries.contains(&"Set up the Fastly service"),
        "{summaries:?}"
    );
    assert!(cto.iter().all(|entry| entry.outcome == Outcome::Handled));
    let cto_state = harness
        .store
        .load_state(harness.id("cto"))
        .await
        .unwrap()
        .value;
    assert_eq!(cto_state.values["hosting"], "fastly");
    let written = harness.workspaces.path().join("cto/ops/hosting.md");
    assert_eq!(
        std::fs::read_to_string(written).unwrap(),
        "Fastly service configured"
    );

    // Nobody else was woken.
    for role in ["cmo", "cfo", "coo", "cco"] {
        assert!(
            harness.history(role).await.is_empty(),
            "{role} ran a session"
        );
    }
    company.shutdown().await;
}
