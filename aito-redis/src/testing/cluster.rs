//! [`RedisCluster`]: a Redis Cluster of a test's own, three masters with one replica each, on
//! free ports of 127.0.0.1, each node in its own temporary directory.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Options, RedisServer, TlsFiles, free_port, require_redis_server};
use crate::RedisConfig;

/// A running Redis Cluster owned by one test: `masters` masters, each with `replicas_per_master`
/// replicas. Every node is killed when this is dropped.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    tls: Option<TlsFiles>,
}

/// A port whose cluster bus port (`port + 10000`) is free as well.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn require_redis_cli() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        panic!(
            "the cluster tests need `redis-cli` on the PATH: install it (Debian/Ubuntu: \
             `apt-get install redis-tools`, or `redis-server`, which brings it)"
        );
    }
}

impl RedisCluster {
    /// Three masters with one replica each.
    pub fn start() -> Self {
        Self::start_with(3, 1)
    }

    /// `masters` masters (at least 3) with `replicas_per_master` replicas each.
    pub fn start_with(masters: usize, replicas_per_master: usize) -> Self {
        Self::start_nodes(masters, replicas_per_master, None)
    }

    /// Three masters with one replica each that speak TLS only (clients, the cluster bus and
    /// replication), with the certificates of `tls`.
    pub fn start_tls(tls: TlsFiles) -> Self {
        Self::start_nodes(3, 1, Some(tls))
    }

    fn start_nodes(masters: usize, replicas_per_master: usize, tls: Option<TlsFiles>) -> Self {
        require_redis_server();
        require_redis_cli();
        let count = masters * (1 + replicas_per_master);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| {
                RedisServer::start_on(
                    free_cluster_port(),
                    Options {
                        cluster_node: true,
                        tls: tls.clone(),
                        ..Options::default()
                    },
                )
            })
            .collect();
        let mut create = Command::new("redis-cli");
        if let Some(tls) = &tls {
            create.args(tls.cli_args());
        }
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create
            .arg("--cluster-replicas")
            .arg(replicas_per_master.to_string())
            .arg("--cluster-yes");
        let output = create.output().expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { nodes, tls };
        cluster.wait_healthy(Duration::from_secs(30));
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok` and sees every slot served.
    pub fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let healthy = self.running().all(|node| {
                let info = node.cli(&["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            });
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not become healthy within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn running(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|node| node.is_running())
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The URL: `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let scheme = if self.tls.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        format!("{scheme}://{}", seeds.join(","))
    }

    /// A configuration for tests: short waits, a prefix of its own.
    pub fn config(&self) -> RedisConfig {
        let first = self.nodes.first().map_or(0, RedisServer::port);
        let config = match &self.tls {
            Some(tls) => RedisConfig::new(self.url()).with_tls_ca(tls.ca_pem()),
            None => RedisConfig::new(self.url()),
        };
        config
            .with_prefix(format!("test{first}:"))
            .with_reclaim_idle(Duration::from_millis(1500))
            .with_block(Duration::from_millis(200))
            .with_reconnect(Duration::from_millis(50), Duration::from_millis(500))
    }

    /// Runs `redis-cli -c` (following redirects) against a running node.
    pub fn cli(&self, args: &[&str]) -> String {
        let node = self.running().next().expect("a running node");
        let mut full = vec!["-c"];
        full.extend_from_slice(args);
        node.cli(&full)
    }

    /// The index of the master that serves `key`'s slot.
    pub fn master_of(&self, key: &str) -> usize {
        let slot: u16 = self
            .cli(&["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot");
        for (index, node) in self.nodes.iter().enumerate() {
            if !node.is_running() {
                continue;
            }
            let nodes = node.cli(&["CLUSTER", "NODES"]);
            for line in nodes.lines().filter(|line| line.contains("myself")) {
                if !line.contains("master") {
                    continue;
                }
                let serves = line.split_whitespace().skip(8).any(|range| {
                    let (start, end) = range.split_once('-').unwrap_or((range, range));
                    match (start.parse::<u16>(), end.parse::<u16>()) {
                        (Ok(start), Ok(end)) => (start..=end).contains(&slot),
                        _ => false,
                    }
                });
                if serves {
                    return index;
                }
            }
        }
        panic!("no running master serves slot {slot}");
    }

    /// The node id of the node at `index`.
    fn node_id(&self, index: usize) -> String {
        self.nodes[index]
            .cli(&["CLUSTER", "MYID"])
            .trim()
            .to_owned()
    }

    /// The index of a running replica of the master at `index`.
    pub fn replica_of(&self, index: usize) -> usize {
        let master = self.node_id(index);
        self.nodes
            .iter()
            .enumerate()
            .filter(|(other, node)| *other != index && node.is_running())
            .find(|(other, _)| {
                let nodes = self.nodes[*other].cli(&["CLUSTER", "NODES"]);
                nodes.lines().any(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    line.contains("myself") && fields.get(3) == Some(&master.as_str())
                })
            })
            .map(|(other, _)| other)
            .unwrap_or_else(|| panic!("no running replica of node {index}"))
    }

    /// Promotes the replica at `index` with `CLUSTER FAILOVER`, within `limit`. A manual
    /// failover that its master does not complete in time is abandoned by Redis (on a loaded
    /// machine, it is): it is asked again, then with `FORCE`, which needs only the other
    /// masters' votes.
    pub fn promote(&self, index: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut attempt = 0;
        loop {
            let mut command = vec!["CLUSTER", "FAILOVER"];
            if attempt > 0 {
                command.push("FORCE");
            }
            self.nodes[index].cli(&command);
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if self.became_master(index, left.min(Duration::from_secs(6))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {index} did not become a master within {limit:?} ({attempt} failovers asked)"
            );
        }
    }

    /// Whether the node at `index` is a master within `limit`.
    fn became_master(&self, index: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let role = self.nodes[index].cli(&["ROLE"]);
            if role
                .lines()
                .next()
                .is_some_and(|role| role.trim() == "master")
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the master at `index` (SIGKILL) and waits until a replica took its slots over.
    pub fn fail_over(&mut self, index: usize) {
        self.nodes[index].kill();
        self.wait_healthy(Duration::from_secs(30));
    }
}
