//! The bus and store a process uses: the embedded in-memory pair (one process only), or Redis
//! (shared by every process of a company).

use std::sync::Arc;
use std::time::Duration;

use aito_core::{Bus, MemoryBus, MemoryStore, StateStore};
use aito_redis::{RedisBus, RedisConfig, RedisStateStore, RedisUrl};

use crate::error::Error;

/// How long one blocking stream read waits. A new entry ends the wait at once, so this bounds
/// only how soon entries left by a stopped subscription are reclaimed; 5 s instead of the
/// adapter's 1 s makes an idle daemon wake five times less (about 0.01 % of a core instead of
/// 0.03 %, scripts/measure-rss.sh).
const STREAM_BLOCK: Duration = Duration::from_secs(5);

/// A bus and a store.
#[derive(Clone)]
pub struct Backend {
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// The store.
    pub store: Arc<dyn StateStore>,
    /// The Redis URL (password masked), or `None` for the embedded pair.
    pub redis: Option<String>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// The embedded in-memory bus and store: a company in this process only, gone when it
    /// ends.
    pub fn embedded() -> Self {
        Self {
            bus: Arc::new(MemoryBus::new()),
            store: Arc::new(MemoryStore::new()),
            redis: None,
        }
    }

    /// Connects to Redis at `url`, keys under `prefix`.
    pub async fn redis(url: &RedisUrl, prefix: &str) -> Result<Self, Error> {
        let config = RedisConfig::new(url.clone())
            .with_prefix(prefix)
            .with_block(STREAM_BLOCK);
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
            redis: Some(format!("{} (prefix {prefix})", url.masked())),
        })
    }

    /// Redis when a URL is given, else the embedded pair.
    pub async fn open(url: Option<&RedisUrl>, prefix: &str) -> Result<Self, Error> {
        match url {
            Some(url) => Self::redis(url, prefix).await,
            None => Ok(Self::embedded()),
        }
    }

    /// What this backend is, for people.
    pub fn describe(&self) -> String {
        match &self.redis {
            Some(url) => format!("redis {url}"),
            None => "embedded (in-memory, this process only)".to_owned(),
        }
    }
}
