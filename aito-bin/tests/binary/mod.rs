//! Helpers for tests that run the real `aito` binary: a clean environment, a temporary working
//! directory, children that are stopped when a test ends, and waits with deadlines.

#![allow(dead_code, unreachable_pub)]

pub mod fleet;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test.
pub const AITO: &str = env!("CARGO_BIN_EXE_aito");

/// `aito` with `args`, run in `dir`, with no `AITO_*` variable, no `RUST_LOG`, and a `claude`
/// program name that exists nowhere (so the choice of model does not depend on the machine).
pub fn aito(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(AITO);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env(
            "AITO_LLM_CLAUDE_BINARY",
            "aito-test-claude-is-not-installed",
        )
        .stdin(Stdio::null());
    command
}

/// Runs `command` to the end.
pub fn output(mut command: Command) -> Output {
    command.output().expect("run aito")
}

/// Standard output and error, for assertions.
pub fn texts(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A child process stopped (SIGKILL) when dropped, if it is still running.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stderr_seen: Vec<String>,
}

impl Running {
    /// Starts `command` with its standard error read line by line.
    pub fn start(mut command: Command) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start aito");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr_seen: Vec::new(),
        }
    }

    /// Waits for a line of standard error containing `needle`.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr_seen.push(line.clone());
                    if found {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?} within {limit:?}; seen:\n{}",
                    self.stderr_seen.join("\n")
                ),
            }
        }
    }

    /// Every line of standard error read so far, and those that arrive within `settle`.
    pub fn stderr_lines(&mut self, settle: Duration) -> Vec<String> {
        while let Ok(line) = self.lines.recv_timeout(settle) {
            self.stderr_seen.push(line);
        }
        self.stderr_seen.clone()
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and standard output.
    pub fn terminate(mut self, limit: Duration) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + limit;
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code();
            }
            assert!(
                Instant::now() < deadline,
                "aito did not stop within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            use std::io::Read;
            let _ = out.read_to_string(&mut stdout);
        }
        (code, stdout)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
