//! The reader of one stream for one subscription: its own pending entries first (a previous
//! incarnation of the same consumer died holding them), then, for a subscription that takes
//! over, every entry the group's other consumers hold, then entries left idle too long (by
//! other consumers, or dropped by its own subscriber), then new entries: with a shared wait
//! ([`RedisConfig::shared_wait`](crate::RedisConfig::shared_wait), single server) by a
//! non-blocking `XREADGROUP` on the bus's shared connection whenever the bus's
//! [`Watcher`](super::watch::Watcher) rings (and at every look for stale entries); otherwise,
//! and on a cluster, by a blocking `XREADGROUP` on a connection of its own.
//! It reconnects by itself and never panics.

use std::sync::Arc;
use std::time::Duration;

use crate::connection::Connection;
use aito_core::envelope::preview;
use aito_core::{Delivery, Envelope};
use redis::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bus::refuse::{agent_of, refuse};
use crate::bus::tracker::{Held, RedisAck, Shared, StreamSpec};
use crate::bus::watch::Bell;
use crate::connection::{Backoff, Connector};
use crate::error::{Error, is_transient};
use crate::keys::Keys;

/// One entry read from a stream.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: String,
    /// The envelope text; `None` when the entry was deleted (trimmed) while pending.
    pub(crate) text: Option<String>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => Some(text.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// Parses `[id, [field, value, ...] | nil]`.
fn entry(value: &Value) -> Option<Entry> {
    let pair = items(value)?;
    let id = text(pair.first()?)?;
    let fields: Vec<(Option<String>, Option<String>)> = match pair.get(1) {
        Some(Value::Array(flat)) => flat
            .chunks(2)
            .map(|kv| (kv.first().and_then(text), kv.get(1).and_then(text)))
            .collect(),
        Some(Value::Map(map)) => map.iter().map(|(k, v)| (text(k), text(v))).collect(),
        _ => Vec::new(),
    };
    let text = fields
        .into_iter()
        .find(|(field, _)| field.as_deref() == Some("e"))
        .and_then(|(_, value)| value);
    Some(Entry { id, text })
}

/// Parses an `XREADGROUP` reply for one stream: nil, `[[key, [entry...]]]` or a RESP3 map.
pub(crate) fn read_reply(value: &Value) -> Result<Vec<Entry>, Error> {
    let entries = match value {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .first()
            .and_then(items)
            .and_then(|pair| pair.get(1))
            .and_then(items),
        Value::Map(streams) => streams.first().and_then(|(_, entries)| items(entries)),
        _ => None,
    };
    match entries {
        Some(entries) => entries
            .iter()
            .map(|value| {
                entry(value).ok_or_else(|| Error::reply("XREADGROUP", "stream entries", value))
            })
            .collect(),
        None if matches!(value, Value::Array(streams) if streams.is_empty()) => Ok(Vec::new()),
        None => Err(Error::reply("XREADGROUP", "stream entries", value)),
    }
}

/// The entries of an `XRANGE`/`XREVRANGE` reply; `None` when it is not an array.
pub(crate) fn entries_of(value: &Value) -> Option<Vec<Entry>> {
    items(value).map(|entries| entries.iter().filter_map(entry).collect())
}

/// For each stream of an `XREAD` reply (nil, `[[key, [entry...]]...]` or a RESP3 map), its key
/// and the id of the last entry read.
pub(crate) fn streams_of(value: &Value) -> Vec<(String, String)> {
    let pairs: Vec<(Option<String>, Option<&[Value]>)> = match value {
        Value::Array(streams) => streams
            .iter()
            .filter_map(items)
            .map(|pair| (pair.first().and_then(text), pair.get(1).and_then(items)))
            .collect(),
        Value::Map(streams) => streams
            .iter()
            .map(|(key, entries)| (text(key), items(entries)))
            .collect(),
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(key, entries)| {
            let last = entries?.last().and_then(entry)?;
            Some((key?, last.id))
        })
        .collect()
}

/// Parses an `XAUTOCLAIM` reply: `[next, [entry...], [deleted id...]]`.
pub(crate) fn autoclaim_reply(value: &Value) -> Result<(String, Vec<Entry>, Vec<String>), Error> {
    let parts = items(value).ok_or_else(|| Error::reply("XAUTOCLAIM", "an array", value))?;
    let next = parts
        .first()
        .and_then(text)
        .ok_or_else(|| Error::reply("XAUTOCLAIM", "a cursor", value))?;
    let entries = match parts.get(1).and_then(items) {
        Some(entries) => entries
            .iter()
            .filter(|value| !matches!(value, Value::Nil))
            .map(|value| {
                entry(value).ok_or_else(|| Error::reply("XAUTOCLAIM", "stream entries", value))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let deleted = parts
        .get(2)
        .and_then(items)
        .map(|ids| ids.iter().filter_map(text).collect())
        .unwrap_or_default();
    Ok((next, entries, deleted))
}

/// The envelope texts of every entry of stream `key`, oldest first (for export).
pub(crate) async fn read_entries<C: redis::aio::ConnectionLike + Send>(
    connection: &mut C,
    key: &str,
) -> Result<Vec<String>, Error> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(connection)
        .await?;
    let entries = items(&reply).ok_or_else(|| Error::reply("XRANGE", "stream entries", &reply))?;
    Ok(entries
        .iter()
        .filter_map(entry)
        .filter_map(|entry| entry.text)
        .collect())
}

/// Creates the group of `spec` if it does not exist (creating the stream too).
pub(crate) async fn ensure_group<C: redis::aio::ConnectionLike + Send>(
    connection: &mut C,
    spec: &StreamSpec,
) -> Result<(), Error> {
    let result: Result<Value, redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&spec.key)
        .arg(&spec.group)
        .arg(spec.start)
        .arg("MKSTREAM")
        .query_async(connection)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Why a reader stopped reading for now.
enum Stop {
    /// The subscription ended.
    Cancelled,
    /// The subscriber is gone.
    Closed,
    /// The connection failed: reconnect and carry on.
    Failed(Error),
}

/// One stream of one subscription.
pub(crate) struct Reader {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stream: usize,
    pub(crate) connector: Connector,
    pub(crate) keys: Keys,
    pub(crate) sender: mpsc::Sender<Delivery>,
    pub(crate) cancel: CancellationToken,
    /// With a shared wait: the bell of the bus's [`Watcher`](super::watch::Watcher), and the
    /// reader's connection is the bus's shared one (it reads without blocking and waits for
    /// the bell). `None` otherwise and on a cluster: the reader blocks on a connection of its
    /// own.
    pub(crate) bell: Option<Bell>,
}

impl Reader {
    fn spec(&self) -> &StreamSpec {
        &self.shared.streams[self.stream]
    }

    /// Runs until the subscription ends. `connection` is the first connection, already open.
    pub(crate) async fn run(self, mut connection: Connection) {
        let mut backoff = Backoff::new(self.connector.config());
        loop {
            match self.read_loop(&mut connection).await {
                Stop::Cancelled | Stop::Closed => return,
                Stop::Failed(err) => {
                    tracing::warn!(stream = %self.spec().key, error = %err, "stream reader lost its connection; reconnecting");
                }
            }
            if self.bell.is_some() {
                // The shared connection reconnects by itself: wait, then read again.
                tokio::select! {
                    () = self.cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                }
                continue;
            }
            // Reconnect, patiently, until the server is back or the subscription ends.
            loop {
                tokio::select! {
                    () = self.cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                }
                let block = self.connector.config().block;
                match self.connector.dedicated(block).await {
                    Ok(fresh) => {
                        connection = fresh;
                        tracing::info!(stream = %self.spec().key, "stream reader reconnected");
                        backoff.reset();
                        break;
                    }
                    Err(err) => {
                        tracing::debug!(stream = %self.spec().key, error = %err, "reconnecting the stream reader failed");
                    }
                }
            }
        }
    }

    async fn read_loop(&self, connection: &mut Connection) -> Stop {
        let config = self.connector.config();
        // Often enough to pick up entries handed over by an ended subscription promptly.
        let reclaim_every = (config.reclaim_idle / 2)
            .min(config.block)
            .max(Duration::from_millis(10));
        let block = config.block.min(reclaim_every);
        let block_ms = u64::try_from(block.as_millis()).unwrap_or(1000).max(1);
        // After a (re)connection: first what this consumer already had, then what others left.
        if let Err(stop) = self.pending_of_mine(connection).await {
            return stop;
        }
        // A subscription that takes over (a daemon that took its agent's lease) claims what the
        // other consumers of its group left pending at once, however fresh.
        if self.shared.take_over {
            if let Err(stop) = self.reclaim(connection, 0).await {
                return stop;
            }
            self.prune_consumers(connection).await;
        }
        let mut last_reclaim: Option<Instant> = None;
        loop {
            if self.cancel.is_cancelled() {
                return Stop::Cancelled;
            }
            if last_reclaim.is_none_or(|at| at.elapsed() >= reclaim_every) {
                let idle_ms =
                    u64::try_from(config.reclaim_idle.as_millis()).unwrap_or(u64::MAX / 2);
                if let Err(stop) = self.reclaim(connection, idle_ms).await {
                    return stop;
                }
                last_reclaim = Some(Instant::now());
            }
            let spec = self.spec();
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP")
                .arg(&spec.group)
                .arg(&self.shared.consumer)
                .arg("COUNT")
                .arg(config.read_batch.max(1));
            if self.bell.is_none() {
                read.arg("BLOCK").arg(block_ms);
            }
            let reply: Result<Value, redis::RedisError> = read
                .arg("STREAMS")
                .arg(&spec.key)
                .arg(">")
                .query_async(connection)
                .await;
            let entries = match reply {
                Ok(value) => match read_reply(&value) {
                    Ok(entries) => entries,
                    Err(err) => return Stop::Failed(err),
                },
                Err(err) => match self.recover(connection, err).await {
                    Ok(()) => continue,
                    Err(stop) => return stop,
                },
            };
            if let Some(bell) = &self.bell
                && entries.is_empty()
            {
                // Nothing new: wait for the watcher, or for the next look at stale entries.
                let due = last_reclaim.map_or(Duration::ZERO, |at| {
                    reclaim_every.saturating_sub(at.elapsed())
                });
                tokio::select! {
                    () = self.cancel.cancelled() => return Stop::Cancelled,
                    () = bell.rung() => {}
                    () = tokio::time::sleep(due) => {}
                }
                continue;
            }
            if let Err(stop) = self.deliver(entries, false).await {
                return stop;
            }
        }
    }

    /// After a failed read: recreates a vanished group (the server lost its data), or gives
    /// up on the connection.
    async fn recover(
        &self,
        connection: &mut Connection,
        err: redis::RedisError,
    ) -> Result<(), Stop> {
        if err.code() == Some("NOGROUP") {
            tracing::warn!(stream = %self.spec().key, group = %self.spec().group, "consumer group is gone (server data lost?); recreating it");
            return ensure_group(connection, self.spec())
                .await
                .map_err(Stop::Failed);
        }
        if is_transient(&err) {
            return Err(Stop::Failed(err.into()));
        }
        // Anything else (a script or permission error): keep trying, slowly, and say so.
        tracing::error!(stream = %self.spec().key, error = %err, "stream read failed");
        tokio::select! {
            () = self.cancel.cancelled() => Err(Stop::Cancelled),
            () = tokio::time::sleep(self.connector.config().reconnect_max) => Ok(()),
        }
    }

    /// Entries this consumer took earlier and never acknowledged (not counting those this
    /// subscription is handling).
    async fn pending_of_mine(&self, connection: &mut Connection) -> Result<(), Stop> {
        let spec = self.spec();
        let mut after = "0".to_owned();
        loop {
            let reply: Result<Value, redis::RedisError> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&spec.group)
                .arg(&self.shared.consumer)
                .arg("COUNT")
                .arg(self.connector.config().read_batch.max(1))
                .arg("STREAMS")
                .arg(&spec.key)
                .arg(&after)
                .query_async(connection)
                .await;
            let entries = match reply {
                Ok(value) => read_reply(&value).map_err(Stop::Failed)?,
                Err(err) => {
                    self.recover(connection, err).await?;
                    continue;
                }
            };
            let Some(last) = entries.last() else {
                return Ok(());
            };
            after = last.id.clone();
            let fresh: Vec<Entry> = entries
                .into_iter()
                .filter(|entry| self.shared.state(self.stream, &entry.id).is_none())
                .collect();
            self.deliver(fresh, true).await?;
        }
    }

    /// Removes the group's consumers that hold nothing, the consumers of earlier instances
    /// among them (`lua/prune_consumers.lua`). A failure is logged: the group only keeps a few
    /// more names until the next take-over.
    async fn prune_consumers(&self, connection: &mut Connection) {
        let spec = self.spec();
        let mut call = self.shared.scripts.prune_consumers.key(&spec.key);
        call.arg(&spec.group).arg(&self.shared.consumer);
        match call.invoke_async::<u64, _>(connection).await {
            Ok(0) => {}
            Ok(removed) => {
                tracing::debug!(stream = %spec.key, group = %spec.group, removed, "removed consumers that held nothing");
            }
            Err(err) => {
                tracing::warn!(stream = %spec.key, group = %spec.group, error = %err, "could not remove the group's idle consumers");
            }
        }
    }

    /// Takes over entries that stayed pending longer than `idle_ms` (the reclaim threshold, or
    /// 0 when taking over from the group's other consumers).
    async fn reclaim(&self, connection: &mut Connection, idle_ms: u64) -> Result<(), Stop> {
        let spec = self.spec();
        let config = self.connector.config();
        let mut cursor = "0-0".to_owned();
        // Bounded, so that new entries are not starved by a huge backlog of stale ones.
        for _ in 0..16 {
            let reply: Result<Value, redis::RedisError> = redis::cmd("XAUTOCLAIM")
                .arg(&spec.key)
                .arg(&spec.group)
                .arg(&self.shared.consumer)
                .arg(idle_ms)
                .arg(&cursor)
                .arg("COUNT")
                .arg(config.read_batch.max(1))
                .query_async(connection)
                .await;
            let (next, entries, deleted) = match reply {
                Ok(value) => autoclaim_reply(&value).map_err(Stop::Failed)?,
                Err(err) => {
                    self.recover(connection, err).await?;
                    return Ok(());
                }
            };
            if !deleted.is_empty() {
                tracing::warn!(stream = %spec.key, entries = deleted.len(), "pending entries were trimmed from the stream before being acknowledged");
            }
            // Entries this subscription is handling right now stay with it.
            let stale: Vec<Entry> = entries
                .into_iter()
                .filter(|entry| self.shared.state(self.stream, &entry.id) != Some(Held::Live))
                .collect();
            if !stale.is_empty() {
                tracing::info!(stream = %spec.key, consumer = %self.shared.consumer, entries = stale.len(), "reclaimed pending entries");
            }
            self.deliver(stale, true).await?;
            if next == "0-0" {
                break;
            }
            cursor = next;
        }
        Ok(())
    }

    /// Hands entries to the subscriber, in order. Unreadable ones are logged and acknowledged
    /// so they do not come back forever.
    async fn deliver(&self, entries: Vec<Entry>, redelivered: bool) -> Result<(), Stop> {
        let spec = self.spec();
        let mut skip = Vec::new();
        // Every entry is held before the first is sent: if the subscription ends midway, the
        // unsent deliveries are dropped, which marks their entries for hand-over.
        let mut ready = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(text) = entry.text else {
                skip.push(entry.id);
                continue;
            };
            let limit = self.connector.config().max_envelope_bytes;
            let envelope = match Envelope::from_json_capped(&text, limit) {
                Ok(envelope) => envelope,
                Err(err) if err.oversize.is_some() => {
                    let agent = agent_of(spec.channel, Some(&spec.group));
                    refuse(
                        &self.shared.manager,
                        &self.shared.scripts,
                        &self.keys,
                        agent,
                        spec.channel,
                        &text,
                        &err.reason,
                    )
                    .await;
                    skip.push(entry.id);
                    continue;
                }
                Err(err) => {
                    tracing::warn!(stream = %spec.key, entry = %entry.id, reason = %err.reason, preview = %preview(&text, 200), "skipping a malformed envelope");
                    skip.push(entry.id);
                    continue;
                }
            };
            self.shared.hold(self.stream, &entry.id);
            ready.push(Delivery::new(
                Arc::new(envelope),
                spec.channel,
                redelivered,
                Box::new(RedisAck::new(
                    Arc::clone(&self.shared),
                    self.stream,
                    entry.id,
                )),
            ));
        }
        if !skip.is_empty()
            && let Err(err) = self.shared.ack(self.stream, &skip).await
        {
            tracing::warn!(stream = %spec.key, error = %err, "could not acknowledge skipped entries; they will be seen again");
        }
        if !ready.is_empty() {
            tracing::trace!(stream = %spec.key, entries = ready.len(), redelivered, "delivering");
        }
        for delivery in ready {
            tokio::select! {
                () = self.cancel.cancelled() => return Err(Stop::Cancelled),
                sent = self.sender.send(delivery) => {
                    if sent.is_err() {
                        return Err(Stop::Closed);
                    }
                }
            }
        }
        Ok(())
    }
}
