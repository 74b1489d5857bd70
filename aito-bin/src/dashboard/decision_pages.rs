//! The decisions' pages: the list by status and one decision with its rounds, votes and
//! history, with the form that answers an escalated one. Server-rendered with `maud`, so
//! titles, reasons and descriptions that agents wrote are escaped.

use aito_core::decision::{DecisionStatus, VoteChoice};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};

use super::DashboardState;
use super::api::{self, DecisionFilter};
use super::auth::HOW_TO_SET_A_TOKEN;
use super::error::ApiError;
use super::pages::{Nav, chrome, error_page, page, time, token_field};

fn status_badge(status: DecisionStatus) -> Markup {
    html! { span class={ "badge decision-" (status) } { (status) } }
}

/// `GET /decisions?status=...`.
pub(crate) async fn decisions(
    State(state): State<DashboardState>,
    Query(filter): Query<DecisionFilter>,
) -> Response {
    let chrome = chrome(&state).await;
    let all = match api::filtered_decisions(&state, &DecisionFilter::default()).await {
        Ok(all) => all,
        Err(err) => return error_page(&chrome, &err),
    };
    let shown = match api::filtered_decisions(&state, &filter).await {
        Ok(shown) => shown,
        Err(err) => return error_page(&chrome, &err),
    };
    let current = filter.status.as_deref().unwrap_or("all");
    let count = |status: DecisionStatus| all.iter().filter(|d| d.status == status).count();
    let open = all.iter().filter(|d| d.status.is_open()).count();
    let now = state.runtime.clock.now();
    let content = html! {
        h1 { "Decisions" }
        nav.filters aria-label="Filter by status" {
            a.active[current == "all"] href="/decisions" { "all (" (all.len()) ")" }
            a.active[current == "open"] href="/decisions?status=open" { "open (" (open) ")" }
            @for status in DecisionStatus::ALL {
                a.active[current == status.as_str()] href={ "/decisions?status=" (status) } { (status) " (" (count(status)) ")" }
            }
        }
        @if shown.is_empty() {
            p.muted { "No decisions here." }
        } @else {
            div.table-wrap { table.decisions {
                thead { tr { th { "Title" } th { "Tier" } th { "Status" } th.num { "Round" } th { "Proposer" } th { "Proposed" } th { "Deadline" } } }
                tbody { @for decision in &shown { tr data-decision=(decision.id) {
                    td { a href={ "/decisions/" (decision.id) } { (decision.title) } }
                    td { span.badge.tier { (decision.tier) } }
                    td { (status_badge(decision.status)) }
                    td.num { (decision.round) }
                    td { (decision.proposer_role.as_str().to_uppercase()) }
                    td { (time(decision.created_at, now)) }
                    td { @if let Some(deadline) = decision.deadline { (time(deadline, now)) } @else { "—" } }
                } } }
            } }
        }
    };
    page(&chrome, "Decisions", Nav::Decisions, content)
}

fn choice_name(choice: VoteChoice) -> &'static str {
    match choice {
        VoteChoice::Approve => "approve",
        VoteChoice::Veto => "veto",
        VoteChoice::Abstain => "abstain",
    }
}

/// `GET /decisions/{id}`.
pub(crate) async fn decision(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
) -> Response {
    let chrome = chrome(&state).await;
    let decision = match api::decision_id(&id) {
        Ok(id) => api::find_decision(&state, id).await,
        Err(_) => Err(ApiError::not_found(format!("no decision with id {id:?}"))),
    };
    let decision = match decision {
        Ok(decision) => decision,
        Err(err) => return error_page(&chrome, &err),
    };
    let now = state.runtime.clock.now();
    let content = html! {
        h1 { (decision.title) }
        dl.facts {
            dt { "Status" } dd { span #decision-status data-status=(decision.status) { (status_badge(decision.status)) } }
            dt { "Tier" } dd { span.badge.tier { (decision.tier) } }
            dt { "Round" } dd { (decision.round) " of " (state.runtime.engine.policy().max_rounds()) }
            dt { "Proposer" } dd { a href={ "/agents/" (decision.proposer_role) } { (decision.proposer_role.as_str().to_uppercase()) } }
            dt { "Reviewers" } dd { (decision.reviewers.iter().map(|role| role.as_str().to_uppercase()).collect::<Vec<_>>().join(", ")) }
            dt { "Proposed" } dd { (time(decision.created_at, now)) }
            @if let Some(deadline) = decision.deadline { dt { "Deadline" } dd { (time(deadline, now)) } }
        }
        @if decision.status == DecisionStatus::Escalated {
            section.answer data-decision=(decision.id) {
                h2 { "Your answer is needed" }
                @if let Some(reason) = &decision.escalation { p { "Escalated: " (reason) } }
                @if state.writes_enabled() {
                    label.block { "Reason " textarea name="reason" rows="2" placeholder="why (recorded in the decision's history and sent to the proposer)" {} }
                    (token_field())
                    div.buttons {
                        button.approve type="button" data-decide="approve" { "Approve" }
                        " "
                        button.reject type="button" data-decide="reject" { "Reject (veto)" }
                    }
                    p.msg aria-live="polite" {}
                } @else {
                    p.notice.warn { "Answering needs the dashboard token, and none is configured: " (HOW_TO_SET_A_TOKEN) ". Or answer with " code { "aito decide " (decision.id) " approve|reject --reason ..." } }
                }
            }
        }
        h2 { "Proposal" }
        p.prose { (decision.description) }
        @if !decision.options.is_empty() {
            h3 { "Options" }
            ol { @for option in &decision.options { li { code { (aito_core::envelope::preview(&option.to_string(), 500)) } } } }
        }
        @if let Some(human) = &decision.human {
            h2 { "Human answer" }
            p {
                strong { @if human.approve { "approved" } @else { "rejected" } } " "
                (time(human.at, now))
                @if !human.reason.is_empty() { ": " (human.reason) }
            }
        }
        h2 { "Votes" }
        @for round in 1..=decision.round {
            @let votes: Vec<_> = decision.votes.iter().filter(|vote| vote.round == round).collect();
            section.round {
                h3 { "Round " (round) }
                @if votes.is_empty() {
                    p.muted { "No votes." }
                } @else {
                    div.table-wrap { table {
                        thead { tr { th { "Reviewer" } th { "Vote" } th { "Reason" } th { "When" } } }
                        tbody { @for vote in votes { tr {
                            td { (vote.role.as_str().to_uppercase()) }
                            td { span class={ "badge vote-" (choice_name(vote.choice)) } { (choice_name(vote.choice)) } }
                            td { (vote.reason) }
                            td { (time(vote.at, now)) }
                        } } }
                    } }
                }
            }
        }
        h2 { "History" }
        div.table-wrap { table.history {
            thead { tr { th { "When" } th { "Change" } th.num { "Round" } th { "By" } th { "Reason" } } }
            tbody { @for transition in &decision.history { tr {
                td { (time(transition.at, now)) }
                td {
                    @if let Some(from) = transition.from { (from) " → " }
                    strong { (transition.to) }
                }
                td.num { (transition.round) }
                td { (transition.by) }
                td { (transition.reason) }
            } } }
        } }
    };
    page(&chrome, &decision.title, Nav::Decisions, content)
}
