//! What one subscription has taken out of its streams and not yet acknowledged: the acker
//! handed out with each delivery, the heartbeat that keeps live deliveries from being
//! reclaimed, and the hand-over of the rest when the subscription ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::connection::Connection;
use aito_core::bus::Acknowledge;
use aito_core::{BusError, Channel};
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::scripts::Scripts;

/// How many ids one script call carries.
const CHUNK: usize = 256;

/// One stream a subscription reads.
#[derive(Clone, Debug)]
pub(crate) struct StreamSpec {
    /// The channel it carries.
    pub(crate) channel: Channel,
    /// The stream key.
    pub(crate) key: String,
    /// The consumer group.
    pub(crate) group: String,
    /// Where a new group starts: `0` (everything in the stream) or `$` (from now on).
    pub(crate) start: &'static str,
    /// Delete entries once acknowledged (agent inboxes: one group only).
    pub(crate) delete_on_ack: bool,
}

/// Where a taken entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// A delivery for it is alive (queued for or held by the subscriber): keep it fresh.
    Live,
    /// Its delivery was dropped without an acknowledgement: let it go stale, so it is
    /// reclaimed and delivered again.
    Dropped,
}

/// State shared by a subscription's readers, its heartbeat and its ackers.
pub(crate) struct Shared {
    pub(crate) manager: Connection,
    pub(crate) scripts: Arc<Scripts>,
    pub(crate) consumer: String,
    /// Whether the readers take over, as they start, every entry the group's other consumers
    /// left pending ([`aito_core::Subscription::take_over`]).
    pub(crate) take_over: bool,
    pub(crate) streams: Vec<StreamSpec>,
    taken: Mutex<HashMap<(usize, String), Held>>,
}

impl Shared {
    pub(crate) fn new(
        manager: Connection,
        scripts: Arc<Scripts>,
        consumer: String,
        take_over: bool,
        streams: Vec<StreamSpec>,
    ) -> Self {
        Self {
            manager,
            scripts,
            consumer,
            take_over,
            streams,
            taken: Mutex::new(HashMap::new()),
        }
    }

    fn taken(&self) -> MutexGuard<'_, HashMap<(usize, String), Held>> {
        // The map stays consistent under a panic elsewhere: each operation is one insert/remove.
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the subscription knows of an entry.
    pub(crate) fn state(&self, stream: usize, id: &str) -> Option<Held> {
        self.taken().get(&(stream, id.to_owned())).copied()
    }

    /// Records that a delivery for the entry is alive.
    pub(crate) fn hold(&self, stream: usize, id: &str) {
        self.taken().insert((stream, id.to_owned()), Held::Live);
    }

    /// Records that the entry's delivery was dropped unacknowledged.
    pub(crate) fn drop_entry(&self, stream: usize, id: &str) {
        if let Some(state) = self.taken().get_mut(&(stream, id.to_owned())) {
            *state = Held::Dropped;
        }
    }

    fn forget(&self, stream: usize, id: &str) {
        self.taken().remove(&(stream, id.to_owned()));
    }

    fn ids(&self, only_live: bool) -> Vec<(usize, Vec<String>)> {
        let mut by_stream: HashMap<usize, Vec<String>> = HashMap::new();
        for ((stream, id), state) in self.taken().iter() {
            if !only_live || *state == Held::Live {
                by_stream.entry(*stream).or_default().push(id.clone());
            }
        }
        let mut out: Vec<_> = by_stream.into_iter().collect();
        out.sort_by_key(|(stream, _)| *stream);
        // In stream order: a batch of the touch script names a range of the stream.
        for (_, ids) in &mut out {
            ids.sort_by_key(|id| stream_order(id));
        }
        out
    }

    /// Acknowledges entries of one stream.
    pub(crate) async fn ack(&self, stream: usize, ids: &[String]) -> Result<(), Error> {
        let Some(spec) = self.streams.get(stream) else {
            return Ok(());
        };
        let mut manager = self.manager.clone();
        let mut call = self.scripts.ack.key(&spec.key);
        call.arg(&spec.group)
            .arg(if spec.delete_on_ack { "1" } else { "0" });
        for id in ids {
            call.arg(id);
        }
        let _: i64 = call.invoke_async(&mut manager).await?;
        Ok(())
    }

    /// Sets the idle time of the entries still owned, [`CHUNK`] per script call (each two
    /// commands); forgets those acknowledged or taken over.
    async fn touch(&self, stream: usize, ids: &[String], idle: Duration) -> Result<(), Error> {
        let Some(spec) = self.streams.get(stream) else {
            return Ok(());
        };
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX / 2);
        for chunk in ids.chunks(CHUNK) {
            let mut manager = self.manager.clone();
            let mut call = self.scripts.touch.key(&spec.key);
            call.arg(&spec.group).arg(&self.consumer).arg(idle_ms);
            for id in chunk {
                call.arg(id);
            }
            let gone: Vec<String> = call.invoke_async(&mut manager).await?;
            for id in gone {
                self.forget(stream, &id);
            }
        }
        Ok(())
    }

    /// Keeps the live deliveries fresh until `cancel`.
    pub(crate) async fn heartbeat(self: Arc<Self>, every: Duration, cancel: CancellationToken) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            for (stream, ids) in self.ids(true) {
                if let Err(err) = self.touch(stream, &ids, Duration::ZERO).await {
                    tracing::debug!(error = %err, entries = ids.len(), "heartbeat of pending deliveries failed");
                }
            }
        }
    }

    /// Hands every entry still taken and unacknowledged over to the rest of its group at once.
    pub(crate) async fn release_all(&self) {
        // Far beyond any reclaim threshold.
        const STALE: Duration = Duration::from_secs(1_000_000);
        for (stream, ids) in self.ids(false) {
            if let Err(err) = self.touch(stream, &ids, STALE).await {
                tracing::debug!(error = %err, entries = ids.len(), "could not hand pending deliveries over; they are reclaimed when idle");
            }
        }
    }
}

/// The order of a stream entry id (`<ms>-<seq>`); an id that does not parse sorts first.
fn stream_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Acknowledges one delivery: `XACK` (and `XDEL` for an inbox).
pub(crate) struct RedisAck {
    shared: Arc<Shared>,
    stream: usize,
    id: String,
    settled: bool,
}

impl RedisAck {
    pub(crate) fn new(shared: Arc<Shared>, stream: usize, id: String) -> Self {
        Self {
            shared,
            stream,
            id,
            settled: false,
        }
    }
}

#[async_trait]
impl Acknowledge for RedisAck {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        self.settled = true;
        let ids = [self.id.clone()];
        match self.shared.ack(self.stream, &ids).await {
            Ok(()) => {
                self.shared.forget(self.stream, &self.id);
                Ok(())
            }
            Err(err) => {
                // Still pending in Redis: let it go stale so it is delivered again.
                self.shared.drop_entry(self.stream, &self.id);
                tracing::warn!(error = %err, entry = %self.id, "acknowledgement failed; the envelope will be delivered again");
                Err(err.into())
            }
        }
    }
}

impl Drop for RedisAck {
    fn drop(&mut self) {
        if !self.settled {
            self.shared.drop_entry(self.stream, &self.id);
        }
    }
}
