//! [`Watcher`]: one blocking `XREAD` per bus over every stream its subscriptions read, on a
//! single server. It reads no consumer group: it only rings the [`Bell`] of each subscription
//! reading a stream when new entries arrive there (whoever wrote them: a publish, an ingested
//! `PUBLISH`, a plain `XADD` from an outside tool), and the subscription's reader then takes
//! them with a non-blocking `XREADGROUP` on the bus's shared connection.
//!
//! So a process holds one connection for all its subscriptions' waiting instead of one per
//! stream per subscription: Redis keeps buffers per connection, which would otherwise be most of
//! an idle agent's memory there. A Redis Cluster refuses one `XREAD` over keys of several slots,
//! so on a cluster every reader keeps its own blocking read (see [`reader`](super::reader)).
//!
//! When the set of watched streams changes, the blocked `XREAD` is ended at once with
//! `CLIENT UNBLOCK`; where that command is not allowed, the new stream is watched from the next
//! read, at most `block` later. After a lost connection every bell rings once: entries may
//! have come while nobody watched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use redis::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::connection::{Backoff, Connection, Connector};
use crate::error::Error;

/// Entries read per stream per wake-up: only the last id matters, the rest is read once more
/// by the consumer groups.
const WATCH_COUNT: usize = 100;

/// What is known of one watched stream.
struct Watched {
    /// The id of the newest entry the watcher has seen (`0-0` for none).
    cursor: String,
    /// The bells of the subscriptions reading it.
    bells: Vec<Weak<Notify>>,
}

#[derive(Default)]
struct State {
    streams: HashMap<String, Watched>,
    /// The server's id of the watching connection while it is connected, for `CLIENT UNBLOCK`.
    client_id: Option<i64>,
    /// Whether the watching task runs.
    running: bool,
}

struct Inner {
    connector: Connector,
    manager: Connection,
    state: Mutex<State>,
    /// Rung when the set of streams changed while the task was idle (nothing to watch).
    changed: Notify,
    cancel: CancellationToken,
}

/// The streams watcher of one bus. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Watcher {
    inner: Arc<Inner>,
}

/// A subscription's bell for one stream: rung when the stream has new entries. Dropping it
/// stops the watching of that stream for this subscription.
pub(crate) struct Bell {
    notify: Arc<Notify>,
    key: String,
    watcher: Weak<Inner>,
}

impl Bell {
    /// Waits until the bell rings (or has rung since the last wait).
    pub(crate) async fn rung(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        let Some(inner) = self.watcher.upgrade() else {
            return;
        };
        let mut state = lock(&inner.state);
        if let Some(watched) = state.streams.get_mut(&self.key) {
            watched.bells.retain(|bell| {
                bell.strong_count() > 0 && !std::ptr::eq(bell.as_ptr(), &*self.notify)
            });
            if watched.bells.is_empty() {
                state.streams.remove(&self.key);
            }
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every change is a single insert or remove: the map stays consistent after a panic.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watcher {
    pub(crate) fn new(
        connector: Connector,
        manager: Connection,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                connector,
                manager,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                cancel,
            }),
        }
    }

    /// Starts watching `key` for a subscription. Entries already in the stream do not ring the
    /// bell: the reader reads them itself right after this returns.
    pub(crate) async fn watch(&self, key: &str) -> Result<Bell, Error> {
        let cursor = newest_id(&mut self.inner.manager.clone(), key).await?;
        let notify = Arc::new(Notify::new());
        let (start, unblock) = {
            let mut state = lock(&self.inner.state);
            let fresh = !state.streams.contains_key(key);
            let watched = state.streams.entry(key.to_owned()).or_insert(Watched {
                cursor,
                bells: Vec::new(),
            });
            watched.bells.push(Arc::downgrade(&notify));
            let start = !state.running;
            state.running = true;
            (start, if fresh { state.client_id } else { None })
        };
        if start {
            tokio::spawn(Arc::clone(&self.inner).run());
        }
        self.inner.changed.notify_one();
        if let Some(id) = unblock {
            // The blocked read does not include the new stream yet: end it now.
            let result: Result<Value, redis::RedisError> = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query_async(&mut self.inner.manager.clone())
                .await;
            if let Err(err) = result {
                tracing::debug!(error = %err, "CLIENT UNBLOCK refused; the new stream is watched from the next read");
            }
        }
        Ok(Bell {
            notify,
            key: key.to_owned(),
            watcher: Arc::downgrade(&self.inner),
        })
    }
}

/// The id of the newest entry of stream `key`, `0-0` when it has none.
async fn newest_id(connection: &mut Connection, key: &str) -> Result<String, Error> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(connection)
        .await?;
    let entries = super::reader::entries_of(&reply)
        .ok_or_else(|| Error::reply("XREVRANGE", "stream entries", &reply))?;
    Ok(entries
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id))
}

impl Inner {
    /// Watches until the bus is dropped.
    async fn run(self: Arc<Self>) {
        let mut backoff = Backoff::new(self.connector.config());
        let mut connection: Option<Connection> = None;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let Some(current) = connection.as_mut() else {
                match self.connect().await {
                    Ok(fresh) => {
                        connection = Some(fresh);
                        backoff.reset();
                        // Entries may have come while nobody watched.
                        self.ring_all();
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "connecting the stream watcher failed; retrying");
                        tokio::select! {
                            () = self.cancel.cancelled() => return,
                            () = tokio::time::sleep(backoff.next_delay()) => {}
                        }
                    }
                }
                continue;
            };
            let watched: Vec<(String, String)> = lock(&self.state)
                .streams
                .iter()
                .map(|(key, watched)| (key.clone(), watched.cursor.clone()))
                .collect();
            if watched.is_empty() {
                tokio::select! {
                    () = self.cancel.cancelled() => return,
                    () = self.changed.notified() => {}
                }
                continue;
            }
            let block_ms = u64::try_from(self.connector.config().block.as_millis())
                .unwrap_or(1000)
                .max(1);
            let mut read = redis::cmd("XREAD");
            read.arg("COUNT")
                .arg(WATCH_COUNT)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS");
            for (key, _) in &watched {
                read.arg(key);
            }
            for (_, cursor) in &watched {
                read.arg(cursor);
            }
            let reply: Result<Value, redis::RedisError> = tokio::select! {
                () = self.cancel.cancelled() => return,
                reply = read.query_async(current) => reply,
            };
            match reply {
                Ok(value) => self.ring_new(&value),
                Err(err) => {
                    tracing::warn!(error = %err, "the stream watcher lost its connection; reconnecting");
                    lock(&self.state).client_id = None;
                    connection = None;
                    tokio::select! {
                        () = self.cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    async fn connect(&self) -> Result<Connection, Error> {
        let mut connection = self
            .connector
            .dedicated(self.connector.config().block)
            .await?;
        let id: Result<i64, redis::RedisError> = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut connection)
            .await;
        lock(&self.state).client_id = id.ok();
        Ok(connection)
    }

    /// Moves the cursors past what `reply` holds and rings the bells of those streams.
    fn ring_new(&self, reply: &Value) {
        let streams = super::reader::streams_of(reply);
        let mut state = lock(&self.state);
        for (key, last) in streams {
            if let Some(watched) = state.streams.get_mut(&key) {
                watched.cursor = last;
                for bell in watched.bells.iter().filter_map(Weak::upgrade) {
                    bell.notify_one();
                }
            }
        }
    }

    fn ring_all(&self) {
        let state = lock(&self.state);
        for watched in state.streams.values() {
            for bell in watched.bells.iter().filter_map(Weak::upgrade) {
                bell.notify_one();
            }
        }
    }
}
