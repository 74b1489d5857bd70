//! A server with a password: URLs carrying it work, and it never reaches a log line, an error
//! message or a `Debug` output.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aito_core::{AgentId, Bus, Channel, Envelope, MessageType, Sender, StateStore, Subscription};
use aito_redis::{RedisBus, RedisConfig, RedisStateStore};
use common::{Options, RedisServer};
use serde_json::json;

const PASSWORD: &str = "Zq8-very-secret-pw";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn password_urls_work_and_the_password_is_never_shown() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("aito_redis=trace")
        .with_writer(move || writer.clone())
        .finish();
    // The runtime of this test is single-threaded: every task logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut server = RedisServer::start_with(Options {
        appendonly: false,
        password: Some(PASSWORD.to_owned()),
        ..Options::default()
    });
    let config = server.config();
    assert!(config.url.expose().contains(PASSWORD));
    let bus = RedisBus::connect(config.clone())
        .await
        .expect("bus with password");
    let store = RedisStateStore::connect(config.clone())
        .await
        .expect("store with password");
    let agent = AgentId::random();
    let mut inbox = bus
        .subscribe(Subscription::new(
            agent.to_string(),
            "c1",
            [Channel::Agent(agent)],
        ))
        .await
        .expect("subscribe");
    bus.publish(
        Channel::Agent(agent),
        Envelope::new(MessageType::Task, Sender::Human, json!({ "n": 1 })),
    )
    .await
    .expect("publish");
    let delivery = inbox.next().await.expect("delivery");
    delivery.ack().await.expect("ack");
    assert!(
        store
            .first_time("k", std::time::Duration::from_secs(5))
            .await
            .expect("mark")
    );

    // A wrong password fails with an error that does not echo the URL's secret.
    let wrong = RedisConfig::new(format!(
        "redis://:wrong-{PASSWORD}@127.0.0.1:{}/0",
        server.port()
    ));
    let err = RedisStateStore::connect(wrong)
        .await
        .expect_err("wrong password");
    assert!(!err.to_string().contains(PASSWORD), "{err}");

    // Outages are logged (with the URL in places); the password never is.
    server.kill();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let _ = bus.ping().await;
    server.restart();

    let shown = format!(
        "{config:?} {bus:?} {store:?} {} {:?}",
        config.url, config.url
    );
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains(":***@127.0.0.1"), "{shown}");
    drop(inbox);
    let logs = String::from_utf8_lossy(
        &captured
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    assert!(
        logs.contains("127.0.0.1"),
        "the logs name the server:\n{logs}"
    );
    assert!(
        logs.contains("reconnecting"),
        "the outage was logged:\n{logs}"
    );
    assert!(
        !logs.contains(PASSWORD),
        "the password reached the logs:\n{logs}"
    );
}
