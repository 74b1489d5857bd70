//! aito-redis: the production [`Bus`](aito_core::Bus) and [`StateStore`](aito_core::StateStore)
//! on Redis, for a company whose daemons run in several processes or containers.
//!
//! Use it when the agents do not all live in one process (`aito agent --role cto` per
//! container), or when messages and state must survive a restart. For a single process the
//! embedded [`MemoryBus`](aito_core::MemoryBus) and [`MemoryStore`](aito_core::MemoryStore)
//! have the same guarantees and need no server.
//!
//! # Modules
//! - [`config`]: [`RedisConfig`] (URL, key prefix, timings) and [`RedisUrl`], whose `Display`
//!   and `Debug` mask the password.
//! - [`bus`]: [`RedisBus`]. Agent inboxes, broadcast, head and clevel are streams read through
//!   consumer groups and acknowledged after handling, with pending entries reclaimed from dead
//!   consumers; every envelope is mirrored on the company's pub/sub channel names, and
//!   envelopes that outside tools `PUBLISH` there are ingested once.
//! - [`store`]: [`RedisStateStore`]. State documents with compare-and-set, bounded history,
//!   versioned decisions indexed by status, idempotency marks, leases and budget counters.
//! - `testing` (feature `testing`): `RedisServer`, a private `redis-server` for tests, and
//!   `RedisCluster`, a private Redis Cluster.
//!
//! # Redis Cluster
//! A `redis+cluster://[user:password@]host:port[,host:port...]` URL (the seed nodes;
//! `rediss+cluster://` with the `tls` feature) connects through the redis crate's async
//! cluster connection, which follows `MOVED`/`ASK` and reconnects after a failover. The key
//! layout is the same on a single server: every Lua script's keys share a hash tag (one slot),
//! checked before each call.
//! - [`error`]: [`Error`], mapped onto [`BusError`](aito_core::BusError) and
//!   [`StoreError`](aito_core::StoreError) at the trait boundary.
//!
//! Every key is under a prefix (default `aito:`), and so is every pub/sub channel name except
//! with the default prefix, whose channels keep the original system's names
//! (`channel:broadcast`) for outside tools: companies with different prefixes share a server
//! without hearing each other. docs/redis.md lists every key and channel.
//!
//! # Features
//! Both are off by default.
//! - `tls`: `rediss://` (and `rediss+cluster://`) URLs, Redis over TLS through rustls (the ring provider, the system's
//!   root certificates). Without it a `rediss://` URL is refused with an error naming the
//!   feature.
//! - `testing`: the `testing` module's `RedisServer`, a private `redis-server` on a free port in
//!   a temporary directory, and `RedisCluster`, for your tests (turn it on in
//!   `[dev-dependencies]`; it needs `redis-server` and, for the cluster, `redis-cli` on the
//!   `PATH`).
//!
//! # Example
//! ```no_run
//! use aito_core::{Bus, Channel, Envelope, MessageType, Sender, StateStore, Subscription};
//! use aito_redis::{RedisBus, RedisConfig, RedisStateStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RedisConfig::new("redis://:password@127.0.0.1:6379/0").with_prefix("acme:");
//! let bus = RedisBus::connect(config.clone()).await?;
//! let store = RedisStateStore::connect(config).await?;
//!
//! let cto = aito_core::AgentId::derived("acme", "cto");
//! let mut inbox = bus
//!     .subscribe(Subscription::new(cto.to_string(), "cto-1", [Channel::Agent(cto), Channel::Broadcast]))
//!     .await?;
//! let task = Envelope::new(MessageType::Task, Sender::Human, serde_json::json!({"title": "Ship"}));
//! bus.publish(Channel::Agent(cto), task).await?;
//!
//! if let Some(delivery) = inbox.next().await {
//!     if store.first_time(&delivery.envelope().id.to_string(), std::time::Duration::from_secs(86_400)).await? {
//!         // ... handle it ...
//!     }
//!     delivery.ack().await?;
//! }
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bus;
pub mod config;
mod connection;
pub mod error;
mod keys;
mod scripts;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use bus::RedisBus;
pub use config::{DEFAULT_PREFIX, RedisConfig, RedisUrl};
pub use error::Error;
pub use store::RedisStateStore;
