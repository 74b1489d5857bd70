//! `aito.toml`: the company, its agents, the MCP registry, Redis, the dashboard and the model,
//! each field overridable by an `AITO_*` environment variable, secrets only from the
//! environment.
//!
//! [`Config::load`] reads the file named by `--config` (or `AITO_CONFIG`), else `./aito.toml`,
//! else the built-in default (the repository's `aito.toml`, compiled in), applies the
//! environment ([`Env`]) and checks everything before anything starts. Every refusal names the
//! file, line and field, or the environment variable ([`ConfigError`]). docs/configuration.md
//! lists every field and its variable.
//!
//! - [`file`](mod@file): the file's shape, exactly as written.
//! - [`env`](mod@env): the `AITO_*` variables.
//! - [`error`]: errors, with positions.
//! - `resolve`: file plus environment, checked, into a [`Config`].
//! - [`webhooks`]: `[webhooks.<name>]`, the sources of signed webhooks.
//! - `render`: the resolved configuration as TOML, secrets masked (`aito config check`).
//! - [`claude`](mod@claude): `[claude]`, how the Claude Code CLI runs.

pub mod claude;
pub mod env;
pub mod error;
pub mod file;
mod mask;
pub mod providers;
mod render;
mod resolve;
pub mod webhooks;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aito_core::directory::AgentEntry;
use aito_core::{AgentSpec, Budget, CompanyBuilder, DefaultPolicy, Directory, Settings, Tier};
use aito_redis::RedisUrl;

pub use env::Env;
pub use error::{ConfigError, Origin, Problem};

use crate::model::LlmChoice;

/// The default configuration for the seven roles (the repository's `aito.toml`).
pub const DEFAULT_TOML: &str = include_str!("../../defaults/aito.toml");

/// The file looked for in the current directory when none is named.
pub const DEFAULT_FILE: &str = "aito.toml";

/// A secret from the environment: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the configuration came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file.
    File(PathBuf),
    /// The built-in default.
    BuiltIn,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::BuiltIn => f.write_str("the built-in configuration"),
        }
    }
}

/// Where an agent's profile comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileSource {
    /// The built-in profile of its role (`profiles/<role>.md`, compiled in).
    BuiltIn,
    /// A file.
    File(PathBuf),
}

/// One agent, resolved.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// What the daemon runs; its `id` is always set.
    pub spec: AgentSpec,
    /// Where the profile text came from.
    pub profile: ProfileSource,
}

/// The kind of an MCP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McpKind {
    /// A local program speaking MCP on stdin and stdout.
    Stdio,
    /// A remote server over streamable HTTP.
    Http,
    /// A remote server over server-sent events.
    Sse,
}

impl McpKind {
    /// The name used in `aito.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            McpKind::Stdio => "stdio",
            McpKind::Http => "http",
            McpKind::Sse => "sse",
        }
    }
}

/// One MCP server of the registry, as Claude Code's `--mcp-config` describes it. Values of
/// `env` and `headers` may hold `${VAR}` references, expanded when a worker starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpServer {
    /// Local or remote.
    pub kind: McpKind,
    /// The program (stdio).
    pub command: Option<String>,
    /// Its arguments (stdio).
    pub args: Vec<String>,
    /// Its environment (stdio); values set by the environment are kept secret.
    pub env: BTreeMap<String, McpValue>,
    /// The URL (http, sse).
    pub url: Option<String>,
    /// Request headers (http, sse).
    pub headers: BTreeMap<String, McpValue>,
}

/// A value of an MCP server's `env` or `headers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpValue {
    /// Written in `aito.toml` (no secret, or `${VAR}` references).
    Plain(String),
    /// Set by an `AITO_MCP_*` variable: treated as a secret.
    Secret(Secret),
}

impl McpValue {
    /// The value, for the adapter that starts the server.
    pub fn expose(&self) -> &str {
        match self {
            McpValue::Plain(value) => value,
            McpValue::Secret(secret) => secret.expose(),
        }
    }
}

/// Redis, when the company uses it.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// The server; `None` runs on the embedded bus and store.
    pub url: Option<RedisUrl>,
    /// Key prefix.
    pub prefix: String,
}

/// Limits of every bus (`[bus]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusSettings {
    /// The largest envelope, as JSON, in bytes: larger ones are refused on publish and
    /// dead-lettered when read or ingested.
    pub max_envelope_bytes: usize,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            max_envelope_bytes: aito_core::envelope::MAX_ENVELOPE_BYTES,
        }
    }
}

/// The model settings.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    /// The model to use; `None` chooses at start (claude when on the PATH).
    pub provider: Option<LlmChoice>,
    /// The `claude` program.
    pub claude_binary: String,
    /// The model of agents that name none.
    pub model: Option<String>,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Maximum agentic turns per session.
    pub max_turns: Option<u32>,
    /// The providers and rules of the model router (`[llm.providers]`, `[[llm.rules]]`).
    pub router: providers::RouterSettings,
}

/// Decision deadlines and rounds.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionSettings {
    /// How long the CEO has to veto a minor decision.
    pub minor: Duration,
    /// How long CEO and DAO have for a major decision.
    pub major: Duration,
    /// How long CEO and DAO have for a critical decision.
    pub critical: Duration,
    /// Rounds before a veto deadlocks.
    pub max_rounds: u8,
}

impl Default for DecisionSettings {
    fn default() -> Self {
        let hour = 3600;
        Self {
            minor: Duration::from_secs(4 * hour),
            major: Duration::from_secs(24 * hour),
            critical: Duration::from_secs(48 * hour),
            max_rounds: 3,
        }
    }
}

/// A checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it came from.
    pub source: ConfigSource,
    /// The company's name.
    pub company: String,
    /// Where agents' workspaces are created.
    pub workspace_root: PathBuf,
    /// Where data on disk goes (the context index).
    pub data_dir: PathBuf,
    /// Session records kept per agent for the dashboard (`company.sessions_keep`).
    pub sessions_keep: usize,
    /// How long an agent's lease lives without a renewal (`company.lease_ttl_secs`): how long
    /// a successor waits for a holder that died or froze.
    pub lease_ttl: Duration,
    /// The folder relative paths in the configuration are taken from.
    pub base: PathBuf,
    /// The agents' searchable memory, when configured.
    pub context: Option<aito_context::ContextConfig>,
    /// The budget of the whole company.
    pub company_budget: Budget,
    /// The agents, in the order written.
    pub agents: Vec<AgentConfig>,
    /// The MCP registry.
    pub mcp: BTreeMap<String, McpServer>,
    /// Redis.
    pub redis: RedisSettings,
    /// Limits of every bus.
    pub bus: BusSettings,
    /// The dashboard's address.
    pub dashboard_bind: SocketAddr,
    /// The dashboard's write token (`AITO_DASHBOARD_TOKEN`).
    pub dashboard_token: Option<Secret>,
    /// Where escalation notices are posted (checked); shown masked, as such URLs often carry
    /// a secret in their path.
    pub escalation_webhook: Option<crate::dashboard::EscalationWebhook>,
    /// The dashboard's public address, for links in notices.
    pub public_url: Option<String>,
    /// The webhook sources (`[webhooks.<name>]`) that may call `POST /hooks/<name>`.
    pub webhooks: Vec<crate::dashboard::hooks::HookSource>,
    /// The address of `aito agent`'s health endpoint.
    pub health_bind: SocketAddr,
    /// The model.
    pub llm: LlmSettings,
    /// How the Claude Code CLI runs (`[claude]`); its program and model are also in `llm`.
    pub claude: aito_claude::ClaudeConfig,
    /// Decision deadlines.
    pub decisions: DecisionSettings,
    /// Environment variables that changed a value.
    pub overrides: Vec<String>,
    /// Things worth knowing that do not stop anything (unknown `AITO_*` variables).
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads `path`, or `./aito.toml` when it exists, or the built-in default; applies `env`
    /// and checks everything.
    pub fn load(path: Option<&Path>, env: &Env) -> Result<Self, ConfigError> {
        let path = match path {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|path| path.is_file()),
        };
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let base = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                Self::from_text(&text, ConfigSource::File(path), &base, env)
            }
            None => Self::from_text(DEFAULT_TOML, ConfigSource::BuiltIn, Path::new("."), env),
        }
    }

    /// Resolves `text` (read from `source`); relative paths in it are taken from `base`.
    pub fn from_text(
        text: &str,
        source: ConfigSource,
        base: &Path,
        env: &Env,
    ) -> Result<Self, ConfigError> {
        resolve::resolve(text, source, base, env)
    }

    /// The resolved configuration as TOML, secrets masked.
    pub fn render(&self) -> String {
        render::render(self)
    }

    /// The agents' specifications.
    pub fn agent_specs(&self) -> Vec<AgentSpec> {
        self.agents.iter().map(|agent| agent.spec.clone()).collect()
    }

    /// The agent of `role`, by name.
    pub fn agent(&self, role: &str) -> Option<&AgentConfig> {
        self.agents
            .iter()
            .find(|agent| agent.spec.role.as_str().eq_ignore_ascii_case(role.trim()))
    }

    /// Who is who: the agents' ids and roles, for addressing.
    pub fn directory(&self) -> Directory {
        Directory::new(self.agents.iter().filter_map(|agent| {
            Some(AgentEntry {
                id: agent.spec.id?,
                role: agent.spec.role.clone(),
            })
        }))
    }

    /// Loop settings.
    pub fn settings(&self) -> Settings {
        Settings {
            session_timeout: self.llm.session_timeout,
            max_turns: self.llm.max_turns,
            company_budget: self.company_budget.clone(),
            sessions_keep: self.sessions_keep,
            lease_ttl: self.lease_ttl,
            ..Settings::default()
        }
    }

    /// The decision policy: the default tier table with the configured deadlines.
    pub fn policy(&self) -> DefaultPolicy {
        DefaultPolicy::default()
            .with_deadline(Tier::Minor, self.decisions.minor)
            .with_deadline(Tier::Major, self.decisions.major)
            .with_deadline(Tier::Critical, self.decisions.critical)
            .with_max_rounds(self.decisions.max_rounds)
    }

    /// A company builder with the name, agents, policy, settings and workspace root of this
    /// configuration; the caller adds the adapters.
    pub fn company_builder(&self) -> CompanyBuilder {
        aito_core::Company::builder(self.company.clone())
            .agents(self.agent_specs())
            .policy(std::sync::Arc::new(self.policy()))
            .settings(self.settings())
            .workspace_root(self.workspace_root.clone())
    }
}

#[cfg(test)]
mod tests;
