//! Webhooks that outside services call: `POST /hooks/<name>` for each `[webhooks.<name>]`
//! source of the configuration (GitHub, Stripe, or any service that signs with an
//! HMAC-SHA256 in a header).
//!
//! A delivery goes through, in order:
//! 1. the source: unknown is 404;
//! 2. the body, read raw, at most [`WEBHOOK_BODY_LIMIT`] bytes (413 beyond);
//! 3. the signature under the source's secret, over the raw body, in constant time
//!    ([`signature`]): absent, wrong or (Stripe) outside the timestamp tolerance is 401, and
//!    nothing is queued; a source without a secret refuses everything (503);
//! 4. the event type, delivery id and title (`event`): a body the kind cannot read is 400;
//! 5. the source's accepted event types: another type is 202, ignored (logged at debug);
//!    GitHub's `ping` (sent when a hook is created) is answered 200 without waking anyone;
//! 6. a `webhook` envelope to the agent, 202 `{"id", "delivery", "event"}`; 503 when the
//!    bus is unreachable, so that the sender retries.
//!
//! The envelope id derives from the source and the sender's delivery id, so a retried
//! delivery is a duplicate that the agent's daemon drops: within a process while the first is
//! queued or being handled, and afterwards (across restarts too) through its handled marks
//! in the store.
//!
//! Each source's last delivery and its outcome are kept in the store (`webhooks:last:<name>`)
//! for the health page.

mod event;
pub mod health;
pub mod signature;
pub mod source;

use std::collections::BTreeMap;
use std::sync::Arc;

use aito_core::Channel;
use aito_core::envelope::preview;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

pub use health::{LastDelivery, Outcome, SourceHealth};
pub use signature::Refusal;
pub use source::{DEFAULT_STRIPE_TOLERANCE, Encoding, HmacScheme, HookSource, Scheme};

use super::DashboardState;
use super::input::WEBHOOK_BODY_LIMIT;

/// The configured sources, by name.
pub(crate) type Sources = Arc<BTreeMap<String, HookSource>>;

/// `POST /hooks/{name}`.
pub(crate) async fn receive(
    State(state): State<DashboardState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(source) = state.hooks.get(&name) else {
        let name = preview(&name, 64);
        tracing::debug!(source = %name, "delivery to an unknown webhook source");
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no webhook source {name:?}") })),
        )
            .into_response();
    };
    let now = state.runtime.clock.now();
    let last = deliver(&state, source, &headers, body, now).await;
    state
        .hub
        .metrics
        .record_webhook(&source.name, last.outcome.as_str());
    health::record(&state.runtime, source, &last).await;
    last.response()
}

async fn deliver(
    state: &DashboardState,
    source: &HookSource,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    now: DateTime<Utc>,
) -> LastDelivery {
    let last = LastDelivery::at(now);
    let name = source.name.as_str();
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::info!(
                source = name,
                limit = WEBHOOK_BODY_LIMIT,
                "webhook delivery refused: body too large"
            );
            return last.ended(
                Outcome::TooLarge,
                format!("the body is over the limit of {WEBHOOK_BODY_LIMIT} bytes"),
            );
        }
        Err(rejection) => return last.ended(Outcome::BadRequest, rejection.body_text()),
    };
    let Some(key) = source.key() else {
        tracing::warn!(source = name, variable = %secret_variable(name), "webhook delivery refused: the source has no secret");
        return last.ended(
            Outcome::NoSecret,
            "this webhook source has no secret configured, so every delivery is refused",
        );
    };
    if let Err(refusal) = signature::verify(&source.scheme, key, headers, &body, now) {
        tracing::info!(source = name, reason = %refusal, "webhook delivery refused");
        return last.ended(Outcome::Refused, refusal.to_string());
    }
    let delivery = match event::read(source, headers, &body) {
        Ok(delivery) => delivery,
        Err(reason) => {
            tracing::info!(source = name, reason, "webhook delivery unreadable");
            return last.ended(Outcome::BadRequest, reason);
        }
    };
    let last = last.of(delivery.event.clone(), delivery.id.clone());
    let event_type = delivery.event.clone();
    let event = event_type.as_deref();
    if !source.accepts(event) {
        tracing::debug!(source = name, event, delivery = %delivery.id, "webhook event type not accepted; ignored");
        return last.ended(
            Outcome::Ignored,
            format!(
                "event type {} is not among this source's accepted types",
                event.map_or_else(|| "(none)".to_owned(), |event| format!("{event:?}"))
            ),
        );
    }
    if matches!(source.scheme, Scheme::GitHub)
        && event == Some("ping")
        && !source.events.iter().any(|accepted| accepted == "ping")
    {
        tracing::info!(source = name, delivery = %delivery.id, "GitHub ping answered");
        return last.ended(Outcome::Ping, "GitHub's ping: the hook is set up");
    }
    let envelope = event::envelope(source, delivery, &body, WEBHOOK_BODY_LIMIT);
    let id = envelope.id;
    let title = envelope.title();
    match state
        .runtime
        .bus
        .publish(Channel::Agent(source.agent), envelope)
        .await
    {
        Ok(()) => {
            tracing::info!(source = name, event, %id, role = %source.role, %title, "webhook delivery queued");
            last.queued(id)
        }
        Err(err) => {
            tracing::warn!(source = name, event, %id, error = %err, "webhook delivery not queued: the bus failed");
            last.ended(
                Outcome::Failed,
                "the delivery could not be queued; try again later",
            )
        }
    }
}

/// The variable that holds the secret of source `name`.
pub fn secret_variable(name: &str) -> String {
    format!("AITO_WEBHOOKS_{}_SECRET", crate::config::env::env_key(name))
}

impl LastDelivery {
    /// The answer to the sender.
    fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match self.outcome {
            Outcome::Queued => {
                json!({ "id": self.id, "delivery": self.delivery, "event": self.event })
            }
            Outcome::Ignored => {
                json!({ "ignored": true, "event": self.event, "reason": self.reason })
            }
            Outcome::Ping => json!({ "pong": true }),
            _ => json!({ "error": self.reason }),
        };
        (status, Json(body)).into_response()
    }
}
