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

/// Whether `redis-server` was built with TLS (`--tls-port` is known to it).
pub fn redis_server_has_tls() -> bool {
    require_redis_server();
    // An unknown option makes the server refuse the configuration at once; a known one with a
    // missing certificate fails on loading the file instead.
    let output = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            "0",
            "--tls-cert-file",
            "/nonexistent/aito.crt",
        ])
        .output();
    output.is_ok_and(|output| {
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        !text.contains("Bad directive or wrong number of arguments")
    })
}

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
    /// Serve TLS only (`--port 0 --tls-port`), with these files; on a cluster node the cluster
    /// bus and replication use TLS too. [`TlsFiles::generate`] makes a CA and a certificate.
    pub tls: Option<TlsFiles>,
}

/// A certificate authority and a server certificate it signed (for 127.0.0.1 and
/// `localhost`), in PEM files, made with the `openssl` program.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA certificate: what clients trust.
    pub ca: std::path::PathBuf,
    /// The server certificate.
    pub cert: std::path::PathBuf,
    /// The server's private key.
    pub key: std::path::PathBuf,
}

impl TlsFiles {
    /// Generates a CA and a server certificate signed by it in `dir` (needs `openssl` on the
    /// `PATH`).
    pub fn generate(dir: &Path) -> Self {
        let files = Self {
            ca: dir.join("ca.crt"),
            cert: dir.join("redis.crt"),
            key: dir.join("redis.key"),
        };
        let ca_key = dir.join("ca.key");
        let request = dir.join("redis.csr");
        let extensions = dir.join("san.ext");
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("write the certificate extensions");
        let openssl =
            |args: &[&std::ffi::OsStr]| {
                let output = Command::new("openssl").args(args).output().unwrap_or_else(|err| {
                panic!("the TLS tests need `openssl` on the PATH ({err}): apt-get install openssl")
            });
                assert!(
                    output.status.success(),
                    "openssl {args:?} failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            };
        let os = |text: &'static str| std::ffi::OsStr::new(text);
        openssl(&[
            os("req"),
            os("-x509"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-days"),
            os("2"),
            os("-subj"),
            os("/CN=aito test CA"),
            os("-keyout"),
            ca_key.as_os_str(),
            os("-out"),
            files.ca.as_os_str(),
        ]);
        openssl(&[
            os("req"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-subj"),
            os("/CN=127.0.0.1"),
            os("-keyout"),
            files.key.as_os_str(),
            os("-out"),
            request.as_os_str(),
        ]);
        openssl(&[
            os("x509"),
            os("-req"),
            os("-in"),
            request.as_os_str(),
            os("-CA"),
            files.ca.as_os_str(),
            os("-CAkey"),
            ca_key.as_os_str(),
            os("-CAcreateserial"),
            os("-days"),
            os("2"),
            os("-extfile"),
            extensions.as_os_str(),
            os("-out"),
            files.cert.as_os_str(),
        ]);
        files
    }

    /// The CA certificate as PEM, for [`RedisConfig::with_tls_ca`].
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca).expect("read the CA certificate")
    }

    /// The `redis-cli` arguments that connect with TLS and trust the CA.
    pub fn cli_args(&self) -> Vec<std::ffi::OsString> {
        vec!["--tls".into(), "--cacert".into(), self.ca.clone().into()]
    }
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
        match &self.options.tls {
            None => {
                command.arg("--port").arg(self.port.to_string());
            }
            Some(tls) => {
                command
                    .arg("--port")
                    .arg("0")
                    .arg("--tls-port")
                    .arg(self.port.to_string())
                    .arg("--tls-cert-file")
                    .arg(&tls.cert)
                    .arg("--tls-key-file")
                    .arg(&tls.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&tls.ca)
                    .arg("--tls-auth-clients")
                    .arg("no");
                if self.options.cluster_node {
                    command
                        .arg("--tls-cluster")
                        .arg("yes")
                        .arg("--tls-replication")
                        .arg("yes");
                }
            }
        }
        command
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

    /// Whether the server answers `PING` (through `redis-cli` when it speaks TLS only).
    fn answers(&self) -> bool {
        if let Some(tls) = &self.options.tls {
            return Command::new("redis-cli")
                .args(tls.cli_args())
                .arg("-p")
                .arg(self.port.to_string())
                .arg("PING")
                .output()
                .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("PONG"));
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            if stream.write_all(b"PING\r\n").is_ok() {
                let mut reply = [0u8; 64];
                if let Ok(n) = stream.read(&mut reply) {
                    let reply = String::from_utf8_lossy(&reply[..n]);
                    return reply.starts_with("+PONG") || reply.starts_with("-NOAUTH");
                }
            }
        }
        false
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.answers() {
                return;
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
        let scheme = if self.options.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.options.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    /// A configuration for tests: short waits, a prefix of its own.
    pub fn config(&self) -> RedisConfig {
        let config = match &self.options.tls {
            Some(tls) => RedisConfig::new(self.url()).with_tls_ca(tls.ca_pem()),
            None => RedisConfig::new(self.url()),
        };
        config
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
        if let Some(tls) = &self.options.tls {
            command.args(tls.cli_args());
        }
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
