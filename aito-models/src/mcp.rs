//! The MCP servers of one worker, through rmcp: stdio servers as child processes in their own
//! process group, streamable-HTTP servers by URL (an `sse` entry is reached with the same
//! transport, so a server that speaks only the older SSE transport is not supported); their
//! tools offered to the model as `mcp__<server>__<tool>`; every server stopped, its whole
//! process group killed, when the worker ends, on every path. A stdio server's group is
//! recorded in the installed [`aito_claude::groups`] registry while it runs, so that a daemon
//! started after a `kill -9` kills what it left.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use aito_claude::McpServer;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use serde_json::Value;

use crate::chat::ToolSpec;

/// How long a server has to stop before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The longest tool result kept for the model.
pub(crate) const MAX_RESULT_BYTES: usize = 64 * 1024;

/// One running server.
struct Connection {
    name: String,
    service: Option<RunningService<RoleClient, ()>>,
    group: Option<Pid>,
    /// The group's record, removed when the connection is dropped (after its SIGKILL).
    _recorded: Option<aito_claude::groups::Recorded>,
}

impl Connection {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.group {
            match rustix::process::kill_process_group(pgid, signal) {
                Ok(()) | Err(Errno::SRCH) => {}
                Err(error) => {
                    tracing::warn!(server = %self.name, %error, "could not signal the MCP server's process group");
                }
            }
        }
    }

    fn alive(&self) -> bool {
        self.group.is_some_and(|pgid| {
            !matches!(
                rustix::process::test_kill_process_group(pgid),
                Err(Errno::SRCH)
            )
        })
    }

    /// Closes the session, then ends the process group: SIGTERM, a grace period, SIGKILL.
    async fn stop(&mut self) {
        if let Some(service) = self.service.take() {
            let _ = tokio::time::timeout(STOP_GRACE, service.cancel()).await;
        }
        if self.alive() {
            self.signal(Signal::TERM);
            let deadline = tokio::time::Instant::now() + STOP_GRACE;
            while self.alive() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            self.signal(Signal::KILL);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Dropped without a stop (the worker was cancelled): nothing may outlive it.
        self.signal(Signal::KILL);
    }
}

/// A tool the model was offered, and where it lives.
#[derive(Clone, Debug)]
struct Offered {
    server: usize,
    tool: String,
}

/// The result of one tool call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CallResult {
    /// The server.
    pub(crate) server: String,
    /// The tool, as the server names it.
    pub(crate) tool: String,
    /// The text for the model.
    pub(crate) text: String,
    /// Whether the call failed.
    pub(crate) is_error: bool,
}

/// The servers of one worker and the tools they offer.
#[derive(Default)]
pub(crate) struct Servers {
    connections: Vec<Connection>,
    tools: Vec<ToolSpec>,
    offered: HashMap<String, Offered>,
}

/// The name the model sees for `tool` of `server`: `mcp__server__tool`, cut to the 64
/// characters of A-Z, a-z, 0-9, `_` and `-` that the APIs accept.
pub(crate) fn tool_name(server: &str, tool: &str) -> String {
    let name: String = format!("mcp__{server}__{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.chars().take(64).collect()
}

impl Servers {
    /// Starts `server` under `name` and lists its tools.
    pub(crate) async fn start(&mut self, name: &str, server: &McpServer) -> Result<(), String> {
        let mut connection = Connection {
            name: name.to_owned(),
            service: None,
            group: None,
            _recorded: None,
        };
        let service = match server {
            McpServer::Stdio { command, args, env } => {
                let mut child = tokio::process::Command::new(command);
                child
                    .args(args)
                    .envs(env)
                    .process_group(0)
                    .kill_on_drop(true);
                // Killed by the kernel if the daemon dies without dropping it (kill -9).
                aito_claude::die_with_parent(&mut child);
                let tracking = aito_claude::groups::track(&mut child);
                let (transport, _stderr) = TokioChildProcess::builder(child)
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|error| format!("could not start {command}: {error}"))?;
                connection.group = transport
                    .id()
                    .and_then(|pid| i32::try_from(pid).ok())
                    .and_then(Pid::from_raw);
                connection._recorded = Some(tracking.started(transport.id(), command));
                ().serve(transport).await.map_err(|error| error.to_string())
            }
            McpServer::Http { url, headers } | McpServer::Sse { url, headers } => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                for (key, value) in headers {
                    let key = reqwest::header::HeaderName::from_bytes(key.as_bytes())
                        .map_err(|_| format!("the header name {key:?} is not valid HTTP"))?;
                    let mut value = reqwest::header::HeaderValue::from_str(value)
                        .map_err(|_| format!("the value of header {key} is not valid HTTP"))?;
                    value.set_sensitive(true);
                    config.custom_headers.insert(key, value);
                }
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = reqwest::Client::new();
                let transport = StreamableHttpClientTransport::with_client(client, config);
                ().serve(transport).await.map_err(|error| error.to_string())
            }
        };
        let service = match service {
            Ok(service) => service,
            Err(error) => {
                connection.stop().await;
                return Err(format!("the MCP session did not start: {error}"));
            }
        };
        let tools = service.list_all_tools().await;
        connection.service = Some(service);
        let index = self.connections.len();
        self.connections.push(connection);
        let tools = tools.map_err(|error| format!("could not list its tools: {error}"))?;
        for tool in tools {
            let offered = tool_name(name, &tool.name);
            self.tools.push(ToolSpec {
                name: offered.clone(),
                description: tool.description.as_deref().unwrap_or_default().to_owned(),
                input_schema: Value::Object((*tool.input_schema).clone()),
            });
            self.offered.insert(
                offered,
                Offered {
                    server: index,
                    tool: tool.name.to_string(),
                },
            );
        }
        Ok(())
    }

    /// The tools to offer the model.
    pub(crate) fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// Calls the tool the model named `name`, with `arguments`, for up to `limit`.
    pub(crate) async fn call(&self, name: &str, arguments: &Value, limit: Duration) -> CallResult {
        let Some(offered) = self.offered.get(name) else {
            return CallResult {
                server: String::new(),
                tool: name.to_owned(),
                text: format!(
                    "there is no tool {name:?}; the tools are: {}",
                    self.tool_names()
                ),
                is_error: true,
            };
        };
        let connection = &self.connections[offered.server];
        let failed = |text: String| CallResult {
            server: connection.name.clone(),
            tool: offered.tool.clone(),
            text,
            is_error: true,
        };
        let Some(service) = &connection.service else {
            return failed("the server is not running".to_owned());
        };
        let mut params = CallToolRequestParams::new(offered.tool.clone());
        params.arguments = match arguments {
            Value::Object(map) => Some(map.clone()),
            Value::Null => None,
            other => return failed(format!("the arguments must be an object, not {other}")),
        };
        let result = match tokio::time::timeout(limit, service.call_tool(params)).await {
            Err(_) => return failed(format!("the tool did not answer within {limit:?}")),
            Ok(Err(error)) => return failed(format!("the call failed: {error}")),
            Ok(Ok(result)) => result,
        };
        let json = serde_json::to_value(&result).unwrap_or(Value::Null);
        let mut text: String = json["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|block| match block["type"].as_str() {
                Some("text") => block["text"].as_str().map(str::to_owned),
                _ => Some(block.to_string()),
            })
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() && !json["structuredContent"].is_null() {
            text = json["structuredContent"].to_string();
        }
        if text.len() > MAX_RESULT_BYTES {
            let mut end = MAX_RESULT_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str(" [truncated]");
        }
        CallResult {
            server: connection.name.clone(),
            tool: offered.tool.clone(),
            text,
            is_error: json["isError"].as_bool().unwrap_or(false),
        }
    }

    fn tool_names(&self) -> String {
        self.tools
            .iter()
            .map(|tool| tool.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The names of the servers running.
    pub(crate) fn names(&self) -> Vec<String> {
        self.connections.iter().map(|c| c.name.clone()).collect()
    }

    /// Stops every server.
    pub(crate) async fn stop(&mut self) {
        for connection in &mut self.connections {
            connection.stop().await;
        }
        self.connections.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_stay_within_what_the_apis_accept() {
        assert_eq!(tool_name("echo", "echo"), "mcp__echo__echo");
        assert_eq!(tool_name("a.b", "c d"), "mcp__a_b__c_d");
        assert_eq!(tool_name("s", &"x".repeat(100)).len(), 64);
    }
}
