//! The task ledger as the operator reads it: the listing of `aito tasks` and `GET /api/tasks`,
//! one task with its history and sub-tasks for `aito task ID` and `GET /api/tasks/{id}`.

use std::fmt::Write as _;

use aito_core::directory::Directory;
use aito_core::store::StateStore;
use aito_core::task::{Task, TaskStatus};
use aito_core::{AgentId, Role, StoreError, TaskId};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The most tasks a listing reads (newest first).
pub(crate) const LIST_LIMIT: usize = 10_000;

/// Which tasks to list.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// Assigned to this agent.
    pub(crate) agent: Option<AgentId>,
    /// In this status.
    pub(crate) status: Option<TaskStatus>,
}

impl Filter {
    /// Reads `--agent ROLE` and `--status S` (or the API's `agent` and `status`).
    pub(crate) fn parse(
        directory: &Directory,
        agent: Option<&str>,
        status: Option<&str>,
    ) -> Result<Self, String> {
        let agent = match agent.map(str::trim).filter(|text| !text.is_empty()) {
            None => None,
            Some(text) => {
                let role: Role = text
                    .parse()
                    .map_err(|err: aito_core::role::InvalidRole| err.to_string())?;
                Some(directory.id_of(&role).ok_or_else(|| {
                    format!(
                        "no agent with role {role}; the company has: {}",
                        directory.role_names()
                    )
                })?)
            }
        };
        let status = match status.map(str::trim).filter(|text| !text.is_empty()) {
            None | Some("all") => None,
            Some(text) => Some(text.parse()?),
        };
        Ok(Self { agent, status })
    }

    fn matches(&self, task: &Task) -> bool {
        self.agent.is_none_or(|agent| task.assignee == agent)
            && self.status.is_none_or(|status| task.status == status)
    }
}

/// The tasks matching `filter`, newest first.
pub(crate) async fn list(store: &dyn StateStore, filter: &Filter) -> Result<Vec<Task>, StoreError> {
    let open_only = filter.status.is_some_and(|status| !status.is_closed());
    let mut tasks = match filter.agent {
        // The open index is enough: no closed task is read.
        Some(agent) if open_only => store.open_tasks(agent).await?,
        _ => store.tasks(LIST_LIMIT).await?,
    };
    tasks.retain(|task| filter.matches(task));
    tasks.sort_by_key(|task| std::cmp::Reverse(task.created_at));
    Ok(tasks)
}

/// One task with its sub-tasks, for `aito task ID` and `GET /api/tasks/{id}`.
#[derive(Debug, Serialize)]
pub(crate) struct TaskDetail {
    /// The task, its history included.
    pub(crate) task: Task,
    /// The tasks whose parent it is, oldest first.
    pub(crate) subtasks: Vec<Task>,
}

/// The task `id` and its sub-tasks; `None` when there is no such task.
pub(crate) async fn detail(
    store: &dyn StateStore,
    id: TaskId,
) -> Result<Option<TaskDetail>, StoreError> {
    let Some(task) = store.task(id).await? else {
        return Ok(None);
    };
    let subtasks = store
        .tasks(LIST_LIMIT)
        .await?
        .into_iter()
        .filter(|candidate| candidate.parent == Some(id))
        .collect();
    Ok(Some(TaskDetail { task, subtasks }))
}

fn due(task: &Task, now: DateTime<Utc>) -> String {
    match task.deadline {
        None => "-".to_owned(),
        Some(deadline) if task.is_overdue(now) => {
            format!("{} overdue", deadline.format("%Y-%m-%d %H:%M"))
        }
        Some(deadline) => deadline.format("%Y-%m-%d %H:%M").to_string(),
    }
}

/// The listing as a table.
pub(crate) fn render_list(tasks: &[Task], now: DateTime<Utc>) -> String {
    if tasks.is_empty() {
        return "No tasks.\n".to_owned();
    }
    let mut out = format!(
        "{:<36}  {:<11}  {:<8}  {:<8}  {:<8}  {:<22}  {}\n",
        "ID", "STATUS", "PRIORITY", "ASSIGNEE", "CREATOR", "DUE", "TITLE"
    );
    for task in tasks {
        let _ = writeln!(
            out,
            "{:<36}  {:<11}  {:<8}  {:<8}  {:<8}  {:<22}  {}",
            task.id,
            task.status.as_str(),
            task.priority.as_str(),
            task.assignee_role.as_str(),
            task.creator_role.as_str(),
            due(task, now),
            task.title
        );
    }
    out
}

/// One task with its history and sub-tasks.
pub(crate) fn render_detail(detail: &TaskDetail, now: DateTime<Utc>) -> String {
    let task = &detail.task;
    let mut out = format!("Task {} \"{}\"\n", task.id, task.title);
    let _ = writeln!(out, "  status    {}", task.status);
    if !task.note.is_empty() {
        let label = match task.status {
            TaskStatus::Blocked => "blocked",
            TaskStatus::Done => "result",
            _ => "note",
        };
        let _ = writeln!(out, "  {label:<9} {}", task.note);
    }
    let _ = writeln!(out, "  priority  {}", task.priority);
    let _ = writeln!(out, "  assignee  {}", task.assignee_role);
    let _ = writeln!(out, "  creator   {}", task.creator_role);
    let _ = writeln!(out, "  due       {}", due(task, now));
    if let Some(parent) = task.parent {
        let _ = writeln!(out, "  part of   {parent}");
    }
    if !task.description.is_empty() {
        let _ = writeln!(out, "\n  {}", task.description.replace('\n', "\n  "));
    }
    out.push_str("\nHistory:\n");
    for change in &task.history {
        let _ = write!(
            out,
            "  {}  {:<8}  {:<11}",
            change.at.format("%Y-%m-%d %H:%M:%S"),
            change.by_name,
            change.status.as_str()
        );
        if !change.note.is_empty() {
            let _ = write!(out, "  {}", change.note);
        }
        out.push('\n');
    }
    if !detail.subtasks.is_empty() {
        out.push_str("\nSub-tasks:\n");
        for sub in &detail.subtasks {
            let _ = writeln!(
                out,
                "  {}  {:<11}  {:<8}  {}",
                sub.id,
                sub.status.as_str(),
                sub.assignee_role.as_str(),
                sub.title
            );
        }
    }
    out
}
