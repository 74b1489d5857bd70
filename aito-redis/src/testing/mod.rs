//! A `redis-server` of a test's own, for the tests of aito-redis and of the crates built on it
//! (enable the `testing` feature as a dev-dependency).
//!
//! [`RedisServer::start`] runs the server on a free port of 127.0.0.1 in a temporary directory
//! and kills it when dropped, also when the test panics: the machine's Redis is never touched.
//! This is test support: its functions panic, with a message saying what to install or what
//! went wrong, instead of returning errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::RedisConfig;

mod cluster;
pub use cluster::RedisCluster;

/// How to start the server.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Append-only file on, fsynced on every write (restarts lose nothing).
    pub appendonly: bool,
    /// `requirepass`.
    pub password: Option<String>,
    /// Run as a node of a Redis Cluster (`--cluster-enabled yes`, a node timeout of 1 s);
    /// [`RedisCluster`] starts such nodes and joins them.
    pub cluster_node: bool,
}

/// A running `redis-server` owned by one test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    options: Options,
}

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

pub(crate) fn require_redis_server() {
    match Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(err) => panic!(
            "these tests need `redis-server` on the PATH ({err}): install it (Debian/Ubuntu: \
             `apt-get install redis-server`; it also provides redis-cli and redis-benchmark)"
        ),
    }
}

impl RedisServer {
    /// A fresh server without persistence.
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    /// A fresh server with `options`.
    pub fn start_with(options: Options) -> Self {
        Self::start_on(free_port(), options)
    }

    /// A fresh server on `port`.
    pub(crate) fn start_on(port: u16, options: Options) -> Self {
        require_redis_server();
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = Self {
            child: None,
            port,
            dir,
            options,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg(if self.options.appendonly { "yes" } else { "no" })
            .arg("--appendfsync")
            .arg("always")
            .arg("--daemonize")
            .arg("no")
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &self.options.password {
            command.arg("--requirepass").arg(password);
        }
        if self.options.cluster_node {
            command
                .arg("--cluster-enabled")
                .arg("yes")
                .arg("--cluster-config-file")
                .arg(self.dir.path().join("nodes.conf"))
                .arg("--cluster-node-timeout")
                .arg("1000");
        }
        let child = command.spawn().expect("start redis-server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                if stream.write_all(b"PING\r\n").is_ok() {
                    let mut reply = [0u8; 64];
                    if let Ok(n) = stream.read(&mut reply) {
                        let reply = String::from_utf8_lossy(&reply[..n]);
                        if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") {
                            return;
                        }
                    }
                }
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "redis-server exited with {status}; its log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within 10 s; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL, with the password when there is one.
    pub fn url(&self) -> String {
        match &self.options.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// A configuration for tests: short waits, a prefix of its own.
    pub fn config(&self) -> RedisConfig {
        RedisConfig::new(self.url())
            .with_prefix(format!("test{}:", self.port))
            .with_reclaim_idle(Duration::from_millis(1500))
            .with_block(Duration::from_millis(200))
            .with_reconnect(Duration::from_millis(50), Duration::from_millis(500))
    }

    /// Whether the server process is running (it was not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (the append-only file, if on,
    /// brings the data back).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.arg("-p").arg(self.port.to_string());
        if let Some(password) = &self.options.password {
            command.arg("--no-auth-warning").arg("-a").arg(password);
        }
        let output = command.args(args).output().expect("run redis-cli");
        assert!(
            output.status.success(),
            "redis-cli {args:?} failed: {output:?}"
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
