//! [`Connector`]: opens the shared, self-reconnecting connection and the dedicated ones that
//! blocking reads and pub/sub need, on a single server or on a Redis Cluster
//! (`redis+cluster://` URLs, through the redis crate's async cluster connection, which follows
//! `MOVED`/`ASK` redirects and reconnects by itself).

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Msg, Pipeline, RedisFuture, Value};
use tokio::sync::mpsc;

use crate::config::RedisConfig;
use crate::error::Error;

/// A connection to a single server or to a cluster; commands are routed by their keys.
#[derive(Clone)]
pub(crate) enum Connection {
    /// The shared connection to a single server, reconnecting by itself.
    Manager(ConnectionManager),
    /// A connection of its own to a single server.
    Multiplexed(MultiplexedConnection),
    /// A cluster connection (one connection per node, routed by slot).
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Manager(connection) => connection.req_packed_command(cmd),
            Connection::Multiplexed(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Manager(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Multiplexed(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Manager(connection) => connection.get_db(),
            Connection::Multiplexed(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// One node to send a command to: the only one of a single server, or a cluster node.
pub(crate) enum Node {
    /// The server this connection talks to.
    Only,
    /// A cluster node by address.
    Address { host: String, port: u16 },
}

impl Connection {
    /// The masters of a cluster, or the only server: `SCAN` walks one node's keys only.
    pub(crate) async fn masters(&mut self) -> Result<Vec<Node>, Error> {
        let Connection::Cluster(cluster) = self else {
            return Ok(vec![Node::Only]);
        };
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(cluster)
            .await?;
        let mut masters = Vec::new();
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else {
                continue;
            };
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.contains(&"fail") || flags.contains(&"noaddr") {
                continue;
            }
            let address = address.split('@').next().unwrap_or(address);
            if let Some((host, port)) = address.rsplit_once(':')
                && let Ok(port) = port.parse::<u16>()
            {
                masters.push(Node::Address {
                    host: host.to_owned(),
                    port,
                });
            }
        }
        Ok(masters)
    }

    /// Runs `command` on `node`.
    pub(crate) async fn query_on<T: redis::FromRedisValue>(
        &mut self,
        node: &Node,
        command: &Cmd,
    ) -> Result<T, Error> {
        match (self, node) {
            (Connection::Cluster(cluster), Node::Address { host, port }) => {
                let route = redis::cluster_routing::RoutingInfo::SingleNode(
                    redis::cluster_routing::SingleNodeRoutingInfo::ByAddress {
                        host: host.clone(),
                        port: *port,
                    },
                );
                let reply = cluster.route_command(command.clone(), route).await?;
                redis::from_redis_value(reply).map_err(|err| Error::UnexpectedReply {
                    command: "a command routed to one node",
                    expected: "a reply of the expected shape",
                    found: err.to_string(),
                })
            }
            (connection, _) => Ok(command.query_async(connection).await?),
        }
    }
}

/// How to reach the server(s).
#[derive(Clone)]
enum Target {
    // Boxed: with TLS the client carries its certificates.
    Single(Box<Client>),
    Cluster(Box<ClusterClients>),
}

/// The clients of a cluster.
#[derive(Clone)]
struct ClusterClients {
    /// Commands (RESP2).
    commands: ClusterClient,
    /// Pub/sub (RESP3: the cluster connection delivers messages as pushes).
    pubsub: ClusterClient,
}

/// Opens connections to one server or one cluster. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connector {
    target: Target,
    config: RedisConfig,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

fn invalid(config: &RedisConfig, err: &redis::RedisError) -> Error {
    Error::InvalidUrl {
        url: config.url.masked(),
        reason: err.to_string(),
    }
}

/// The client of a single server, trusting the configured certificate authority with TLS.
fn single_client(config: &RedisConfig) -> Result<Client, redis::RedisError> {
    #[cfg(feature = "tls")]
    if let Some(pem) = &config.tls_ca
        && config.url.is_tls()
    {
        return Client::build_with_tls(config.url.expose(), trusted(pem));
    }
    Client::open(config.url.expose())
}

/// Certificates that trust `pem` alone as the root.
#[cfg(feature = "tls")]
fn trusted(pem: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

fn timed_out(what: &str) -> Error {
    Error::Redis(redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("timed out {what}"),
    )))
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
        let target = match config.url.cluster_seeds() {
            Some(seeds) => {
                let builder = |protocol| {
                    let builder = ClusterClient::builder(seeds.iter().map(String::as_str));
                    #[cfg(feature = "tls")]
                    let builder = match &config.tls_ca {
                        Some(pem) => builder.certs(trusted(pem)),
                        None => builder,
                    };
                    builder
                        .connection_timeout(config.connect_timeout)
                        .response_timeout(config.response_timeout)
                        .retries(6)
                        .min_retry_wait(config.reconnect_min.as_millis().try_into().unwrap_or(100))
                        .max_retry_wait(
                            config.reconnect_max.as_millis().try_into().unwrap_or(5_000),
                        )
                        .use_protocol(protocol)
                        .build()
                        .map_err(|err| invalid(config, &err))
                };
                Target::Cluster(Box::new(ClusterClients {
                    commands: builder(redis::ProtocolVersion::RESP2)?,
                    pubsub: builder(redis::ProtocolVersion::RESP3)?,
                }))
            }
            None => Target::Single(Box::new(
                single_client(config).map_err(|err| invalid(config, &err))?,
            )),
        };
        Ok(Self {
            target,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &RedisConfig {
        &self.config
    }

    async fn cluster(
        &self,
        client: &ClusterClient,
        config: ClusterConfig,
    ) -> Result<ClusterConnection, Error> {
        let connect = client.get_async_connection_with_config(config);
        match tokio::time::timeout(self.config.connect_timeout * 2, connect).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(timed_out("connecting to the cluster")),
        }
    }

    fn cluster_config(&self, response: Duration) -> ClusterConfig {
        ClusterConfig::new()
            .set_connection_timeout(self.config.connect_timeout)
            .set_response_timeout(response)
    }

    /// The shared connection: multiplexed, reconnects by itself after the server went away.
    pub(crate) async fn manager(&self) -> Result<Connection, Error> {
        let connection = match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.config.connect_timeout))
                    .set_response_timeout(Some(self.config.response_timeout))
                    .set_min_delay(self.config.reconnect_min)
                    .set_max_delay(self.config.reconnect_max)
                    .set_number_of_retries(3);
                Connection::Manager(client.get_connection_manager_with_config(config).await?)
            }
            Target::Cluster(clients) => Connection::Cluster(
                self.cluster(
                    &clients.commands,
                    self.cluster_config(self.config.response_timeout),
                )
                .await?,
            ),
        };
        tracing::debug!(url = %self.config.url, "connected to redis");
        Ok(connection)
    }

    /// A connection of its own, for one blocking reader: its commands may block for `block`.
    pub(crate) async fn dedicated(&self, block: Duration) -> Result<Connection, Error> {
        let response = self.config.response_timeout + block;
        match &self.target {
            Target::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.config.connect_timeout))
                    .set_response_timeout(Some(response));
                Ok(Connection::Multiplexed(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Target::Cluster(clients) => Ok(Connection::Cluster(
                self.cluster(&clients.commands, self.cluster_config(response))
                    .await?,
            )),
        }
    }

    /// A pub/sub connection.
    pub(crate) async fn pubsub(&self) -> Result<PubSub, Error> {
        match &self.target {
            Target::Single(client) => {
                let connect = client.get_async_pubsub();
                match tokio::time::timeout(self.config.connect_timeout, connect).await {
                    Ok(result) => {
                        let (sink, stream) = result?.split();
                        Ok(PubSub::Single { sink, stream })
                    }
                    Err(_) => Err(timed_out("connecting the pub/sub listener")),
                }
            }
            Target::Cluster(clients) => {
                let (sender, messages) = mpsc::unbounded_channel();
                let config = self
                    .cluster_config(self.config.response_timeout)
                    .set_push_sender(sender);
                let connection = self.cluster(&clients.pubsub, config).await?;
                Ok(PubSub::Cluster {
                    connection,
                    messages,
                })
            }
        }
    }
}

/// A pub/sub listener's connection. On a cluster, regular pub/sub messages reach every node,
/// so one connection hears every channel; the cluster connection re-subscribes by itself after
/// a node went away.
pub(crate) enum PubSub {
    Single {
        sink: redis::aio::PubSubSink,
        stream: redis::aio::PubSubStream,
    },
    Cluster {
        connection: ClusterConnection,
        messages: mpsc::UnboundedReceiver<redis::PushInfo>,
    },
}

impl PubSub {
    /// Subscribes to a channel.
    pub(crate) async fn subscribe(&mut self, channel: &str) -> Result<(), Error> {
        match self {
            PubSub::Single { sink, .. } => sink.subscribe(channel).await?,
            PubSub::Cluster { connection, .. } => connection.subscribe(channel).await?,
        }
        Ok(())
    }

    /// Subscribes to a pattern.
    pub(crate) async fn psubscribe(&mut self, pattern: &str) -> Result<(), Error> {
        match self {
            PubSub::Single { sink, .. } => sink.psubscribe(pattern).await?,
            PubSub::Cluster { connection, .. } => connection.psubscribe(pattern).await?,
        }
        Ok(())
    }

    /// The next message; `None` when the connection is gone.
    pub(crate) fn next(&mut self) -> BoxFuture<'_, Option<Msg>> {
        Box::pin(async move {
            match self {
                PubSub::Single { stream, .. } => stream.next().await,
                PubSub::Cluster { messages, .. } => loop {
                    // Subscription confirmations and other pushes are not messages.
                    let push = messages.recv().await?;
                    if let Some(message) = Msg::from_push_info(push) {
                        return Some(message);
                    }
                },
            }
        })
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
