//! The bus and store a process uses: the durable embedded pair in the data directory (one
//! SQLite file, shared with the operator's commands), the in-memory pair (this process only,
//! gone when it ends), or Redis (shared by every process of a company).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aito_core::{Bus, MemoryBus, MemoryStore, StateStore};
use aito_redis::{RedisBus, RedisConfig, RedisStateStore, RedisUrl};
use aito_sqlite::{DirLock, Embedded};

use crate::config::{BusSettings, Config};
use crate::error::Error;

/// How long one blocking stream read waits. A new entry ends the wait at once, so this bounds
/// only how soon entries left by a stopped subscription are reclaimed; 5 s instead of the
/// adapter's 1 s makes an idle daemon wake five times less (about 0.01 % of a core instead of
/// 0.03 %, scripts/measure-rss.sh).
const STREAM_BLOCK: Duration = Duration::from_secs(5);

/// Where a backend keeps the company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// In this process's memory.
    Memory,
    /// The SQLite file at this path.
    Embedded(PathBuf),
    /// This Redis (URL masked, with the prefix).
    Redis(String),
}

/// A bus and a store.
#[derive(Clone)]
pub struct Backend {
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// The store.
    pub store: Arc<dyn StateStore>,
    /// Where they keep the company.
    pub kind: Kind,
    /// The embedded adapters, when that is what they are.
    pub embedded: Option<Embedded>,
    /// The data directory's lock, held by `aito run` for as long as the backend lives.
    pub lock: Option<Arc<DirLock>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// The in-memory bus and store: a company in this process only, gone when it ends.
    pub fn memory(settings: &BusSettings) -> Self {
        Self {
            bus: Arc::new(MemoryBus::with_max_envelope_bytes(
                settings.max_envelope_bytes,
            )),
            store: Arc::new(MemoryStore::new()),
            kind: Kind::Memory,
            embedded: None,
            lock: None,
        }
    }

    /// The durable embedded bus and store of an open data directory.
    pub fn embedded(embedded: Embedded, lock: Option<DirLock>, settings: &BusSettings) -> Self {
        embedded
            .bus
            .set_max_envelope_bytes(settings.max_envelope_bytes);
        Self {
            bus: Arc::new(embedded.bus.clone()),
            store: Arc::new(embedded.store.clone()),
            kind: Kind::Embedded(embedded.db.path().to_path_buf()),
            embedded: Some(embedded),
            lock: lock.map(Arc::new),
        }
    }

    /// Connects to Redis at `url`, keys under the configured prefix, with the configured bus
    /// limits; outside `PUBLISH`es are ingested only for the configured agents. The bus's
    /// readers wait for new entries together (a process of many agents).
    pub async fn redis(url: &RedisUrl, config: &Config) -> Result<Self, Error> {
        Self::redis_waiting(url, config, true).await
    }

    /// As [`redis`](Self::redis), with the bus's readers waiting together on one connection
    /// (`shared_wait`: few connections, one round trip more per delivery) or each on its own
    /// (one round trip: a process of one agent).
    pub async fn redis_waiting(
        url: &RedisUrl,
        config: &Config,
        shared_wait: bool,
    ) -> Result<Self, Error> {
        let prefix = config.redis.prefix.as_str();
        let config = RedisConfig::new(url.clone())
            .with_prefix(prefix)
            .with_block(STREAM_BLOCK)
            .with_shared_wait(shared_wait)
            .with_max_envelope_bytes(config.bus.max_envelope_bytes)
            .with_agents(config.agents.iter().filter_map(|agent| agent.spec.id));
        let failed = |err: aito_redis::Error| Error::Redis {
            url: url.masked(),
            reason: err.to_string(),
        };
        let bus = RedisBus::connect(config.clone()).await.map_err(failed)?;
        let store = RedisStateStore::connect(config).await.map_err(failed)?;
        store.ping().await.map_err(|err| Error::Redis {
            url: url.masked(),
            reason: err.to_string(),
        })?;
        tracing::info!(redis = %url, prefix, "connected to redis");
        Ok(Self {
            bus: Arc::new(bus),
            store: Arc::new(store),
            kind: Kind::Redis(format!("{} (prefix {prefix})", url.masked())),
            embedded: None,
            lock: None,
        })
    }

    /// Whether the bus and store outlive this process (and other processes can reach them).
    pub fn is_shared(&self) -> bool {
        !matches!(self.kind, Kind::Memory)
    }

    /// What this backend is, for people.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Memory => "in memory (this process only)".to_owned(),
            Kind::Embedded(path) => format!("embedded, {}", path.display()),
            Kind::Redis(url) => format!("redis {url}"),
        }
    }
}
