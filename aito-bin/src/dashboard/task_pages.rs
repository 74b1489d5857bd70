//! The task ledger's pages: the board (one column per status, filtered by agent) and one task
//! with its history and sub-tasks. Server-rendered with `maud` like the other pages, so titles,
//! notes and descriptions that agents wrote are escaped.

use aito_core::task::{Task, TaskStatus};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::DashboardState;
use super::pages::{Nav, chrome, error_page, page, time};
use super::tasks_api::{TaskQuery, find_task, task_id};
use crate::tasks;

fn status_badge(status: TaskStatus) -> Markup {
    html! { span class={ "badge task-" (status.as_str()) } { (status.as_str()) } }
}

fn card(task: &Task, now: DateTime<Utc>) -> Markup {
    html! {
        li.task-card data-task=(task.id) {
            a href={ "/tasks/" (task.id) } { (task.title) }
            div.muted {
                (task.assignee_role.as_str().to_uppercase()) " · " (task.priority.as_str())
                " · from " (task.creator_role.as_str().to_uppercase())
            }
            @if let Some(deadline) = task.deadline {
                div class={ @if task.is_overdue(now) { "overdue" } @else { "muted" } } {
                    "due " (time(deadline, now))
                }
            }
            @if !task.note.is_empty() {
                div.note { (task.note) }
            }
        }
    }
}

/// `GET /tasks?agent=ROLE`: the board.
pub(crate) async fn board(
    State(state): State<DashboardState>,
    Query(query): Query<TaskQuery>,
) -> Response {
    let chrome = chrome(&state).await;
    let filter = match query.filter(&state) {
        // The board shows every status in its columns.
        Ok(filter) => tasks::Filter {
            status: None,
            ..filter
        },
        Err(err) => return error_page(&chrome, &err),
    };
    let listed = match tasks::list(&*state.runtime.store, &filter).await {
        Ok(listed) => listed,
        Err(err) => return error_page(&chrome, &err.into()),
    };
    let now = state.runtime.clock.now();
    let current = query.agent.as_deref().unwrap_or("");
    let content = html! {
        h1 { "Tasks" }
        nav.filters aria-label="Filter by agent" {
            a.active[current.is_empty()] href="/tasks" { "all agents" }
            @for entry in state.runtime.directory.agents() {
                a.active[current == entry.role.as_str()] href={ "/tasks?agent=" (entry.role.as_str()) } { (entry.role.as_str()) }
            }
        }
        div.board {
            @for status in TaskStatus::ALL {
                @let column: Vec<&Task> = listed.iter().filter(|task| task.status == status).collect();
                section.column data-status=(status.as_str()) {
                    h2 { (status_badge(status)) " " span.muted { (column.len()) } }
                    @if column.is_empty() {
                        p.muted { "none" }
                    } @else {
                        ul.cards { @for task in column { (card(task, now)) } }
                    }
                }
            }
        }
    };
    page(&chrome, "Tasks", Nav::Tasks, content)
}

/// `GET /tasks/{id}`: one task, its history and its sub-tasks.
pub(crate) async fn task(State(state): State<DashboardState>, Path(id): Path<String>) -> Response {
    let chrome = chrome(&state).await;
    let detail = match task_id(&id) {
        Ok(id) => find_task(&state, id).await,
        Err(err) => Err(err),
    };
    let detail = match detail {
        Ok(detail) => detail,
        Err(err) => return error_page(&chrome, &err),
    };
    let task = &detail.task;
    let now = state.runtime.clock.now();
    let content = html! {
        h1 { (task.title) " " (status_badge(task.status)) }
        dl.facts {
            dt { "Assignee" } dd { a href={ "/agents/" (task.assignee_role.as_str()) } { (task.assignee_role.as_str().to_uppercase()) } }
            dt { "Creator" } dd { a href={ "/agents/" (task.creator_role.as_str()) } { (task.creator_role.as_str().to_uppercase()) } }
            dt { "Priority" } dd { (task.priority.as_str()) }
            dt { "Created" } dd { (time(task.created_at, now)) }
            dt { "Deadline" } dd { @if let Some(deadline) = task.deadline { (time(deadline, now)) @if task.is_overdue(now) { " (overdue)" } } @else { "—" } }
            @if let Some(parent) = task.parent {
                dt { "Part of" } dd { a href={ "/tasks/" (parent) } { (parent) } }
            }
            @if !task.note.is_empty() {
                dt { @if task.status == TaskStatus::Done { "Result" } @else { "Note" } } dd { (task.note) }
            }
        }
        @if !task.description.is_empty() {
            p.description { (task.description) }
        }
        h2 { "History" }
        div.table-wrap { table.task-history {
            thead { tr { th { "When" } th { "Who" } th { "Status" } th { "Note" } } }
            tbody { @for change in &task.history { tr {
                td { (time(change.at, now)) }
                td { (change.by_name) }
                td { (status_badge(change.status)) }
                td { (change.note) }
            } } }
        } }
        h2 { "Sub-tasks" }
        @if detail.subtasks.is_empty() {
            p.muted { "none" }
        } @else {
            ul.cards { @for sub in &detail.subtasks { (card(sub, now)) } }
        }
    };
    page(&chrome, &task.title, Nav::Tasks, content)
}
