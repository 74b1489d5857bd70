//! Publications handed straight to a waiting reader of the same process: order is kept when
//! some wait in the file (the reader's buffer full, another process's messages), nothing is
//! delivered twice, and a handed-over delivery is held (kept fresh) like a claimed one.

use std::time::Duration;

use aito_core::{AgentId, Bus, Channel, Deliveries, Envelope, MessageType, Sender, Subscription};
use aito_sqlite::{DATABASE_FILE, Embedded};
use serde_json::json;

fn task(n: u64) -> Envelope {
    Envelope::new(MessageType::Task, Sender::Human, json!({ "n": n }))
}

async fn inbox(bus: &dyn Bus, agent: AgentId, consumer: &str) -> Deliveries {
    bus.subscribe(Subscription::new(
        agent.to_string(),
        consumer,
        [Channel::Agent(agent)],
    ))
    .await
    .expect("subscribe")
}

async fn next_n(deliveries: &mut Deliveries) -> (u64, aito_core::Delivery) {
    let delivery = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
        .await
        .expect("a delivery in time")
        .expect("the subscription ended");
    let n = delivery.envelope().payload["n"].as_u64().expect("n");
    (n, delivery)
}

/// Lets the reader make its first claim (and find the inbox empty).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_is_kept_when_the_buffer_fills_and_publications_wait_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = Embedded::open(dir.path()).await.unwrap();
    let agent = AgentId::random();
    let mut deliveries = inbox(&embedded.bus, agent, "daemon").await;
    settle().await;
    // More than the reader buffers: the first are handed over, the rest wait in the file.
    for n in 0..300 {
        embedded
            .bus
            .publish(Channel::Agent(agent), task(n))
            .await
            .unwrap();
    }
    // Each delivery handled makes room in the buffer, and another is published at once: it
    // comes after those that waited.
    for expected in 0..600 {
        let (n, delivery) = next_n(&mut deliveries).await;
        assert_eq!(n, expected, "out of order");
        assert!(!delivery.is_redelivery());
        delivery.ack().await.unwrap();
        if expected < 300 {
            embedded
                .bus
                .publish(Channel::Agent(agent), task(expected + 300))
                .await
                .unwrap();
        }
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), deliveries.next())
            .await
            .is_err(),
        "nothing more"
    );
    // Every row acknowledged is gone (the deletions are queued: give them a moment).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(embedded.bus.pending().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_another_process_among_handed_over_ones_arrive_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let company = Embedded::open(dir.path()).await.unwrap();
    let operator = Embedded::open(dir.path()).await.unwrap();
    let agent = AgentId::random();
    let mut deliveries = inbox(&company.bus, agent, "daemon").await;
    settle().await;
    for n in 0..50 {
        let bus = if n % 5 == 0 {
            &operator.bus
        } else {
            &company.bus
        };
        bus.publish(Channel::Agent(agent), task(n)).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..50 {
        let (n, delivery) = next_n(&mut deliveries).await;
        seen.push(n);
        delivery.ack().await.unwrap();
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..50).collect::<Vec<_>>(), "each exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_over_delivery_is_held_for_its_reader_and_kept_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = Embedded::open(dir.path()).await.unwrap();
    let agent = AgentId::random();
    let mut first = inbox(&embedded.bus, agent, "first").await;
    settle().await;
    embedded
        .bus
        .publish(Channel::Agent(agent), task(1))
        .await
        .unwrap();
    let (_, held) = next_n(&mut first).await;
    let held_until = |path: std::path::PathBuf| -> i64 {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("SELECT held_until FROM messages", [], |row| row.get(0))
            .unwrap()
    };
    let path = dir.path().join(DATABASE_FILE);
    let before = held_until(path.clone());
    // Another consumer of the same inbox does not get it while it is handled.
    let mut second = inbox(&embedded.bus, agent, "second").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), second.next())
            .await
            .is_err(),
        "the held delivery went to another consumer"
    );
    // The hold is renewed every third of it while the delivery lives.
    let renewal = aito_sqlite::bus::HOLD / 3;
    tokio::time::sleep(renewal + Duration::from_secs(1)).await;
    let after = held_until(path.clone());
    assert!(
        after >= before + 1000,
        "the hold was not renewed: {before} then {after}"
    );
    held.ack().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), second.next())
            .await
            .is_err(),
        "an acknowledged delivery came again"
    );
}
