//! [`Connector`]: opens the shared, self-reconnecting connection and the dedicated ones that
//! blocking reads and pub/sub need.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, Client};

use crate::config::RedisConfig;
use crate::error::Error;

/// Opens connections to one server. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connector {
    client: Client,
    config: RedisConfig,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Checks the configuration and builds the client; connects nothing yet.
    pub(crate) fn new(config: &RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        #[cfg(feature = "tls")]
        if config.url.is_tls() {
            // Another crate in the process may have installed a provider already: keep it.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = Client::open(config.url.expose()).map_err(|err| Error::InvalidUrl {
            url: config.url.masked(),
            reason: err.to_string(),
        })?;
        Ok(Self {
            client,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// The shared connection: multiplexed, reconnects by itself after the server went away.
    pub(crate) async fn manager(&self) -> Result<ConnectionManager, Error> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(Some(self.config.response_timeout))
            .set_min_delay(self.config.reconnect_min)
            .set_max_delay(self.config.reconnect_max)
            .set_number_of_retries(3);
        let manager = self
            .client
            .get_connection_manager_with_config(config)
            .await?;
        tracing::debug!(url = %self.config.url, "connected to redis");
        Ok(manager)
    }

    /// A connection of its own, for one blocking reader: its commands may block for `block`.
    pub(crate) async fn dedicated(&self, block: Duration) -> Result<MultiplexedConnection, Error> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(Some(self.config.response_timeout + block));
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// A pub/sub connection.
    pub(crate) async fn pubsub(&self) -> Result<PubSub, Error> {
        let connect = self.client.get_async_pubsub();
        match tokio::time::timeout(self.config.connect_timeout, connect).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(Error::Redis(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out connecting the pub/sub listener",
            )))),
        }
    }
}

/// Doubling back-off between reconnection attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(config: &RedisConfig) -> Self {
        Self {
            next: config.reconnect_min,
            min: config.reconnect_min,
            max: config.reconnect_max,
        }
    }

    /// The wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// After a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}
