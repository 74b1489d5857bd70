//! [`MemoryBus`]: tokio channels in front of in-memory durable queues.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::bus::{Acknowledge, Bus, BusError, Deliveries, Delivery, Subscription};
use crate::channel::Channel;
use crate::envelope::Envelope;
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

#[derive(Default)]
struct Inner {
    topology: Mutex<Topology>,
    next_subscriber: AtomicU64,
}

#[derive(Default)]
struct Topology {
    /// One queue per agent inbox, shared by all consumers of that agent.
    inboxes: HashMap<AgentId, Arc<Queue>>,
    /// Group channels (broadcast, head, clevel): one queue per subscribing group.
    groups: HashMap<(Channel, String), Arc<Queue>>,
    /// Live channels: current subscribers.
    live: HashMap<Channel, Vec<(u64, mpsc::UnboundedSender<Delivery>)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the queues half-updated in a way that
    // matters more than losing the bus entirely, so keep going with the data as it is.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Pending {
    tag: u64,
    envelope: Arc<Envelope>,
    redelivered: bool,
}

struct InFlight {
    subscriber: u64,
    envelope: Arc<Envelope>,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Pending>,
    in_flight: HashMap<u64, InFlight>,
    subscribers: Vec<(u64, mpsc::UnboundedSender<Delivery>)>,
    next_tag: u64,
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

    fn push(self: &Arc<Self>, envelope: Arc<Envelope>) {
        let mut state = lock(&self.state);
        let tag = state.next_tag;
        state.next_tag += 1;
        let item = Pending {
            tag,
            envelope,
            redelivered: false,
        };
        if let Some(item) = self.deliver(&mut state, item) {
            state.pending.push_back(item);
        }
    }

    /// Hands `item` to a live subscriber; gives it back when there is none.
    fn deliver(self: &Arc<Self>, state: &mut QueueState, item: Pending) -> Option<Pending> {
        while !state.subscribers.is_empty() {
            let index = state.round_robin % state.subscribers.len();
            state.round_robin = state.round_robin.wrapping_add(1);
            let (subscriber, sender) = &state.subscribers[index];
            let subscriber = *subscriber;
            let delivery = Delivery::new(
                Arc::clone(&item.envelope),
                self.channel,
                item.redelivered,
                Box::new(MemoryAck {
                    queue: Arc::downgrade(self),
                    tag: item.tag,
                }),
            );
            match sender.send(delivery) {
                Ok(()) => {
                    state.in_flight.insert(
                        item.tag,
                        InFlight {
                            subscriber,
                            envelope: item.envelope,
                        },
                    );
                    return None;
                }
                Err(_) => {
                    // The receiver is gone; its guard will detach it. Try the others.
                    state.subscribers.remove(index);
                }
            }
        }
        Some(item)
    }

    fn attach(self: &Arc<Self>, subscriber: u64, sender: mpsc::UnboundedSender<Delivery>) {
        let mut state = lock(&self.state);
        state.subscribers.push((subscriber, sender));
        self.drain(&mut state);
    }

    fn drain(self: &Arc<Self>, state: &mut QueueState) {
        while let Some(item) = state.pending.pop_front() {
            if let Some(item) = self.deliver(state, item) {
                state.pending.push_front(item);
                break;
            }
        }
    }

    fn detach(self: &Arc<Self>, subscriber: u64) {
        let mut state = lock(&self.state);
        state.subscribers.retain(|(id, _)| *id != subscriber);
        let mut returned: Vec<(u64, Arc<Envelope>)> = state
            .in_flight
            .iter()
            .filter(|(_, flight)| flight.subscriber == subscriber)
            .map(|(tag, flight)| (*tag, Arc::clone(&flight.envelope)))
            .collect();
        for (tag, _) in &returned {
            state.in_flight.remove(tag);
        }
        // Unacknowledged deliveries go back to the front, oldest first.
        returned.sort_by_key(|(tag, _)| *tag);
        for (tag, envelope) in returned.into_iter().rev() {
            state.pending.push_front(Pending {
                tag,
                envelope,
                redelivered: true,
            });
        }
        self.drain(&mut state);
    }

    fn ack(&self, tag: u64) {
        lock(&self.state).in_flight.remove(&tag);
    }

    #[cfg(test)]
    fn depth(&self) -> (usize, usize) {
        let state = lock(&self.state);
        (state.pending.len(), state.in_flight.len())
    }
}

struct MemoryAck {
    queue: Weak<Queue>,
    tag: u64,
}

#[async_trait]
impl Acknowledge for MemoryAck {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        match self.queue.upgrade() {
            Some(queue) => {
                queue.ack(self.tag);
                Ok(())
            }
            None => Err(BusError::Closed),
        }
    }
}

/// Detaches a subscription when its [`Deliveries`] is dropped.
struct SubscriptionGuard {
    inner: Weak<Inner>,
    id: u64,
    queues: Vec<Arc<Queue>>,
    live: Vec<Channel>,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        for queue in &self.queues {
            queue.detach(self.id);
        }
        if let Some(inner) = self.inner.upgrade() {
            let mut topology = lock(&inner.topology);
            for channel in &self.live {
                if let Some(subscribers) = topology.live.get_mut(channel) {
                    subscribers.retain(|(id, _)| *id != self.id);
                }
            }
        }
    }
}

impl MemoryBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    fn inbox(&self, agent: AgentId) -> Arc<Queue> {
        let mut topology = lock(&self.inner.topology);
        Arc::clone(
            topology
                .inboxes
                .entry(agent)
                .or_insert_with(|| Queue::new(Channel::Agent(agent))),
        )
    }

    #[cfg(test)]
    fn inbox_depth(&self, agent: AgentId) -> (usize, usize) {
        self.inbox(agent).depth()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, channel: Channel, envelope: Envelope) -> Result<(), BusError> {
        let envelope = Arc::new(envelope);
        match channel {
            Channel::Agent(agent) => self.inbox(agent).push(envelope),
            Channel::Broadcast | Channel::Head | Channel::CLevel => {
                let queues: Vec<Arc<Queue>> = lock(&self.inner.topology)
                    .groups
                    .iter()
                    .filter(|((on, _), _)| *on == channel)
                    .map(|(_, queue)| Arc::clone(queue))
                    .collect();
                for queue in queues {
                    queue.push(Arc::clone(&envelope));
                }
            }
            Channel::WorkerLogs | Channel::Decisions | Channel::Events => {
                let mut topology = lock(&self.inner.topology);
                if let Some(subscribers) = topology.live.get_mut(&channel) {
                    subscribers.retain(|(_, sender)| {
                        sender
                            .send(Delivery::live(Arc::clone(&envelope), channel))
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
        let mut guard = SubscriptionGuard {
            inner: Arc::downgrade(&self.inner),
            id,
            queues: Vec::new(),
            live: Vec::new(),
        };
        for channel in subscription.channels {
            match channel {
                Channel::Agent(agent) => guard.queues.push(self.inbox(agent)),
                Channel::Broadcast | Channel::Head | Channel::CLevel => {
                    let mut topology = lock(&self.inner.topology);
                    let queue = topology
                        .groups
                        .entry((channel, subscription.group.clone()))
                        .or_insert_with(|| Queue::new(channel));
                    guard.queues.push(Arc::clone(queue));
                }
                Channel::WorkerLogs | Channel::Decisions | Channel::Events => {
                    lock(&self.inner.topology)
                        .live
                        .entry(channel)
                        .or_default()
                        .push((id, sender.clone()));
                    guard.live.push(channel);
                }
            }
        }
        for queue in &guard.queues {
            queue.attach(id, sender.clone());
        }
        Ok(Deliveries::unbounded(receiver, Some(Box::new(guard))))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{MessageType, Sender};

    fn envelope(n: u64) -> Envelope {
        Envelope::new(
            MessageType::Task,
            Sender::Human,
            serde_json::json!({ "n": n }),
        )
    }

    #[tokio::test]
    async fn acked_deliveries_leave_the_queue_and_unacked_come_back() {
        let bus = MemoryBus::new();
        let agent = AgentId::random();
        for n in 0..3 {
            bus.publish(Channel::Agent(agent), envelope(n))
                .await
                .unwrap();
        }
        assert_eq!(bus.inbox_depth(agent), (3, 0));
        let mut subscription = bus
            .subscribe(Subscription::new("g", "c1", [Channel::Agent(agent)]))
            .await
            .unwrap();
        let first = subscription.next().await.unwrap();
        first.ack().await.unwrap();
        let _second = subscription.next().await.unwrap();
        assert_eq!(bus.inbox_depth(agent), (0, 2));
        drop(subscription);
        assert_eq!(bus.inbox_depth(agent), (2, 0));
    }
}
