//! Behaviour of RedisBus beyond the shared contract: outside `PUBLISH` ingestion, the pub/sub
//! mirror, reclaiming after a crash, hand-over, heartbeats, and surviving a Redis restart.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use aito_core::testkit::within;
use aito_core::{
    AgentId, Bus, BusError, Channel, Deliveries, Envelope, MessageType, Sender, StateStore,
    Subscription,
};
use aito_redis::{RedisBus, RedisStateStore};
use common::{Options, RedisServer, init_tracing};
use futures_util::StreamExt;
use serde_json::json;

fn numbered(n: u64) -> Envelope {
    Envelope::new(MessageType::Task, Sender::Human, json!({ "n": n }))
}

async fn inbox(bus: &RedisBus, agent: AgentId, consumer: &str) -> Deliveries {
    bus.subscribe(Subscription::new(
        agent.to_string(),
        consumer,
        [Channel::Agent(agent)],
    ))
    .await
    .expect("subscribe")
}

/// Waits `quiet` and asserts nothing more arrives.
async fn assert_quiet(deliveries: &mut Deliveries, quiet: Duration, what: &str) {
    if let Ok(Some(extra)) = tokio::time::timeout(quiet, deliveries.next()).await {
        panic!("{what}: unexpected delivery {:?}", extra.envelope());
    }
}

/// The original system's documented test message, sent with plain `redis-cli PUBLISH`, is
/// handled once with an id and a time assigned, even with two buses listening; sent twice, it
/// is handled twice. Malformed text is skipped without stopping the listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_publish_from_redis_cli_is_ingested_once_per_publish() {
    init_tracing();
    let server = RedisServer::start();
    let bus = RedisBus::connect(server.config()).await.unwrap();
    let other = RedisBus::connect(server.config()).await.unwrap();
    let agent = AgentId::random();
    let mut deliveries = inbox(&bus, agent, "d1").await;
    // A second listener in another "process".
    let _other = other
        .subscribe(Subscription::new("x", "x1", [Channel::Broadcast]))
        .await
        .unwrap();
    let channel = server.config().channel_name(Channel::Agent(agent));
    let test_message = r#"{"type":"task","from":"human","payload":{"title":"Test"}}"#;
    let receivers = server.cli(&["PUBLISH", &channel, test_message]);
    assert_eq!(receivers.trim(), "2", "both buses listen on pub/sub");
    let first = within("the ingested test message", deliveries.next())
        .await
        .unwrap();
    assert_eq!(first.envelope().kind, MessageType::Task);
    assert_eq!(first.envelope().from, Sender::Human);
    assert_eq!(first.envelope().payload_str("title"), Some("Test"));
    assert!(!first.is_redelivery());
    let first_id = first.envelope().id;
    let age = chrono::Utc::now() - first.envelope().timestamp;
    assert!(
        age.num_seconds().abs() < 30,
        "timestamp assigned on receipt"
    );
    first.ack().await.unwrap();
    assert_quiet(
        &mut deliveries,
        Duration::from_millis(700),
        "one PUBLISH, two listeners",
    )
    .await;

    server.cli(&["PUBLISH", &channel, "this is not json"]);
    server.cli(&[
        "PUBLISH",
        &channel,
        r#"{"type":"task","priority":"whenever"}"#,
    ]);
    server.cli(&["PUBLISH", &channel, test_message]);
    let second = within("the same text published again", deliveries.next())
        .await
        .unwrap();
    assert_eq!(second.envelope().payload_str("title"), Some("Test"));
    assert_ne!(
        second.envelope().id,
        first_id,
        "a fresh id for a new PUBLISH"
    );
    second.ack().await.unwrap();

    // An envelope with its own id keeps it.
    let id = "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3";
    let with_id = format!(r#"{{"id":"{id}","type":"alert","from":"orchestrator","payload":{{}}}}"#);
    server.cli(&["PUBLISH", &channel, &with_id]);
    let third = within("an envelope with an id", deliveries.next())
        .await
        .unwrap();
    assert_eq!(third.envelope().id.to_string(), id);
    third.ack().await.unwrap();
    assert_quiet(
        &mut deliveries,
        Duration::from_millis(700),
        "after three good PUBLISHes",
    )
    .await;
}

/// An outside `PUBLISH` to an agent whose daemon is down is kept in its inbox by any other
/// listening bus and handled once the daemon comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_publish_to_a_stopped_agent_waits_in_its_inbox() {
    init_tracing();
    let server = RedisServer::start();
    let listener = RedisBus::connect(server.config()).await.unwrap();
    let _other_agent = inbox(&listener, AgentId::random(), "o1").await;
    let agent = AgentId::random();
    server.cli(&[
        "PUBLISH",
        &server.config().channel_name(Channel::Agent(agent)),
        r#"{"type":"task","from":"human","payload":{"title":"while you were out"}}"#,
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bus = RedisBus::connect(server.config()).await.unwrap();
    let mut deliveries = inbox(&bus, agent, "d1").await;
    let delivery = within("the message sent while stopped", deliveries.next())
        .await
        .unwrap();
    assert_eq!(
        delivery.envelope().payload_str("title"),
        Some("while you were out")
    );
    delivery.ack().await.unwrap();
}

/// What RedisBus publishes is mirrored on the company's channel names for outside observers,
/// marked so that no listener ingests it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_are_mirrored_for_observers_and_not_duplicated() {
    init_tracing();
    let server = RedisServer::start();
    let bus = RedisBus::connect(server.config()).await.unwrap();
    let agent = AgentId::random();
    let mut deliveries = inbox(&bus, agent, "d1").await;
    let client = redis::Client::open(server.url()).unwrap();
    let mut observer = client.get_async_pubsub().await.unwrap();
    observer
        .subscribe(server.config().channel_name(Channel::Agent(agent)))
        .await
        .unwrap();
    observer
        .subscribe(server.config().channel_name(Channel::Broadcast))
        .await
        .unwrap();
    let mut mirror = observer.into_on_message();
    let envelope = numbered(1);
    bus.publish(Channel::Agent(agent), envelope.clone())
        .await
        .unwrap();
    let seen = within("the mirror", mirror.next()).await.unwrap();
    let text: String = seen.get_payload().unwrap();
    let observed = Envelope::from_json(&text).unwrap();
    assert_eq!(observed.id, envelope.id);
    assert!(
        observed
            .extra
            .contains_key(aito_redis::bus::ingest::MIRROR_FIELD)
    );
    let delivery = within("the delivery", deliveries.next()).await.unwrap();
    assert_eq!(
        delivery.envelope(),
        &envelope,
        "the stream copy has no marker"
    );
    delivery.ack().await.unwrap();
    assert_quiet(
        &mut deliveries,
        Duration::from_millis(800),
        "the mirror was ingested again",
    )
    .await;
}

/// A handler that takes longer than the reclaim threshold keeps its delivery (it is kept
/// fresh); once dropped unacknowledged it comes back exactly once, flagged, to a live consumer
/// of the group: the one that dropped it or another (whichever reader reclaims it first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handlers_keep_their_delivery_and_dropped_ones_are_reclaimed() {
    init_tracing();
    let server = RedisServer::start();
    let config = server
        .config()
        .with_reclaim_idle(Duration::from_millis(1000));
    let bus = RedisBus::connect(config.clone()).await.unwrap();
    let agent = AgentId::random();
    bus.publish(Channel::Agent(agent), numbered(1))
        .await
        .unwrap();
    let mut first = inbox(&bus, agent, "d1").await;
    let held = within("the delivery", first.next()).await.unwrap();
    let other_bus = RedisBus::connect(config).await.unwrap();
    let mut second = inbox(&other_bus, agent, "d2").await;
    assert_quiet(
        &mut second,
        Duration::from_millis(3000),
        "a live delivery was reclaimed",
    )
    .await;
    drop(held);
    let again = within("the reclaimed delivery", async {
        tokio::select! {
            delivery = first.next() => delivery,
            delivery = second.next() => delivery,
        }
    })
    .await
    .unwrap();
    assert!(again.is_redelivery());
    assert_eq!(again.envelope().payload["n"], 1);
    again.ack().await.unwrap();
    tokio::join!(
        assert_quiet(
            &mut first,
            Duration::from_millis(2500),
            "a reclaimed envelope came twice (first consumer)",
        ),
        assert_quiet(
            &mut second,
            Duration::from_millis(2500),
            "a reclaimed envelope came twice (second consumer)",
        ),
    );
}

/// A consumer that drops a delivery while it is the only consumer of its group gets it back
/// itself: with one daemon per agent, nobody else would ever take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_delivery_comes_back_to_its_only_consumer() {
    init_tracing();
    let server = RedisServer::start();
    let config = server
        .config()
        .with_reclaim_idle(Duration::from_millis(600));
    let bus = RedisBus::connect(config).await.unwrap();
    let agent = AgentId::random();
    let mut deliveries = inbox(&bus, agent, "only").await;
    bus.publish(Channel::Agent(agent), numbered(7))
        .await
        .unwrap();
    let delivery = within("the delivery", deliveries.next()).await.unwrap();
    assert!(!delivery.is_redelivery());
    drop(delivery);
    let again = within("the dropped delivery, again", deliveries.next())
        .await
        .unwrap();
    assert!(again.is_redelivery());
    assert_eq!(again.envelope().payload["n"], 7);
    again.ack().await.unwrap();
    assert_quiet(
        &mut deliveries,
        Duration::from_millis(2000),
        "an acknowledged envelope came back",
    )
    .await;
}

/// A subscription that ends without acknowledging hands its envelopes to the next consumer of
/// its group at once, without waiting for the reclaim threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_subscriptions_hand_their_envelopes_over_at_once() {
    init_tracing();
    let server = RedisServer::start();
    let config = server.config().with_reclaim_idle(Duration::from_secs(60));
    let bus = RedisBus::connect(config).await.unwrap();
    let group = format!("g-{}", AgentId::random());
    let mut first = bus
        .subscribe(Subscription::new(&group, "c1", [Channel::Broadcast]))
        .await
        .unwrap();
    bus.publish(Channel::Broadcast, numbered(5)).await.unwrap();
    let delivery = within("the broadcast", first.next()).await.unwrap();
    drop(delivery);
    drop(first);
    let mut second = bus
        .subscribe(Subscription::new(&group, "c2", [Channel::Broadcast]))
        .await
        .unwrap();
    let again = within("the handed-over broadcast", second.next())
        .await
        .unwrap();
    assert!(again.is_redelivery());
    assert_eq!(again.envelope().payload["n"], 5);
    again.ack().await.unwrap();
}

/// `channel:head` reaches the CEO and DAO groups, `channel:clevel` the chief officers, and
/// neither reaches the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_clevel_reach_only_their_members() {
    init_tracing();
    let server = RedisServer::start();
    let bus = RedisBus::connect(server.config()).await.unwrap();
    let mut subscriptions = Vec::new();
    for (role, channels) in [
        (
            "ceo",
            vec![Channel::Broadcast, Channel::Head, Channel::CLevel],
        ),
        ("dao", vec![Channel::Broadcast, Channel::Head]),
        ("cto", vec![Channel::Broadcast, Channel::CLevel]),
    ] {
        let deliveries = bus
            .subscribe(Subscription::new(role, format!("{role}-1"), channels))
            .await
            .unwrap();
        subscriptions.push((role, deliveries));
    }
    bus.publish(Channel::Head, numbered(1)).await.unwrap();
    bus.publish(Channel::CLevel, numbered(2)).await.unwrap();
    for (role, deliveries) in &mut subscriptions {
        let expected: BTreeSet<u64> = match *role {
            "ceo" => [1, 2].into(),
            "dao" => [1].into(),
            _ => [2].into(),
        };
        let mut got = BTreeSet::new();
        for _ in 0..expected.len() {
            let delivery = within("a group delivery", deliveries.next()).await.unwrap();
            got.insert(delivery.envelope().payload["n"].as_u64().unwrap());
            delivery.ack().await.unwrap();
        }
        assert_eq!(got, expected, "{role}");
        assert_quiet(deliveries, Duration::from_millis(300), role).await;
    }
}

/// The child half of `a_daemon_killed_before_acking_is_replaced_without_repeating_actions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by its parent test as a separate process"]
async fn crash_child() {
    let (Ok(url), Ok(prefix), Ok(agent)) = (
        std::env::var("AITO_TEST_URL"),
        std::env::var("AITO_TEST_PREFIX"),
        std::env::var("AITO_TEST_AGENT"),
    ) else {
        return;
    };
    let config = aito_redis::RedisConfig::new(url).with_prefix(prefix);
    let bus = RedisBus::connect(config.clone()).await.unwrap();
    let store = RedisStateStore::connect(config).await.unwrap();
    let agent: AgentId = agent.parse().unwrap();
    let mut deliveries = inbox(&bus, agent, "daemon-1").await;
    let delivery = deliveries.next().await.unwrap();
    handle(&store, delivery.envelope()).await;
    println!("HANDLED");
    // Killed here, before acknowledging.
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// An action guarded the way the daemon guards actions: by an idempotency mark on its id.
async fn handle(store: &RedisStateStore, envelope: &Envelope) -> bool {
    let action = format!("{}#0", envelope.id);
    if store
        .first_time(&format!("action:{action}"), Duration::from_secs(3600))
        .await
        .expect("first_time")
    {
        store
            .append_log("actions", &json!({ "action": action }), 100)
            .await
            .expect("append_log");
        true
    } else {
        false
    }
}

/// A daemon killed (SIGKILL) between receiving and acknowledging: the envelope goes to the next
/// daemon, flagged as a redelivery, and the action the first one took is not taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_before_acking_is_replaced_without_repeating_actions() {
    init_tracing();
    let server = RedisServer::start();
    let config = server
        .config()
        .with_reclaim_idle(Duration::from_millis(800));
    let bus = RedisBus::connect(config.clone()).await.unwrap();
    let store = RedisStateStore::connect(config.clone()).await.unwrap();
    let agent = AgentId::random();
    bus.publish(Channel::Agent(agent), numbered(42))
        .await
        .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AITO_TEST_URL", server.url())
        .env("AITO_TEST_PREFIX", &config.prefix)
        .env("AITO_TEST_AGENT", agent.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let handled = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("HANDLED"))
    });
    assert!(
        within("the child to handle the envelope", handled)
            .await
            .unwrap()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut deliveries = inbox(&bus, agent, "daemon-2").await;
    let delivery = within("the reclaimed envelope", deliveries.next())
        .await
        .unwrap();
    assert!(delivery.is_redelivery());
    assert_eq!(delivery.envelope().payload["n"], 42);
    assert!(
        !handle(&store, delivery.envelope()).await,
        "the action ran twice"
    );
    delivery.ack().await.unwrap();
    let actions = store.read_log("actions", 10).await.unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    drop(deliveries);
    let mut later = inbox(&bus, agent, "daemon-3").await;
    assert_quiet(
        &mut later,
        Duration::from_secs(2),
        "an acknowledged envelope came back",
    )
    .await;
}

/// Redis killed and restarted (append-only file on) under running subscribers and a
/// publisher: every published envelope is delivered, nothing acknowledged is lost, and the
/// readers reconnect by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_nothing_and_readers_recover() {
    init_tracing();
    let mut server = RedisServer::start_with(Options {
        appendonly: true,
        ..Options::default()
    });
    let config = server.config();
    let bus = RedisBus::connect(config.clone()).await.unwrap();
    let agent = AgentId::random();
    let mut deliveries = inbox(&bus, agent, "d1").await;
    let mut broadcasts = bus
        .subscribe(Subscription::new(
            agent.to_string(),
            "d1",
            [Channel::Broadcast],
        ))
        .await
        .unwrap();
    let total = 60u64;
    let (handled_tx, mut handled_rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = tokio::spawn(async move {
        while let Some(delivery) = deliveries.next().await {
            let n = delivery.envelope().payload["n"].as_u64().unwrap();
            // Handled; the ack may then fail while Redis is down (and the envelope come again).
            let _ = handled_tx.send(n);
            let _ = delivery.ack().await;
        }
    });
    let publish = |n: u64| {
        let bus = bus.clone();
        async move {
            let mut failures = 0;
            loop {
                match bus.publish(Channel::Agent(agent), numbered(n)).await {
                    Ok(()) => return failures,
                    Err(BusError::Unavailable(_)) | Err(BusError::Backend(_)) => {
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(other) => panic!("publish: {other}"),
                }
            }
        }
    };
    for n in 0..total / 2 {
        publish(n).await;
    }
    bus.publish(Channel::Broadcast, numbered(1000))
        .await
        .unwrap();
    server.kill();
    assert!(
        bus.publish(Channel::Agent(agent), numbered(999))
            .await
            .is_err()
    );
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(700));
        server.restart();
        server
    });
    let mut failures = 0;
    for n in total / 2..total {
        failures += publish(n).await;
    }
    let _server = restart.await.unwrap();
    assert!(failures > 0, "the outage was not noticed by the publisher");
    let mut seen = HashSet::new();
    let expected: HashSet<u64> = (0..total).collect();
    let deadline = tokio::time::Instant::now() + aito_core::testkit::PATIENCE;
    while seen != expected {
        match tokio::time::timeout_at(deadline, handled_rx.recv()).await {
            Ok(Some(n)) => {
                seen.insert(n);
            }
            _ => {
                let missing: BTreeSet<_> = expected.difference(&seen).collect();
                panic!("envelopes never handled after the restart: {missing:?}");
            }
        }
    }
    let broadcast = within("the broadcast sent before the restart", broadcasts.next())
        .await
        .unwrap();
    assert_eq!(broadcast.envelope().payload["n"], 1000);
    broadcast.ack().await.unwrap();
    consumer.abort();
    bus.ping().await.unwrap();
}

/// An entry over the reader's size cap (written by a bus with a larger one) is not delivered:
/// it is dead-lettered with its reason, once, even with two buses listening, and what follows
/// it arrives. The same for a plain `PUBLISH` over the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_over_the_cap_are_dead_lettered_not_delivered() {
    init_tracing();
    let server = RedisServer::start();
    let small = server.config().with_max_envelope_bytes(1024);
    let bus = RedisBus::connect(small.clone()).await.unwrap();
    let _other = RedisBus::connect(small.clone()).await.unwrap();
    let writer = RedisBus::connect(server.config()).await.unwrap();
    let store = RedisStateStore::connect(server.config()).await.unwrap();
    let agent = AgentId::random();
    let big = Envelope::new(
        MessageType::Task,
        Sender::Human,
        json!({ "title": "x".repeat(4096) }),
    );
    writer.publish(Channel::Agent(agent), big).await.unwrap();
    writer
        .publish(Channel::Agent(agent), numbered(7))
        .await
        .unwrap();
    let published = format!(
        r#"{{"type":"task","from":"human","payload":{{"title":"{}"}}}}"#,
        "y".repeat(2048)
    );
    let mut deliveries = inbox(&bus, agent, "d1").await;
    server.cli(&[
        "PUBLISH",
        &small.channel_name(Channel::Agent(agent)),
        &published,
    ]);
    let delivery = within("the envelope after the big one", deliveries.next())
        .await
        .expect("delivery");
    assert_eq!(delivery.envelope().payload["n"], 7);
    delivery.ack().await.unwrap();
    assert_quiet(
        &mut deliveries,
        Duration::from_millis(500),
        "nothing oversize",
    )
    .await;
    let letters = store.dead_letters(Some(agent), 10).await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    for letter in &letters {
        assert!(
            letter.reason.contains("over the cap of 1024 bytes"),
            "{}",
            letter.reason
        );
        let stub = letter.trigger.envelope().expect("an envelope");
        assert!(stub.to_json().len() < 1024, "only a preview is kept");
    }
    // Publishing over the cap is refused.
    let refused = bus
        .publish(
            Channel::Agent(agent),
            Envelope::new(
                MessageType::Task,
                Sender::Human,
                json!({ "t": "z".repeat(2048) }),
            ),
        )
        .await;
    assert!(
        matches!(refused, Err(BusError::TooLarge { limit: 1024, .. })),
        "{refused:?}"
    );
}

/// Many subscriptions of one bus wait on one connection: the number of connections the server
/// holds does not grow with the agents, and an entry an outside tool `XADD`s straight into an
/// inbox still reaches its subscriber at once, long before any periodic look would find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_share_connections_and_still_wake_at_once() {
    init_tracing();
    let server = RedisServer::start();
    let before = connections(&server);
    // Blocking reads that last long and a reclaim threshold far away: only the watcher can
    // deliver within the test's limit.
    let config = server
        .config()
        .with_block(Duration::from_secs(30))
        .with_reclaim_idle(Duration::from_secs(120));
    let prefix = config.prefix.clone();
    let bus = RedisBus::connect(config).await.unwrap();
    let agents: Vec<AgentId> = (0..30).map(|_| AgentId::random()).collect();
    let mut subscriptions = Vec::new();
    for agent in &agents {
        subscriptions.push(
            bus.subscribe(Subscription::new(
                agent.to_string(),
                "daemon",
                [Channel::Agent(*agent), Channel::Broadcast, Channel::Head],
            ))
            .await
            .expect("subscribe"),
        );
    }
    let held = connections(&server) - before;
    assert!(
        held <= 4,
        "30 subscriptions of 3 streams each hold {held} connections; they should share a few"
    );
    for (agent, deliveries) in agents.iter().zip(subscriptions.iter_mut()).step_by(7) {
        xadd_wakes_its_reader_at_once(&server, &prefix, *agent, deliveries).await;
    }
    bus.publish(Channel::Broadcast, numbered(7)).await.unwrap();
    for deliveries in &mut subscriptions {
        let delivery = within("the broadcast", deliveries.next()).await.unwrap();
        assert_eq!(delivery.envelope().payload["n"], 7);
        delivery.ack().await.unwrap();
    }
}

/// Client connections the server has open.
fn connections(server: &RedisServer) -> usize {
    server.cli(&["CLIENT", "LIST"]).lines().count()
}

/// An entry `XADD`ed to `agent`'s inbox by an outside tool reaches `deliveries` within 2 s
/// (the readers' blocking reads last longer: only a wake-up delivers it in time); acknowledged.
async fn xadd_wakes_its_reader_at_once(
    server: &RedisServer,
    prefix: &str,
    agent: AgentId,
    deliveries: &mut Deliveries,
) {
    let started = std::time::Instant::now();
    server.cli(&[
        "XADD",
        &format!("{prefix}stream:agent:{{{agent}}}"),
        "*",
        "e",
        r#"{"type":"task","from":"human","payload":{"title":"straight in"}}"#,
    ]);
    let delivery = tokio::time::timeout(Duration::from_secs(5), deliveries.next())
        .await
        .expect("the XADD entry within 5 s")
        .expect("a delivery");
    assert_eq!(
        delivery.envelope().payload_str("title"),
        Some("straight in")
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woken after {:?}",
        started.elapsed()
    );
    delivery.ack().await.expect("ack");
}

/// Without a shared wait, each reader blocks on a connection of its own: a subscription of
/// three streams holds two connections more than with the shared wait (three readers' own
/// against the one watcher), and an entry wakes its reader at once although the blocking
/// reads last far longer than the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_waiting_apart_hold_a_connection_each_and_wake_at_once() {
    init_tracing();
    let server = RedisServer::start();
    let config = server
        .config()
        .with_block(Duration::from_secs(30))
        .with_reclaim_idle(Duration::from_secs(120));
    let prefix = config.prefix.clone();
    // Both buses stay up, so that no closing connection is counted.
    let held = |shared: bool, agent: AgentId| {
        let config = config.clone().with_shared_wait(shared);
        let server = &server;
        async move {
            let before = connections(server);
            let bus = RedisBus::connect(config).await.unwrap();
            let subscription = Subscription::new(
                agent.to_string(),
                "daemon",
                [Channel::Agent(agent), Channel::Broadcast, Channel::Head],
            );
            let deliveries = bus.subscribe(subscription).await.expect("subscribe");
            (connections(server) - before, bus, deliveries)
        }
    };
    let (together, _shared_bus, _shared_deliveries) = held(true, AgentId::random()).await;
    let agent = AgentId::random();
    let (apart, _bus, mut deliveries) = held(false, agent).await;
    assert!(
        apart >= together + 2,
        "3 streams read apart hold {apart} connections, together {together}"
    );
    xadd_wakes_its_reader_at_once(&server, &prefix, agent, &mut deliveries).await;
}

/// With the company's directory given, a plain `PUBLISH` to the inbox of an agent not in it
/// never creates that agent's stream: it is dead-lettered once (two buses listening), its
/// reason naming the unknown id, and a `PUBLISH` to a known agent is still ingested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_publish_to_an_agent_not_in_the_directory_is_dead_lettered_not_streamed() {
    init_tracing();
    let server = RedisServer::start();
    let known = AgentId::random();
    let unknown = AgentId::random();
    let config = server.config().with_agents([known]);
    let bus = RedisBus::connect(config.clone()).await.unwrap();
    let other = RedisBus::connect(config.clone()).await.unwrap();
    let _other = other
        .subscribe(Subscription::new("x", "x1", [Channel::Broadcast]))
        .await
        .unwrap();
    let store = RedisStateStore::connect(config.clone()).await.unwrap();
    let mut deliveries = inbox(&bus, known, "d1").await;
    let message = r#"{"type":"task","from":"human","payload":{"title":"Grow a stream"}}"#;
    let receivers = server.cli(&[
        "PUBLISH",
        &config.channel_name(Channel::Agent(unknown)),
        message,
    ]);
    assert_eq!(receivers.trim(), "2", "both buses listen on pub/sub");
    server.cli(&[
        "PUBLISH",
        &config.channel_name(Channel::Agent(known)),
        r#"{"type":"task","from":"human","payload":{"title":"For a known agent"}}"#,
    ]);
    let delivery = within("the known agent's task", deliveries.next())
        .await
        .expect("delivery");
    assert_eq!(
        delivery.envelope().payload_str("title"),
        Some("For a known agent")
    );
    delivery.ack().await.unwrap();

    let letters = within("the dead letter", async {
        loop {
            let letters = store.dead_letters(Some(unknown), 10).await.unwrap();
            if !letters.is_empty() {
                return letters;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // The other listener had its chance too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let letters_now = store.dead_letters(Some(unknown), 10).await.unwrap();
    assert_eq!(
        letters_now.len(),
        1,
        "once, however many listen: {letters_now:?}"
    );
    assert_eq!(letters[0].agent, unknown);
    assert!(
        letters[0]
            .reason
            .contains(&format!("no agent {unknown} in the company's directory")),
        "{}",
        letters[0].reason
    );
    let stub = letters[0].trigger.envelope().expect("an envelope");
    assert!(
        stub.payload["preview"]
            .as_str()
            .unwrap_or("")
            .contains("Grow a stream")
    );

    let streams = server.cli(&["KEYS", "*stream*"]);
    assert!(
        streams.contains(&known.to_string()),
        "the known agent's stream exists: {streams}"
    );
    assert!(
        !streams.contains(&unknown.to_string()),
        "no stream for the unknown agent: {streams}"
    );
}

/// Every daemon instance reads under a consumer name of its own. A subscription that takes
/// over removes the group's consumers that hold nothing once it has claimed what they left, so
/// a group does not keep a name for every instance that ever ran, and the entry a killed
/// instance held is handed over first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_over_removes_the_consumers_of_earlier_instances() {
    init_tracing();
    let server = RedisServer::start();
    let config = server.config().with_reclaim_idle(Duration::from_secs(120));
    let prefix = config.prefix.clone();
    let bus = RedisBus::connect(config).await.unwrap();
    let agent = AgentId::random();
    let stream = format!("{prefix}stream:agent:{{{agent}}}");
    // Every inbox is read by its stream's group `inbox`.
    let group = "inbox";
    let take_over = |consumer: String| {
        Subscription::new(agent.to_string(), consumer, [Channel::Agent(agent)]).taking_over()
    };
    for n in 0..3 {
        let mut deliveries = bus
            .subscribe(take_over(format!("daemon-{n}")))
            .await
            .unwrap();
        bus.publish(Channel::Agent(agent), numbered(n))
            .await
            .unwrap();
        let delivery = within("the message", deliveries.next()).await.unwrap();
        assert_eq!(delivery.envelope().payload["n"], n);
        delivery.ack().await.unwrap();
    }
    // An instance killed while it held an entry: read under its name, never acknowledged.
    bus.publish(Channel::Agent(agent), numbered(9))
        .await
        .unwrap();
    server.cli(&[
        "XREADGROUP",
        "GROUP",
        group,
        "killed",
        "COUNT",
        "1",
        "STREAMS",
        &stream,
        ">",
    ]);
    let mut last = bus
        .subscribe(take_over("daemon-3".to_owned()))
        .await
        .unwrap();
    let again = within("the killed instance's entry", last.next())
        .await
        .unwrap();
    assert_eq!(again.envelope().payload["n"], 9);
    again.ack().await.unwrap();

    let consumers = || -> Vec<String> {
        let info = server.cli(&["XINFO", "CONSUMERS", &stream, group]);
        let lines: Vec<&str> = info.lines().map(str::trim).collect();
        lines
            .windows(2)
            .filter(|pair| pair[0] == "name")
            .map(|pair| pair[1].to_owned())
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while consumers() != ["daemon-3"] && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        consumers(),
        ["daemon-3"],
        "the group keeps only the consumer that reads now"
    );
}
