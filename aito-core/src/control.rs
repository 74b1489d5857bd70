//! Company-wide controls: the pause switch.

use serde_json::json;

use crate::bus::Bus;
use crate::channel::Channel;
use crate::envelope::{Envelope, MessageType, Priority, Sender};
use crate::store::{StateStore, StoreError};

/// The store key of the company pause switch.
pub const PAUSED_KEY: &str = "control:paused";

/// Whether the company is paused.
pub async fn is_paused(store: &dyn StateStore) -> Result<bool, StoreError> {
    Ok(store
        .get_value(PAUSED_KEY)
        .await?
        .and_then(|value| value.get("paused").and_then(serde_json::Value::as_bool))
        .unwrap_or(false))
}

/// Records the pause switch in the store, where every daemon checks it before a session.
pub async fn store_paused(
    store: &dyn StateStore,
    paused: bool,
    by: &str,
) -> Result<(), StoreError> {
    store
        .set_value(PAUSED_KEY, &json!({ "paused": paused, "by": by }), None)
        .await
}

/// Pauses or resumes the whole company: sets the switch and broadcasts a `system` message so
/// that every daemon reacts at once. Running sessions finish; no new one starts while paused.
pub async fn set_paused(
    store: &dyn StateStore,
    bus: &dyn Bus,
    paused: bool,
    by: &str,
) -> Result<(), ControlError> {
    store_paused(store, paused, by).await?;
    let action = if paused { "pause" } else { "resume" };
    let envelope = Envelope::new(
        MessageType::System,
        Sender::Other(by.to_owned()),
        json!({ "action": action }),
    )
    .with_priority(Priority::Critical);
    bus.publish(Channel::Broadcast, envelope).await?;
    Ok(())
}

/// Sets the budget of `scope` (a human raising or lowering it) and tells every daemon, so an
/// agent waiting for its budget window resumes at once when the new budget allows it.
pub async fn set_budget(
    store: std::sync::Arc<dyn StateStore>,
    bus: &dyn Bus,
    scope: &crate::budget::Scope,
    budget: &crate::agent::Budget,
    by: &str,
) -> Result<(), ControlError> {
    crate::budget::BudgetLedger::new(store)
        .set_override(scope, budget)
        .await?;
    let envelope = Envelope::new(
        MessageType::System,
        Sender::Other(by.to_owned()),
        json!({ "action": "budget" }),
    )
    .with_priority(Priority::Critical);
    bus.publish(Channel::Broadcast, envelope).await?;
    Ok(())
}

/// The action of a `system` control message (`pause`, `resume`), if it is one.
pub fn control_action(envelope: &Envelope) -> Option<&str> {
    ["action", "command", "content"]
        .iter()
        .find_map(|key| envelope.payload_str(key))
        .map(str::trim)
}

/// Why a control could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
}
