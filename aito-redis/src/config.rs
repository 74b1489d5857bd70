//! [`RedisConfig`]: where the server is and how the adapters use it; [`RedisUrl`]: a URL whose
//! password never reaches a log.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aito_core::AgentId;

use crate::error::Error;

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "aito:";

/// A Redis URL (`redis://`, `rediss://`, `redis+unix://`, `unix://`), or the seed nodes of a
/// Redis Cluster: `redis+cluster://[user:password@]host:port[,host:port...]` (TLS:
/// `rediss+cluster://`).
///
/// `Display` and `Debug` mask the password (`redis://:***@host:6379/0`); only
/// [`RedisUrl::expose`] gives the URL as written, to hand it to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Wraps a URL as written.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the Redis client only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`redis`, `rediss`, ...), lowercase; empty when there is none.
    pub fn scheme(&self) -> String {
        self.0
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// Whether the URL asks for TLS (`rediss://`, `rediss+cluster://`).
    pub fn is_tls(&self) -> bool {
        matches!(self.scheme().as_str(), "rediss" | "rediss+cluster")
    }

    /// Whether the URL names a Redis Cluster (`redis+cluster://`, `rediss+cluster://`).
    pub fn is_cluster(&self) -> bool {
        matches!(self.scheme().as_str(), "redis+cluster" | "rediss+cluster")
    }

    /// For a cluster URL, one plain URL per seed node, each with the credentials
    /// (`redis+cluster://:pw@a:7000,b:7001` gives `redis://:pw@a:7000` and
    /// `redis://:pw@b:7001`); `None` for any other URL.
    pub fn cluster_seeds(&self) -> Option<Vec<String>> {
        if !self.is_cluster() {
            return None;
        }
        let (scheme, rest) = self.0.split_once("://")?;
        let scheme = if scheme.eq_ignore_ascii_case("rediss+cluster") {
            "rediss"
        } else {
            "redis"
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let seeds: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{scheme}://{userinfo}{host}{tail}"))
            .collect();
        Some(seeds)
    }

    /// The URL with any password replaced by `***`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Replaces the password of `url` (the user-info part after `:`, or the whole user-info when it
/// has no `:`) with `***`.
fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: show nothing of it but its length, since it may be a bare secret.
        return format!("<unparsable URL of {} characters>", url.len());
    };
    // The user-info ends at the last `@` before the query or fragment.
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let masked = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None if userinfo.is_empty() => String::new(),
        // `redis://secret@host`: some tools take a lone user-info as the password.
        None => "***".to_owned(),
    };
    format!("{scheme}://{masked}{}", &rest[at..])
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({:?})", self.masked())
    }
}

impl From<&str> for RedisUrl {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

/// How [`RedisBus`](crate::RedisBus) and [`RedisStateStore`](crate::RedisStateStore) connect and
/// lay out their data. `Debug` masks the password.
///
/// ```
/// use std::time::Duration;
/// use aito_redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://:s3cret@localhost:6379/0")
///     .with_prefix("acme:")
///     .with_reclaim_idle(Duration::from_secs(30));
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The server.
    pub url: RedisUrl,
    /// Prefix of every key, and of every pub/sub channel name unless it is the default
    /// (`aito:`) or empty, in which case channels keep their original names
    /// (`channel:broadcast`). Default `aito:`.
    pub prefix: String,
    /// A pending stream entry not touched for this long is taken over by another consumer of its
    /// group (its consumer died). Live deliveries are kept fresh, so a long handling is not
    /// taken over. Default 30 s.
    pub reclaim_idle: Duration,
    /// How long one blocking stream read waits before the reader looks for entries to reclaim
    /// (entries handed over by an ended subscription are picked up within this time).
    /// Default 1 s.
    pub block: Duration,
    /// On a single server, whether the readers of the bus's subscriptions wait for new entries
    /// together, on one connection (one blocking `XREAD` over every stream they read, then a
    /// non-blocking `XREADGROUP` by the reader it woke), or each on a connection of its own
    /// (one blocking `XREADGROUP`). Together, a process holds four connections however many
    /// agents it runs, and a delivery to an idle reader takes one round trip more; apart, a
    /// process holds a connection per stream read, and a delivery takes one. Pack many agents
    /// into a process together; give a process of one agent its own. On a cluster every
    /// reader waits on its own connection. Default on (together).
    pub shared_wait: bool,
    /// How long a command may take before it fails (blocking reads add `block`). Default 5 s.
    pub response_timeout: Duration,
    /// How long connecting may take. Default 5 s.
    pub connect_timeout: Duration,
    /// First wait before reconnecting a reader or the pub/sub listener; doubles up to
    /// `reconnect_max`. Default 100 ms.
    pub reconnect_min: Duration,
    /// Longest wait between reconnection attempts. Default 5 s.
    pub reconnect_max: Duration,
    /// Approximate cap on the entries of `stream:broadcast`, `stream:head` and
    /// `stream:clevel` (`XADD MAXLEN ~`). Agent inboxes are never capped: they hold only
    /// unacknowledged envelopes. Default 10 000.
    pub group_stream_len: usize,
    /// Stream entries fetched per read. Default 100.
    pub read_batch: usize,
    /// Deliveries buffered in front of a slow subscriber. Default 100.
    pub buffer: usize,
    /// Ingest envelopes that an outside tool sent with a plain `PUBLISH` on a durable channel.
    /// Default on.
    pub ingest_publish: bool,
    /// How long an ingestion claim lives (the window in which listeners agree that they saw
    /// the same `PUBLISH`). Default 60 s.
    pub ingest_window: Duration,
    /// The size cap of one envelope as JSON: larger ones are refused on publish, and
    /// dead-lettered (never delivered) when read from a stream or ingested from a `PUBLISH`.
    /// Default [`MAX_ENVELOPE_BYTES`](aito_core::envelope::MAX_ENVELOPE_BYTES) (256 KiB).
    pub max_envelope_bytes: usize,
    /// With TLS (`rediss://`, `rediss+cluster://`): the certificate authority to trust, as PEM,
    /// instead of the system's root certificates (a private CA, or a server's self-signed
    /// certificate). Default none.
    pub tls_ca: Option<Vec<u8>>,
    /// The company's agents, when given: a plain `PUBLISH` to the inbox of any other agent id
    /// is dead-lettered with its reason and never appended to a stream, so that no outside
    /// tool can grow streams for agents that nobody reads. `None` (the default) ingests for
    /// any id.
    pub agents: Option<Arc<BTreeSet<AgentId>>>,
}

impl RedisConfig {
    /// A configuration for `url` with the defaults.
    pub fn new(url: impl Into<RedisUrl>) -> Self {
        Self {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            reclaim_idle: Duration::from_secs(30),
            block: Duration::from_secs(1),
            shared_wait: true,
            response_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            group_stream_len: 10_000,
            read_batch: 100,
            buffer: 100,
            ingest_publish: true,
            ingest_window: Duration::from_secs(60),
            max_envelope_bytes: aito_core::envelope::MAX_ENVELOPE_BYTES,
            tls_ca: None,
            agents: None,
        }
    }

    /// Sets the key prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long a pending entry must be idle before another consumer takes it over.
    pub fn with_reclaim_idle(mut self, idle: Duration) -> Self {
        self.reclaim_idle = idle;
        self
    }

    /// Sets the longest wait of one blocking read.
    pub fn with_block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// Whether the readers wait for new entries on one shared connection (see
    /// [`shared_wait`](Self::shared_wait)).
    pub fn with_shared_wait(mut self, on: bool) -> Self {
        self.shared_wait = on;
        self
    }

    /// Sets the command timeout.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets the reconnection back-off bounds.
    pub fn with_reconnect(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Sets the approximate cap of the group streams.
    pub fn with_group_stream_len(mut self, len: usize) -> Self {
        self.group_stream_len = len;
        self
    }

    /// Turns ingestion of outside `PUBLISH`es on or off.
    pub fn with_ingest_publish(mut self, on: bool) -> Self {
        self.ingest_publish = on;
        self
    }

    /// Trusts the certificate authority `pem` (PEM text) for TLS instead of the system's roots.
    pub fn with_tls_ca(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca = Some(pem.into());
        self
    }

    /// Sets the size cap of one envelope as JSON.
    pub fn with_max_envelope_bytes(mut self, bytes: usize) -> Self {
        self.max_envelope_bytes = bytes;
        self
    }

    /// Sets the company's agents (its directory): outside `PUBLISH`es to any other agent's
    /// inbox are dead-lettered instead of ingested.
    pub fn with_agents(mut self, agents: impl IntoIterator<Item = AgentId>) -> Self {
        self.agents = Some(Arc::new(agents.into_iter().collect()));
        self
    }

    /// Whether an outside `PUBLISH` to `agent`'s inbox may be ingested: always without a
    /// directory ([`RedisConfig::agents`]), else only for the agents in it.
    pub fn accepts_agent(&self, agent: AgentId) -> bool {
        self.agents
            .as_ref()
            .is_none_or(|agents| agents.contains(&agent))
    }

    /// The pub/sub name of `channel` for this company: the original name
    /// (`channel:broadcast`) with the default prefix or none, else under the prefix
    /// (`beta:channel:broadcast`). This is where an outside tool `PUBLISH`es to reach the
    /// company, or `SUBSCRIBE`s to watch it.
    ///
    /// ```
    /// use aito_core::Channel;
    /// use aito_redis::RedisConfig;
    ///
    /// let config = RedisConfig::new("redis://localhost");
    /// assert_eq!(config.channel_name(Channel::Broadcast), "channel:broadcast");
    /// let beta = config.with_prefix("beta:");
    /// assert_eq!(beta.channel_name(Channel::Broadcast), "beta:channel:broadcast");
    /// ```
    pub fn channel_name(&self, channel: aito_core::Channel) -> String {
        crate::keys::Keys::new(&self.prefix).channel(channel)
    }

    /// Checks what can be checked without a server: the URL parses and its scheme is usable,
    /// and the prefix has no `{` or `}` (the key layout's hash tags are aito's own).
    pub fn validate(&self) -> Result<(), Error> {
        if self.prefix.contains(['{', '}']) {
            return Err(Error::InvalidPrefix {
                prefix: self.prefix.clone(),
            });
        }
        if self.url.is_tls() && !cfg!(feature = "tls") {
            return Err(Error::TlsNotEnabled {
                url: self.url.masked(),
            });
        }
        let invalid = |reason: String| Error::InvalidUrl {
            url: self.url.masked(),
            reason,
        };
        match self.url.cluster_seeds() {
            Some(seeds) if seeds.is_empty() => {
                return Err(invalid(
                    "a cluster URL names its seed nodes: redis+cluster://host:port[,host:port...]"
                        .to_owned(),
                ));
            }
            Some(seeds) => {
                for seed in &seeds {
                    let info = redis::IntoConnectionInfo::into_connection_info(seed.as_str())
                        .map_err(|err| invalid(err.to_string()))?;
                    if info.redis_settings().db() != 0 {
                        return Err(invalid("a Redis Cluster has only database 0".to_owned()));
                    }
                }
            }
            None => {
                redis::Client::open(self.url.expose()).map_err(|err| invalid(err.to_string()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_in_every_form() {
        for (url, shown) in [
            (
                "redis://:s3cret@localhost:6379/0",
                "redis://:***@localhost:6379/0",
            ),
            (
                "rediss://user:s3cret@cache.example:6380",
                "rediss://user:***@cache.example:6380",
            ),
            ("redis://s3cret@localhost", "redis://***@localhost"),
            ("redis://:p@ss@word@host/1", "redis://:***@host/1"),
            ("redis://localhost:6379", "redis://localhost:6379"),
            (
                "redis+unix:///run/redis.sock",
                "redis+unix:///run/redis.sock",
            ),
        ] {
            let url = RedisUrl::new(url);
            assert_eq!(url.to_string(), shown);
            assert!(!format!("{url:?}").contains("s3cret"));
            assert!(!format!("{url:?}").contains("word"));
        }
        assert!(!RedisUrl::new("s3cret").to_string().contains("s3cret"));
    }

    #[test]
    fn debug_of_the_config_hides_the_password() {
        let config = RedisConfig::new("redis://:hunter2@localhost:6379");
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("localhost:6379"));
    }

    #[test]
    fn cluster_urls_name_their_seeds_with_the_credentials() {
        let url = RedisUrl::new("redis+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2:7001");
        assert!(url.is_cluster());
        assert!(!url.is_tls());
        assert_eq!(
            url.cluster_seeds(),
            Some(vec![
                "redis://app:s3cret@10.0.0.1:7000".to_owned(),
                "redis://app:s3cret@10.0.0.2:7001".to_owned()
            ])
        );
        assert_eq!(
            url.to_string(),
            "redis+cluster://app:***@10.0.0.1:7000,10.0.0.2:7001"
        );
        let tls = RedisUrl::new("rediss+cluster://h:7000");
        assert!(tls.is_tls() && tls.is_cluster());
        assert_eq!(
            tls.cluster_seeds(),
            Some(vec!["rediss://h:7000".to_owned()])
        );
        assert_eq!(RedisUrl::new("redis://h:6379").cluster_seeds(), None);
        assert!(
            RedisConfig::new("redis+cluster://h:7000,h:7001")
                .validate()
                .is_ok()
        );
        let empty = RedisConfig::new("redis+cluster://").validate();
        assert!(empty.expect_err("no seeds").to_string().contains("seed"));
        let db = RedisConfig::new("redis+cluster://h:7000/3").validate();
        assert!(db.expect_err("db 3").to_string().contains("database 0"));
    }

    #[test]
    fn prefixes_with_braces_are_refused() {
        let err = RedisConfig::new("redis://h")
            .with_prefix("{acme}:")
            .validate()
            .expect_err("braces");
        assert!(matches!(err, Error::InvalidPrefix { .. }), "{err}");
    }

    #[test]
    fn tls_urls_need_the_feature() {
        let config = RedisConfig::new("rediss://:pw@localhost:6380");
        assert!(config.url.is_tls());
        let result = config.validate();
        if cfg!(feature = "tls") {
            assert!(result.is_ok(), "{result:?}");
        } else {
            let err = result.expect_err("rediss without tls");
            assert!(err.to_string().contains("`tls` feature"), "{err}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }
}
