//! How the agents think and who runs their workers: the `claude` CLI, the built-in demo
//! scenario, or a replay scenario file.
//!
//! [`choose`] picks the model (the `--llm` option, then `[llm] provider`, then: claude when it
//! is on the PATH, else the demo for `aito run`); [`adapters`] builds it; [`claude_adapters`]
//! builds the Claude Code adapter.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use aito_claude::{ClaudeConfig, ClaudeSession, ClaudeWorkers, McpRegistry};
use aito_core::{
    Bus, Company, LlmError, LlmRequest, LlmResponse, LlmSession, WorkerError, WorkerResult,
    WorkerSpawner, WorkerTask,
};
use aito_models::{AnthropicApi, ApiSession, ApiWorkers, ChatApi, OpenAiApi, Router, WorkerRouter};
use async_trait::async_trait;

use crate::backend::Backend;
use crate::config::providers::ProviderKind;
use crate::config::{Config, McpKind, McpValue};
use crate::error::Error;
use crate::scenario::{Kickoff, Scenario};

/// Which model to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LlmChoice {
    /// The `claude` CLI (Claude Code, headless).
    Claude,
    /// The model router over `[llm.providers]`, by `[[llm.rules]]`.
    Router,
    /// The built-in demo scenario.
    Demo,
    /// A replay scenario file.
    Replay(PathBuf),
}

impl FromStr for LlmChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "claude" => Ok(LlmChoice::Claude),
            "router" => Ok(LlmChoice::Router),
            "demo" | "replay:demo" => Ok(LlmChoice::Demo),
            _ => match text.strip_prefix("replay:") {
                Some(path) if !path.trim().is_empty() => {
                    Ok(LlmChoice::Replay(PathBuf::from(path.trim())))
                }
                _ => Err(format!(
                    "expected claude, router, demo or replay:FILE, saw {text:?}"
                )),
            },
        }
    }
}

impl fmt::Display for LlmChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmChoice::Claude => f.write_str("claude"),
            LlmChoice::Router => f.write_str("router"),
            LlmChoice::Demo => f.write_str("demo"),
            LlmChoice::Replay(path) => write!(f, "replay:{}", path.display()),
        }
    }
}

/// Who asks for a model: the whole company, or one agent's container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `aito run`: without a choice, the demo stands in when claude is missing.
    Company,
    /// `aito agent`: without a choice, claude is required.
    Agent,
}

/// The model and workers, ready for the company builder.
pub struct Adapters {
    /// The model.
    pub llm: Arc<dyn LlmSession>,
    /// The workers.
    pub workers: Arc<dyn WorkerSpawner>,
    /// One line for logs and the summary.
    pub description: String,
    /// Messages to send once the company serves (scenarios only).
    pub kickoff: Vec<Kickoff>,
}

impl fmt::Debug for Adapters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adapters")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Whether `program` can be run: a path to an executable file, or a name found on the PATH.
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

/// The model to run: `flag`, else the configuration's, else claude when it is on the PATH,
/// else (for the whole company) the demo, said so in the log.
pub fn choose(
    flag: Option<LlmChoice>,
    config: &Config,
    purpose: Purpose,
) -> Result<LlmChoice, Error> {
    if let Some(choice) = flag.or_else(|| config.llm.provider.clone()) {
        return Ok(choice);
    }
    if !config.llm.router.is_empty() {
        tracing::info!("using the model router over [llm.providers]");
        return Ok(LlmChoice::Router);
    }
    let binary = &config.llm.claude_binary;
    if on_path(binary) {
        tracing::info!(claude = %binary, "using the claude CLI");
        return Ok(LlmChoice::Claude);
    }
    match purpose {
        Purpose::Company => {
            tracing::warn!(
                claude = %binary,
                "`{binary}` is not on the PATH: running the built-in demo scenario with a replay model and scripted workers; install Claude Code or pass --llm to choose"
            );
            Ok(LlmChoice::Demo)
        }
        Purpose::Agent => Err(Error::Usage(format!(
            "no model for this agent: `{binary}` is not on the PATH; install Claude Code, or pass --llm demo or --llm replay:FILE (or set AITO_LLM_PROVIDER) to run a scripted agent"
        ))),
    }
}

/// Builds the model and workers of `choice`. Workers with a replay model are scripted
/// ([`MockWorkers`](aito_core::MockWorkers)): they run no MCP server, and the log says so.
pub fn adapters(choice: &LlmChoice, config: &Config, bus: Arc<dyn Bus>) -> Result<Adapters, Error> {
    let scenario = match choice {
        LlmChoice::Claude => return claude_adapters(config, bus),
        LlmChoice::Router => return router_adapters(config, bus),
        LlmChoice::Demo => Scenario::demo()?,
        LlmChoice::Replay(path) => Scenario::from_file(path)?,
    };
    let name = scenario.name.clone().unwrap_or_default();
    tracing::info!(
        scenario = %name,
        "the model is a replay of scripted answers and the workers are scripted (MockWorkers): no model and no MCP server runs"
    );
    Ok(Adapters {
        llm: scenario.llm(),
        workers: scenario.workers(),
        description: format!("replay scenario {name}; scripted workers"),
        kickoff: scenario.kickoff,
    })
}

/// The model and workers over the `claude` CLI: sessions in each agent's workspace, workers
/// with the MCP servers of `config.mcp` streaming their logs to `bus`.
///
/// MCP values set through the environment are secrets: they never reach the temporary MCP
/// configuration file. Each becomes a `${AITO_MCP_SECRET_<n>}` reference there, with the value
/// in the CLI's environment, which expands it.
pub fn claude_adapters(config: &Config, bus: Arc<dyn Bus>) -> Result<Adapters, Error> {
    let binary = &config.llm.claude_binary;
    if !on_path(binary) {
        return Err(Error::Runtime(format!(
            "the claude program `{binary}` is not on the PATH: install Claude Code, or set [llm] claude_binary (AITO_LLM_CLAUDE_BINARY) to where it is"
        )));
    }
    // [claude], with the program and model it shares with [llm].
    let mut claude: ClaudeConfig = config.claude.clone();
    // Secrets go into the CLI's environment; the MCP file gets a reference to them.
    let mut secret_env: Vec<(String, String)> = Vec::new();
    let mut value = |value: &McpValue| -> String {
        match value {
            McpValue::Plain(text) => text.clone(),
            McpValue::Secret(secret) => {
                let var = format!("AITO_MCP_SECRET_{}", secret_env.len() + 1);
                secret_env.push((var.clone(), secret.expose().to_owned()));
                format!("${{{var}}}")
            }
        }
    };
    let mut registry = McpRegistry::new();
    for (name, server) in &config.mcp {
        let entry = match server.kind {
            McpKind::Stdio => aito_claude::McpServer::Stdio {
                command: server.command.clone().ok_or_else(|| {
                    Error::Usage(format!("MCP server {name}: a stdio server needs a command"))
                })?,
                args: server.args.clone(),
                env: server
                    .env
                    .iter()
                    .map(|(key, v)| (key.clone(), value(v)))
                    .collect(),
            },
            McpKind::Http | McpKind::Sse => {
                let url = server.url.clone().ok_or_else(|| {
                    Error::Usage(format!("MCP server {name}: a remote server needs a url"))
                })?;
                let headers = server
                    .headers
                    .iter()
                    .map(|(key, v)| (key.clone(), value(v)))
                    .collect();
                if server.kind == McpKind::Http {
                    aito_claude::McpServer::Http { url, headers }
                } else {
                    aito_claude::McpServer::Sse { url, headers }
                }
            }
        };
        registry
            .insert(name.clone(), entry)
            .map_err(|err| Error::Usage(format!("MCP server {name}: {err}")))?;
    }
    for (var, secret) in secret_env {
        claude = claude.env(var, secret);
    }
    let description = format!(
        "claude CLI `{binary}`{}; {} MCP server(s) for workers",
        claude
            .model
            .as_ref()
            .map_or_else(String::new, |model| format!(
                " with model {model} by default"
            )),
        registry.len()
    );
    let workers =
        ClaudeWorkers::new(claude.clone(), registry, bus).with_max_turns(config.llm.max_turns);
    Ok(Adapters {
        llm: Arc::new(ClaudeSession::new(claude)),
        workers: Arc::new(workers),
        description,
        kickoff: Vec::new(),
    })
}

/// `${VAR}` in `text` replaced by the variable's value (empty when unset).
fn expand(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&std::env::var(&after[..end]).unwrap_or_default());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The MCP servers of `config.mcp` for workers that aito runs itself (on API providers):
/// secrets and `${VAR}` references resolved here, in memory; nothing is written to disk.
fn api_registry(config: &Config) -> Result<McpRegistry, Error> {
    let value = |value: &McpValue| match value {
        McpValue::Plain(text) => expand(text),
        McpValue::Secret(secret) => secret.expose().to_owned(),
    };
    let mut registry = McpRegistry::new();
    for (name, server) in &config.mcp {
        let entry = match server.kind {
            McpKind::Stdio => aito_claude::McpServer::Stdio {
                command: server.command.clone().ok_or_else(|| {
                    Error::Usage(format!("MCP server {name}: a stdio server needs a command"))
                })?,
                args: server.args.clone(),
                env: server
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), value(v)))
                    .collect(),
            },
            McpKind::Http | McpKind::Sse => aito_claude::McpServer::Http {
                url: server.url.clone().ok_or_else(|| {
                    Error::Usage(format!("MCP server {name}: a remote server needs a url"))
                })?,
                headers: server
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), value(v)))
                    .collect(),
            },
        };
        registry
            .insert(name.clone(), entry)
            .map_err(|err| Error::Usage(format!("MCP server {name}: {err}")))?;
    }
    Ok(registry)
}

/// The model router over `[llm.providers]`: sessions by `[[llm.rules]]` with fallback, and
/// workers on the provider the rules give for the `worker` kind (API providers run the
/// tool-use loop themselves with the task's MCP servers; a `claude` provider runs them in
/// the CLI). API keys are read from the variables the providers name.
pub fn router_adapters(config: &Config, bus: Arc<dyn Bus>) -> Result<Adapters, Error> {
    let settings = &config.llm.router;
    let registry = api_registry(config)?;
    let mut sessions: Vec<(String, Arc<dyn LlmSession>)> = Vec::new();
    let mut workers: Vec<(String, Arc<dyn WorkerSpawner>)> = Vec::new();
    let mut described = Vec::new();
    for provider in &settings.providers {
        let name = provider.name.clone();
        let (api, anthropic) = match &provider.kind {
            ProviderKind::Claude => {
                let adapters = claude_adapters(config, Arc::clone(&bus))?;
                described.push(format!("{name} (claude CLI)"));
                sessions.push((name.clone(), adapters.llm));
                workers.push((name, adapters.workers));
                continue;
            }
            ProviderKind::Anthropic(api) => (api.clone(), true),
            ProviderKind::OpenAi(api) => (api.clone(), false),
        };
        let mut api = api;
        if let Some(var) = &provider.api_key_env {
            match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => api = api.api_key(key.trim()),
                _ if anthropic => {
                    return Err(Error::Runtime(format!(
                        "provider {name}: the Anthropic API needs a key; set {var}"
                    )));
                }
                _ => {}
            }
        }
        described.push(format!(
            "{name} ({} {})",
            if anthropic { "anthropic" } else { "openai" },
            api.model
        ));
        let chat: Arc<dyn ChatApi> = if anthropic {
            Arc::new(AnthropicApi::new(api).map_err(|err| Error::Runtime(err.to_string()))?)
        } else {
            Arc::new(OpenAiApi::new(api).map_err(|err| Error::Runtime(err.to_string()))?)
        };
        sessions.push((name.clone(), Arc::new(ApiSession::new(Arc::clone(&chat)))));
        workers.push((
            name,
            Arc::new(
                ApiWorkers::new(chat, registry.clone(), Arc::clone(&bus))
                    .with_max_turns(config.llm.max_turns),
            ),
        ));
    }
    let router = Router::with_default(sessions, settings.rules.clone(), settings.order.clone())
        .map_err(|err| Error::Usage(format!("[llm]: {err}")))?;
    let worker_router = WorkerRouter::new(workers, settings.rules.clone(), settings.order.clone())
        .map_err(|err| Error::Usage(format!("[llm]: {err}")))?;
    Ok(Adapters {
        llm: Arc::new(router),
        workers: Arc::new(worker_router),
        description: format!(
            "model router over {}; {} rule(s); {} MCP server(s) for workers",
            described.join(", "),
            settings.rules.len(),
            registry.len()
        ),
        kickoff: Vec::new(),
    })
}

/// The model and workers of a process that runs no agent (the dashboard alone and the
/// operator's client commands): every call fails, saying so.
#[derive(Debug, Default)]
pub struct NoModel;

/// The company as a process that runs no agent sees it: its directory, decisions and
/// controls over `backend`, with [`NoModel`] in place of the model and workers.
pub fn observer(config: &Config, backend: &Backend) -> Result<Company, Error> {
    Ok(config
        .company_builder()
        .bus(Arc::clone(&backend.bus))
        .store(Arc::clone(&backend.store))
        .llm(Arc::new(NoModel))
        .workers(Arc::new(NoModel))
        .build()?)
}

#[async_trait]
impl LlmSession for NoModel {
    async fn run(&self, _request: LlmRequest) -> Result<LlmResponse, LlmError> {
        Err(LlmError::Other {
            message: "this process runs no agent and has no model".to_owned(),
        })
    }
}

#[async_trait]
impl WorkerSpawner for NoModel {
    async fn spawn(&self, _task: WorkerTask) -> Result<WorkerResult, WorkerError> {
        Err(WorkerError::Spawn(
            "this process runs no agent and starts no worker".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for text in [
            "claude",
            "router",
            "demo",
            "replay:examples/scenarios/demo.json",
        ] {
            let choice: LlmChoice = text.parse().expect("parses");
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!("replay:demo".parse::<LlmChoice>(), Ok(LlmChoice::Demo));
        let err = "gpt".parse::<LlmChoice>().expect_err("unknown");
        assert!(err.contains("claude, router, demo or replay:FILE"), "{err}");
        assert!("replay:".parse::<LlmChoice>().is_err());
    }

    #[test]
    fn a_missing_program_is_not_on_the_path() {
        assert!(!on_path("aito-no-such-program-here"));
        assert!(on_path("sh"));
    }
}
