//! Stored sessions, the conversation between agents, spend over time and the message flow, as
//! data for the pages and in the JSON API:
//! - `GET /api/agents/{agent}/sessions?limit=N`: `{"sessions": [SessionRecord]}`, newest first
//!   (default 20).
//! - `GET /api/agents/{agent}/sessions/{trigger}`: one `SessionRecord`; 404 when not kept.
//! - `GET /api/conversations?limit=N`: `{"threads": [Thread]}`, the sessions grouped by
//!   correlation id, newest thread first (default 50).
//! - `GET /api/flow`: `{"edges": [{"from", "to", "messages"}]}`, who woke whom how often.
//! - `GET /api/spend`: `{"today": {"date", "hours", "agents": {role: [24 USD]}}, "week":
//!   {"days": [7 dates], "agents": {role: [7 USD]}}}`.
//!
//! Everything here is read from the session records the daemons keep (the newest
//! `company.sessions_keep` per agent) and the budget ledger's counters.

use std::collections::BTreeMap;

use aito_core::budget::Scope;
use aito_core::session::SessionRecord;
use aito_core::{AgentId, Role};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::DashboardState;
use super::error::ApiError;
use super::overview::find_agent;

/// The query of the lists.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LimitQuery {
    /// How many, at most.
    #[serde(default)]
    pub(crate) limit: Option<usize>,
}

/// One session of a thread, as the conversation shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Turn {
    /// The agent that handled it.
    pub(crate) agent: AgentId,
    /// Its role.
    pub(crate) role: Role,
    /// The trigger's id (its session page).
    pub(crate) trigger_id: String,
    /// When handling ended.
    pub(crate) at: DateTime<Utc>,
    /// Who woke it: a role, `human`, `worker:<id>`, or `schedule` / `startup`.
    pub(crate) woken_by: String,
    /// The type of the message that woke it, when a message did.
    pub(crate) message_type: Option<String>,
    /// What that message said.
    pub(crate) message: Option<String>,
    /// The session's summary.
    pub(crate) summary: String,
    /// The messages it sent.
    pub(crate) sent: Vec<aito_core::session::SentMessage>,
}

/// Sessions under one correlation id, oldest first.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Thread {
    /// The correlation id.
    pub(crate) id: String,
    /// When its first kept session ended.
    pub(crate) started_at: DateTime<Utc>,
    /// Its sessions.
    pub(crate) turns: Vec<Turn>,
}

/// Every kept session record of the company, oldest first.
pub(crate) async fn all_sessions(state: &DashboardState) -> Result<Vec<SessionRecord>, ApiError> {
    let runtime = &state.runtime;
    let keep = runtime.settings.sessions_keep.max(1);
    let mut records = Vec::new();
    for entry in runtime.directory.agents() {
        records.extend(runtime.store.sessions(entry.id, keep).await?);
    }
    records.sort_by_key(|record| record.at);
    Ok(records)
}

/// Who woke the session: the sender of its message, or what kind of trigger it was.
pub(crate) fn woken_by(state: &DashboardState, record: &SessionRecord) -> String {
    match record.envelope() {
        Some(envelope) => state.runtime.directory.name_of(&envelope.from),
        None => record.trigger.name().to_owned(),
    }
}

fn turn(state: &DashboardState, record: &SessionRecord) -> Turn {
    let envelope = record.envelope();
    Turn {
        agent: record.agent,
        role: record.role.clone(),
        trigger_id: record.trigger_id.clone(),
        at: record.at,
        woken_by: woken_by(state, record),
        message_type: envelope.map(|envelope| envelope.kind.to_string()),
        message: envelope.map(|envelope| {
            envelope
                .payload_str("content")
                .map_or_else(|| envelope.title(), str::to_owned)
        }),
        summary: record.summary.clone(),
        sent: record
            .parsed
            .as_ref()
            .map(|parsed| parsed.messages.clone())
            .unwrap_or_default(),
    }
}

/// The kept sessions grouped by correlation id, newest thread first, at most `limit`.
pub(crate) fn threads(
    state: &DashboardState,
    records: &[SessionRecord],
    limit: usize,
) -> Vec<Thread> {
    let mut by_id: BTreeMap<String, Thread> = BTreeMap::new();
    for record in records {
        let id = record.thread().unwrap_or_else(|| record.trigger_id.clone());
        by_id
            .entry(id.clone())
            .or_insert_with(|| Thread {
                id,
                started_at: record.at,
                turns: Vec::new(),
            })
            .turns
            .push(turn(state, record));
    }
    let mut threads: Vec<Thread> = by_id.into_values().collect();
    threads.sort_by_key(|thread| {
        std::cmp::Reverse(
            thread
                .turns
                .last()
                .map_or(thread.started_at, |turn| turn.at),
        )
    });
    threads.truncate(limit);
    threads
}

/// Who woke whom how often, from the kept sessions woken by a message. Workers count as one
/// sender, `workers`.
pub(crate) fn flow_edges(
    state: &DashboardState,
    records: &[SessionRecord],
) -> Vec<super::charts::Edge> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for record in records.iter().filter(|record| record.envelope().is_some()) {
        let mut from = woken_by(state, record);
        if from.starts_with("worker:") {
            from = "workers".to_owned();
        }
        *counts
            .entry((from, record.role.as_str().to_owned()))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((from, to), messages)| super::charts::Edge { from, to, messages })
        .collect()
}

/// The nodes of the flow picture: the agents in directory order, then the other senders.
pub(crate) fn flow_nodes(state: &DashboardState, edges: &[super::charts::Edge]) -> Vec<String> {
    let mut nodes: Vec<String> = state
        .runtime
        .directory
        .agents()
        .iter()
        .map(|entry| entry.role.as_str().to_owned())
        .collect();
    for edge in edges {
        if !nodes.contains(&edge.from) {
            nodes.push(edge.from.clone());
        }
    }
    nodes
}

/// Money spent per agent: each hour of today and each of the last 7 days.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Spend {
    /// Today (UTC).
    pub(crate) date: chrono::NaiveDate,
    /// Per role: 24 hourly figures.
    pub(crate) hours: Vec<(String, Vec<f64>)>,
    /// The last 7 days, oldest first.
    pub(crate) days: Vec<chrono::NaiveDate>,
    /// Per role: 7 daily figures.
    pub(crate) week: Vec<(String, Vec<f64>)>,
}

pub(crate) async fn spend(state: &DashboardState) -> Result<Spend, ApiError> {
    let runtime = &state.runtime;
    let now = runtime.clock.now();
    let (mut hours, mut week, mut days) = (Vec::new(), Vec::new(), Vec::new());
    for entry in runtime.directory.agents() {
        let scope = Scope::Agent(entry.id.to_string());
        let role = entry.role.as_str().to_owned();
        hours.push((role.clone(), runtime.ledger.usd_by_hour(&scope, now).await?));
        let by_day = runtime.ledger.usd_by_day(&scope, now, 7).await?;
        days = by_day.iter().map(|(day, _)| *day).collect();
        week.push((role, by_day.into_iter().map(|(_, usd)| usd).collect()));
    }
    Ok(Spend {
        date: now.date_naive(),
        hours,
        days,
        week,
    })
}

/// One kept session of `agent` (a role or id).
pub(crate) async fn find_session(
    state: &DashboardState,
    agent: &str,
    trigger: &str,
) -> Result<SessionRecord, ApiError> {
    let (id, role) = find_agent(&state.runtime, agent)
        .ok_or_else(|| ApiError::not_found(format!("no agent {agent:?}")))?;
    state
        .runtime
        .store
        .session(id, trigger)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no session of {role} is kept for trigger {trigger:?} (the newest {} per agent are kept)",
                state.runtime.settings.sessions_keep
            ))
        })
}

/// `GET /api/agents/{agent}/sessions`.
pub(crate) async fn sessions(
    State(state): State<DashboardState>,
    Path(agent): Path<String>,
    Query(query): Query<LimitQuery>,
) -> Result<Response, ApiError> {
    let (id, _) = find_agent(&state.runtime, &agent)
        .ok_or_else(|| ApiError::not_found(format!("no agent {agent:?}")))?;
    let mut records = state
        .runtime
        .store
        .sessions(id, query.limit.unwrap_or(20).min(1000))
        .await?;
    records.reverse();
    Ok(Json(json!({ "sessions": records })).into_response())
}

/// `GET /api/agents/{agent}/sessions/{trigger}`.
pub(crate) async fn session(
    State(state): State<DashboardState>,
    Path((agent, trigger)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(find_session(&state, &agent, &trigger).await?).into_response())
}

/// `GET /api/conversations`.
pub(crate) async fn conversations(
    State(state): State<DashboardState>,
    Query(query): Query<LimitQuery>,
) -> Result<Response, ApiError> {
    let records = all_sessions(&state).await?;
    let threads = threads(&state, &records, query.limit.unwrap_or(50));
    Ok(Json(json!({ "threads": threads })).into_response())
}

/// `GET /api/flow`.
pub(crate) async fn flow(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    let records = all_sessions(&state).await?;
    let edges: Vec<_> = flow_edges(&state, &records)
        .into_iter()
        .map(|edge| json!({ "from": edge.from, "to": edge.to, "messages": edge.messages }))
        .collect();
    Ok(Json(json!({ "edges": edges })).into_response())
}

/// `GET /api/spend`.
pub(crate) async fn spend_api(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    let spend = spend(&state).await?;
    let hours: serde_json::Map<String, serde_json::Value> = spend
        .hours
        .into_iter()
        .map(|(role, values)| (role, json!(values)))
        .collect();
    let week: serde_json::Map<String, serde_json::Value> = spend
        .week
        .into_iter()
        .map(|(role, values)| (role, json!(values)))
        .collect();
    Ok(Json(json!({
        "today": { "date": spend.date, "hours": (0..24).collect::<Vec<u32>>(), "agents": hours },
        "week": { "days": spend.days, "agents": week },
    }))
    .into_response())
}
