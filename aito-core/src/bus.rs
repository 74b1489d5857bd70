//! The [`Bus`] trait: how agents and tools exchange envelopes.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::channel::Channel;
use crate::envelope::Envelope;

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus was shut down.
    #[error("the bus is closed")]
    Closed,
    /// The backend is unreachable right now; the call may succeed later.
    #[error("the bus backend is unavailable: {0}")]
    Unavailable(String),
    /// The envelope is over the bus's size cap; it was not published.
    #[error("the envelope is {bytes} bytes, over the bus's cap of {limit} bytes")]
    TooLarge {
        /// Its size as JSON (at least this much).
        bytes: usize,
        /// The cap.
        limit: usize,
    },
    /// The backend failed.
    #[error("bus backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A subscription request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The durable consumer group: who must see each message once (normally the agent's id).
    /// Every group subscribed to a durable channel gets its own copy of each envelope.
    pub group: String,
    /// This process within the group (a daemon instance); used to reclaim its unacked messages.
    pub consumer: String,
    /// The channels to listen on.
    pub channels: Vec<Channel>,
    /// Whether this subscription takes over, as it starts, every delivery another consumer of
    /// the group left unacknowledged (a daemon that took its agent's lease from one that
    /// stopped or froze), instead of waiting for them to go idle.
    pub take_over: bool,
}

impl Subscription {
    /// A subscription of `group`/`consumer` to `channels`.
    pub fn new(
        group: impl Into<String>,
        consumer: impl Into<String>,
        channels: impl IntoIterator<Item = Channel>,
    ) -> Self {
        Self {
            group: group.into(),
            consumer: consumer.into(),
            channels: channels.into_iter().collect(),
            take_over: false,
        }
    }

    /// The same subscription, taking over what the group's other consumers left
    /// unacknowledged as it starts (see [`Subscription::take_over`]).
    pub fn taking_over(mut self) -> Self {
        self.take_over = true;
        self
    }
}

/// Acknowledges one delivery to its bus. Implemented by each adapter.
#[async_trait]
pub trait Acknowledge: Send + Sync + 'static {
    /// Marks the delivery handled, so it is never delivered again.
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
}

/// One envelope handed to a subscriber, with the handle that acknowledges it.
///
/// Dropping a `Delivery` without [`Delivery::ack`] leaves it pending: the bus delivers it again
/// when the subscription is re-established (after a crash, restart or dropped subscription).
pub struct Delivery {
    envelope: Arc<Envelope>,
    channel: Channel,
    redelivered: bool,
    acker: Acker,
}

/// How a delivery is acknowledged.
enum Acker {
    /// Live channels: nothing to acknowledge.
    Live,
    /// Adapters outside this crate.
    Boxed(Box<dyn Acknowledge>),
    /// The embedded bus: a synchronous receipt, no allocation.
    Memory(crate::memory::Receipt),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("channel", &self.channel)
            .field("id", &self.envelope.id)
            .field("redelivered", &self.redelivered)
            .finish()
    }
}

impl Delivery {
    /// A delivery that must be acknowledged through `acker`.
    pub fn new(
        envelope: Arc<Envelope>,
        channel: Channel,
        redelivered: bool,
        acker: Box<dyn Acknowledge>,
    ) -> Self {
        Self {
            envelope,
            channel,
            redelivered,
            acker: Acker::Boxed(acker),
        }
    }

    pub(crate) fn memory(
        envelope: Arc<Envelope>,
        channel: Channel,
        redelivered: bool,
        receipt: crate::memory::Receipt,
    ) -> Self {
        Self {
            envelope,
            channel,
            redelivered,
            acker: Acker::Memory(receipt),
        }
    }

    /// A delivery from a live (non-durable) channel: acknowledging it does nothing.
    pub fn live(envelope: Arc<Envelope>, channel: Channel) -> Self {
        Self {
            envelope,
            channel,
            redelivered: false,
            acker: Acker::Live,
        }
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The envelope, shared.
    pub fn envelope_arc(&self) -> &Arc<Envelope> {
        &self.envelope
    }

    /// The channel it arrived on.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Whether this envelope was delivered before and not acknowledged.
    pub fn is_redelivery(&self) -> bool {
        self.redelivered
    }

    /// Acknowledges the delivery: call it only after the envelope is fully handled.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.acker {
            Acker::Live => Ok(()),
            Acker::Boxed(acker) => acker.ack().await,
            Acker::Memory(receipt) => receipt.ack(),
        }
    }
}

enum Receiver {
    Bounded(mpsc::Receiver<Delivery>),
    Unbounded(mpsc::UnboundedReceiver<Delivery>),
    Memory(crate::memory::MemoryReceiver),
}

/// The stream of deliveries of one subscription. Dropping it ends the subscription; envelopes
/// delivered on it and not acknowledged become pending again.
pub struct Deliveries {
    receiver: Receiver,
    // Dropped after the receiver: adapters put the code that detaches the subscription here.
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

impl Deliveries {
    /// Deliveries fed through a bounded channel; `guard` is dropped when the subscription ends.
    pub fn bounded(
        receiver: mpsc::Receiver<Delivery>,
        guard: Option<Box<dyn Any + Send + Sync>>,
    ) -> Self {
        Self {
            receiver: Receiver::Bounded(receiver),
            _guard: guard,
        }
    }

    /// Deliveries fed through an unbounded channel; `guard` is dropped when the subscription ends.
    pub fn unbounded(
        receiver: mpsc::UnboundedReceiver<Delivery>,
        guard: Option<Box<dyn Any + Send + Sync>>,
    ) -> Self {
        Self {
            receiver: Receiver::Unbounded(receiver),
            _guard: guard,
        }
    }

    pub(crate) fn memory(receiver: crate::memory::MemoryReceiver) -> Self {
        Self {
            receiver: Receiver::Memory(receiver),
            _guard: None,
        }
    }

    /// The next delivery; `None` once the bus has closed the subscription.
    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.receiver {
            Receiver::Bounded(rx) => rx.recv().await,
            Receiver::Unbounded(rx) => rx.recv().await,
            Receiver::Memory(rx) => rx.next().await,
        }
    }
}

/// Publish and subscribe, with at-least-once delivery on durable channels.
///
/// # Guarantees
/// - **Durable channels** ([`Channel::is_durable`]): an envelope published to `Agent(id)` is kept
///   until a subscriber of that agent acknowledges it, including while no subscriber exists.
///   `Broadcast`, `Head` and `CLevel` keep one copy per subscribing group; a group that
///   subscribes for the first time starts with the newest envelopes the channel kept (at
///   least the last thousand), so one deployed late still hears what was sent before.
/// - **At least once**: a delivery that is not acknowledged (the handler crashed, the
///   delivery or the subscription was dropped) is delivered again, flagged by
///   [`Delivery::is_redelivery`], to a live subscriber of the same group: at once when the
///   subscription ends in this process, and, on backends that span processes, after an idle
///   timeout when the process that held it died. A delivery dropped while its subscription
///   lives may come back to that same subscription or to another of the group, whichever
///   takes it first (with one daemon per agent it is the only one that could). Receivers
///   de-duplicate by [`Envelope::id`].
/// - **Consumers**: a consumer name identifies one live subscription of a group; a restarted
///   daemon that uses the same name picks up what its predecessor left unacknowledged, and a
///   subscription [taking over](Subscription::taking_over) picks up at once what any other
///   consumer of its group left unacknowledged.
/// - **Order**: envelopes on one channel reach a subscriber in publication order, redeliveries
///   first.
/// - **Live channels** (`WorkerLogs`, `Decisions`, `Events`) reach only current subscribers.
#[cfg_attr(any(test, feature = "test-utils"), mockall::automock)]
#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes `envelope` to `channel`. When this returns `Ok`, a durable channel holds it.
    async fn publish(&self, channel: Channel, envelope: Envelope) -> Result<(), BusError>;

    /// Subscribes to the channels of `subscription`.
    async fn subscribe(&self, subscription: Subscription) -> Result<Deliveries, BusError>;

    /// Checks that the backend is reachable.
    async fn ping(&self) -> Result<(), BusError>;
}
