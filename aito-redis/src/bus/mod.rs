//! [`RedisBus`]: the [`Bus`] on Redis streams and pub/sub.
//!
//! - Durable channels are streams read through consumer groups: an agent inbox
//!   (`stream:agent:<uuid>`) has one group, created from the stream's start, and its entries are
//!   deleted once acknowledged; `stream:broadcast`, `stream:head` and `stream:clevel` have one
//!   group per subscribing [`Subscription::group`], created at its first subscription.
//! - Every envelope published on a durable channel is mirrored on the channel's pub/sub name
//!   for outside observers; envelopes that outside tools `PUBLISH` there are ingested
//!   ([`ingest`]).
//! - Live channels are plain pub/sub.
//! - Pub/sub names carry the company's prefix (`beta:channel:broadcast`), except with the
//!   default prefix, whose channels keep the original names (`channel:broadcast`): a bus hears
//!   and ingests only its own company's `PUBLISH`es.

mod hub;
pub mod ingest;
pub(crate) mod reader;
mod refuse;
mod tracker;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::connection::Connection;
use aito_core::{Bus, BusError, Channel, Deliveries, Envelope, Subscription};
use async_trait::async_trait;
use tokio::sync::{OnceCell, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::RedisConfig;
use crate::connection::Connector;
use crate::error::Error;
use crate::keys::{INBOX_GROUP, Keys};
use crate::scripts::Scripts;
use hub::Hub;
use ingest::{Ingestor, Occurrences};
use reader::{Reader, ensure_group};
use tracker::{Shared, StreamSpec};
use watch::Watcher;

pub use ingest::MIRROR_FIELD;

/// The [`Bus`] on Redis. Cheap to clone; clones share the connections.
///
/// Connects with [`RedisBus::connect`]; from then on it reconnects by itself: publishing fails
/// with [`BusError::Unavailable`] while the server is away, and subscriptions resume when it is
/// back, without losing what was written to a stream.
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    manager: Connection,
    keys: Keys,
    scripts: Arc<Scripts>,
    hub: OnceCell<Hub>,
    /// Waits for new entries for every reader on a single server with
    /// [`shared_wait`](RedisConfig::shared_wait); `None` on a cluster or without it, where
    /// every reader blocks on a connection of its own.
    watcher: Option<Watcher>,
    next_subscriber: AtomicU64,
    shutdown: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("url", &self.inner.connector.config().url)
            .field("prefix", &self.inner.connector.config().prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects to the server of `config`.
    pub async fn connect(config: RedisConfig) -> Result<Self, Error> {
        let connector = Connector::new(&config)?;
        let manager = connector.manager().await?;
        let shutdown = CancellationToken::new();
        let watcher = (config.shared_wait && !config.url.is_cluster())
            .then(|| Watcher::new(connector.clone(), manager.clone(), shutdown.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                keys: Keys::new(&config.prefix),
                connector,
                manager,
                scripts: Arc::new(Scripts::new()),
                hub: OnceCell::new(),
                watcher,
                next_subscriber: AtomicU64::new(0),
                shutdown,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        self.inner.connector.config()
    }

    async fn hub(&self) -> Result<&Hub, Error> {
        let inner = &self.inner;
        inner
            .hub
            .get_or_try_init(|| async {
                let config = inner.connector.config();
                let ingestor = config.ingest_publish.then(|| Ingestor {
                    manager: inner.manager.clone(),
                    keys: inner.keys.clone(),
                    scripts: Arc::clone(&inner.scripts),
                    config: config.clone(),
                    occurrences: Occurrences::default(),
                });
                Hub::start(
                    inner.connector.clone(),
                    inner.keys.clone(),
                    ingestor,
                    inner.shutdown.clone(),
                )
                .await
            })
            .await
    }

    async fn publish_inner(&self, channel: Channel, envelope: &Envelope) -> Result<(), Error> {
        let json = envelope.to_json();
        let limit = self.config().max_envelope_bytes;
        if json.len() > limit {
            return Err(Error::TooLarge {
                bytes: json.len(),
                limit,
            });
        }
        let mut manager = self.inner.manager.clone();
        match self.inner.keys.stream(channel) {
            Some(stream) => {
                let maxlen = match channel {
                    Channel::Agent(_) => 0,
                    _ => self.config().group_stream_len,
                };
                let _entry: String = self
                    .inner
                    .scripts
                    .publish
                    .key(stream)
                    .arg(json)
                    .arg(self.inner.keys.channel(channel))
                    .arg(maxlen)
                    .arg("1")
                    .invoke_async(&mut manager)
                    .await?;
            }
            None => {
                let _receivers: i64 = redis::cmd("PUBLISH")
                    .arg(self.inner.keys.channel(channel))
                    .arg(json)
                    .query_async(&mut manager)
                    .await?;
            }
        }
        Ok(())
    }

    async fn subscribe_inner(&self, subscription: Subscription) -> Result<Deliveries, Error> {
        let config = self.config().clone();
        let id = self.inner.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let mut channels = subscription.channels.clone();
        channels.sort();
        channels.dedup();
        // Ingestion must be listening as soon as anyone subscribes.
        let hub = if config.ingest_publish || channels.iter().any(|c| !c.is_durable()) {
            Some(self.hub().await?.clone())
        } else {
            None
        };
        let streams: Vec<StreamSpec> = channels
            .iter()
            .filter_map(|channel| {
                let key = self.inner.keys.stream(*channel)?;
                Some(match channel {
                    Channel::Agent(_) => StreamSpec {
                        channel: *channel,
                        key,
                        group: INBOX_GROUP.to_owned(),
                        start: "0",
                        delete_on_ack: true,
                    },
                    _ => StreamSpec {
                        channel: *channel,
                        key,
                        group: subscription.group.clone(),
                        // A new group gets what the stream kept, not only what comes next.
                        start: "0",
                        delete_on_ack: false,
                    },
                })
            })
            .collect();
        let mut manager = self.inner.manager.clone();
        for spec in &streams {
            ensure_group(&mut manager, spec).await?;
        }
        let (sender, receiver) = mpsc::channel(config.buffer.max(1));
        let cancel = self.inner.shutdown.child_token();
        let shared = Arc::new(Shared::new(
            self.inner.manager.clone(),
            Arc::clone(&self.inner.scripts),
            subscription.consumer.clone(),
            subscription.take_over,
            streams,
        ));
        let mut guard = Guard {
            cancel: cancel.clone(),
            hub: hub.clone(),
            subscriber: id,
            shared: Arc::clone(&shared),
            readers: Vec::new(),
        };
        for channel in channels.iter().filter(|c| !c.is_durable()) {
            if let Some(hub) = &hub {
                let confirmed = hub.subscribe(*channel, id, sender.clone());
                match tokio::time::timeout(config.response_timeout, confirmed).await {
                    Ok(result) => result?,
                    Err(_) => {
                        return Err(Error::Redis(redis::RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "timed out subscribing on pub/sub",
                        ))));
                    }
                }
            }
        }
        for stream in 0..shared.streams.len() {
            let (connection, bell) = match &self.inner.watcher {
                Some(watcher) => (
                    self.inner.manager.clone(),
                    Some(watcher.watch(&shared.streams[stream].key).await?),
                ),
                None => (self.inner.connector.dedicated(config.block).await?, None),
            };
            let reader = Reader {
                shared: Arc::clone(&shared),
                stream,
                connector: self.inner.connector.clone(),
                keys: self.inner.keys.clone(),
                sender: sender.clone(),
                cancel: cancel.clone(),
                bell,
            };
            guard.readers.push(tokio::spawn(reader.run(connection)));
        }
        if !shared.streams.is_empty() {
            tokio::spawn(Arc::clone(&shared).heartbeat(config.reclaim_idle / 3, cancel.clone()));
        }
        tracing::debug!(group = %subscription.group, consumer = %subscription.consumer, channels = ?channels, "subscribed");
        Ok(Deliveries::bounded(receiver, Some(Box::new(guard))))
    }
}

/// Ends a subscription when its [`Deliveries`] is dropped: stops its readers and hands the
/// envelopes it took and did not acknowledge over to the rest of its group at once.
struct Guard {
    cancel: CancellationToken,
    hub: Option<Hub>,
    subscriber: u64,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(hub) = &self.hub {
            hub.unsubscribe(self.subscriber);
        }
        let readers = std::mem::take(&mut self.readers);
        let shared = Arc::clone(&self.shared);
        // Without a runtime (dropped at process exit) the entries go stale and are reclaimed.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for reader in readers {
                    // A reader ends within one blocking read; a panic in it is already logged.
                    let _ = reader.await;
                }
                shared.release_all().await;
            });
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, channel: Channel, envelope: Envelope) -> Result<(), BusError> {
        self.publish_inner(channel, &envelope).await.map_err(|err| {
            tracing::debug!(channel = %channel, id = %envelope.id, error = %err, "publish failed");
            err.into()
        })
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<Deliveries, BusError> {
        Ok(self.subscribe_inner(subscription).await?)
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut manager = self.inner.manager.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut manager)
            .await
            .map_err(Error::from)?;
        Ok(())
    }
}
