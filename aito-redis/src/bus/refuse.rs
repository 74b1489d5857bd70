//! Envelopes the bus refuses to deliver (over the size cap): dead-lettered in the store's
//! dead-letter list with their reason, and logged by a short preview.

use aito_core::envelope::{PREVIEW_CHARS, preview};
use aito_core::store::DeadLetter;
use aito_core::{AgentId, Channel};

use crate::connection::Connection;
use crate::keys::Keys;
use crate::scripts::Scripts;
use crate::store::DEAD_LETTER_LIMIT;

/// The agent a refused envelope on `channel` was for: the inbox's agent, else the subscribing
/// group's agent when the group is named by an agent id, else the nil id.
pub(crate) fn agent_of(channel: Channel, group: Option<&str>) -> AgentId {
    match channel {
        Channel::Agent(agent) => agent,
        _ => group
            .and_then(|group| group.parse().ok())
            .unwrap_or(AgentId::NIL),
    }
}

/// Dead-letters `raw`, refused for `reason`, and logs it with a preview. Never fails: a
/// dead letter that cannot be written is logged.
pub(crate) async fn refuse(
    manager: &Connection,
    scripts: &Scripts,
    keys: &Keys,
    agent: AgentId,
    channel: Channel,
    raw: &str,
    reason: &str,
) {
    tracing::warn!(%channel, %agent, bytes = raw.len(), reason, preview = %preview(raw, PREVIEW_CHARS), "envelope refused; dead-lettered");
    let letter = DeadLetter::refused(agent, channel, raw, reason, chrono::Utc::now());
    let text = match serde_json::to_string(&letter) {
        Ok(text) => text,
        Err(err) => {
            tracing::error!(error = %err, "could not encode a dead letter");
            return;
        }
    };
    let result: Result<i64, crate::error::Error> = scripts
        .list_push
        .key(keys.dead_letters())
        .arg(DEAD_LETTER_LIMIT)
        .arg(text)
        .invoke_async(&mut manager.clone())
        .await;
    if let Err(err) = result {
        tracing::warn!(%channel, error = %err, "could not dead-letter a refused envelope");
    }
}
