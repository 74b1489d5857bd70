//! [`MemoryBus`]: in-memory durable queues in front of one tokio channel per subscription.
//!
//! The hot path is kept free of cross-thread contention: a publisher appends to the
//! subscriber's channel under the queue's lock, and the subscriber tracks what it has been
//! handed and not yet acknowledged on its own side (a ring indexed by sequence number), so an
//! acknowledgement never touches a lock the publisher holds. When a subscription ends, its
//! unacknowledged and still-buffered envelopes go back to the front of their queues.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::bus::{Bus, BusError, Deliveries, Delivery, Subscription};
use crate::channel::Channel;
use crate::envelope::{Envelope, MAX_ENVELOPE_BYTES};
use crate::id::AgentId;

/// An in-process [`Bus`]: durable channels are queues that hold envelopes until acknowledged,
/// live channels fan out to current subscribers. Cheap to clone; clones share the bus.
///
/// Delivery semantics match the [`Bus`] contract exactly: an agent inbox keeps envelopes while
/// nobody listens; unacknowledged deliveries return to the front of their queue when the
/// subscription that received them is dropped.
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

struct Inner {
    topology: RwLock<Topology>,
    next_subscriber: AtomicU64,
    /// The size cap of one envelope as JSON.
    max_envelope_bytes: usize,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            topology: RwLock::default(),
            next_subscriber: AtomicU64::new(0),
            max_envelope_bytes: MAX_ENVELOPE_BYTES,
        }
    }
}

/// Hashes ids by their own bits: UUIDs are random already, so a keyed hash buys nothing on
/// the publish path.
#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

type IdMap<V> = HashMap<AgentId, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct Topology {
    /// One queue per agent inbox, shared by all consumers of that agent.
    inboxes: IdMap<Arc<Queue>>,
    /// Group channels (broadcast, head, clevel): one queue per subscribing group.
    groups: HashMap<(Channel, String), Arc<Queue>>,
    /// Live channels: current subscribers.
    live: HashMap<Channel, Vec<(u64, mpsc::UnboundedSender<Raw>)>>,
    /// The newest envelopes of each group channel, for groups that subscribe later.
    backlog: HashMap<Channel, Mutex<VecDeque<Arc<Envelope>>>>,
}

/// Envelopes of each group channel kept for groups that subscribe later, newest last.
const GROUP_BACKLOG: usize = 1000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain collections behind; keep using them.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An envelope as a queue holds it: moved by value on the common path (one publisher, one
/// inbox), so the shared handle is made, and later freed, on the receiving thread; shared when
/// fanned out to several groups or given back after a subscription ended.
// Moving the large variant by value is the point: it saves an allocation per message.
#[allow(clippy::large_enum_variant)]
enum Carried {
    Owned(Envelope),
    Shared(Arc<Envelope>),
}

impl Carried {
    fn into_arc(self) -> Arc<Envelope> {
        match self {
            Carried::Owned(envelope) => Arc::new(envelope),
            Carried::Shared(envelope) => envelope,
        }
    }
}

/// An envelope on its way to a subscription.
struct Raw {
    envelope: Carried,
    channel: Channel,
    /// Which of the subscription's queues it came from; `LIVE` for live channels.
    slot: u16,
    redelivered: bool,
}

const LIVE: u16 = u16::MAX;

/// Envelopes a receiver takes from its channel at once.
const BATCH: usize = 64;

struct Pending {
    envelope: Carried,
    redelivered: bool,
}

struct Attached {
    subscriber: u64,
    slot: u16,
    sender: mpsc::UnboundedSender<Raw>,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Pending>,
    subscribers: Vec<Attached>,
    round_robin: usize,
}

struct Queue {
    channel: Channel,
    state: Mutex<QueueState>,
}

impl Queue {
    fn new(channel: Channel) -> Arc<Self> {
        Arc::new(Self {
            channel,
            state: Mutex::new(QueueState::default()),
        })
    }

    fn push(&self, envelope: Carried) {
        let mut state = lock(&self.state);
        // The common case, one subscriber: straight into its channel, without the detour
        // through `Pending` (each move of an envelope is a copy of a few hundred bytes).
        if state.subscribers.len() == 1 {
            let attached = &state.subscribers[0];
            let raw = Raw {
                envelope,
                channel: self.channel,
                slot: attached.slot,
                redelivered: false,
            };
            match attached.sender.send(raw) {
                Ok(()) => return,
                Err(mpsc::error::SendError(raw)) => {
                    state.subscribers.clear();
                    state.pending.push_back(Pending {
                        envelope: raw.envelope,
                        redelivered: false,
                    });
                    return;
                }
            }
        }
        let item = Pending {
            envelope,
            redelivered: false,
        };
        if let Some(item) = self.deliver(&mut state, item) {
            state.pending.push_back(item);
        }
    }

    /// Hands `item` to a subscriber; gives it back when there is none.
    fn deliver(&self, state: &mut QueueState, item: Pending) -> Option<Pending> {
        let mut item = item;
        while !state.subscribers.is_empty() {
            let index = state.round_robin % state.subscribers.len();
            state.round_robin = state.round_robin.wrapping_add(1);
            let attached = &state.subscribers[index];
            let raw = Raw {
                envelope: item.envelope,
                channel: self.channel,
                slot: attached.slot,
                redelivered: item.redelivered,
            };
            match attached.sender.send(raw) {
                Ok(()) => return None,
                Err(mpsc::error::SendError(raw)) => {
                    // The subscription is going away; its receiver hands back what it held.
                    state.subscribers.remove(index);
                    item = Pending {
                        envelope: raw.envelope,
                        redelivered: raw.redelivered,
                    };
                }
            }
        }
        Some(item)
    }

    fn drain(&self, state: &mut QueueState) {
        while let Some(item) = state.pending.pop_front() {
            if let Some(item) = self.deliver(state, item) {
                state.pending.push_front(item);
                break;
            }
        }
    }

    fn attach(&self, subscriber: u64, slot: u16, sender: mpsc::UnboundedSender<Raw>) {
        let mut state = lock(&self.state);
        state.subscribers.push(Attached {
            subscriber,
            slot,
            sender,
        });
        self.drain(&mut state);
    }

    fn detach(&self, subscriber: u64) {
        lock(&self.state)
            .subscribers
            .retain(|attached| attached.subscriber != subscriber);
    }

    /// Puts `items` (oldest first) back at the front, flagged as redeliveries.
    fn give_back(&self, items: Vec<Arc<Envelope>>) {
        let mut state = lock(&self.state);
        for envelope in items.into_iter().rev() {
            state.pending.push_front(Pending {
                envelope: Carried::Shared(envelope),
                redelivered: true,
            });
        }
        self.drain(&mut state);
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        lock(&self.state).pending.len()
    }
}

/// What a subscription has handed out and not yet seen acknowledged, by sequence number.
#[derive(Default)]
struct Unacked {
    /// The subscription ended and gave everything back.
    closed: bool,
    /// Sequence number of `ring[0]`.
    base: u64,
    /// `None` once acknowledged; acknowledged entries are popped from the front.
    ring: VecDeque<Option<(u16, Arc<Envelope>)>>,
}

impl Unacked {
    fn insert(&mut self, slot: u16, envelope: Arc<Envelope>) -> u64 {
        self.ring.push_back(Some((slot, envelope)));
        self.base + self.ring.len() as u64 - 1
    }

    fn ack(&mut self, seq: u64) {
        let Some(offset) = seq.checked_sub(self.base) else {
            return;
        };
        if let Some(entry) = usize::try_from(offset)
            .ok()
            .and_then(|i| self.ring.get_mut(i))
        {
            *entry = None;
        }
        while matches!(self.ring.front(), Some(None)) {
            self.ring.pop_front();
            self.base += 1;
        }
    }
}

/// Acknowledges one delivery of the embedded bus.
pub(crate) struct Receipt {
    unacked: Arc<Mutex<Unacked>>,
    seq: u64,
}

impl Receipt {
    pub(crate) fn ack(self) -> Result<(), BusError> {
        let mut unacked = lock(&self.unacked);
        if unacked.closed {
            // The subscription ended first and gave the envelope back; it will come again.
            return Err(BusError::Closed);
        }
        unacked.ack(self.seq);
        Ok(())
    }
}

/// A received envelope waiting to be returned by `next`.
struct Ready {
    envelope: Arc<Envelope>,
    channel: Channel,
    redelivered: bool,
}

/// The receiving end of one subscription.
pub(crate) struct MemoryReceiver {
    receiver: mpsc::UnboundedReceiver<Raw>,
    /// Received and registered as handed out, not yet returned by `next`: taken in batches so
    /// that the bookkeeping lock is taken once per batch, not once per envelope.
    ready: VecDeque<(Ready, Option<u64>)>,
    batch: Vec<Raw>,
    unacked: Arc<Mutex<Unacked>>,
    queues: Vec<Arc<Queue>>,
    live: Vec<Channel>,
    id: u64,
    inner: Weak<Inner>,
}

impl MemoryReceiver {
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        if self.ready.is_empty() {
            if self.receiver.recv_many(&mut self.batch, BATCH).await == 0 {
                return None;
            }
            let mut unacked = lock(&self.unacked);
            for raw in self.batch.drain(..) {
                let envelope = raw.envelope.into_arc();
                let seq =
                    (raw.slot != LIVE).then(|| unacked.insert(raw.slot, Arc::clone(&envelope)));
                self.ready.push_back((
                    Ready {
                        envelope,
                        channel: raw.channel,
                        redelivered: raw.redelivered,
                    },
                    seq,
                ));
            }
        }
        let (raw, seq) = self.ready.pop_front()?;
        let Some(seq) = seq else {
            return Some(Delivery::live(raw.envelope, raw.channel));
        };
        let receipt = Receipt {
            unacked: Arc::clone(&self.unacked),
            seq,
        };
        Some(Delivery::memory(
            raw.envelope,
            raw.channel,
            raw.redelivered,
            receipt,
        ))
    }
}

impl Drop for MemoryReceiver {
    fn drop(&mut self) {
        // Stop new deliveries first, then give back what was handed out or still buffered.
        for queue in &self.queues {
            queue.detach(self.id);
        }
        if let Some(inner) = self.inner.upgrade() {
            let mut topology = inner
                .topology
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for channel in &self.live {
                if let Some(subscribers) = topology.live.get_mut(channel) {
                    subscribers.retain(|(id, _)| *id != self.id);
                }
            }
        }
        let mut returned: Vec<Vec<Arc<Envelope>>> = vec![Vec::new(); self.queues.len()];
        let handed_out = {
            let mut unacked = lock(&self.unacked);
            unacked.closed = true;
            std::mem::take(&mut unacked.ring)
        };
        for (slot, envelope) in handed_out.into_iter().flatten() {
            if let Some(list) = returned.get_mut(usize::from(slot)) {
                list.push(envelope);
            }
        }
        self.receiver.close();
        while let Ok(raw) = self.receiver.try_recv() {
            if let Some(list) = returned.get_mut(usize::from(raw.slot)) {
                list.push(raw.envelope.into_arc());
            }
        }
        for (queue, items) in self.queues.iter().zip(returned) {
            if !items.is_empty() {
                queue.give_back(items);
            }
        }
    }
}

impl MemoryBus {
    /// A new, empty bus, with the default size cap ([`MAX_ENVELOPE_BYTES`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, empty bus that refuses envelopes over `bytes` as JSON.
    pub fn with_max_envelope_bytes(bytes: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_envelope_bytes: bytes,
                ..Inner::default()
            }),
        }
    }

    fn topology(&self) -> std::sync::RwLockReadGuard<'_, Topology> {
        self.inner
            .topology
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn topology_mut(&self) -> std::sync::RwLockWriteGuard<'_, Topology> {
        self.inner
            .topology
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn inbox(&self, agent: AgentId) -> Arc<Queue> {
        if let Some(queue) = self.topology().inboxes.get(&agent) {
            return Arc::clone(queue);
        }
        Arc::clone(
            self.topology_mut()
                .inboxes
                .entry(agent)
                .or_insert_with(|| Queue::new(Channel::Agent(agent))),
        )
    }

    #[cfg(test)]
    fn inbox_pending(&self, agent: AgentId) -> usize {
        self.inbox(agent).pending()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, channel: Channel, envelope: Envelope) -> Result<(), BusError> {
        let limit = self.inner.max_envelope_bytes;
        if envelope.json_len_within(limit).is_none() {
            return Err(BusError::TooLarge {
                bytes: limit.saturating_add(1),
                limit,
            });
        }
        match channel {
            Channel::Agent(agent) => {
                // The common case: push under the read lock, without touching the queue's
                // reference count, moving the envelope itself.
                if let Some(queue) = self.topology().inboxes.get(&agent) {
                    queue.push(Carried::Owned(envelope));
                    return Ok(());
                }
                self.inbox(agent).push(Carried::Owned(envelope));
            }
            Channel::Broadcast | Channel::Head | Channel::CLevel => {
                let envelope = Arc::new(envelope);
                let mut topology = self.topology();
                if !topology.backlog.contains_key(&channel) {
                    drop(topology);
                    self.topology_mut().backlog.entry(channel).or_default();
                    topology = self.topology();
                }
                for ((on, _), queue) in &topology.groups {
                    if *on == channel {
                        queue.push(Carried::Shared(Arc::clone(&envelope)));
                    }
                }
                if let Some(backlog) = topology.backlog.get(&channel) {
                    let mut backlog = lock(backlog);
                    backlog.push_back(envelope);
                    while backlog.len() > GROUP_BACKLOG {
                        backlog.pop_front();
                    }
                }
            }
            Channel::WorkerLogs | Channel::Decisions | Channel::Events => {
                let envelope = Arc::new(envelope);
                let mut topology = self.topology_mut();
                if let Some(subscribers) = topology.live.get_mut(&channel) {
                    subscribers.retain(|(_, sender)| {
                        sender
                            .send(Raw {
                                envelope: Carried::Shared(Arc::clone(&envelope)),
                                channel,
                                slot: LIVE,
                                redelivered: false,
                            })
                            .is_ok()
                    });
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<Deliveries, BusError> {
        let id = self.inner.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut queues = Vec::new();
        let mut live = Vec::new();
        for channel in subscription.channels {
            match channel {
                Channel::Agent(agent) => queues.push(self.inbox(agent)),
                Channel::Broadcast | Channel::Head | Channel::CLevel => {
                    let mut topology = self.topology_mut();
                    let key = (channel, subscription.group.clone());
                    let queue = match topology.groups.get(&key) {
                        Some(queue) => Arc::clone(queue),
                        None => {
                            // A new group starts with what the channel kept, not from now.
                            let queue = Queue::new(channel);
                            if let Some(backlog) = topology.backlog.get(&channel) {
                                for envelope in lock(backlog).iter() {
                                    queue.push(Carried::Shared(Arc::clone(envelope)));
                                }
                            }
                            topology.groups.insert(key, Arc::clone(&queue));
                            queue
                        }
                    };
                    queues.push(queue);
                }
                Channel::WorkerLogs | Channel::Decisions | Channel::Events => {
                    self.topology_mut()
                        .live
                        .entry(channel)
                        .or_default()
                        .push((id, sender.clone()));
                    live.push(channel);
                }
            }
        }
        if queues.len() >= usize::from(LIVE) {
            return Err(BusError::Unavailable(format!(
                "a subscription may name at most {} durable channels",
                LIVE - 1
            )));
        }
        for (slot, queue) in queues.iter().enumerate() {
            // Bounded above, so the slot fits.
            queue.attach(id, slot as u16, sender.clone());
        }
        Ok(Deliveries::memory(MemoryReceiver {
            receiver,
            ready: VecDeque::new(),
            batch: Vec::with_capacity(BATCH),
            unacked: Arc::new(Mutex::new(Unacked::default())),
            queues,
            live,
            id,
            inner: Arc::downgrade(&self.inner),
        }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Subscription;
    use crate::envelope::{MessageType, Sender};

    fn envelope(n: u64) -> Envelope {
        Envelope::new(
            MessageType::Task,
            Sender::Human,
            serde_json::json!({ "n": n }),
        )
    }

    #[tokio::test]
    async fn unacked_and_buffered_deliveries_return_in_order() {
        let bus = MemoryBus::new();
        let agent = AgentId::random();
        let mut subscription = bus
            .subscribe(Subscription::new("g", "c1", [Channel::Agent(agent)]))
            .await
            .unwrap();
        for n in 0..4 {
            bus.publish(Channel::Agent(agent), envelope(n))
                .await
                .unwrap();
        }
        let first = subscription.next().await.unwrap();
        first.ack().await.unwrap();
        let second = subscription.next().await.unwrap();
        // 1 handed out and unacked, 2 and 3 still buffered.
        drop(subscription);
        assert_eq!(bus.inbox_pending(agent), 3);
        assert!(
            second.ack().await.is_err(),
            "the envelope was given back already"
        );
        let mut again = bus
            .subscribe(Subscription::new("g", "c1", [Channel::Agent(agent)]))
            .await
            .unwrap();
        for n in 1..4 {
            let delivery = again.next().await.unwrap();
            assert_eq!(delivery.envelope().payload["n"], n);
            assert!(delivery.is_redelivery());
            delivery.ack().await.unwrap();
        }
    }

    #[test]
    fn the_unacked_ring_pops_acknowledged_entries() {
        let mut unacked = Unacked::default();
        let envelope = Arc::new(envelope(0));
        let seqs: Vec<u64> = (0..4)
            .map(|_| unacked.insert(0, Arc::clone(&envelope)))
            .collect();
        unacked.ack(seqs[1]);
        assert_eq!(unacked.ring.len(), 4);
        unacked.ack(seqs[0]);
        assert_eq!((unacked.base, unacked.ring.len()), (2, 2));
        unacked.ack(seqs[3]);
        unacked.ack(seqs[2]);
        assert!(unacked.ring.is_empty());
        unacked.ack(99);
    }
}
