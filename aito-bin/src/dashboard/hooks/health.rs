//! The last delivery of each source and its outcome: kept in the store, shown on the health
//! page and in `GET /api/health`.

use aito_core::{MessageId, Runtime};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::HookSource;
use crate::dashboard::DashboardState;

/// What became of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Queued for the agent (202).
    Queued,
    /// Signed, but of an event type the source does not accept (202).
    Ignored,
    /// GitHub's ping, answered (200).
    Ping,
    /// The signature was missing, wrong or too old (401).
    Refused,
    /// The body was over the limit (413).
    TooLarge,
    /// The source has no secret, so nothing can be verified (503).
    NoSecret,
    /// Signed, but not readable as its kind's deliveries are (400).
    BadRequest,
    /// Verified, but the bus could not take it (503).
    Failed,
}

impl Outcome {
    /// The HTTP status the sender gets.
    pub fn status(self) -> StatusCode {
        match self {
            Outcome::Queued | Outcome::Ignored => StatusCode::ACCEPTED,
            Outcome::Ping => StatusCode::OK,
            Outcome::Refused => StatusCode::UNAUTHORIZED,
            Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::NoSecret | Outcome::Failed => StatusCode::SERVICE_UNAVAILABLE,
            Outcome::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    /// The name shown and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Ignored => "ignored",
            Outcome::Ping => "ping",
            Outcome::Refused => "refused",
            Outcome::TooLarge => "too_large",
            Outcome::NoSecret => "no_secret",
            Outcome::BadRequest => "bad_request",
            Outcome::Failed => "failed",
        }
    }

    fn badge(self) -> &'static str {
        match self {
            Outcome::Queued | Outcome::Ping => "badge ok",
            Outcome::Ignored => "badge",
            Outcome::Refused | Outcome::TooLarge | Outcome::BadRequest => "badge stale",
            Outcome::NoSecret | Outcome::Failed => "badge bad",
        }
    }
}

/// One delivery to a source, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastDelivery {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// What became of it.
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// Its event type, once verified.
    #[serde(default)]
    pub event: Option<String>,
    /// The sender's delivery id, once verified.
    #[serde(default)]
    pub delivery: Option<String>,
    /// The envelope it was queued as.
    #[serde(default)]
    pub id: Option<MessageId>,
    /// Why it was refused or ignored.
    #[serde(default)]
    pub reason: Option<String>,
}

impl LastDelivery {
    pub(super) fn at(at: DateTime<Utc>) -> Self {
        Self {
            at,
            outcome: Outcome::Queued,
            status: StatusCode::ACCEPTED.as_u16(),
            event: None,
            delivery: None,
            id: None,
            reason: None,
        }
    }

    pub(super) fn of(mut self, event: Option<String>, delivery: String) -> Self {
        self.event = event;
        self.delivery = Some(delivery);
        self
    }

    pub(super) fn ended(mut self, outcome: Outcome, reason: impl Into<String>) -> Self {
        self.outcome = outcome;
        self.status = outcome.status().as_u16();
        self.reason = Some(reason.into());
        self
    }

    pub(super) fn queued(mut self, id: MessageId) -> Self {
        self.outcome = Outcome::Queued;
        self.status = Outcome::Queued.status().as_u16();
        self.id = Some(id);
        self
    }
}

/// One source on the health page.
#[derive(Clone, Debug, Serialize)]
pub struct SourceHealth {
    /// Its name.
    pub name: String,
    /// `github`, `stripe` or `hmac`.
    pub kind: &'static str,
    /// The role it wakes.
    pub role: String,
    /// Where senders post.
    pub path: String,
    /// Whether its secret is set.
    pub secret_set: bool,
    /// The last delivery, if any was recorded.
    pub last: Option<LastDelivery>,
}

fn key(name: &str) -> String {
    format!("webhooks:last:{name}")
}

/// Keeps `last` as the source's last delivery; a store that fails is logged, not fatal.
pub(super) async fn record(runtime: &Runtime, source: &HookSource, last: &LastDelivery) {
    let value = match serde_json::to_value(last) {
        Ok(value) => value,
        Err(err) => {
            tracing::warn!(source = %source.name, error = %err, "cannot record a webhook delivery");
            return;
        }
    };
    if let Err(err) = runtime
        .store
        .set_value(&key(&source.name), &value, None)
        .await
    {
        tracing::warn!(source = %source.name, error = %err, "cannot record a webhook delivery");
    }
}

/// Every source with its last delivery, by name.
pub(crate) async fn sources(state: &DashboardState) -> Vec<SourceHealth> {
    let mut out = Vec::with_capacity(state.hooks.len());
    for source in state.hooks.values() {
        let last = match state.runtime.store.get_value(&key(&source.name)).await {
            Ok(value) => value.and_then(|value| serde_json::from_value(value).ok()),
            Err(_) => None,
        };
        out.push(SourceHealth {
            name: source.name.clone(),
            kind: source.scheme.kind(),
            role: source.role.to_string(),
            path: source.path(),
            secret_set: source.has_secret(),
            last,
        });
    }
    out
}

/// The health page's table of sources.
pub(crate) fn table(sources: &[SourceHealth], time: impl Fn(DateTime<Utc>) -> Markup) -> Markup {
    html! {
        h2 { "Webhooks" }
        @if sources.is_empty() {
            p.muted #webhooks-none { "No webhook source is configured (" code { "[webhooks.<name>]" } " in aito.toml, see docs/webhooks.md)." }
        } @else {
            div.table-wrap { table #webhooks {
                thead { tr { th { "Source" } th { "Wakes" } th { "Secret" } th { "Last delivery" } th { "Outcome" } th { "Details" } } }
                tbody { @for source in sources { tr data-source=(source.name) {
                    td { code { (source.path) } " " span.muted { (source.kind) } }
                    td { a href={ "/agents/" (source.role) } { (source.role.to_uppercase()) } }
                    td { @if source.secret_set { span.badge.ok { "set" } } @else { span.badge.bad { "not set" } } }
                    @match &source.last {
                        Some(last) => {
                            td { (time(last.at)) }
                            td { span class=(last.outcome.badge()) data-outcome=(last.outcome.as_str()) { (last.outcome.as_str()) " " (last.status) } }
                            td {
                                @if let Some(event) = &last.event { (event) " " }
                                @if let Some(delivery) = &last.delivery { span.muted { (delivery) } " " }
                                @if let Some(reason) = &last.reason { (reason) }
                            }
                        }
                        None => { td colspan="3" { span.muted { "none yet" } } }
                    }
                } } }
            } }
        }
    }
}
