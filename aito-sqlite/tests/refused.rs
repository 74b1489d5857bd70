//! Envelopes over the embedded bus's size cap: refused on publish, dead-lettered (never
//! delivered) when another process with a larger cap wrote them.

use std::time::Duration;

use aito_core::{
    AgentId, Bus, BusError, Channel, Envelope, MessageType, Sender, StateStore, Subscription,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_over_the_cap_are_dead_lettered_not_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = aito_sqlite::Embedded::open(dir.path()).await.expect("open");
    let agent = AgentId::random();
    let big = Envelope::new(
        MessageType::Task,
        Sender::Human,
        json!({ "title": "x".repeat(4096) }),
    );
    let small = Envelope::new(MessageType::Task, Sender::Human, json!({ "n": 7 }));
    embedded
        .bus
        .publish(Channel::Agent(agent), big.clone())
        .await
        .expect("publish");
    embedded
        .bus
        .publish(Channel::Agent(agent), small)
        .await
        .expect("publish");

    embedded.bus.set_max_envelope_bytes(1024);
    let refused = embedded.bus.publish(Channel::Agent(agent), big).await;
    assert!(
        matches!(refused, Err(BusError::TooLarge { limit: 1024, .. })),
        "{refused:?}"
    );

    let mut inbox = embedded
        .bus
        .subscribe(Subscription::new(
            agent.to_string(),
            "d",
            [Channel::Agent(agent)],
        ))
        .await
        .expect("subscribe");
    let delivery = tokio::time::timeout(Duration::from_secs(10), inbox.next())
        .await
        .expect("in time")
        .expect("a delivery");
    assert_eq!(delivery.envelope().payload["n"], 7);
    delivery.ack().await.expect("ack");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), inbox.next())
            .await
            .is_err(),
        "nothing else is delivered"
    );
    let letters = embedded
        .store
        .dead_letters(Some(agent), 10)
        .await
        .expect("letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0].reason.contains("over the cap of 1024 bytes"),
        "{}",
        letters[0].reason
    );
    assert!(
        embedded.bus.pending().await.expect("pending") == 0,
        "the refused row is gone"
    );
}
