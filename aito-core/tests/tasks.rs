//! The task ledger in a running company: who may change a task, and what a refusal leaves.

mod common;

use aito_core::store::StateStore;
use aito_core::task::{Task, TaskChange, TaskStatus};
use aito_core::{Priority, Role, TaskId};
use common::{Harness, answer, quiet_agents, settle};
use serde_json::json;

fn seeded_task(harness: &Harness) -> Task {
    let now = harness.clock.now();
    Task {
        id: TaskId::random(),
        title: "Ship the beta".into(),
        description: "Everything for the launch".into(),
        creator: harness.id("ceo"),
        creator_role: Role::Ceo,
        assignee: harness.id("cto"),
        assignee_role: Role::Cto,
        priority: Priority::High,
        deadline: None,
        parent: None,
        status: TaskStatus::Open,
        note: String::new(),
        created_at: now,
        updated_at: now,
        history: vec![TaskChange {
            at: now,
            by: Some(harness.id("ceo")),
            by_name: "ceo".into(),
            status: TaskStatus::Open,
            note: "created".into(),
        }],
        overdue_reminded_at: None,
        assignee_sessions_at_change: 0,
        version: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_is_neither_assignee_creator_nor_ceo_cannot_change_a_task() {
    let harness = Harness::new(vec![answer(
        Role::Cmo,
        "Tidy the board",
        json!({
            "summary": "Closing the CTO's task",
            "actions": [{"type": "update_task", "data": {"taskId": "{{trigger.taskId}}", "status": "done", "note": "I did it"}}]
        }),
    )]);
    let task = seeded_task(&harness);
    harness.store.create_task(&task).await.expect("seed");
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cto, Role::Cmo]))
        .start()
        .expect("start");
    company
        .send(
            "cmo",
            aito_core::MessageType::Task,
            json!({"title": "Tidy the board", "taskId": task.id}),
            Priority::Normal,
        )
        .await
        .expect("send");
    settle(&company).await;

    let after = harness.store.task(task.id).await.unwrap().expect("kept");
    assert_eq!(after.status, TaskStatus::Open, "nothing changed");
    assert_eq!(after.version, 1);
    assert_eq!(after.history.len(), 1);
    let cmo = harness
        .store
        .load_state(harness.id("cmo"))
        .await
        .unwrap()
        .value;
    assert!(
        cmo.notes.iter().any(|note| note
            .contains("may be changed only by its assignee (cto), its creator (ceo) or the CEO")),
        "the refusal is reported back: {:?}",
        cmo.notes
    );
    let history = harness.history("cmo").await;
    let record = &history.last().expect("a session").actions[0];
    assert_eq!((record.kind.as_str(), record.ok), ("update_task", false));
    assert_eq!(harness.sessions_of(&Role::Cto), 0, "no one was woken");
    assert_eq!(harness.sessions_of(&Role::Ceo), 0, "no one was woken");
    company.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_in_progress_without_updates_trips_the_no_progress_guard_once() {
    let mut harness = Harness::new(vec![answer(
        Role::Cto,
        "Start the beta",
        json!({
            "summary": "Started",
            "actions": [{"type": "update_task", "data": {"taskId": "{{trigger.taskId}}", "status": "in_progress"}}]
        }),
    )]);
    harness.settings.loops.stalled_task_sessions = 2;
    let task = seeded_task(&harness);
    harness.store.create_task(&task).await.expect("seed");
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cto]))
        .start()
        .expect("start");
    let send = |title: String| {
        let company = &company;
        let id = task.id;
        async move {
            company
                .send(
                    "cto",
                    aito_core::MessageType::Direct,
                    json!({"content": title, "taskId": id}),
                    Priority::Normal,
                )
                .await
                .expect("send");
            settle(company).await;
        }
    };
    send("Start the beta".into()).await;
    let started = harness.store.task(task.id).await.unwrap().unwrap();
    assert_eq!(started.status, TaskStatus::InProgress);
    for n in 0..4 {
        send(format!("Unrelated question {n}")).await;
    }
    let trips = aito_core::event::recent_guard_trips(&*harness.store, 10)
        .await
        .unwrap();
    let on_task: Vec<_> = trips
        .iter()
        .filter(|trip| trip.guard == "no_progress" && trip.figures["task"] == json!(task.id))
        .collect();
    assert_eq!(on_task.len(), 1, "{trips:?}");
    assert_eq!(on_task[0].figures["sessions"], 2);
    let prompts: Vec<String> = harness
        .llm
        .requests()
        .into_iter()
        .filter(|request| request.role == Role::Cto)
        .map(|request| request.prompt)
        .collect();
    assert!(
        prompts[3].contains("has been in progress for 2 sessions without an update"),
        "the CTO hears of it in its next prompt: {}",
        prompts[3]
    );
    company.shutdown().await;
}
