//! The pages of the company at work: one stored session (`/sessions/{agent}/{trigger}`: the
//! prompt, the raw answer, what was read from it and what came of each action), the
//! conversation between agents with its message-flow picture (`/conversations`), and spend
//! per agent over the day and the week (`/spend`). Server-rendered with `maud`; the pictures
//! are inline SVG from [`super::charts`].

use aito_core::session::SessionRecord;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::DashboardState;
use super::charts::{self, Series};
use super::pages::{Nav, chrome, error_page, money, outcome_name, page, time};
use super::sessions_api::{self, LimitQuery, Thread};

/// A path segment with everything but unreserved characters percent-encoded, so a trigger id
/// (`cron:<agent>:<tick>`, an envelope id) links to its page intact.
pub(super) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The address of a session's page.
pub(super) fn session_href(role: &str, trigger_id: &str) -> String {
    format!("/sessions/{role}/{}", segment(trigger_id))
}

fn woken(state: &DashboardState, record: &SessionRecord) -> Markup {
    html! {
        @match record.envelope() {
            Some(envelope) => {
                "woken by " strong.sender { (sessions_api::woken_by(state, record)) }
                " with a " (envelope.kind.to_string()) " message"
                @if let Some(correlation) = &envelope.correlation_id {
                    " in conversation " a href={ "/conversations#thread-" (segment(correlation)) } { code { (correlation) } }
                }
                blockquote.message { (envelope.payload_str("content").map_or_else(|| envelope.title(), str::to_owned)) }
            }
            None => { "woken by " strong { (record.trigger.name()) } }
        }
    }
}

/// `GET /sessions/{agent}/{trigger}`.
pub(crate) async fn session(
    State(state): State<DashboardState>,
    Path((agent, trigger)): Path<(String, String)>,
) -> Response {
    let chrome = chrome(&state).await;
    let record = match sessions_api::find_session(&state, &agent, &trigger).await {
        Ok(record) => record,
        Err(err) => return error_page(&chrome, &err),
    };
    let now = state.runtime.clock.now();
    let role = record.role.as_str().to_uppercase();
    let content = html! {
        h1 { "Session of " a href={ "/agents/" (record.role.as_str()) } { (role) } }
        p.muted { (record.description) " · " (time(record.at, now)) " · "
            span class={ "badge outcome-" (outcome_name(record.outcome).replace(' ', "-")) } { (outcome_name(record.outcome)) }
            " · " (money(record.cost_usd)) " · " (record.tokens) " tokens · " (format!("{:.1} s", record.duration_ms as f64 / 1000.0))
            @if let Some(provider) = &record.provider { " · " (provider) }
        }
        p #woken { (woken(&state, &record)) }
        p { "Summary: " q { (record.summary) } }
        h2 { "Actions and their outcomes" }
        @if record.actions.is_empty() {
            p.muted { "No action." }
        } @else {
            div.table-wrap { table #outcomes {
                thead { tr { th { "Action" } th { "Type" } th { "Outcome" } th { "Detail" } } }
                tbody { @for action in &record.actions { tr.failed[!action.ok] {
                    td { code { (action.id) } }
                    td { (action.kind) }
                    td { @if action.ok { "done" } @else { "failed" } }
                    td { (action.detail) }
                } } }
            } }
        }
        @if let Some(parsed) = &record.parsed {
            h2 { "Read from the answer" }
            ul #parsed {
                li { "actions: " @if parsed.actions.is_empty() { "none" } @else { (parsed.actions.join(", ")) } }
                @for message in &parsed.messages {
                    li.sent { "message to " strong { (message.to) } " (" (message.kind) ", " (message.priority.as_str()) "): " (message.content) }
                }
                @if !parsed.state_updates.is_empty() {
                    li { "state updates: " code { (serde_json::Value::Object(parsed.state_updates.clone())) } }
                }
                @for problem in &parsed.problems {
                    li.failed { "not understood: " (problem) }
                }
            }
        }
        h2 { "The answer" }
        @match &record.answer {
            Some(answer) => pre #answer { (answer) },
            None => p.muted { "No model answered: " (record.summary) },
        }
        h2 { "The prompt" }
        @match &record.prompt {
            Some(prompt) => {
                @if let Some(system) = &record.system_prompt {
                    details { summary { "System prompt (" (system.len()) " characters)" } pre #system-prompt { (system) } }
                }
                pre #prompt { (prompt) }
            }
            None => p.muted { "Not kept: no session ran here, or its answer was recalled after a restart." },
        }
    };
    page(
        &chrome,
        &format!("Session of {role}"),
        Nav::Conversations,
        content,
    )
}

fn thread_view(thread: &Thread, now: DateTime<Utc>) -> Markup {
    html! {
        section.thread id={ "thread-" (segment(&thread.id)) } data-thread=(thread.id) {
            h2 { "Conversation " code { (thread.id) } " " span.muted { (thread.turns.len()) " sessions, from " (time(thread.started_at, now)) } }
            ol.turns {
                @for turn in &thread.turns {
                    li.turn data-agent=(turn.role.as_str()) {
                        div {
                            strong.sender { (turn.woken_by) } " → " strong { (turn.role.as_str()) }
                            @if let Some(kind) = &turn.message_type { " " span.badge { (kind) } }
                            " " span.muted { (time(turn.at, now)) }
                            " · " a href=(session_href(turn.role.as_str(), &turn.trigger_id)) { "session" }
                        }
                        @if let Some(message) = &turn.message { blockquote.message { (message) } }
                        div.muted { (turn.role.as_str()) ": " (turn.summary) }
                        @if !turn.sent.is_empty() {
                            ul.sent { @for sent in &turn.sent { li { "sent to " strong { (sent.to) } ": " (sent.content) } } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /conversations`: the flow picture and the threads.
pub(crate) async fn conversations(
    State(state): State<DashboardState>,
    Query(query): Query<LimitQuery>,
) -> Response {
    let chrome = chrome(&state).await;
    let records = match sessions_api::all_sessions(&state).await {
        Ok(records) => records,
        Err(err) => return error_page(&chrome, &err),
    };
    let now = state.runtime.clock.now();
    let threads = sessions_api::threads(&state, &records, query.limit.unwrap_or(50));
    let edges = sessions_api::flow_edges(&state, &records);
    let nodes = sessions_api::flow_nodes(&state, &edges);
    let content = html! {
        h1 { "Conversations" }
        p.muted { "Who woke whom, threaded by correlation id, from the newest "
            (state.runtime.settings.sessions_keep) " sessions kept per agent." }
        @if edges.is_empty() {
            p.muted { "No message has woken an agent yet." }
        } @else {
            (charts::flow("flow", &nodes, &edges))
        }
        @if threads.is_empty() {
            p.muted { "No session kept yet." }
        }
        @for thread in &threads { (thread_view(thread, now)) }
    };
    page(&chrome, "Conversations", Nav::Conversations, content)
}

/// `GET /spend`: spend per agent today by hour and over the last 7 days.
pub(crate) async fn spend(State(state): State<DashboardState>) -> Response {
    let chrome = chrome(&state).await;
    let spend = match sessions_api::spend(&state).await {
        Ok(spend) => spend,
        Err(err) => return error_page(&chrome, &err),
    };
    let series = |rows: &[(String, Vec<f64>)]| -> Vec<Series> {
        rows.iter()
            .map(|(name, values)| Series {
                name: name.clone(),
                values: values.clone(),
            })
            .collect()
    };
    let hours: Vec<String> = (0..24).map(|hour| format!("{hour:02}")).collect();
    let days: Vec<String> = spend
        .days
        .iter()
        .map(|day| day.format("%a %d").to_string())
        .collect();
    let content = html! {
        h1 { "Spend" }
        (charts::spend_bars("spend-today", &format!("Today ({}, UTC), by hour", spend.date), &hours, &series(&spend.hours)))
        (charts::spend_bars("spend-week", "The last 7 days", &days, &series(&spend.week)))
    };
    page(&chrome, "Spend", Nav::Spend, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_ids_link_to_their_page_intact() {
        assert_eq!(
            session_href("cto", "cron:9f/x y?z"),
            "/sessions/cto/cron:9f%2Fx%20y%3Fz"
        );
    }
}
