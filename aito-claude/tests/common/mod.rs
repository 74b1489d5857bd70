//! Helpers shared by the end-to-end tests: the fake CLI, its records, and process checks.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aito_claude::ClaudeConfig;
use rustix::io::Errno;
use rustix::process::Pid;
use serde_json::Value;
use tempfile::TempDir;

/// The fake `claude` built with this package.
pub fn fake_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-claude"))
}

/// One test's fake CLI: a private directory, a record file, and a config that points at both.
pub struct Fake {
    pub dir: TempDir,
    pub record: PathBuf,
}

impl Fake {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record.jsonl");
        Self { dir, record }
    }

    /// A config running the fake with `script` (`FAKE_CLAUDE_<KEY>` = value), recording to
    /// this fake's file, with a short kill grace.
    pub fn config(&self, script: &[(&str, &str)]) -> ClaudeConfig {
        let mut config = ClaudeConfig::new(fake_binary())
            .env("FAKE_CLAUDE_RECORD", self.record.display().to_string())
            .kill_grace(Duration::from_millis(300));
        for (key, value) in script {
            config = config.env(format!("FAKE_CLAUDE_{}", key.to_ascii_uppercase()), *value);
        }
        config
    }

    /// Every invocation recorded so far.
    pub fn records(&self) -> Vec<Value> {
        match std::fs::read_to_string(&self.record) {
            Ok(text) => text
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The only invocation.
    pub fn record(&self) -> Value {
        let records = self.records();
        assert_eq!(records.len(), 1, "expected one invocation: {records:?}");
        records.into_iter().next().unwrap()
    }

    /// Waits (up to 10 s) until the fake has recorded an invocation.
    pub async fn wait_for_record(&self) -> Value {
        for _ in 0..1000 {
            if let Some(record) = self.records().into_iter().next() {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the fake never recorded its invocation");
    }
}

fn pid(raw: &Value) -> Pid {
    Pid::from_raw(i32::try_from(raw.as_i64().unwrap()).unwrap()).unwrap()
}

/// The fake's pid, process group and hanging child from a record.
pub struct Processes {
    pub pid: Pid,
    pub pgid: Pid,
    pub child: Option<Pid>,
}

pub fn processes(record: &Value) -> Processes {
    Processes {
        pid: pid(&record["pid"]),
        pgid: pid(&record["pgid"]),
        child: record["childPid"]
            .as_i64()
            .map(|_| pid(&record["childPid"])),
    }
}

/// `kill(-pgid, 0)` fails with ESRCH: no process (not even a zombie) is left in the group.
pub fn group_gone(pgid: Pid) -> bool {
    rustix::process::test_kill_process_group(pgid) == Err(Errno::SRCH)
}

/// `kill(pid, 0)` fails with ESRCH.
pub fn process_gone(pid: Pid) -> bool {
    rustix::process::test_kill_process(pid) == Err(Errno::SRCH)
}

/// Polls `check` for up to `within`.
pub async fn eventually(within: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

/// The text of the `huge` mode: `a-z0-9` cycled to `bytes`.
pub fn huge_text(bytes: usize) -> String {
    "abcdefghijklmnopqrstuvwxyz0123456789"
        .chars()
        .cycle()
        .take(bytes)
        .collect()
}

/// Whether a directory is empty.
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// `test-mcp-server`, built with this package.
pub fn test_mcp_server() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_test-mcp-server"))
}

/// The real Claude Code CLI against a mock Messages API server: the server, a scratch home,
/// and a config that runs the CLI offline against the server.
pub struct Real {
    pub cli: aito_mock_api::ClaudeCode,
    pub server: aito_mock_api::MockServer,
    pub home: TempDir,
}

impl Real {
    /// Fails (panics) with a message naming the npm package when the CLI is not installed.
    pub fn new() -> Self {
        Self {
            cli: aito_mock_api::ClaudeCode::require(),
            server: aito_mock_api::MockServer::start().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// A config running the real CLI against this server, with a short kill grace.
    pub fn config(&self) -> ClaudeConfig {
        let mut config = ClaudeConfig::new(&self.cli.binary).kill_grace(Duration::from_millis(500));
        for (key, value) in aito_mock_api::ClaudeCode::env(&self.server, self.home.path()) {
            config = config.env(key, value);
        }
        config
    }

    /// No request tried to reach another host.
    pub fn assert_stayed_local(&self) {
        let foreign = self.server.foreign();
        assert!(
            foreign.is_empty(),
            "the CLI tried to leave the machine: {foreign:#?}"
        );
    }
}
