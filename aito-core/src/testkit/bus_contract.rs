//! The [`Bus`] contract, one public function per guarantee.

use std::collections::HashSet;

use serde_json::json;

use super::within;
use crate::bus::{Bus, Deliveries, Subscription};
use crate::channel::Channel;
use crate::envelope::{Envelope, MessageType, Priority, Sender};
use crate::id::AgentId;

fn numbered(n: usize) -> Envelope {
    Envelope::new(MessageType::Task, Sender::Human, json!({ "n": n }))
}

fn number(envelope: &Envelope) -> usize {
    envelope.payload["n"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", AgentId::random())
}

async fn inbox(bus: &dyn Bus, agent: AgentId, consumer: &str) -> Deliveries {
    bus.subscribe(Subscription::new(
        agent.to_string(),
        consumer,
        [Channel::Agent(agent)],
    ))
    .await
    .expect("subscribe to an inbox")
}

async fn next_number(deliveries: &mut Deliveries, ack: bool) -> usize {
    let delivery = within("a delivery", deliveries.next())
        .await
        .expect("the subscription ended early");
    let n = number(delivery.envelope());
    if ack {
        delivery.ack().await.expect("ack");
    }
    n
}

/// An envelope sent while nobody listens is delivered once a subscriber comes.
pub async fn inbox_keeps_envelopes_until_a_subscriber_comes(bus: &dyn Bus) {
    let agent = AgentId::random();
    bus.publish(Channel::Agent(agent), numbered(7))
        .await
        .expect("publish");
    let mut deliveries = inbox(bus, agent, "c1").await;
    assert_eq!(next_number(&mut deliveries, true).await, 7);
}

/// An acknowledged envelope is gone: a new subscription does not see it again.
pub async fn acked_deliveries_are_not_redelivered(bus: &dyn Bus) {
    let agent = AgentId::random();
    bus.publish(Channel::Agent(agent), numbered(1))
        .await
        .expect("publish");
    let mut first = inbox(bus, agent, "c1").await;
    assert_eq!(next_number(&mut first, true).await, 1);
    drop(first);
    bus.publish(Channel::Agent(agent), numbered(2))
        .await
        .expect("publish");
    let mut second = inbox(bus, agent, "c1").await;
    assert_eq!(
        next_number(&mut second, true).await,
        2,
        "an acknowledged envelope was delivered again"
    );
}

/// An envelope delivered but not acknowledged comes back, flagged, when the subscription is
/// re-established (the daemon crashed mid-handling).
pub async fn unacked_deliveries_are_redelivered_to_the_next_subscription(bus: &dyn Bus) {
    let agent = AgentId::random();
    bus.publish(Channel::Agent(agent), numbered(1))
        .await
        .expect("publish");
    let mut first = inbox(bus, agent, "c1").await;
    let delivery = within("the first delivery", first.next())
        .await
        .expect("subscription ended");
    assert!(!delivery.is_redelivery());
    drop(delivery);
    drop(first);
    let mut second = inbox(bus, agent, "c1").await;
    let again = within("the redelivery", second.next())
        .await
        .expect("subscription ended");
    assert_eq!(number(again.envelope()), 1);
    assert!(again.is_redelivery(), "a redelivery must be flagged");
    again.ack().await.expect("ack");
}

/// Envelopes on one channel arrive in the order they were published.
pub async fn one_channel_keeps_publication_order(bus: &dyn Bus) {
    let agent = AgentId::random();
    for n in 0..20 {
        bus.publish(Channel::Agent(agent), numbered(n))
            .await
            .expect("publish");
    }
    let mut deliveries = inbox(bus, agent, "c1").await;
    for n in 0..20 {
        assert_eq!(next_number(&mut deliveries, true).await, n);
    }
}

/// Every group subscribed to `Broadcast` gets its own copy of each envelope.
pub async fn group_channels_give_each_group_one_copy(bus: &dyn Bus) {
    let (group_a, group_b) = (unique("a"), unique("b"));
    let mut a = bus
        .subscribe(Subscription::new(&group_a, "c1", [Channel::Broadcast]))
        .await
        .expect("subscribe a");
    let mut b = bus
        .subscribe(Subscription::new(&group_b, "c1", [Channel::Broadcast]))
        .await
        .expect("subscribe b");
    let marker = AgentId::random().to_string();
    let envelope = Envelope::new(
        MessageType::Broadcast,
        Sender::Human,
        json!({ "m": marker }),
    );
    bus.publish(Channel::Broadcast, envelope)
        .await
        .expect("publish");
    for deliveries in [&mut a, &mut b] {
        // Other tests may share the bus: skip their broadcasts.
        loop {
            let delivery = within("a broadcast", deliveries.next())
                .await
                .expect("subscription ended");
            let mine = delivery.envelope().payload["m"] == marker.as_str();
            delivery.ack().await.expect("ack");
            if mine {
                break;
            }
        }
    }
}

/// `Head` and `CLevel` deliver to groups subscribed to them.
pub async fn head_and_clevel_reach_their_subscribers(bus: &dyn Bus) {
    for channel in [Channel::Head, Channel::CLevel] {
        let mut deliveries = bus
            .subscribe(Subscription::new(unique("g"), "c1", [channel]))
            .await
            .expect("subscribe");
        let marker = AgentId::random().to_string();
        bus.publish(
            channel,
            Envelope::new(MessageType::Alert, Sender::Human, json!({ "m": marker })),
        )
        .await
        .expect("publish");
        loop {
            let delivery = within("a group delivery", deliveries.next())
                .await
                .expect("subscription ended");
            assert_eq!(delivery.channel(), channel);
            let mine = delivery.envelope().payload["m"] == marker.as_str();
            delivery.ack().await.expect("ack");
            if mine {
                break;
            }
        }
    }
}

/// Live channels reach the subscribers present when an envelope is published, not later ones.
pub async fn live_channels_reach_current_subscribers_only(bus: &dyn Bus) {
    let early = AgentId::random().to_string();
    bus.publish(
        Channel::Events,
        Envelope::new(MessageType::Event, Sender::System, json!({ "m": early })),
    )
    .await
    .expect("publish");
    let mut deliveries = bus
        .subscribe(Subscription::new(unique("g"), "c1", [Channel::Events]))
        .await
        .expect("subscribe");
    let late = AgentId::random().to_string();
    bus.publish(
        Channel::Events,
        Envelope::new(MessageType::Event, Sender::System, json!({ "m": late })),
    )
    .await
    .expect("publish");
    loop {
        let delivery = within("a live event", deliveries.next())
            .await
            .expect("subscription ended");
        let m = delivery.envelope().payload["m"].clone();
        assert_ne!(m, early.as_str(), "a live event reached a later subscriber");
        if m == late.as_str() {
            break;
        }
    }
}

/// Every field of the envelope survives the trip, unknown fields included.
pub async fn envelopes_arrive_intact(bus: &dyn Bus) {
    let agent = AgentId::random();
    let mut envelope = Envelope::new(
        MessageType::Other("custom_kind".into()),
        Sender::Agent(AgentId::random()),
        json!({ "title": "Ship it", "nested": { "list": [1, 2, 3] } }),
    )
    .with_priority(Priority::Urgent);
    envelope.hops = 3;
    envelope.correlation_id = Some("corr-1".into());
    envelope.chain = vec!["t1".into(), "t2".into()];
    envelope
        .extra
        .insert("vendorField".into(), json!({ "kept": true }));
    bus.publish(Channel::Agent(agent), envelope.clone())
        .await
        .expect("publish");
    let mut deliveries = inbox(bus, agent, "c1").await;
    let delivery = within("the envelope", deliveries.next())
        .await
        .expect("subscription ended");
    assert_eq!(delivery.envelope(), &envelope);
    assert_eq!(delivery.channel(), Channel::Agent(agent));
    delivery.ack().await.expect("ack");
}

/// A thousand envelopes published quickly are each delivered exactly once.
pub async fn a_thousand_envelopes_arrive_exactly_once(bus: &dyn Bus) {
    let agent = AgentId::random();
    let mut deliveries = inbox(bus, agent, "c1").await;
    for n in 0..1000 {
        bus.publish(Channel::Agent(agent), numbered(n))
            .await
            .expect("publish");
    }
    let mut seen = HashSet::new();
    for _ in 0..1000 {
        let n = next_number(&mut deliveries, true).await;
        assert!(seen.insert(n), "envelope {n} delivered twice");
    }
    assert_eq!(seen.len(), 1000);
}

/// A group that subscribes to a group channel for the first time gets what was published on it
/// before (an agent deployed after an alert went out still hears of it).
pub async fn a_new_group_gets_what_was_published_before_it_subscribed(bus: &dyn Bus) {
    let marker = AgentId::random().to_string();
    bus.publish(
        Channel::Head,
        Envelope::new(MessageType::Alert, Sender::Human, json!({ "m": marker })),
    )
    .await
    .expect("publish");
    let mut deliveries = bus
        .subscribe(Subscription::new(unique("late"), "c1", [Channel::Head]))
        .await
        .expect("subscribe");
    // Other tests may share the bus: skip their envelopes.
    loop {
        let delivery = within("the alert sent before", deliveries.next())
            .await
            .expect("subscription ended");
        let mine = delivery.envelope().payload["m"] == marker.as_str();
        delivery.ack().await.expect("ack");
        if mine {
            break;
        }
    }
}

/// An envelope over the default size cap (256 KiB as JSON) is refused on every durable and
/// live channel, and nothing of it is delivered; one within the cap passes.
pub async fn envelopes_over_the_cap_are_refused(bus: &dyn Bus) {
    use crate::bus::BusError;
    use crate::envelope::MAX_ENVELOPE_BYTES;
    let agent = AgentId::random();
    let huge = Envelope::new(
        MessageType::Task,
        Sender::Human,
        json!({ "title": "x".repeat(MAX_ENVELOPE_BYTES) }),
    );
    for channel in [Channel::Agent(agent), Channel::Broadcast, Channel::Events] {
        match bus.publish(channel, huge.clone()).await {
            Err(BusError::TooLarge { limit, bytes }) => {
                assert_eq!(limit, MAX_ENVELOPE_BYTES);
                assert!(bytes > limit);
            }
            other => panic!("an oversize envelope on {channel} was not refused: {other:?}"),
        }
    }
    let fits = Envelope::new(
        MessageType::Task,
        Sender::Human,
        json!({ "n": 1, "title": "x".repeat(MAX_ENVELOPE_BYTES - 1024) }),
    );
    bus.publish(Channel::Agent(agent), fits)
        .await
        .expect("an envelope within the cap");
    let mut deliveries = inbox(bus, agent, "c1").await;
    assert_eq!(next_number(&mut deliveries, true).await, 1);
}
