//! The real Claude Code CLI (the npm package `@anthropic-ai/claude-code`), run offline against a
//! [`MockServer`].
//!
//! The version is pinned in one place, `scripts/claude-code/package.json` (with its lock file);
//! `scripts/test.sh` installs it with npm into `target/claude-code/<version>` when it is
//! missing. [`ClaudeCode::locate`] finds it there, or takes the binary named by
//! `AITO_CLAUDE_CODE` (to try another version). [`ClaudeCode::require`] panics with a message
//! that names the package and the way to install it, so a test that needs the CLI fails
//! plainly on a machine without it.
//!
//! [`ClaudeCode::env`] is what keeps the CLI on this machine: `ANTHROPIC_BASE_URL` points at
//! the mock server, the key is a dummy, non-essential traffic and the auto-updater are off,
//! `HOME` and `CLAUDE_CONFIG_DIR` are a scratch directory, the cloud-provider switches are
//! off, and `HTTPS_PROXY`/`HTTP_PROXY` point at the mock server too, so a request meant for
//! any other host arrives there as [`Target::Foreign`](crate::Target::Foreign) and is refused
//! (check with [`MockServer::foreign`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

use crate::server::MockServer;

/// The npm package.
pub const PACKAGE: &str = "@anthropic-ai/claude-code";

/// The environment variable that names a `claude` binary to use instead of the pinned one.
pub const BINARY_ENV: &str = "AITO_CLAUDE_CODE";

/// The key the CLI sends; the mock server accepts any.
pub const API_KEY: &str = "aito-mock-key";

const PACKAGE_JSON: &str = include_str!("../../scripts/claude-code/package.json");

/// The workspace's root directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The pinned version (from `scripts/claude-code/package.json`).
pub fn pinned_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        serde_json::from_str::<Value>(PACKAGE_JSON)
            .ok()
            .and_then(|json| json["dependencies"][PACKAGE].as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    })
}

/// Where `scripts/test.sh` installs the pinned version.
pub fn install_dir() -> PathBuf {
    workspace_root()
        .join("target")
        .join("claude-code")
        .join(pinned_version())
}

/// Why the CLI cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotInstalled {
    /// Not where `scripts/test.sh` installs it, and `AITO_CLAUDE_CODE` is not set.
    #[error(
        "the real Claude Code CLI (npm package {PACKAGE} {version}) is not installed at {path}: run scripts/test.sh, which installs it with npm, or set {BINARY_ENV} to a claude binary"
    )]
    Missing {
        /// The pinned version.
        version: &'static str,
        /// Where it was looked for.
        path: String,
    },
    /// It is there but does not run.
    #[error(
        "the Claude Code CLI at {path} does not run (`--version`: {reason}); reinstall it with scripts/test.sh (npm package {PACKAGE})"
    )]
    Broken {
        /// The binary.
        path: String,
        /// What happened.
        reason: String,
    },
}

/// The real CLI: its binary and version, and a scratch home for each run set up with
/// [`ClaudeCode::env`].
#[derive(Clone, Debug)]
pub struct ClaudeCode {
    /// The `claude` binary.
    pub binary: PathBuf,
    /// What `claude --version` printed (`2.1.332 (Claude Code)`).
    pub version: String,
}

impl ClaudeCode {
    /// Finds the CLI: `AITO_CLAUDE_CODE` when set, else the pinned version where
    /// `scripts/test.sh` installs it; checks that it runs. The answer is computed once per
    /// process.
    pub fn locate() -> Result<Self, &'static NotInstalled> {
        static FOUND: OnceLock<Result<ClaudeCode, NotInstalled>> = OnceLock::new();
        match FOUND.get_or_init(Self::find) {
            Ok(cli) => Ok(cli.clone()),
            Err(why) => Err(why),
        }
    }

    /// [`ClaudeCode::locate`], or a panic whose message names the package and how to install
    /// it.
    pub fn require() -> Self {
        match Self::locate() {
            Ok(cli) => cli,
            Err(why) => panic!("{why}"),
        }
    }

    fn find() -> Result<Self, NotInstalled> {
        let binary = match std::env::var_os(BINARY_ENV).filter(|value| !value.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => {
                let path = install_dir()
                    .join("node_modules")
                    .join(".bin")
                    .join("claude");
                if !path.exists() {
                    return Err(NotInstalled::Missing {
                        version: pinned_version(),
                        path: path.display().to_string(),
                    });
                }
                path
            }
        };
        let broken = |reason: String| NotInstalled::Broken {
            path: binary.display().to_string(),
            reason,
        };
        let home = TempDir::new().map_err(|error| broken(error.to_string()))?;
        let output = Command::new(&binary)
            .arg("--version")
            .env("HOME", home.path())
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .output()
            .map_err(|error| broken(error.to_string()))?;
        if !output.status.success() {
            return Err(broken(format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok(Self { binary, version })
    }

    /// The version number alone (`2.1.332`).
    pub fn version_number(&self) -> &str {
        self.version.split_whitespace().next().unwrap_or_default()
    }

    /// The environment that runs the CLI offline against `server`, with `home` as its home
    /// and configuration directory. Add it to the child's inherited environment; it overrides
    /// every variable that could send the CLI elsewhere.
    pub fn env(server: &MockServer, home: &Path) -> Vec<(String, String)> {
        Self::env_at(&server.url(), &server.url(), home)
    }

    /// [`ClaudeCode::env`] with the API at `api` (a [`closed_port_url`](crate::closed_port_url),
    /// say) and every other host sent to the proxy `trap`, a [`MockServer`]'s URL.
    pub fn env_at(api: &str, trap: &str, home: &Path) -> Vec<(String, String)> {
        let url = trap.to_owned();
        let home = home.display().to_string();
        let mut env: Vec<(String, String)> = [
            ("ANTHROPIC_BASE_URL", api),
            ("ANTHROPIC_API_KEY", API_KEY),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            ("CLAUDE_CODE_USE_BEDROCK", "0"),
            ("CLAUDE_CODE_USE_VERTEX", "0"),
            ("CLAUDE_CODE_USE_FOUNDRY", "0"),
            ("HTTPS_PROXY", url.as_str()),
            ("HTTP_PROXY", url.as_str()),
            ("https_proxy", url.as_str()),
            ("http_proxy", url.as_str()),
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("no_proxy", "127.0.0.1,localhost"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        env.push(("HOME".to_owned(), home.clone()));
        env.push(("CLAUDE_CONFIG_DIR".to_owned(), format!("{home}/.claude")));
        env
    }
}
