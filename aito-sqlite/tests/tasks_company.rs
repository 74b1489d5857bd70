//! The task ledger in a company on the embedded adapters (bus and store in the SQLite file): a
//! task the CEO gives the CTO shows in the CTO's prompt, is blocked and then done with the CEO
//! woken both times, and an overdue task reminds the CTO once, across a restart.

use std::sync::Arc;
use std::time::Duration;

use aito_core::mock::{Script, ScriptedResponse};
use aito_core::task::TaskStatus;
use aito_core::{
    AgentId, AgentSpec, Budget, Company, MessageType, MockWorkers, Priority, ReplayLlm, Role,
    Settings,
};
use aito_sqlite::Embedded;
use serde_json::{Value, json};

fn answer(role: Role, when: &str, response: Value) -> ScriptedResponse {
    ScriptedResponse {
        role: Some(role),
        when: Some(when.to_owned()),
        response: Some(response),
        cost_usd: 0.01,
        ..ScriptedResponse::default()
    }
}

#[allow(clippy::field_reassign_with_default)]
fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.company_budget = Budget::unlimited();
    settings.decision_check = Duration::from_millis(100);
    settings.shutdown_grace = Duration::from_secs(2);
    settings
}

async fn company(
    dir: &std::path::Path,
    llm: Arc<ReplayLlm>,
    workspaces: &std::path::Path,
) -> aito_core::RunningCompany {
    let embedded = Embedded::open(dir).await.expect("open the company file");
    Company::builder("launchco")
        .agents([Role::Ceo, Role::Cto].map(|role| {
            AgentSpec::new(role)
                .without_schedules()
                .budget(Budget::unlimited())
        }))
        .bus(Arc::new(embedded.bus))
        .store(Arc::new(embedded.store))
        .llm(llm)
        .workers(Arc::new(MockWorkers::new()))
        .settings(settings())
        .workspace_root(workspaces)
        .build()
        .expect("company")
        .start()
        .expect("start")
}

fn prompts_of(llm: &ReplayLlm, role: &Role) -> Vec<String> {
    llm.requests()
        .into_iter()
        .filter(|request| &request.role == role)
        .map(|request| request.prompt)
        .collect()
}

/// The `# Trigger` section of a prompt.
fn trigger_of(prompt: &str) -> &str {
    prompt
        .find("# Trigger")
        .map_or(prompt, |start| &prompt[start..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_tracked_from_the_ceo_to_done_and_an_overdue_one_reminds_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let workspaces = tempfile::tempdir().unwrap();
    let llm = Arc::new(ReplayLlm::new(Script {
        responses: vec![
            answer(
                Role::Ceo,
                "Launch the beta",
                json!({
                    "summary": "Split the launch",
                    "actions": [
                        {"type": "create_task", "data": {"assignTo": "cto", "title": "Ship the beta", "description": "Deploy v0.9 to the beta users", "priority": "high"}},
                        {"type": "create_task", "data": {"assignTo": "cto", "title": "Write the changelog", "deadline": "2020-01-01"}}
                    ]
                }),
            ),
            answer(
                Role::Cto,
                "Ship the beta",
                json!({
                    "summary": "Blocked on the hosting budget",
                    "actions": [{"type": "update_task", "data": {"taskId": "{{trigger.taskId}}", "status": "blocked", "note": "waiting for the hosting budget"}}]
                }),
            ),
            answer(
                Role::Ceo,
                "waiting for the hosting budget",
                json!({
                    "summary": "Approved the budget",
                    "messages": [{"to": "cto", "content": "Budget approved: go ahead", "taskId": "{{trigger.taskId}}"}]
                }),
            ),
            answer(
                Role::Cto,
                "Budget approved",
                json!({
                    "summary": "Shipped",
                    "actions": [{"type": "update_task", "data": {"taskId": "{{trigger.taskId}}", "status": "done", "note": "beta shipped to 40 users"}}]
                }),
            ),
            answer(
                Role::Ceo,
                "beta shipped to 40 users",
                json!({"summary": "Noted the launch", "actions": []}),
            ),
        ],
        ..Script::default()
    }));
    let running = company(dir.path(), llm.clone(), workspaces.path()).await;
    running
        .send(
            "ceo",
            MessageType::Task,
            json!({"title": "Launch the beta"}),
            Priority::High,
        )
        .await
        .expect("send");
    let store = running.runtime().store.clone();
    let cto = AgentId::derived("launchco", "cto");
    // Until the beta task is done and the CEO has read the result.
    for _ in 0..200 {
        running.wait_idle(Duration::from_millis(200)).await;
        if prompts_of(&llm, &Role::Ceo)
            .iter()
            .any(|prompt| trigger_of(prompt).contains("beta shipped to 40 users"))
        {
            break;
        }
    }
    let all = store.tasks(100).await.unwrap();
    let beta = all
        .iter()
        .find(|task| task.title == "Ship the beta")
        .expect("tracked");
    assert_eq!(beta.status, TaskStatus::Done);
    assert_eq!(beta.note, "beta shipped to 40 users");
    let steps: Vec<TaskStatus> = beta.history.iter().map(|change| change.status).collect();
    assert_eq!(
        steps,
        [TaskStatus::Open, TaskStatus::Blocked, TaskStatus::Done]
    );
    assert!(
        beta.history
            .iter()
            .skip(1)
            .all(|change| change.by == Some(cto))
    );

    let cto_prompts = prompts_of(&llm, &Role::Cto);
    let first = cto_prompts
        .iter()
        .find(|prompt| trigger_of(prompt).contains("Ship the beta"))
        .expect("the CTO was woken by the task");
    let listed = &first[first
        .find("# Your open tasks")
        .expect("the CTO's prompt lists its tasks")..];
    assert!(
        listed.contains("\"Ship the beta\" — open, high priority, from ceo"),
        "{listed}"
    );

    let ceo_triggers: Vec<String> = prompts_of(&llm, &Role::Ceo)
        .iter()
        .map(|prompt| trigger_of(prompt).to_owned())
        .filter(|trigger| trigger.contains("task_update") && trigger.contains("Ship the beta"))
        .collect();
    assert_eq!(
        ceo_triggers.len(),
        2,
        "the CEO is woken when blocked and when done: {ceo_triggers:#?}"
    );
    assert!(
        ceo_triggers[0].contains("\"blocked\"")
            && ceo_triggers[0].contains("waiting for the hosting budget")
    );
    assert!(
        ceo_triggers[1].contains("\"done\"")
            && ceo_triggers[1].contains("beta shipped to 40 users")
    );

    // The changelog was due long ago: the CTO is reminded once, the CEO told.
    let reminded = |llm: &ReplayLlm| {
        prompts_of(llm, &Role::Cto)
            .iter()
            .filter(|prompt| {
                trigger_of(prompt).contains("Write the changelog")
                    && trigger_of(prompt).contains("was due")
            })
            .count()
    };
    for _ in 0..100 {
        if reminded(&llm) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.wait_idle(Duration::from_millis(300)).await;
    assert_eq!(reminded(&llm), 1);
    assert!(
        prompts_of(&llm, &Role::Ceo)
            .iter()
            .any(|prompt| trigger_of(prompt).contains("has been reminded")),
        "the creator is told"
    );
    let open = store.open_tasks(cto).await.unwrap();
    assert_eq!(open.len(), 1, "the done task left the open tasks");
    assert!(open[0].overdue_reminded_at.is_some());
    running.shutdown().await;
    drop(store);

    // A restart on the same file: the reminder is not sent again.
    let llm = Arc::new(ReplayLlm::new(Script::default()));
    let running = company(dir.path(), llm.clone(), workspaces.path()).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    running.wait_idle(Duration::from_millis(300)).await;
    assert_eq!(reminded(&llm), 0, "no second reminder after the restart");
    let changelog = running
        .runtime()
        .store
        .open_tasks(cto)
        .await
        .unwrap()
        .pop()
        .expect("still open");
    let reminders = changelog
        .history
        .iter()
        .filter(|change| change.note.contains("deadline passed"))
        .count();
    assert_eq!(reminders, 1);
    running.shutdown().await;
}
