//! The HTML pages. Server-rendered with `maud`, which escapes every interpolated value, so
//! text from agents and models (titles, reasons, summaries, log lines) can never become
//! markup. The one script (`/assets/app.js`) adds the buttons, the auto-refresh of the agents
//! table and of the escalation banner, and the live worker log; the pages are readable
//! without it.

use aito_core::decision::Decision;
use aito_core::store::Outcome;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::DashboardState;
use super::api::{self, LogQuery};
use super::auth::{self, HOW_TO_SET_A_TOKEN};
use super::error::ApiError;
use super::overview::{self, AgentView, Health};
use super::worker_logs::LogLine;

/// Which navigation entry is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    Agents,
    Decisions,
    Tasks,
    Conversations,
    Spend,
    Logs,
    Health,
    None,
}

/// What every page shows around its content.
pub(super) struct Chrome {
    company: String,
    paused: bool,
    escalated: Result<Vec<Decision>, String>,
    writes_enabled: bool,
}

pub(super) async fn chrome(state: &DashboardState) -> Chrome {
    let runtime = &state.runtime;
    Chrome {
        company: runtime.company.clone(),
        paused: aito_core::control::is_paused(&*runtime.store)
            .await
            .unwrap_or(false),
        escalated: overview::escalated(runtime).await.map_err(|err| err.reason),
        writes_enabled: state.writes_enabled(),
    }
}

fn layout(chrome: &Chrome, title: &str, nav: Nav, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (chrome.company) " · aito" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "aito " span.company { (chrome.company) } }
                    nav {
                        a.active[nav == Nav::Agents] href="/" { "Agents" }
                        a.active[nav == Nav::Decisions] href="/decisions" { "Decisions" }
                        a.active[nav == Nav::Tasks] href="/tasks" { "Tasks" }
                        a.active[nav == Nav::Conversations] href="/conversations" { "Conversations" }
                        a.active[nav == Nav::Spend] href="/spend" { "Spend" }
                        a.active[nav == Nav::Logs] href="/logs" { "Worker logs" }
                        a.active[nav == Nav::Health] href="/health" { "Health" }
                    }
                    @if chrome.paused {
                        span.badge.paused title="No new session starts until the company is resumed" { "company paused" }
                    }
                }
                div #escalations data-refresh="/fragments/escalations" data-every="10" {
                    (escalation_banner(&chrome.escalated))
                }
                @if !chrome.writes_enabled {
                    div.notice.warn #no-token {
                        "Writes are disabled: no dashboard token is configured, so decisions cannot be answered, messages sent or the company paused from here. To enable them, "
                        (HOW_TO_SET_A_TOKEN) "."
                    }
                }
                main { (content) }
            }
        }
    }
}

pub(super) fn page(chrome: &Chrome, title: &str, nav: Nav, content: Markup) -> Response {
    Html(layout(chrome, title, nav, content).into_string()).into_response()
}

/// An error as a page (with the API's reason).
pub(super) fn error_page(chrome: &Chrome, error: &ApiError) -> Response {
    let title = error
        .status
        .canonical_reason()
        .unwrap_or("Error")
        .to_owned();
    let content = html! {
        h1 { (title) }
        p.notice.err { (error.reason) }
        p { a href="/" { "Back to the agents" } }
    };
    (
        error.status,
        Html(layout(chrome, &title, Nav::None, content).into_string()),
    )
        .into_response()
}

fn escalation_banner(escalated: &Result<Vec<Decision>, String>) -> Markup {
    match escalated {
        Ok(decisions) if decisions.is_empty() => html! {},
        Ok(decisions) => html! {
            div.escalations role="alert" {
                strong {
                    @if decisions.len() == 1 { "A decision needs your answer" }
                    @else { (decisions.len()) " decisions need your answer" }
                }
                ul {
                    @for decision in decisions {
                        li {
                            a href={ "/decisions/" (decision.id) } { (decision.title) }
                            " " span.badge.tier { (decision.tier) }
                            @if let Some(reason) = &decision.escalation { " " span.reason { (reason) } }
                        }
                    }
                }
            }
        },
        Err(reason) => html! { div.notice.err { "Cannot read the decisions: " (reason) } },
    }
}

/// `GET /fragments/escalations`: the banner alone, for the script's refresh.
pub(crate) async fn escalations_fragment(State(state): State<DashboardState>) -> Response {
    let escalated = overview::escalated(&state.runtime)
        .await
        .map_err(|err| err.reason);
    Html(escalation_banner(&escalated).into_string()).into_response()
}

pub(super) fn time(at: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M:%S UTC")) { (ago(at, now)) }
    }
}

fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let (amount, future) = if seconds < 0 {
        (-seconds, true)
    } else {
        (seconds, false)
    };
    let text = match amount {
        0..=59 => format!("{amount} s"),
        60..=3599 => format!("{} min", amount / 60),
        3600..=86_399 => format!("{} h", amount / 3600),
        _ => format!("{} d", amount / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

pub(super) fn money(usd: f64) -> String {
    if usd >= 1.0 || usd == 0.0 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.3}")
    }
}

fn agents_table(agents: &[AgentView], now: DateTime<Utc>) -> Markup {
    html! {
        div.table-wrap {
            table.agents {
                thead { tr {
                    th { "Role" } th { "Status" } th { "Current trigger" } th { "Last activity" }
                    th.num { "Queue" } th { "Spend today" } th { "Sessions this hour" } th { "Heartbeat" }
                } }
                tbody {
                    @for agent in agents {
                        tr data-agent=(agent.role) {
                            td { a href={ "/agents/" (agent.role) } { strong { (agent.role.as_str().to_uppercase()) } } }
                            td {
                                span class={ "badge status-" (agent.status) } { (agent.status) }
                                @if agent.paused {
                                    " " span.badge.paused title=[agent.paused_reason.as_deref()] { "paused" }
                                }
                            }
                            td.trigger { (agent.current_trigger.as_deref().unwrap_or("—")) }
                            td { @if let Some(at) = agent.last_activity { (time(at, now)) } @else { "never" } }
                            td.num { (agent.queue_len) }
                            td {
                                (money(agent.spent_today_usd))
                                @if let Some(budget) = agent.budget_usd_per_day {
                                    " / " (money(budget)) " "
                                    meter min="0" max=(budget) high=(budget * 0.8) value=(agent.spent_today_usd.min(budget)) {}
                                } @else { span.muted { " (no limit)" } }
                            }
                            td {
                                (agent.sessions_this_hour)
                                @if let Some(limit) = agent.budget_sessions_per_hour { " / " (limit) }
                            }
                            td {
                                @match agent.heartbeat {
                                    Some(at) => {
                                        (time(at, now))
                                        @if agent.stale { " " span.badge.stale { "stale" } }
                                    }
                                    None => span.badge.stale { "never reported" },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /` and `GET /agents`.
pub(crate) async fn agents(State(state): State<DashboardState>) -> Response {
    let chrome = chrome(&state).await;
    let overview = match overview::overview(&state.runtime).await {
        Ok(overview) => overview,
        Err(err) => return error_page(&chrome, &err),
    };
    let now = state.runtime.clock.now();
    let guards = aito_core::event::recent_guard_trips(&*state.runtime.store, 10)
        .await
        .unwrap_or_default();
    let roles: Vec<&str> = overview
        .agents
        .iter()
        .map(|agent| agent.role.as_str())
        .collect();
    let content = html! {
        h1 { "Agents" }
        div #agents-table data-refresh="/fragments/agents" data-every="5" {
            (agents_table(&overview.agents, now))
        }
        section.controls {
            h2 { "Company" }
            p {
                "The company is " strong #company-state { @if overview.paused { "paused" } @else { "running" } } ". "
                "Pausing lets running sessions finish and starts no new one."
            }
            p #company-spend {
                "Spent today: " (money(overview.spent_today_usd))
                @if let Some(budget) = overview.budget_usd_per_day { " of " (money(budget)) }
                @else { " (no company limit)" }
            }
            @if state.writes_enabled() {
                div.write-panel {
                    (token_field())
                    button type="button" data-post="/api/pause" { "Pause the company" }
                    " "
                    button type="button" data-post="/api/resume" { "Resume" }
                    p.msg aria-live="polite" {}
                }
            }
        }
        section #guards {
            h2 { "Guards" }
            @if guards.is_empty() {
                p { "No guard has stopped anything yet: no loop, no budget or quota limit, no hop limit." }
            } @else {
                table {
                    thead { tr { th { "When" } th { "Agent" } th { "Guard" } th { "Why" } } }
                    tbody {
                        @for guard in &guards {
                            tr {
                                td { (guard.at.map_or_else(|| "-".to_owned(), |at| ago(at, now))) }
                                td { (guard.role.as_str().to_uppercase()) }
                                td { code { (guard.guard) } }
                                td { (guard.reason) }
                            }
                        }
                    }
                }
            }
            @if state.writes_enabled() {
                form #set-budget {
                    h3 { "Change a budget" }
                    p { "Leave a field empty to keep it; write none for no limit. An agent waiting for its budget resumes at once when the new one allows." }
                    div.fields {
                        label { "Whose " select name="agent" {
                            option value="" { "the company" }
                            @for role in &roles { option value=(role) { (role.to_uppercase()) } }
                        } }
                        label { "USD per day " input name="usd_per_day" inputmode="decimal" size="8"; }
                        label { "Sessions per hour " input name="sessions_per_hour" inputmode="numeric" size="6"; }
                    }
                    (token_field())
                    button type="submit" { "Set" }
                    p.msg aria-live="polite" {}
                }
            }
        }
        @if state.writes_enabled() {
            section.controls {
                h2 { "Send a message" }
                form #send-message {
                    div.fields {
                        label { "To " select name="to" {
                            @for role in &roles { option value=(role) { (role.to_uppercase()) } }
                            option value="all" { "everyone" }
                            option value="head" { "head (CEO and DAO)" }
                            option value="clevel" { "C-level" }
                        } }
                        label { "Type " select name="type" {
                            option value="task" { "task" }
                            option value="direct" { "direct" }
                            option value="alert" { "alert" }
                            option value="broadcast" { "broadcast" }
                        } }
                        label { "Priority " select name="priority" {
                            option value="low" { "low" }
                            option value="normal" selected { "normal" }
                            option value="high" { "high" }
                            option value="urgent" { "urgent" }
                            option value="critical" { "critical" }
                        } }
                    }
                    label.block { "Message " textarea name="content" rows="3" required {} }
                    (token_field())
                    button type="submit" { "Send" }
                    p.msg aria-live="polite" {}
                }
            }
        }
    };
    page(&chrome, "Agents", Nav::Agents, content)
}

/// `GET /fragments/agents`: the agents table alone, for the script's refresh.
pub(crate) async fn agents_fragment(State(state): State<DashboardState>) -> Response {
    match overview::overview(&state.runtime).await {
        Ok(overview) => {
            Html(agents_table(&overview.agents, state.runtime.clock.now()).into_string())
                .into_response()
        }
        Err(err) => err.into_response(),
    }
}

pub(super) fn token_field() -> Markup {
    html! {
        label.token { "Token "
            input type="password" name="token" data-token autocomplete="current-password" placeholder="dashboard token";
        }
    }
}

pub(super) fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Handled => "handled",
        Outcome::HandledWithoutModel => "handled without model",
        Outcome::DeadLettered => "dead-lettered",
        Outcome::Dropped => "dropped",
    }
}

/// `GET /agents/{agent}`.
pub(crate) async fn agent(
    State(state): State<DashboardState>,
    Path(agent): Path<String>,
) -> Response {
    let chrome = chrome(&state).await;
    let detail = match api::agent_detail(&state, &agent).await {
        Ok(detail) => detail,
        Err(err) => return error_page(&chrome, &err),
    };
    let now = state.runtime.clock.now();
    let history = &detail.history;
    let dead = &detail.dead_letters;
    let role = detail.agent.role.as_str().to_owned();
    let summary = detail.state.last_summary.as_deref();
    let content = html! {
        h1 { (role.to_uppercase()) }
        (agents_table(std::slice::from_ref(&detail.agent), now))
        @if let Some(summary) = summary {
            p { "Last summary: " q { (summary) } }
        }
        h2 { "Recent history" }
        @if history.is_empty() {
            p.muted { "Nothing handled yet." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "When" } th { "Trigger" } th { "Outcome" } th { "Summary" } th { "Actions" } th { "Model" } th.num { "Cost" } th.num { "Time" } th { "Session" } } }
                tbody {
                    @for entry in history {
                        tr {
                            td { (time(entry.at, now)) }
                            td { (entry.trigger) }
                            td { span class={ "badge outcome-" (outcome_name(entry.outcome).replace(' ', "-")) } { (outcome_name(entry.outcome)) } }
                            td { (entry.summary) }
                            td {
                                @for action in &entry.actions {
                                    div.action.failed[!action.ok] title=(action.detail) { (action.kind) @if !action.ok { " (failed)" } }
                                }
                            }
                            td.provider { (entry.provider.as_deref().unwrap_or("")) }
                            td.num { (money(entry.cost_usd)) }
                            td.num { (format!("{:.1} s", entry.duration_ms as f64 / 1000.0)) }
                            td { a.session href=(super::session_pages::session_href(&role, &entry.trigger_id)) { "open" } }
                        }
                    }
                }
            } }
        }
        @if !dead.is_empty() {
            h2 { "Dead letters" }
            div.table-wrap { table {
                thead { tr { th { "When" } th { "Trigger" } th { "Reason" } th.num { "Attempts" } } }
                tbody { @for letter in dead { tr {
                    td { (time(letter.at, now)) }
                    td { (letter.trigger.describe(&state.runtime.directory)) }
                    td { (letter.reason) }
                    td.num { (letter.attempts) }
                } } }
            } }
        }
    };
    page(&chrome, &role.to_uppercase(), Nav::Agents, content)
}

fn log_row(line: &LogLine) -> Markup {
    html! {
        tr data-id=(line.id) {
            td { time datetime=(line.at.to_rfc3339()) { (line.at.format("%H:%M:%S")) } }
            td { (line.role.as_deref().unwrap_or("?")) }
            td.task { (line.task_id) }
            td.num { (line.seq) }
            td { span class={ "kind kind-" (line.kind) } { (line.kind) } }
            td.text { (line.text) }
        }
    }
}

/// `GET /logs?role=...&task=...`.
pub(crate) async fn logs(
    State(state): State<DashboardState>,
    Query(query): Query<LogQuery>,
    uri: Uri,
) -> Response {
    let chrome = chrome(&state).await;
    let lines = match api::recent_lines(&state, 200).await {
        Ok(lines) => lines,
        Err(err) => return error_page(&chrome, &err),
    };
    let lines: Vec<&LogLine> = lines.iter().filter(|line| query.matches(line)).collect();
    let stream = match uri.query() {
        Some(query) => format!("/api/logs/stream?{query}"),
        None => "/api/logs/stream".to_owned(),
    };
    let content = html! {
        h1 { "Worker logs" }
        form.filters method="get" action="/logs" {
            label { "Role " input name="role" value=[query.role.as_deref()] size="8"; }
            " "
            label { "Task " input name="task" value=[query.task.as_deref()] size="24"; }
            " "
            button type="submit" { "Filter" }
            " "
            span #live.badge data-state="off" { "live: off" }
        }
        div.table-wrap { table.log #log data-stream=(stream) {
            thead { tr { th { "Time" } th { "Role" } th { "Task" } th.num { "#" } th { "Kind" } th { "Line" } } }
            tbody { @for line in &lines { (log_row(line)) } }
        } }
        @if lines.is_empty() { p.muted #log-empty { "No worker output yet. Lines appear here as workers run." } }
    };
    page(&chrome, "Worker logs", Nav::Logs, content)
}

fn probe_row(name: &str, probe: &overview::Probe) -> Markup {
    html! {
        tr {
            th { (name) }
            td { @if probe.ok { span.badge.ok { "reachable" } } @else { span.badge.bad { "unreachable" } } }
            td.num { (format!("{:.1} ms", probe.latency_ms)) }
            td { (probe.error.as_deref().unwrap_or("")) }
        }
    }
}

/// `GET /health`.
pub(crate) async fn health(State(state): State<DashboardState>) -> Response {
    let chrome = chrome(&state).await;
    let Health {
        ok,
        store,
        bus,
        feed,
        notices,
        webhooks,
        agents,
        paused,
        dead_letters,
    } = overview::health(&state).await;
    let now = state.runtime.clock.now();
    let content = html! {
        h1 { "Health " @if ok { span.badge.ok #health-state { "ok" } } @else { span.badge.bad #health-state { "degraded" } } }
        div.table-wrap { table.facts {
            tbody {
                (probe_row("Store", &store))
                (probe_row("Bus", &bus))
                tr {
                    th { "Dashboard feed" }
                    td { @if feed.subscribed { span.badge.ok { "subscribed" } } @else { span.badge.bad { "not subscribed" } } }
                    td.num { (feed.received) " received" }
                    td {
                        @if let Some(at) = feed.last_received_at { "last " (time(at, now)) }
                        @if let Some(error) = &feed.last_error { " " (error) }
                    }
                }
                tr {
                    th { "Escalation webhook" }
                    @if let Some(notices) = &notices {
                        td { (notices.url) }
                        td.num { (notices.stats.delivered) " delivered, " (notices.stats.failed) " failed" }
                        td { (notices.stats.last_error.as_deref().unwrap_or("")) }
                    } @else {
                        td colspan="3" { span.muted { "not configured" } }
                    }
                }
                tr { th { "Company" } td colspan="3" { @if paused { "paused" } @else { "running" } } }
                tr { th { "Dead letters" } td colspan="3" { (dead_letters) } }
            }
        } }
        (super::hooks::health::table(&webhooks, |at| time(at, now)))
        h2 { "Heartbeats" }
        div.table-wrap { table {
            thead { tr { th { "Agent" } th { "Status" } th { "Last heartbeat" } } }
            tbody { @for agent in &agents { tr {
                td { a href={ "/agents/" (agent.role) } { (agent.role.as_str().to_uppercase()) } }
                td { span class={ "badge status-" (agent.status) } { (agent.status) } }
                td {
                    @match agent.heartbeat {
                        Some(at) => { (time(at, now)) @if agent.stale { " " span.badge.stale { "stale" } } @else { " " span.badge.ok { "fresh" } } }
                        None => span.badge.stale { "never reported" },
                    }
                }
            } } }
        } }
    };
    page(&chrome, "Health", Nav::Health, content)
}

/// `GET /login`: the form that stores the token in a cookie, for reading from another host.
pub(crate) async fn login_page(State(state): State<DashboardState>) -> Response {
    let content = html! {
        h1 { "Log in" }
        @if state.writes_enabled() {
            p { "Reading the dashboard from another host needs the dashboard token. It is kept in a cookie for a day." }
            form.login method="post" action="/login" {
                label { "Token " input type="password" name="token" autocomplete="current-password" required; }
                " "
                button type="submit" { "Log in" }
            }
        } @else {
            p.notice.warn { "No dashboard token is configured, so the dashboard can be read only from this machine. To read it from elsewhere, " (HOW_TO_SET_A_TOKEN) "." }
        }
    };
    let chrome = Chrome {
        company: state.runtime.company.clone(),
        paused: false,
        escalated: Ok(Vec::new()),
        writes_enabled: state.writes_enabled(),
    };
    page(&chrome, "Log in", Nav::None, content)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// `POST /login`.
pub(crate) async fn login(
    State(state): State<DashboardState>,
    Form(form): Form<LoginForm>,
) -> Response {
    let given = form.token.trim();
    let matches = state
        .token
        .as_deref()
        .is_some_and(|expected| auth::token_matches(expected, given));
    if !matches {
        tracing::warn!("dashboard login refused");
        return (
            StatusCode::UNAUTHORIZED,
            Html(html! { p { "Wrong token. " a href="/login" { "Try again" } } }.into_string()),
        )
            .into_response();
    }
    match auth::login_cookie(given) {
        Some(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response(),
        None => ApiError::bad_request(
            "the token has characters a cookie cannot carry; send it as a bearer header instead",
        )
        .into_response(),
    }
}

/// The fallback: 404 as JSON under `/api/`, as a page elsewhere.
pub(crate) async fn not_found(State(state): State<DashboardState>, uri: Uri) -> Response {
    let error = ApiError::not_found(format!("nothing at {}", uri.path()));
    if uri.path().starts_with("/api/") {
        return error.into_response();
    }
    let chrome = Chrome {
        company: state.runtime.company.clone(),
        paused: false,
        escalated: Ok(Vec::new()),
        writes_enabled: state.writes_enabled(),
    };
    error_page(&chrome, &error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        assert_eq!(ago(now - chrono::Duration::seconds(5), now), "5 s ago");
        assert_eq!(ago(now - chrono::Duration::minutes(90), now), "1 h ago");
        assert_eq!(ago(now + chrono::Duration::hours(48), now), "in 2 d");
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(0.0123), "$0.012");
        assert_eq!(money(12.5), "$12.50");
    }
}
