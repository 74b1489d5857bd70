//! Several companies on one server, told apart by their key prefix: each hears only its own
//! pub/sub channels, outside `PUBLISH`es included, and the company on the default prefix keeps
//! the original channel names.

mod common;

use std::time::Duration;

use aito_core::testkit::within;
use aito_core::{AgentId, Bus, Channel, Deliveries, Envelope, MessageType, Sender, Subscription};
use aito_redis::{DEFAULT_PREFIX, RedisBus, RedisConfig};
use common::{RedisServer, init_tracing};
use futures_util::StreamExt;
use serde_json::json;

const PAUSE: &str = r#"{"type":"system","from":"human","payload":{"action":"pause"}}"#;

struct Company {
    config: RedisConfig,
    bus: RedisBus,
    broadcast: Deliveries,
    events: Deliveries,
}

async fn company(server: &RedisServer, prefix: &str) -> Company {
    let config = server.config().with_prefix(prefix);
    let bus = RedisBus::connect(config.clone()).await.expect("bus");
    let agent = AgentId::random();
    let broadcast = bus
        .subscribe(Subscription::new(
            agent.to_string(),
            "d1",
            [Channel::Broadcast],
        ))
        .await
        .expect("subscribe broadcast");
    let events = bus
        .subscribe(Subscription::new("dashboard", "d1", [Channel::Events]))
        .await
        .expect("subscribe events");
    Company {
        config,
        bus,
        broadcast,
        events,
    }
}

async fn assert_quiet(deliveries: &mut Deliveries, what: &str) {
    if let Ok(Some(extra)) =
        tokio::time::timeout(Duration::from_millis(500), deliveries.next()).await
    {
        panic!("{what}: unexpected delivery {:?}", extra.envelope());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_publish_reaches_only_the_company_whose_channel_it_names() {
    init_tracing();
    let server = RedisServer::start();
    let mut alpha = company(&server, "alpha:").await;
    let mut beta = company(&server, "beta:").await;
    let mut default = company(&server, DEFAULT_PREFIX).await;

    let alpha_broadcast = alpha.config.channel_name(Channel::Broadcast);
    assert_eq!(alpha_broadcast, "alpha:channel:broadcast");
    let receivers = server.cli(&["PUBLISH", &alpha_broadcast, PAUSE]);
    assert_eq!(receivers.trim(), "1", "only alpha's bus listens there");
    let pause = within("alpha's pause", alpha.broadcast.next())
        .await
        .expect("delivery");
    assert_eq!(pause.envelope().kind, MessageType::System);
    assert_eq!(pause.envelope().payload_str("action"), Some("pause"));
    pause.ack().await.expect("ack");
    assert_quiet(&mut beta.broadcast, "beta heard alpha's pause").await;
    assert_quiet(
        &mut default.broadcast,
        "the default company heard alpha's pause",
    )
    .await;

    // The company on the default prefix keeps the original names, and only it hears them.
    assert_eq!(
        default.config.channel_name(Channel::Broadcast),
        "channel:broadcast"
    );
    server.cli(&["PUBLISH", "channel:broadcast", PAUSE]);
    let pause = within("the default company's pause", default.broadcast.next())
        .await
        .expect("delivery");
    assert_eq!(pause.envelope().payload_str("action"), Some("pause"));
    pause.ack().await.expect("ack");
    assert_quiet(&mut alpha.broadcast, "alpha heard the unprefixed pause").await;
    assert_quiet(&mut beta.broadcast, "beta heard the unprefixed pause").await;

    // Live channels (the dashboard's events) are the company's own as well.
    let event = Envelope::new(MessageType::Event, Sender::System, json!({"n": 1}));
    beta.bus
        .publish(Channel::Events, event.clone())
        .await
        .expect("publish");
    let seen = within("beta's event", beta.events.next())
        .await
        .expect("delivery");
    assert_eq!(seen.envelope().id, event.id);
    assert_quiet(&mut alpha.events, "alpha saw beta's event").await;
    assert_quiet(&mut default.events, "the default company saw beta's event").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_go_out_under_the_company_prefix() {
    init_tracing();
    let server = RedisServer::start();
    let config = server.config().with_prefix("alpha:");
    let bus = RedisBus::connect(config.clone()).await.expect("bus");
    let client = redis::Client::open(server.url()).expect("client");
    let mut observer = client.get_async_pubsub().await.expect("pubsub");
    observer
        .subscribe("alpha:channel:broadcast")
        .await
        .expect("subscribe");
    observer
        .subscribe("channel:broadcast")
        .await
        .expect("subscribe");
    let mut mirror = observer.into_on_message();
    let envelope = Envelope::new(MessageType::Task, Sender::Human, json!({"n": 1}));
    bus.publish(Channel::Broadcast, envelope.clone())
        .await
        .expect("publish");
    let seen = within("the mirror", mirror.next()).await.expect("message");
    assert_eq!(seen.get_channel_name(), "alpha:channel:broadcast");
    let text: String = seen.get_payload().expect("text");
    assert_eq!(
        Envelope::from_json(&text).expect("envelope").id,
        envelope.id
    );
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(300), mirror.next()).await {
        panic!(
            "a second mirror on {}: the unprefixed channel must stay quiet",
            extra.get_channel_name()
        );
    }
}
