//! Triggers: what wakes an agent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::directory::Directory;
use crate::envelope::{Envelope, Priority};
use crate::id::AgentId;

/// Why an agent is woken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // Messages are the common case; boxing them buys nothing.
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

    /// A one-line description for logs, status pages and history; agents are named by role.
    pub fn describe(&self, directory: &Directory) -> String {
        match &self.kind {
            TriggerKind::Message { envelope, .. } => {
                format!(
                    "{} from {}: {}",
                    envelope.kind,
                    directory.name_of(&envelope.from),
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

/// How many trigger ids an envelope's causal chain keeps.
pub const CHAIN_LIMIT: usize = 16;

/// The causality an agent's session stamps on every envelope it produces: who caused it, how
/// many sessions the chain has passed through, and the triggers that led here.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cause {
    /// The agent whose session produced the envelope.
    pub origin: Option<AgentId>,
    /// Hops of the new envelope.
    pub hops: u32,
    /// Trigger ids that led here, oldest first, bounded by [`CHAIN_LIMIT`].
    pub chain: Vec<String>,
    /// Conversation id carried along.
    pub correlation_id: Option<String>,
}

impl Cause {
    /// The cause of envelopes produced by `agent` while handling `trigger`.
    pub fn of(agent: AgentId, trigger: &Trigger) -> Self {
        let (hops, mut chain, correlation_id) = match trigger.envelope() {
            Some(envelope) => (
                envelope.hops + 1,
                envelope.chain.clone(),
                envelope
                    .correlation_id
                    .clone()
                    .or_else(|| Some(envelope.id.to_string())),
            ),
            None => (1, Vec::new(), Some(trigger.id.clone())),
        };
        chain.push(trigger.id.clone());
        if chain.len() > CHAIN_LIMIT {
            chain.drain(..chain.len() - CHAIN_LIMIT);
        }
        Self {
            origin: Some(agent),
            hops,
            chain,
            correlation_id,
        }
    }

    /// Stamps this cause on `envelope`.
    pub fn stamp(&self, envelope: &mut Envelope) {
        envelope.origin = self.origin;
        envelope.hops = self.hops;
        envelope.chain = self.chain.clone();
        if envelope.correlation_id.is_none() {
            envelope.correlation_id = self.correlation_id.clone();
        }
    }
}
