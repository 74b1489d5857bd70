//! The task ledger in the JSON API:
//! - `GET /api/tasks?agent=ROLE&status=S`: `{"tasks": [Task]}`, newest first.
//! - `GET /api/tasks/{id}`: `{"task", "subtasks"}`, the task with its history; 404 unknown.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::DashboardState;
use super::error::ApiError;
use crate::tasks::{self, Filter};

/// Query of the task list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TaskQuery {
    /// Assigned to this role.
    #[serde(default)]
    pub(crate) agent: Option<String>,
    /// In this status (`all` for every one).
    #[serde(default)]
    pub(crate) status: Option<String>,
}

impl TaskQuery {
    pub(crate) fn filter(&self, state: &DashboardState) -> Result<Filter, ApiError> {
        Filter::parse(
            &state.runtime.directory,
            self.agent.as_deref(),
            self.status.as_deref(),
        )
        .map_err(ApiError::bad_request)
    }
}

/// `GET /api/tasks`.
pub(crate) async fn tasks(
    State(state): State<DashboardState>,
    Query(query): Query<TaskQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter(&state)?;
    let listed = tasks::list(&*state.runtime.store, &filter).await?;
    Ok(Json(json!({ "tasks": listed })).into_response())
}

/// Reads a task id from a path.
pub(crate) fn task_id(text: &str) -> Result<aito_core::TaskId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{text:?} is not a task id (a UUID)")))
}

/// The task `id` with its sub-tasks, or 404.
pub(crate) async fn find_task(
    state: &DashboardState,
    id: aito_core::TaskId,
) -> Result<tasks::TaskDetail, ApiError> {
    tasks::detail(&*state.runtime.store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no task with id {id}")))
}

/// `GET /api/tasks/{id}`.
pub(crate) async fn task(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let detail = find_task(&state, task_id(&id)?).await?;
    Ok(Json(detail).into_response())
}
