//! [`SqliteBus`]: the [`Bus`] in the database file.
//!
//! - Durable channels are rows of `messages`: an agent inbox is one queue, read by every
//!   consumer of that agent; `Broadcast`, `Head` and `CLevel` get one queue per subscribing
//!   group (a publication adds a row to each). A row is deleted when it is acknowledged.
//! - A subscription's reader (`reader`) claims rows for itself (holds them), hands them out,
//!   and keeps its holds fresh while they are handled. A delivery dropped without an
//!   acknowledgement can be taken by anyone of its group after [`HOLD`]; the rows of an ended
//!   subscription are free at once; those of a killed process lapse after [`HOLD`], or are
//!   taken back at once by a restarted consumer of the same name, or by a subscription that
//!   takes over its group.
//! - A publication to an inbox whose reader in this process has claimed everything there is
//!   handed to that reader directly (`handoff`): one transaction per message.
//! - Readers sleep until something is published: by this process (they are woken directly) or
//!   by another process that opened the same file (`watch`: the file's changes are watched,
//!   so an idle reader uses no CPU).
//! - Live channels (`WorkerLogs`, `Decisions`, `Events`) reach the subscribers of this process.

mod handoff;
mod reader;
mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use aito_core::{Bus, BusError, Channel, Deliveries, Delivery, Envelope, Subscription};
use async_trait::async_trait;
use rusqlite::params;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::db::Database;
use crate::queries as q;
use reader::Reader;

/// How long a delivery is held for its subscriber before another may take it over, unless
/// the subscriber keeps it fresh (it does, every third of this, while the delivery lives).
pub const HOLD: Duration = Duration::from_secs(30);

/// Deliveries a subscription has buffered ahead of its handler at most.
const BUFFER: usize = 128;

/// Envelopes of each group channel kept for groups that subscribe later, newest last.
const GROUP_BACKLOG: i64 = 1000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain collections: each operation leaves them consistent even under a panic elsewhere.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The queue a durable channel is read from, for `group`.
pub(crate) fn queue_of(channel: Channel, group: &str) -> String {
    match channel {
        Channel::Agent(_) => channel.name(),
        _ => format!("{}#{group}", channel.name()),
    }
}

/// The readers to wake when something is published, by channel.
#[derive(Default)]
pub(crate) struct Wakers {
    by_channel: Mutex<HashMap<Channel, Vec<Waker>>>,
}

/// A subscription's id and the notify that wakes its reader.
type Waker = (u64, Arc<Notify>);

impl Wakers {
    fn register(&self, id: u64, channels: &[Channel], notify: &Arc<Notify>) {
        let mut map = lock(&self.by_channel);
        for channel in channels {
            map.entry(*channel)
                .or_default()
                .push((id, Arc::clone(notify)));
        }
    }

    fn unregister(&self, id: u64) {
        let mut map = lock(&self.by_channel);
        map.values_mut()
            .for_each(|list| list.retain(|(owner, _)| *owner != id));
        map.retain(|_, list| !list.is_empty());
    }

    pub(crate) fn wake(&self, channel: Channel) {
        if let Some(list) = lock(&self.by_channel).get(&channel) {
            list.iter().for_each(|(_, notify)| notify.notify_one());
        }
    }

    pub(crate) fn wake_all(&self) {
        lock(&self.by_channel)
            .values()
            .flatten()
            .for_each(|(_, notify)| notify.notify_one());
    }
}

/// What one subscription holds, shared by its reader, its deliveries and its guard.
pub(crate) struct Holder {
    /// This subscription, in the `holder` column of the rows it holds.
    pub(crate) token: String,
    /// The same, for rows whose delivery was dropped unacknowledged.
    pub(crate) dropped: String,
    /// The consumer name.
    pub(crate) consumer: String,
    /// Whether it takes over, as it starts, the rows other subscriptions of its group hold
    /// ([`aito_core::Subscription::take_over`]), not only its own consumer's.
    pub(crate) take_over: bool,
    /// Set when the subscription ends: it claims nothing more.
    pub(crate) closed: AtomicBool,
    /// Deliveries handed out and neither acknowledged nor dropped.
    pub(crate) outstanding: AtomicUsize,
    /// Wakes the reader.
    pub(crate) notify: Arc<Notify>,
    /// Tells the reader it holds something again (a publication was handed to it), so that it
    /// keeps the holds fresh.
    pub(crate) rearm: Notify,
    /// Set while the reader keeps holds fresh (its renewal is due): a publication handed to it
    /// meanwhile needs no `rearm`, so a stream of them wakes it once, not once a message.
    pub(crate) renewing: AtomicBool,
}

type LiveList = Vec<(u64, mpsc::Sender<Delivery>)>;

pub(crate) struct Inner {
    pub(crate) db: Database,
    pub(crate) wakers: Wakers,
    /// This process's readers of each inbox, for publications handed over directly.
    pub(crate) locals: handoff::Locals,
    live: Mutex<HashMap<Channel, LiveList>>,
    instance: String,
    next_subscriber: AtomicU64,
    watching: OnceLock<CancellationToken>,
    /// The size cap of one envelope as JSON.
    pub(crate) max_envelope_bytes: AtomicUsize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(watch) = self.watching.get() {
            watch.cancel();
        }
    }
}

/// The [`Bus`] in a [`Database`]. Cheap to clone; clones share the bus.
///
/// Other processes that open the same file (the operator's `aito send`) publish into the same
/// queues; a running subscriber notices within milliseconds.
#[derive(Clone)]
pub struct SqliteBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBus")
            .field("db", &self.inner.db)
            .finish_non_exhaustive()
    }
}

impl SqliteBus {
    /// The bus in `db`.
    pub fn new(db: Database) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        Self {
            inner: Arc::new(Inner {
                db,
                wakers: Wakers::default(),
                locals: handoff::Locals::default(),
                live: Mutex::new(HashMap::new()),
                instance: format!("p{}-{nanos:08x}", std::process::id()),
                next_subscriber: AtomicU64::new(0),
                watching: OnceLock::new(),
                max_envelope_bytes: AtomicUsize::new(aito_core::envelope::MAX_ENVELOPE_BYTES),
            }),
        }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// Sets the size cap of one envelope as JSON (default
    /// [`MAX_ENVELOPE_BYTES`](aito_core::envelope::MAX_ENVELOPE_BYTES), 256 KiB), for this bus
    /// and its clones: a larger envelope is refused on publish and dead-lettered when read.
    pub fn set_max_envelope_bytes(&self, bytes: usize) {
        self.inner
            .max_envelope_bytes
            .store(bytes, Ordering::Relaxed);
    }

    /// The size cap of one envelope as JSON.
    pub fn max_envelope_bytes(&self) -> usize {
        self.inner.max_envelope_bytes.load(Ordering::Relaxed)
    }

    /// Messages on durable channels not yet acknowledged, of every queue.
    pub async fn pending(&self) -> Result<usize, crate::Error> {
        self.inner
            .db
            .read(|conn| {
                let count: i64 = conn
                    .prepare_cached(q::PENDING)?
                    .query_row([], |row| row.get(0))?;
                Ok(usize::try_from(count).unwrap_or(0))
            })
            .await
    }

    fn publish_live(&self, channel: Channel, envelope: Envelope) {
        let mut live = lock(&self.inner.live);
        let Some(subscribers) = live.get_mut(&channel) else {
            return;
        };
        let envelope = Arc::new(envelope);
        subscribers.retain(|(_, sender)| {
            match sender.try_send(Delivery::live(Arc::clone(&envelope), channel)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::debug!(%channel, "a live subscriber is behind; an envelope was skipped");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    fn ensure_watching(&self) {
        self.inner.watching.get_or_init(|| {
            let cancel = CancellationToken::new();
            watch::spawn(Arc::downgrade(&self.inner), cancel.clone());
            cancel
        });
    }
}

impl Inner {
    /// Queues the deletion of an acknowledged row (committed with the next transaction).
    pub(crate) fn acknowledge(&self, seq: i64) {
        self.db.acknowledge(seq);
    }
}

/// Ends a subscription when its [`Deliveries`] is dropped: stops the reader and frees at once
/// what it held and did not acknowledge.
struct Guard {
    inner: Arc<Inner>,
    holder: Arc<Holder>,
    id: u64,
    channels: Vec<Channel>,
    cancel: CancellationToken,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.holder.closed.store(true, Ordering::SeqCst);
        self.cancel.cancel();
        self.inner.wakers.unregister(self.id);
        self.inner.locals.unregister(self.id);
        {
            let mut live = lock(&self.inner.live);
            live.values_mut()
                .for_each(|list| list.retain(|(owner, _)| *owner != self.id));
        }
        let (token, dropped) = (self.holder.token.clone(), self.holder.dropped.clone());
        let inner = Arc::clone(&self.inner);
        let channels = std::mem::take(&mut self.channels);
        self.inner.db.submit(move |conn| {
            let freed = conn
                .prepare_cached(q::RELEASE)?
                .execute(params![token, dropped])?;
            if freed > 0 {
                // Readers woken now claim in a later transaction, after this one commits.
                channels
                    .iter()
                    .for_each(|channel| inner.wakers.wake(*channel));
            }
            Ok(())
        });
    }
}

#[async_trait]
impl Bus for SqliteBus {
    async fn publish(&self, channel: Channel, envelope: Envelope) -> Result<(), BusError> {
        let limit = self.max_envelope_bytes();
        if !channel.is_durable() {
            if envelope.json_len_within(limit).is_none() {
                return Err(BusError::TooLarge {
                    bytes: limit.saturating_add(1),
                    limit,
                });
            }
            self.publish_live(channel, envelope);
            return Ok(());
        }
        let text = envelope.to_json();
        if text.len() > limit {
            return Err(BusError::TooLarge {
                bytes: text.len(),
                limit,
            });
        }
        let envelope = Arc::new(envelope);
        let now = self.inner.db.now_ms();
        let until = now.saturating_add(crate::store::millis(HOLD));
        let name = channel.name();
        let inner = Arc::clone(&self.inner);
        let (_, handed) = self
            .inner
            .db
            .write_one_then(
                move |conn| {
                    if !matches!(channel, Channel::Agent(_)) {
                        conn.prepare_cached(q::PUBLISH_GROUP)?
                            .execute(params![name, text, now])?;
                        conn.prepare_cached(q::BACKLOG_PUSH)?
                            .execute(params![name, text, now])?;
                        conn.prepare_cached(q::BACKLOG_TRIM)?
                            .execute(params![name, GROUP_BACKLOG])?;
                        return Ok((None, false));
                    }
                    let Some(handoff) = inner.locals.choose(&name) else {
                        conn.prepare_cached(q::PUBLISH_INBOX)?
                            .execute(params![name, text, now])?;
                        return Ok((None, false));
                    };
                    let holder = &handoff.local.holder;
                    let seq: i64 = conn.prepare_cached(q::PUBLISH_HELD)?.query_row(
                        params![name, text, now, holder.token, holder.consumer, until],
                        |row| row.get(0),
                    )?;
                    Ok((Some((handoff, seq, inner)), true))
                },
                move |(handoff, _)| {
                    if let Some((handoff, seq, inner)) = handoff.take() {
                        handoff.deliver(&inner, seq, envelope, channel);
                    }
                },
            )
            .await?;
        if !handed {
            self.inner.wakers.wake(channel);
        }
        Ok(())
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<Deliveries, BusError> {
        let mut channels = subscription.channels.clone();
        channels.sort();
        channels.dedup();
        let durable: Vec<Channel> = channels
            .iter()
            .copied()
            .filter(Channel::is_durable)
            .collect();
        let groups: Vec<(String, String)> = durable
            .iter()
            .filter(|channel| !matches!(channel, Channel::Agent(_)))
            .map(|channel| (channel.name(), subscription.group.clone()))
            .collect();
        if !groups.is_empty() {
            self.inner
                .db
                .write(move |conn| {
                    for (channel, group) in &groups {
                        // A new group starts with what the channel kept, not from now.
                        if conn
                            .prepare_cached(q::GROUP_JOIN)?
                            .execute(params![channel, group])?
                            == 1
                        {
                            conn.prepare_cached(q::BACKLOG_REPLAY)?
                                .execute(params![channel, group])?;
                        }
                    }
                    Ok(())
                })
                .await?;
        }
        let id = self.inner.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let token = format!("{}/{id}", self.inner.instance);
        let holder = Arc::new(Holder {
            dropped: format!("{token}~"),
            token,
            consumer: subscription.consumer.clone(),
            take_over: subscription.take_over,
            closed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            notify: Arc::new(Notify::new()),
            rearm: Notify::new(),
            renewing: AtomicBool::new(false),
        });
        let (sender, receiver) = mpsc::channel(BUFFER);
        {
            let mut live = lock(&self.inner.live);
            for channel in channels.iter().filter(|channel| !channel.is_durable()) {
                live.entry(*channel).or_default().push((id, sender.clone()));
            }
        }
        let cancel = CancellationToken::new();
        if !durable.is_empty() {
            self.inner.wakers.register(id, &durable, &holder.notify);
            self.ensure_watching();
            let queues: Vec<String> = durable
                .iter()
                .map(|channel| queue_of(*channel, &subscription.group))
                .collect();
            let locals = durable
                .iter()
                .zip(&queues)
                .map(|(channel, queue)| {
                    matches!(channel, Channel::Agent(_)).then(|| {
                        let local = Arc::new(handoff::Local {
                            id,
                            holder: Arc::clone(&holder),
                            sender: sender.clone(),
                            caught_up: AtomicBool::new(false),
                        });
                        self.inner.locals.register(queue, Arc::clone(&local));
                        local
                    })
                })
                .collect();
            let reader = Reader {
                inner: Arc::clone(&self.inner),
                holder: Arc::clone(&holder),
                queues,
                locals,
                group: subscription.group.clone(),
                sender,
                cancel: cancel.clone(),
            };
            tokio::spawn(reader.run());
        }
        tracing::debug!(group = %subscription.group, consumer = %subscription.consumer, channels = ?channels, "subscribed");
        let guard = Guard {
            inner: Arc::clone(&self.inner),
            holder,
            id,
            channels: durable,
            cancel,
        };
        Ok(Deliveries::bounded(receiver, Some(Box::new(guard))))
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner
            .db
            .read(|conn| {
                conn.query_row("SELECT 1", [], |_| Ok(()))?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}
