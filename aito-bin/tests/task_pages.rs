//! The task ledger on the dashboard: the board by status and agent, one task with its history
//! and sub-tasks, the JSON API, and escaping of what agents wrote.

mod common;

use aito_core::task::{Task, TaskChange, TaskStatus};
use aito_core::{AgentId, Priority, Role, TaskId};
use axum::http::StatusCode;
use chrono::Utc;
use common::{demo, request, send};

fn task(title: &str, assignee: Role, status: TaskStatus, note: &str) -> Task {
    let now = Utc::now();
    let creator = AgentId::derived("demo", "ceo");
    let mut history = vec![TaskChange {
        at: now,
        by: Some(creator),
        by_name: "ceo".into(),
        status: TaskStatus::Open,
        note: "created".into(),
    }];
    if status != TaskStatus::Open {
        history.push(TaskChange {
            at: now,
            by: Some(AgentId::derived("demo", assignee.as_str())),
            by_name: assignee.to_string(),
            status,
            note: note.into(),
        });
    }
    Task {
        id: TaskId::random(),
        title: title.into(),
        description: format!("{title}, in detail"),
        creator,
        creator_role: Role::Ceo,
        assignee: AgentId::derived("demo", assignee.as_str()),
        assignee_role: assignee,
        priority: Priority::High,
        deadline: None,
        parent: None,
        status,
        note: note.into(),
        created_at: now,
        updated_at: now,
        history,
        overdue_reminded_at: None,
        assignee_sessions_at_change: 0,
        version: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_tasks_by_status_and_agent_and_a_task_page_its_history() {
    let demo = demo().await;
    let app = demo.app();
    let store = &demo.state.runtime.store;
    let launch = task(
        "Launch the portal",
        Role::Cto,
        TaskStatus::Blocked,
        "waiting for the hosting decision",
    );
    let mut post = task(
        "Write the <script>alert(1)</script> post",
        Role::Cmo,
        TaskStatus::Done,
        "scheduled for 15:00",
    );
    post.parent = Some(launch.id);
    let fund = task("Fund the launch", Role::Cfo, TaskStatus::Open, "");
    for task in [&launch, &post, &fund] {
        store.create_task(task).await.expect("seed");
    }

    let (status, board) = send(&app, request("GET", "/tasks", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    let column = |page: &str, status: &str| -> String {
        let start = page
            .find(&format!("data-status=\"{status}\""))
            .unwrap_or_else(|| panic!("no {status} column"));
        let rest = &page[start..];
        rest[..rest[1..]
            .find("data-status=")
            .map_or(rest.len(), |end| end + 1)]
            .to_owned()
    };
    assert!(column(&board, "blocked").contains("Launch the portal"));
    assert!(column(&board, "blocked").contains("waiting for the hosting decision"));
    assert!(column(&board, "done").contains("scheduled for 15:00"));
    assert!(column(&board, "open").contains("Fund the launch"));
    assert!(
        !board.contains("<script>alert(1)</script>"),
        "agent text is escaped"
    );
    assert!(board.contains("&lt;script&gt;"));
    assert!(
        board.contains("href=\"/tasks\"") && board.contains(">Tasks<"),
        "in the navigation"
    );

    let (_, cto) = send(&app, request("GET", "/tasks?agent=cto", None, None)).await;
    assert!(cto.contains("Launch the portal"));
    assert!(!cto.contains("Fund the launch"), "filtered by agent");
    let (status, _) = send(&app, request("GET", "/tasks?agent=nobody", None, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, page) = send(
        &app,
        request("GET", &format!("/tasks/{}", launch.id), None, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let history = &page[page.find("task-history").expect("history table")..];
    assert!(history.contains("created") && history.contains("waiting for the hosting decision"));
    let subtasks = &page[page.find("Sub-tasks").expect("sub-tasks")..];
    assert!(
        subtasks.contains(&format!("href=\"/tasks/{}\"", post.id)),
        "the sub-task is linked"
    );
    let (status, _) = send(
        &app,
        request("GET", &format!("/tasks/{}", TaskId::random()), None, None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = send(
        &app,
        request("GET", "/api/tasks?agent=cmo&status=done", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(listed["tasks"][0]["id"], serde_json::json!(post.id));
    let (_, body) = send(
        &app,
        request("GET", &format!("/api/tasks/{}", launch.id), None, None),
    )
    .await;
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detail["task"]["status"], "blocked");
    assert_eq!(detail["task"]["history"].as_array().unwrap().len(), 2);
    assert_eq!(detail["subtasks"][0]["id"], serde_json::json!(post.id));
    let (status, _) = send(&app, request("GET", "/api/tasks?status=later", None, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    demo.stop().await;
}
