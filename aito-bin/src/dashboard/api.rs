//! The JSON API under `/api/`, and `/metrics`.
//!
//! Reads:
//! - `GET /api/agents`: `{"company", "paused", "agents": [AgentView]}`.
//! - `GET /api/agents/{agent}` (role name or uuid): `{"agent", "state", "history",
//!   "dead_letters"}`.
//! - `GET /api/decisions?status=escalated` (`all`, `open` or a status; default all), newest
//!   first: `{"decisions": [Decision]}`.
//! - `GET /api/decisions/{id}`: the decision with every round, vote, reason and transition.
//! - `GET /api/escalations`: `{"decisions": [...]}` waiting for a human.
//! - `GET /api/events?limit=N`: `{"events": [...]}`, the newest company events.
//! - `GET /api/logs?limit=N&role=R&task=T`: `{"lines": [LogLine]}`, the recent worker log.
//! - `GET /api/logs/stream?role=R&task=T`: the same as server-sent events (`event: line`),
//!   the recent history first, then live.
//! - `GET /api/health`: store, bus, subscription, notices, webhook sources, heartbeats.
//!
//! Writes (bearer token required, JSON bodies, 400 with a reason on bad input):
//! - `POST /api/messages` `{"to", "type"?, "payload"?, "priority"?}`: a message from `human`;
//!   202 `{"id", "to", "channel"}`.
//! - `POST /api/webhooks/{agent}` (any JSON body; `?priority=`): a `webhook` envelope to the
//!   agent; 202 `{"id"}`.
//! - `POST /api/decisions/{id}/decide` `{"approve": bool}` or `{"decision":
//!   "approve"|"reject"}`, and `"reason"`: 200 with the decision; 404 unknown, 409 when the
//!   decision is not escalated.
//! - `POST /api/pause`, `POST /api/resume`: 200 `{"paused": bool}`.

use std::fmt::Write as _;

use aito_core::budget::{BudgetChange, Scope};
use aito_core::control;
use aito_core::decision::{Decision, DecisionStatus};
use aito_core::runtime::{SendError, Sent};
use aito_core::store::{AgentState, DeadLetter, HistoryEntry, logs};
use aito_core::{Channel, DecisionId, Envelope, MessageType, Priority, Recipient, Sender};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::DashboardState;
use super::error::ApiError;
use super::input::JsonBody;
use super::metrics::{header as metric_header, sample};
use super::overview::{self, AgentView, find_agent};
use super::worker_logs::LogLine;

/// Who the dashboard's writes are attributed to.
pub(crate) const ACTOR: &str = "dashboard";

/// Longest reason a human may give, in characters.
const REASON_LIMIT: usize = 4000;

/// `GET /api/agents`.
pub(crate) async fn agents(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    Ok(Json(overview::overview(&state.runtime).await?).into_response())
}

/// `GET /api/agents/{agent}`.
pub(crate) async fn agent(
    State(state): State<DashboardState>,
    Path(agent): Path<String>,
) -> Result<Response, ApiError> {
    let detail = agent_detail(&state, &agent).await?;
    Ok(Json(detail).into_response())
}

/// One agent with its state, recent history (newest first) and dead letters.
#[derive(Clone, Debug, Serialize)]
pub struct AgentDetail {
    /// Its status.
    pub agent: AgentView,
    /// Its persistent state (counters, the model's `stateUpdates`, notes).
    pub state: AgentState,
    /// The newest 50 history entries, newest first.
    pub history: Vec<HistoryEntry>,
    /// The newest 20 dead letters, newest first.
    pub dead_letters: Vec<DeadLetter>,
}

/// The agent named by `agent` (role name or uuid), or 404.
pub(crate) async fn agent_detail(
    state: &DashboardState,
    agent: &str,
) -> Result<AgentDetail, ApiError> {
    let runtime = &state.runtime;
    let unknown = || {
        ApiError::not_found(format!(
            "no agent {agent:?} in this company; it has: {}",
            runtime.directory.role_names()
        ))
    };
    let (id, _) = find_agent(runtime, agent).ok_or_else(unknown)?;
    let view = overview::overview(runtime)
        .await?
        .agents
        .into_iter()
        .find(|view| view.id == id)
        .ok_or_else(unknown)?;
    let agent_state = runtime.store.load_state(id).await?.value;
    let mut history = runtime.store.history(id, 50).await?;
    history.reverse();
    let mut dead_letters = runtime.store.dead_letters(Some(id), 20).await?;
    dead_letters.reverse();
    Ok(AgentDetail {
        agent: view,
        state: agent_state,
        history,
        dead_letters,
    })
}

/// Query of the decision list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DecisionFilter {
    /// `all`, `open`, or a status name.
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// The decisions matching `filter`, newest first.
pub(crate) async fn filtered_decisions(
    state: &DashboardState,
    filter: &DecisionFilter,
) -> Result<Vec<Decision>, ApiError> {
    let store = &state.runtime.store;
    let wanted = filter.status.as_deref().map(str::trim).unwrap_or("all");
    let mut decisions = match wanted {
        "" | "all" => store.decisions(None).await?,
        "open" => {
            let mut open = Vec::new();
            for status in [
                DecisionStatus::Escalated,
                DecisionStatus::Pending,
                DecisionStatus::Revising,
            ] {
                open.extend(store.decisions(Some(status)).await?);
            }
            open
        }
        other => {
            let status: DecisionStatus = other.parse().map_err(|reason: String| {
                ApiError::bad_request(format!("{reason}, or all or open"))
            })?;
            store.decisions(Some(status)).await?
        }
    };
    decisions.sort_by_key(|decision| std::cmp::Reverse(decision.created_at));
    Ok(decisions)
}

/// `GET /api/decisions`.
pub(crate) async fn decisions(
    State(state): State<DashboardState>,
    Query(filter): Query<DecisionFilter>,
) -> Result<Response, ApiError> {
    let decisions = filtered_decisions(&state, &filter).await?;
    Ok(Json(json!({ "decisions": decisions })).into_response())
}

/// Reads a decision id from a path.
pub(crate) fn decision_id(text: &str) -> Result<DecisionId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{text:?} is not a decision id (a UUID)")))
}

/// The decision `id`, or 404.
pub(crate) async fn find_decision(
    state: &DashboardState,
    id: DecisionId,
) -> Result<Decision, ApiError> {
    state
        .runtime
        .store
        .decision(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no decision with id {id}")))
}

/// `GET /api/decisions/{id}`.
pub(crate) async fn decision(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let decision = find_decision(&state, decision_id(&id)?).await?;
    Ok(Json(decision).into_response())
}

/// `GET /api/escalations`.
pub(crate) async fn escalations(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    let decisions = overview::escalated(&state.runtime).await?;
    Ok(Json(json!({ "decisions": decisions })).into_response())
}

/// How many entries of a log to return.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    /// At most this many (default 200, at most 1000).
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    /// Only lines of this role.
    #[serde(default)]
    pub(crate) role: Option<String>,
    /// Only lines of this worker task.
    #[serde(default)]
    pub(crate) task: Option<String>,
}

impl LogQuery {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(200).clamp(1, 1000)
    }

    /// Whether `line` passes the role and task filters.
    pub(crate) fn matches(&self, line: &LogLine) -> bool {
        let wanted = |filter: &Option<String>, value: Option<&str>| {
            filter
                .as_deref()
                .map(str::trim)
                .filter(|filter| !filter.is_empty())
                .is_none_or(|filter| value.is_some_and(|value| value.eq_ignore_ascii_case(filter)))
        };
        wanted(&self.role, line.role.as_deref()) && wanted(&self.task, Some(&line.task_id))
    }
}

/// The newest `limit` worker log lines, oldest first.
pub(crate) async fn recent_lines(
    state: &DashboardState,
    limit: usize,
) -> Result<Vec<LogLine>, ApiError> {
    let entries = state
        .runtime
        .store
        .read_log(logs::WORKER_LOGS, limit)
        .await?;
    // Two dashboards on one store each keep every line: show each once.
    let mut seen = std::collections::HashSet::new();
    Ok(entries
        .into_iter()
        .filter_map(|entry| serde_json::from_value::<LogLine>(entry).ok())
        .filter(|line| seen.insert(line.id.clone()))
        .collect())
}

/// `GET /api/logs`.
pub(crate) async fn logs(
    State(state): State<DashboardState>,
    Query(query): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let lines: Vec<LogLine> = recent_lines(&state, query.limit())
        .await?
        .into_iter()
        .filter(|line| query.matches(line))
        .collect();
    Ok(Json(json!({ "lines": lines })).into_response())
}

/// `GET /api/events`.
pub(crate) async fn events(
    State(state): State<DashboardState>,
    Query(query): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let events = state
        .runtime
        .store
        .read_log(logs::EVENTS, query.limit())
        .await?;
    Ok(Json(json!({ "events": events })).into_response())
}

/// `GET /api/health`.
pub(crate) async fn health(State(state): State<DashboardState>) -> Response {
    Json(overview::health(&state).await).into_response()
}

/// The body of `POST /api/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageRequest {
    /// A role name, an agent uuid, `all`, `head` or `clevel`.
    to: String,
    /// The message type (default `task`).
    #[serde(rename = "type", default)]
    kind: Option<String>,
    /// An object, or a string that becomes `{"content": ...}`.
    #[serde(default)]
    payload: Value,
    /// `low`, `normal` (default), `high`, `urgent` or `critical`.
    #[serde(default)]
    priority: Option<String>,
}

fn priority(text: Option<&str>) -> Result<Priority, ApiError> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(Priority::Normal),
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "unknown priority {text:?}: expected low, normal, high, urgent or critical"
            ))
        }),
    }
}

fn message_type(text: Option<&str>) -> Result<MessageType, ApiError> {
    let text = text
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .unwrap_or("task");
    let valid = text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(ApiError::bad_request(format!(
            "invalid message type {text:?}: expected up to 64 of a-z, 0-9 and _ (task, direct, alert, ...)"
        )));
    }
    Ok(MessageType::from(text))
}

/// `POST /api/messages`.
pub(crate) async fn send_message(
    State(state): State<DashboardState>,
    JsonBody(request): JsonBody<MessageRequest>,
) -> Result<Response, ApiError> {
    let runtime = &state.runtime;
    let kind = message_type(request.kind.as_deref())?;
    let priority = priority(request.priority.as_deref())?;
    let payload = match request.payload {
        Value::Null => json!({}),
        Value::String(content) => json!({ "content": content }),
        object @ Value::Object(_) => object,
        other => {
            return Err(ApiError::bad_request(format!(
                "payload must be an object or a string, not {other}"
            )));
        }
    };
    let envelope = Envelope::new(kind.clone(), Sender::Human, payload).with_priority(priority);
    let Sent {
        id,
        to: recipient,
        channel,
    } = runtime
        .send(&request.to, envelope)
        .await
        .map_err(|err| match err {
            SendError::BadRecipient(reason) => ApiError::bad_request(reason),
            SendError::UnknownRecipient(reason) => ApiError::not_found(reason),
            SendError::Bus(err) => err.into(),
        })?;
    tracing::info!(%id, to = %recipient, %kind, %priority, "message sent from the dashboard");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "to": recipient, "channel": channel })),
    )
        .into_response())
}

/// Query of a webhook call.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WebhookQuery {
    /// The priority of the envelope (default normal).
    #[serde(default)]
    priority: Option<String>,
}

/// `POST /api/webhooks/{agent}`.
pub(crate) async fn webhook(
    State(state): State<DashboardState>,
    Path(agent): Path<String>,
    Query(query): Query<WebhookQuery>,
    JsonBody(body): JsonBody<Option<Value>>,
) -> Result<Response, ApiError> {
    let runtime = &state.runtime;
    let (id, role) = find_agent(runtime, &agent).ok_or_else(|| {
        ApiError::not_found(format!(
            "no agent {agent:?} in this company; it has: {}",
            runtime.directory.role_names()
        ))
    })?;
    let priority = priority(query.priority.as_deref())?;
    let envelope = Envelope::new(
        MessageType::Webhook,
        Sender::Other("webhook".to_owned()),
        body.unwrap_or_else(|| json!({})),
    )
    .with_priority(priority)
    .to(Recipient::Agent(id));
    let envelope_id = envelope.id;
    runtime.bus.publish(Channel::Agent(id), envelope).await?;
    tracing::info!(id = %envelope_id, agent = %id, %role, "webhook call queued");
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": envelope_id }))).into_response())
}

/// The body of `POST /api/decisions/{id}/decide`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecideRequest {
    /// Approve (`true`) or reject.
    #[serde(default)]
    approve: Option<bool>,
    /// `approve` or `reject` (`veto` is read as reject).
    #[serde(default)]
    decision: Option<String>,
    /// Why.
    #[serde(default)]
    reason: String,
}

impl DecideRequest {
    fn approve(&self) -> Result<bool, ApiError> {
        let named = match self
            .decision
            .as_deref()
            .map(|text| text.trim().to_ascii_lowercase())
        {
            None => None,
            Some(text) => Some(match text.as_str() {
                "approve" | "approved" | "yes" => true,
                "reject" | "rejected" | "veto" | "no" => false,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unknown decision {text:?}: expected approve or reject"
                    )));
                }
            }),
        };
        match (self.approve, named) {
            (Some(flag), None) | (None, Some(flag)) => Ok(flag),
            (Some(flag), Some(named)) if flag == named => Ok(flag),
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "\"approve\" and \"decision\" disagree; send one of them",
            )),
            (None, None) => Err(ApiError::bad_request(
                "say what to do: {\"approve\": true|false} or {\"decision\": \"approve\"|\"reject\"}",
            )),
        }
    }
}

/// `POST /api/decisions/{id}/decide`.
pub(crate) async fn decide(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<DecideRequest>,
) -> Result<Response, ApiError> {
    let id = decision_id(&id)?;
    let approve = request.approve()?;
    let reason = request.reason.trim();
    if reason.chars().count() > REASON_LIMIT {
        return Err(ApiError::bad_request(format!(
            "the reason is longer than {REASON_LIMIT} characters"
        )));
    }
    let decision = state
        .runtime
        .engine
        .human_decide(id, approve, reason)
        .await?;
    tracing::info!(decision = %id, approve, status = %decision.status, "decision answered on the dashboard");
    Ok(Json(decision).into_response())
}

/// `POST /api/pause`.
pub(crate) async fn pause(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    set_paused(&state, true).await
}

/// `POST /api/resume`.
pub(crate) async fn resume(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    set_paused(&state, false).await
}

async fn set_paused(state: &DashboardState, paused: bool) -> Result<Response, ApiError> {
    let runtime = &state.runtime;
    control::set_paused(&*runtime.store, &*runtime.bus, paused, ACTOR)
        .await
        .map_err(|err| ApiError::unavailable(format!("could not switch the pause: {err}")))?;
    tracing::info!(paused, "company pause switched from the dashboard");
    Ok(Json(json!({ "paused": paused })).into_response())
}

/// `GET /metrics`: the counters of the event stream, and gauges read from the store now.
pub(crate) async fn metrics(State(state): State<DashboardState>) -> Response {
    let mut out = String::with_capacity(8 * 1024);
    state.hub.metrics.render(&mut out);
    let runtime = &state.runtime;
    let store_up = runtime.store.ping().await.is_ok();
    let bus_up = runtime.bus.ping().await.is_ok();
    gauge(
        &mut out,
        "aito_store_up",
        "Whether the store answers (1) or not (0).",
        f64::from(u8::from(store_up)),
    );
    gauge(
        &mut out,
        "aito_bus_up",
        "Whether the bus answers (1) or not (0).",
        f64::from(u8::from(bus_up)),
    );
    if let Ok(overview) = overview::overview(runtime).await {
        gauge(
            &mut out,
            "aito_paused",
            "Whether the company pause switch is on.",
            f64::from(u8::from(overview.paused)),
        );
        let families: [AgentGauge; 4] = [
            (
                "aito_queue_length",
                "Triggers waiting in each agent's queue.",
                |agent| agent.queue_len as f64,
            ),
            (
                "aito_agent_spent_today_usd",
                "Each agent's spend today, in USD.",
                |agent| agent.spent_today_usd,
            ),
            (
                "aito_agent_up",
                "Whether each agent's last heartbeat is recent (1) or not (0).",
                |agent| f64::from(u8::from(!agent.stale)),
            ),
            (
                "aito_agent_busy",
                "Whether each agent is running a session (1) or not (0).",
                |agent| f64::from(u8::from(agent.status == "busy")),
            ),
        ];
        for (name, help, value) in families {
            metric_header(&mut out, name, help, "gauge");
            for agent in &overview.agents {
                sample(
                    &mut out,
                    name,
                    &["role"],
                    &[agent.role.as_str()],
                    value(agent),
                );
            }
        }
    }
    let name = "aito_decisions_open";
    let mut counts = String::new();
    for status in [
        DecisionStatus::Pending,
        DecisionStatus::Revising,
        DecisionStatus::Escalated,
    ] {
        if let Ok(decisions) = runtime.store.decisions(Some(status)).await {
            sample(
                &mut counts,
                name,
                &["status"],
                &[status.as_str()],
                decisions.len() as f64,
            );
        }
    }
    if !counts.is_empty() {
        metric_header(&mut out, name, "Open decisions, by status.", "gauge");
        let _ = write!(out, "{counts}");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// A per-agent gauge: name, help, and how to read it.
type AgentGauge = (&'static str, &'static str, fn(&AgentView) -> f64);

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    metric_header(out, name, help, "gauge");
    sample::<&str>(out, name, &[], &[], value);
}

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn absent_null_or<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of `POST /api/budget`: for each limit, absent leaves it, `null` removes it, a
/// number sets it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BudgetRequest {
    /// The agent (role or uuid); the company when absent.
    #[serde(default)]
    agent: Option<String>,
    #[serde(default, deserialize_with = "absent_null_or")]
    sessions_per_hour: Option<Option<f64>>,
    #[serde(default, deserialize_with = "absent_null_or")]
    usd_per_hour: Option<Option<f64>>,
    #[serde(default, deserialize_with = "absent_null_or")]
    usd_per_day: Option<Option<f64>>,
    #[serde(default, deserialize_with = "absent_null_or")]
    tokens_per_hour: Option<Option<f64>>,
    #[serde(default, deserialize_with = "absent_null_or")]
    tokens_per_day: Option<Option<f64>>,
}

/// The query of `GET /api/budget`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BudgetQuery {
    /// The agent (role or uuid); the company when absent.
    #[serde(default)]
    agent: Option<String>,
}

fn budget_scope(
    runtime: &aito_core::Runtime,
    agent: Option<&str>,
) -> Result<(Scope, String), ApiError> {
    match agent.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok((Scope::Company, "company".to_owned())),
        Some(text) => {
            let (id, role) = find_agent(runtime, text).ok_or_else(|| {
                ApiError::not_found(format!(
                    "no agent {text:?} in this company; it has: {}",
                    runtime.directory.role_names()
                ))
            })?;
            Ok((Scope::Agent(id.to_string()), role.to_string()))
        }
    }
}

fn limit<T>(
    name: &str,
    value: Option<Option<f64>>,
    convert: impl Fn(f64) -> T,
) -> Result<Option<Option<T>>, ApiError> {
    match value {
        Some(Some(number)) if !number.is_finite() || number < 0.0 => Err(ApiError::bad_request(
            format!("{name} must be a number of at least 0, or null for no limit; saw {number}"),
        )),
        other => Ok(other.map(|limit| limit.map(&convert))),
    }
}

async fn budget_report(
    runtime: &aito_core::Runtime,
    scope: &Scope,
    name: &str,
    budget: &aito_core::Budget,
) -> Result<Response, ApiError> {
    let spend = runtime.ledger.spend(scope, runtime.clock.now()).await?;
    Ok(Json(json!({
        "scope": name,
        "budget": budget,
        "spend": {
            "sessions_hour": spend.sessions_hour,
            "usd_hour": spend.usd_hour,
            "usd_day": spend.usd_day,
            "tokens_hour": spend.tokens_hour,
            "tokens_day": spend.tokens_day,
        },
    }))
    .into_response())
}

/// `GET /api/budget?agent=ROLE`: the budget in force and the spend.
pub(crate) async fn budget(
    State(state): State<DashboardState>,
    Query(query): Query<BudgetQuery>,
) -> Result<Response, ApiError> {
    let runtime = &state.runtime;
    let (scope, name) = budget_scope(runtime, query.agent.as_deref())?;
    let configured = runtime.configured_budget(&scope).unwrap_or_default();
    let budget = runtime.ledger.effective(&scope, &configured).await;
    budget_report(runtime, &scope, &name, &budget).await
}

/// `POST /api/budget`: a human raises or lowers a budget; a waiting agent resumes at once when
/// the new budget allows it.
pub(crate) async fn set_budget(
    State(state): State<DashboardState>,
    JsonBody(request): JsonBody<BudgetRequest>,
) -> Result<Response, ApiError> {
    let runtime = &state.runtime;
    let (scope, name) = budget_scope(runtime, request.agent.as_deref())?;
    let change = BudgetChange {
        sessions_per_hour: limit("sessions_per_hour", request.sessions_per_hour, |n| {
            n.round() as u32
        })?,
        usd_per_hour: limit("usd_per_hour", request.usd_per_hour, |n| n)?,
        usd_per_day: limit("usd_per_day", request.usd_per_day, |n| n)?,
        tokens_per_hour: limit("tokens_per_hour", request.tokens_per_hour, |n| {
            n.round() as u64
        })?,
        tokens_per_day: limit("tokens_per_day", request.tokens_per_day, |n| {
            n.round() as u64
        })?,
    };
    if change.is_empty() {
        return Err(ApiError::bad_request(
            "no limit given: set sessions_per_hour, usd_per_hour, usd_per_day, tokens_per_hour or tokens_per_day (a number, or null for no limit)",
        ));
    }
    let budget = runtime
        .change_budget(&scope, &change, ACTOR)
        .await
        .map_err(|err| ApiError::unavailable(format!("could not set the budget: {err}")))?;
    budget_report(runtime, &scope, &name, &budget).await
}
