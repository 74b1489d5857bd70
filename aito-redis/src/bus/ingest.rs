//! Ingestion of envelopes that an outside tool sent with a plain `PUBLISH` on a durable channel
//! (`redis-cli PUBLISH channel:agent:<uuid> '{"type":"task",...}'`): they are appended to the
//! channel's stream once, however many buses listen.
//!
//! Every listener receives every `PUBLISH`, so the first to take a claim key writes and the
//! others stop. The claim is named after the envelope's `id` when the sender gave one (the same
//! id is the same message), else after the SHA-1 of the raw text and the occurrence number of
//! that text in this listener's recent past: all listeners see the same `PUBLISH`es in the same
//! order, so two identical messages sent one after the other are numbered 1 and 2 everywhere
//! and both are ingested, while each single message is ingested once.
//!
//! Envelopes that a [`RedisBus`](crate::RedisBus) published itself are mirrored on pub/sub with
//! an `aitoStreamId` field: they are already in their stream and are never ingested.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::Connection;
use aito_core::envelope::preview;
use aito_core::{Channel, Envelope};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::bus::refuse::{agent_of, refuse};
use crate::config::RedisConfig;
use crate::error::Error;
use crate::keys::Keys;
use crate::scripts::Scripts;

/// The field a mirrored envelope carries on pub/sub: the id of its stream entry. Envelopes
/// that carry it are never ingested.
pub const MIRROR_FIELD: &str = "aitoStreamId";

/// How the publish script appends [`MIRROR_FIELD`] to a mirrored envelope's JSON, up to the id.
const MIRROR_MARKER: &str = ",\"aitoStreamId\":\"";

/// Identical raw texts arriving closer together than this are numbered as one run.
const REPEAT_GAP: Duration = Duration::from_secs(2);

/// Whether `raw` is a mirror that a `RedisBus` published: it ends with the stream id field the
/// publish script appends (`,"aitoStreamId":"<ms>-<seq>"}`).
pub(crate) fn is_mirror(raw: &str) -> bool {
    let Some(body) = raw.trim_end().strip_suffix("\"}") else {
        return false;
    };
    let Some(at) = body.rfind(MIRROR_MARKER) else {
        return false;
    };
    let id = &body[at + MIRROR_MARKER.len()..];
    match id.split_once('-') {
        Some((ms, seq)) => {
            !ms.is_empty()
                && !seq.is_empty()
                && ms.bytes().all(|b| b.is_ascii_digit())
                && seq.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Numbers repeated raw texts (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Occurrences {
    seen: HashMap<String, (u64, Instant)>,
}

impl Occurrences {
    /// The occurrence number of the text with hash `digest` arriving now.
    pub(crate) fn next(&mut self, digest: &str) -> u64 {
        let now = Instant::now();
        if self.seen.len() > 1024 {
            self.seen
                .retain(|_, (_, last)| now.duration_since(*last) < REPEAT_GAP);
        }
        let slot = self.seen.entry(digest.to_owned()).or_insert((0, now));
        if now.duration_since(slot.1) >= REPEAT_GAP {
            slot.0 = 0;
        }
        slot.0 += 1;
        slot.1 = now;
        slot.0
    }
}

/// Appends outside envelopes to their streams.
pub(crate) struct Ingestor {
    pub(crate) manager: Connection,
    pub(crate) keys: Keys,
    pub(crate) scripts: Arc<Scripts>,
    pub(crate) config: RedisConfig,
    pub(crate) occurrences: Occurrences,
}

impl Ingestor {
    /// Ingests one raw `PUBLISH` on `channel` (a durable channel). Malformed text is logged
    /// with a preview and skipped; text over the size cap, or for the inbox of an agent not in
    /// the company's directory ([`RedisConfig::agents`]), is dead-lettered with its reason.
    pub(crate) async fn ingest(&mut self, channel: Channel, raw: &str) {
        let envelope = match Envelope::from_json_capped(raw, self.config.max_envelope_bytes) {
            Ok(envelope) => envelope,
            Err(err) if err.oversize.is_some() => {
                // Every listener sees the PUBLISH; the first to take the claim dead-letters it.
                if self.claim(channel, raw).await {
                    refuse(
                        &self.manager,
                        &self.scripts,
                        &self.keys,
                        agent_of(channel, None),
                        channel,
                        raw,
                        &err.reason,
                    )
                    .await;
                }
                return;
            }
            Err(err) => {
                tracing::warn!(channel = %channel, reason = %err.reason, preview = %err.preview, "skipping a malformed envelope published on the channel");
                return;
            }
        };
        if let Channel::Agent(agent) = channel
            && !self.config.accepts_agent(agent)
        {
            // Nobody reads that inbox: appending would grow a stream forever.
            if self.claim(channel, raw).await {
                refuse(
                    &self.manager,
                    &self.scripts,
                    &self.keys,
                    agent,
                    channel,
                    raw,
                    &format!("no agent {agent} in the company's directory"),
                )
                .await;
            }
            return;
        }
        let explicit_id = serde_json::from_str::<Map<String, Value>>(raw)
            .map(|fields| fields.contains_key("id"))
            .unwrap_or(false);
        let what = if explicit_id {
            format!("id:{}", envelope.id)
        } else {
            let digest = sha1_smol::Sha1::from(raw.as_bytes()).digest().to_string();
            let n = self.occurrences.next(&digest);
            format!("raw:{digest}:{n}")
        };
        let Some(stream) = self.keys.stream(channel) else {
            return;
        };
        let claim = self.keys.ingest_claim(channel, &what);
        let maxlen = match channel {
            Channel::Agent(_) => 0,
            _ => self.config.group_stream_len,
        };
        let window_ms = u64::try_from(self.config.ingest_window.as_millis())
            .unwrap_or(60_000)
            .max(1);
        let json = envelope.to_json();
        // The text lives only here: retry a few times through a short outage.
        let mut delay = self.config.reconnect_min;
        for attempt in 1..=5 {
            let result: Result<Option<String>, Error> = self
                .scripts
                .ingest
                .key(&stream)
                .key(&claim)
                .arg(&json)
                .arg(window_ms)
                .arg(maxlen)
                .invoke_async(&mut self.manager)
                .await;
            match result {
                Ok(Some(entry)) => {
                    tracing::info!(channel = %channel, id = %envelope.id, entry = %entry, "ingested an envelope published on the channel");
                    return;
                }
                Ok(None) => {
                    tracing::debug!(channel = %channel, id = %envelope.id, "another listener ingested this envelope");
                    return;
                }
                Err(err) if err.is_transient() && attempt < 5 => {
                    tracing::debug!(channel = %channel, error = %err, attempt, "ingestion failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.reconnect_max);
                }
                Err(err) => {
                    tracing::error!(channel = %channel, error = %err, preview = %preview(raw, 200), "could not ingest an envelope published on the channel; it is lost");
                    return;
                }
            }
        }
    }
}

impl Ingestor {
    /// Takes the claim on a refused `PUBLISH` of `raw` (named by its digest and occurrence, as
    /// for raw ingestion): `true` for the one listener that should dead-letter it.
    async fn claim(&mut self, channel: Channel, raw: &str) -> bool {
        let digest = sha1_smol::Sha1::from(raw.as_bytes()).digest().to_string();
        let n = self.occurrences.next(&digest);
        let claim = self
            .keys
            .ingest_claim(channel, &format!("refused:{digest}:{n}"));
        let window_ms = u64::try_from(self.config.ingest_window.as_millis())
            .unwrap_or(60_000)
            .max(1);
        let taken: Result<Option<String>, redis::RedisError> = redis::cmd("SET")
            .arg(&claim)
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(window_ms)
            .query_async(&mut self.manager)
            .await;
        match taken {
            Ok(taken) => taken.is_some(),
            Err(err) => {
                // Better twice in the dead letters than not at all.
                tracing::debug!(%channel, error = %err, "could not claim a refused envelope");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_mirror_field() {
        assert_eq!(MIRROR_MARKER, format!(",\"{MIRROR_FIELD}\":\""));
    }

    #[test]
    fn mirrors_are_recognised_and_other_text_is_not() {
        assert!(is_mirror(
            r#"{"id":"x","type":"task","aitoStreamId":"1700000000000-0"}"#
        ));
        assert!(!is_mirror(
            r#"{"type":"task","from":"human","payload":{"title":"Test"}}"#
        ));
        assert!(!is_mirror(r#"{"type":"task","aitoStreamId":"soon"}"#));
        assert!(!is_mirror(r#"{"type":"task","note":"aitoStreamId"}"#));
        assert!(!is_mirror(""));
    }

    #[tokio::test(start_paused = true)]
    async fn repeats_are_numbered_and_runs_restart_after_a_gap() {
        let mut occurrences = Occurrences::default();
        assert_eq!(occurrences.next("a"), 1);
        assert_eq!(occurrences.next("a"), 2);
        assert_eq!(occurrences.next("b"), 1);
        tokio::time::advance(REPEAT_GAP + Duration::from_millis(1)).await;
        assert_eq!(occurrences.next("a"), 1);
    }
}
