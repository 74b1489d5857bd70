//! Building a prompt for an agent that owes 200 open tasks while the store holds 10,000 closed
//! ones: the daemon's own work before a session (state, history, decisions, the open tasks
//! sorted by urgency, the prompt within its budget), on the in-memory store and on the
//! embedded SQLite store. Closed tasks are never read: the figure does not grow with them.
//!
//!     cargo bench -p aito-benches --bench prompt_tasks

#![allow(missing_docs)]

mod prompt_common;

use std::sync::Arc;

use aito_core::store::StateStore;
use aito_core::task::{Task, TaskChange, TaskStatus};
use aito_core::{AgentId, MemoryStore, Priority, Role, TaskId};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};

const OPEN: usize = 200;
const CLOSED: usize = 10_000;

fn task(n: usize, assignee: AgentId, creator: AgentId, status: TaskStatus) -> Task {
    let now = Utc::now() - chrono::Duration::minutes((CLOSED + OPEN - n) as i64);
    Task {
        id: TaskId::random(),
        title: format!("Task number {n}: migrate one more service"),
        description: "Move the service, measure it for a day, then report the figures.".into(),
        creator,
        creator_role: Role::Ceo,
        assignee,
        assignee_role: Role::Cto,
        priority: [Priority::Low, Priority::Normal, Priority::High][n % 3],
        deadline: n
            .is_multiple_of(4)
            .then(|| now + chrono::Duration::days((n % 30) as i64)),
        parent: None,
        status,
        note: if status == TaskStatus::Done {
            "moved and measured".into()
        } else {
            String::new()
        },
        created_at: now,
        updated_at: now,
        history: vec![TaskChange {
            at: now,
            by: Some(creator),
            by_name: "ceo".into(),
            status: TaskStatus::Open,
            note: "created".into(),
        }],
        overdue_reminded_at: None,
        assignee_sessions_at_change: 0,
        version: 0,
    }
}

async fn fill(store: &dyn StateStore, cto: AgentId, ceo: AgentId) {
    for n in 0..CLOSED {
        let mut closed = task(n, cto, ceo, TaskStatus::Open);
        store.create_task(&closed).await.expect("create");
        closed.version = 1;
        closed.status = if n.is_multiple_of(10) {
            TaskStatus::Cancelled
        } else {
            TaskStatus::Done
        };
        store.update_task(&closed).await.expect("close");
    }
    for n in CLOSED..CLOSED + OPEN {
        let status = [
            TaskStatus::Open,
            TaskStatus::InProgress,
            TaskStatus::Blocked,
        ][n % 3];
        store
            .create_task(&task(n, cto, ceo, status))
            .await
            .expect("create");
    }
}

fn prompt_tasks(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let workspaces = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let cto = AgentId::derived("benchco", "cto");
    let ceo = AgentId::derived("benchco", "ceo");
    let memory: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let sqlite: Arc<dyn StateStore> = runtime.block_on(async {
        Arc::new(
            aito_sqlite::Embedded::open(data.path())
                .await
                .expect("open")
                .store,
        )
    });
    let trigger = prompt_common::check_in();
    let mut group = c.benchmark_group("prompt_200_open_10000_closed_tasks");
    for (name, store) in [("memory", memory), ("sqlite", sqlite)] {
        runtime.block_on(fill(&*store, cto, ceo));
        let daemon = prompt_common::daemon(store, workspaces.path(), Role::Cto);
        let prompt = runtime.block_on(daemon.preview_prompt(&trigger));
        assert!(prompt.user.contains("# Your open tasks"), "{}", prompt.user);
        assert!(prompt.user.contains("more open tasks not shown"));
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(daemon.preview_prompt(&trigger)))
        });
    }
    group.finish();
}

criterion_group!(benches, prompt_tasks);
criterion_main!(benches);
