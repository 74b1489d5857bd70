//! The MCP registry: every MCP server the company may hand to a worker, read from the
//! `[mcp.<name>]` tables of aito.toml, and the temporary `--mcp-config` file that gives one
//! worker exactly the servers it asked for.
//!
//! ```toml
//! [mcp.telegram]
//! command = "npx"
//! args = ["-y", "@example/telegram-mcp"]
//! env = { TELEGRAM_BOT_TOKEN = "${TELEGRAM_BOT_TOKEN}" }
//!
//! [mcp.jira]
//! type = "http"
//! url = "https://jira.example.com/mcp"
//! headers = { Authorization = "Bearer ${JIRA_TOKEN}" }
//! ```
//!
//! `type` is `stdio` (the default), `http` or `sse`. `${VAR}` and `${VAR:-default}` are written
//! to the temporary file verbatim and expanded by the CLI from its environment, so secrets
//! never touch the disk; write them that way rather than as literals.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use aito_core::WorkerError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tempfile::NamedTempFile;

use crate::error::ClaudeError;

/// One MCP server, as the CLI's `mcpServers` entries describe it.
///
/// `Debug` shows the names of environment variables and headers, never their values.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawServer")]
pub enum McpServer {
    /// A program the CLI starts and talks to over stdin and stdout.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment (`${VAR}` placeholders are expanded by the CLI).
        env: BTreeMap<String, String>,
    },
    /// A streamable-HTTP server.
    Http {
        /// Its URL.
        url: String,
        /// Request headers (`${VAR}` placeholders are expanded by the CLI).
        headers: BTreeMap<String, String>,
    },
    /// A server-sent-events server (the older remote transport).
    Sse {
        /// Its URL.
        url: String,
        /// Request headers (`${VAR}` placeholders are expanded by the CLI).
        headers: BTreeMap<String, String>,
    },
}

impl McpServer {
    /// A stdio server: `command` with `args`, no extra environment.
    pub fn stdio(
        command: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        McpServer::Stdio {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
        }
    }

    /// An HTTP server at `url`, no headers.
    pub fn http(url: impl Into<String>) -> Self {
        McpServer::Http {
            url: url.into(),
            headers: BTreeMap::new(),
        }
    }

    /// An SSE server at `url`, no headers.
    pub fn sse(url: impl Into<String>) -> Self {
        McpServer::Sse {
            url: url.into(),
            headers: BTreeMap::new(),
        }
    }

    /// The entry of the CLI's `mcpServers` object.
    pub fn to_cli_json(&self) -> Value {
        match self {
            McpServer::Stdio { command, args, env } => {
                let mut entry = json!({"type": "stdio", "command": command, "args": args});
                if !env.is_empty() {
                    entry["env"] = json!(env);
                }
                entry
            }
            McpServer::Http { url, headers } => {
                json!({"type": "http", "url": url, "headers": headers})
            }
            McpServer::Sse { url, headers } => {
                json!({"type": "sse", "url": url, "headers": headers})
            }
        }
    }
}

impl fmt::Debug for McpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpServer::Stdio { command, args, env } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .finish(),
            McpServer::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", url)
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .finish(),
            McpServer::Sse { url, headers } => f
                .debug_struct("Sse")
                .field("url", url)
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// A server table as written in aito.toml, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl TryFrom<RawServer> for McpServer {
    type Error = String;

    fn try_from(raw: RawServer) -> Result<Self, Self::Error> {
        let remote = |url: Option<String>| -> Result<(String, BTreeMap<String, String>), String> {
            if raw.command.is_some() || !raw.args.is_empty() || !raw.env.is_empty() {
                return Err(
                    "an http or sse MCP server takes url and headers, not command, args or env"
                        .to_owned(),
                );
            }
            match url {
                Some(url) if !url.trim().is_empty() => Ok((url, raw.headers.clone())),
                _ => Err("an http or sse MCP server needs a url".to_owned()),
            }
        };
        match raw.kind.as_deref() {
            None | Some("stdio") => {
                if raw.url.is_some() {
                    // The CLI silently skips such an entry; say so here instead.
                    return Err(
                        "an MCP server with a url needs type = \"http\" or type = \"sse\""
                            .to_owned(),
                    );
                }
                if !raw.headers.is_empty() {
                    return Err(
                        "a stdio MCP server takes command, args and env, not headers".to_owned(),
                    );
                }
                match raw.command {
                    Some(command) if !command.trim().is_empty() => Ok(McpServer::Stdio {
                        command,
                        args: raw.args,
                        env: raw.env,
                    }),
                    _ => Err("a stdio MCP server needs a command".to_owned()),
                }
            }
            Some("http") => {
                remote(raw.url.clone()).map(|(url, headers)| McpServer::Http { url, headers })
            }
            Some("sse") => {
                remote(raw.url.clone()).map(|(url, headers)| McpServer::Sse { url, headers })
            }
            Some(other) => Err(format!(
                "unknown MCP server type {other:?}: expected \"stdio\", \"http\" or \"sse\""
            )),
        }
    }
}

/// Every MCP server workers may be given, by name. Deserializes from the `[mcp]` table of
/// aito.toml (see the [module docs](self)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, McpServer>")]
pub struct McpRegistry {
    servers: BTreeMap<String, McpServer>,
}

impl TryFrom<BTreeMap<String, McpServer>> for McpRegistry {
    type Error = ClaudeError;

    fn try_from(servers: BTreeMap<String, McpServer>) -> Result<Self, Self::Error> {
        let mut registry = McpRegistry::new();
        for (name, server) in servers {
            registry.insert(name, server)?;
        }
        Ok(registry)
    }
}

fn check_name(name: &str) -> Result<(), ClaudeError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ClaudeError::InvalidServerName(name.to_owned()))
    }
}

impl McpRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a server. Names are 1 to 64 characters of `A-Z a-z 0-9 _ -`, since
    /// the CLI names their tools `mcp__<name>__<tool>`.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        server: McpServer,
    ) -> Result<(), ClaudeError> {
        let name = name.into();
        check_name(&name)?;
        self.servers.insert(name, server);
        Ok(())
    }

    /// The registry with one more server.
    pub fn with(mut self, name: impl Into<String>, server: McpServer) -> Result<Self, ClaudeError> {
        self.insert(name, server)?;
        Ok(self)
    }

    /// A server by name.
    pub fn get(&self, name: &str) -> Option<&McpServer> {
        self.servers.get(name)
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }

    /// How many servers there are.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Checks that every name is in the registry; the first unknown one is the error, which
    /// lists the known ones.
    pub fn check_known<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), WorkerError> {
        match names
            .into_iter()
            .find(|name| !self.servers.contains_key(name.as_str()))
        {
            Some(server) => Err(WorkerError::UnknownServer {
                server: server.clone(),
                known: if self.servers.is_empty() {
                    "none".to_owned()
                } else {
                    self.names().collect::<Vec<_>>().join(", ")
                },
            }),
            None => Ok(()),
        }
    }

    /// The CLI configuration (`{"mcpServers": {...}}`) holding only `names`.
    pub fn config_for(&self, names: &[String]) -> Result<Value, WorkerError> {
        self.check_known(names)?;
        let servers: Map<String, Value> = names
            .iter()
            .filter_map(|name| Some((name.clone(), self.servers.get(name)?.to_cli_json())))
            .collect();
        Ok(json!({ "mcpServers": servers }))
    }

    /// Writes [`McpRegistry::config_for`] to a new private (mode 0600) temporary file in `dir`;
    /// the file is removed when the returned handle is dropped.
    pub(crate) fn write_config(
        &self,
        names: &[String],
        dir: &Path,
    ) -> Result<NamedTempFile, ClaudeError> {
        let config = self
            .config_for(names)
            .map_err(|error| ClaudeError::McpConfig(error.to_string()))?;
        let mut file = tempfile::Builder::new()
            .prefix("aito-mcp-")
            .suffix(".json")
            .tempfile_in(dir)
            .map_err(|error| ClaudeError::McpConfig(format!("in {}: {error}", dir.display())))?;
        serde_json::to_writer_pretty(file.as_file_mut(), &config)
            .map_err(|error| ClaudeError::McpConfig(error.to_string()))?;
        file.as_file_mut()
            .flush()
            .map_err(|error| ClaudeError::McpConfig(error.to_string()))?;
        Ok(file)
    }
}

/// The `--allowedTools` entry that pre-approves every tool of a server.
pub(crate) fn tool_pattern(server: &str) -> String {
    format!("mcp__{server}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
        [mcp.telegram]
        command = "npx"
        args = ["-y", "telegram-mcp"]
        env = { TELEGRAM_BOT_TOKEN = "${TELEGRAM_BOT_TOKEN}" }

        [mcp.jira]
        type = "http"
        url = "https://jira.example.com/mcp"
        headers = { Authorization = "Bearer ${JIRA_TOKEN}" }

        [mcp.feed]
        type = "sse"
        url = "https://feed.example.com/sse"
    "#;

    #[derive(Deserialize)]
    struct Config {
        mcp: McpRegistry,
    }

    #[test]
    fn reads_the_mcp_tables_of_aito_toml() {
        let registry = toml::from_str::<Config>(TOML).unwrap().mcp;
        assert_eq!(
            registry.names().collect::<Vec<_>>(),
            ["feed", "jira", "telegram"]
        );
        assert_eq!(
            registry.get("telegram"),
            Some(&McpServer::Stdio {
                command: "npx".into(),
                args: vec!["-y".into(), "telegram-mcp".into()],
                env: [(
                    "TELEGRAM_BOT_TOKEN".to_owned(),
                    "${TELEGRAM_BOT_TOKEN}".to_owned()
                )]
                .into(),
            })
        );
        assert!(matches!(registry.get("jira"), Some(McpServer::Http { .. })));
        assert!(matches!(registry.get("feed"), Some(McpServer::Sse { .. })));
    }

    #[test]
    fn refuses_mistakes_with_a_reason() {
        for (table, expected) in [
            ("[mcp.x]\nurl = \"https://h/mcp\"", "needs type"),
            ("[mcp.x]\ntype = \"http\"", "needs a url"),
            ("[mcp.x]\nargs = [\"a\"]", "needs a command"),
            (
                "[mcp.x]\ntype = \"ws\"\nurl = \"u\"",
                "unknown MCP server type",
            ),
            ("[mcp.x]\ncommand = \"c\"\nheader = {}", "unknown field"),
            (
                "[mcp.\"bad name\"]\ncommand = \"c\"",
                "invalid MCP server name",
            ),
        ] {
            let error = toml::from_str::<Config>(table).err().unwrap().to_string();
            assert!(error.contains(expected), "{table}: {error}");
        }
    }

    #[test]
    fn the_config_holds_only_the_requested_servers_with_placeholders_verbatim() {
        let registry = toml::from_str::<Config>(TOML).unwrap().mcp;
        let config = registry.config_for(&["jira".to_owned()]).unwrap();
        assert_eq!(
            config,
            json!({"mcpServers": {"jira": {"type": "http", "url": "https://jira.example.com/mcp",
                "headers": {"Authorization": "Bearer ${JIRA_TOKEN}"}}}})
        );
        let error = registry
            .config_for(&["jira".to_owned(), "slack".to_owned()])
            .unwrap_err();
        assert_eq!(
            error,
            WorkerError::UnknownServer {
                server: "slack".into(),
                known: "feed, jira, telegram".into()
            }
        );
    }

    #[test]
    fn debug_shows_names_not_values() {
        let registry = toml::from_str::<Config>(TOML).unwrap().mcp;
        let shown = format!("{registry:?}");
        assert!(shown.contains("TELEGRAM_BOT_TOKEN") && shown.contains("Authorization"));
        assert!(!shown.contains("${"), "{shown}");
        assert!(!shown.contains("Bearer"), "{shown}");
    }

    #[test]
    fn the_temporary_file_is_private_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let registry = McpRegistry::new()
            .with("fs", McpServer::stdio("mcp-fs", ["/srv"]))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = registry
            .write_config(&["fs".to_owned()], dir.path())
            .unwrap();
        let path = file.path().to_owned();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["mcpServers"]["fs"]["command"], "mcp-fs");
        drop(file);
        assert!(!path.exists());
    }
}
