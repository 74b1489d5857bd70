//! Triggers: what wakes an agent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::envelope::{Envelope, Priority};

/// Why an agent is woken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// Triggers are few and short-lived; boxing the envelope would only complicate matching.
#[allow(clippy::large_enum_variant)]
pub enum TriggerKind {
    /// An envelope on the agent's inbox, broadcast, head or clevel (webhooks arrive this way too,
    /// as `webhook` envelopes).
    Message {
        /// The envelope.
        envelope: Envelope,
        /// Where it arrived.
        channel: Channel,
    },
    /// A cron tick. Ticks that arrive while one is pending are coalesced into it.
    Schedule {
        /// The cron expression as configured.
        expression: String,
        /// The scheduled time of the (first coalesced) tick.
        tick: DateTime<Utc>,
    },
    /// The daemon started.
    Startup,
}

/// One reason to run a session, with a stable id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Stable id: the envelope id for messages, `cron:<agent>:<tick>` for ticks,
    /// `startup:<uuid>` at start-up. Action ids derive from it.
    pub id: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: TriggerKind,
    /// Queue order.
    pub priority: Priority,
    /// When it entered the queue.
    pub at: DateTime<Utc>,
}

impl Trigger {
    /// The envelope, for message triggers.
    pub fn envelope(&self) -> Option<&Envelope> {
        match &self.kind {
            TriggerKind::Message { envelope, .. } => Some(envelope),
            _ => None,
        }
    }

    /// A one-line description for logs, status pages and history.
    pub fn describe(&self) -> String {
        match &self.kind {
            TriggerKind::Message { envelope, .. } => {
                format!(
                    "{} from {}: {}",
                    envelope.kind,
                    envelope.from,
                    envelope.title()
                )
            }
            TriggerKind::Schedule { expression, tick } => {
                format!("schedule {expression} at {}", tick.format("%Y-%m-%d %H:%M"))
            }
            TriggerKind::Startup => "startup".to_owned(),
        }
    }

    /// The trigger's name in the original system's prompt vocabulary.
    pub fn name(&self) -> &'static str {
        match &self.kind {
            TriggerKind::Message { .. } => "message",
            TriggerKind::Schedule { .. } => "scheduled",
            TriggerKind::Startup => "startup",
        }
    }
}
