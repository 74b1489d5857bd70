//! The shape of `aito.toml`, exactly as written: every table refuses unknown keys, and every
//! value that is checked later keeps its position so that an error can name its line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[company]`.
    #[serde(default)]
    pub company: CompanySection,
    /// `[[agents]]`; none means the seven built-in roles with their defaults.
    #[serde(default)]
    pub agents: Vec<AgentSection>,
    /// `[mcp.<name>]`: the MCP servers workers may be given.
    #[serde(default)]
    pub mcp: BTreeMap<String, Spanned<McpSection>>,
    /// `[webhooks.<name>]`: services that may call `POST /hooks/<name>`.
    #[serde(default)]
    pub webhooks: BTreeMap<String, Spanned<super::webhooks::WebhookSection>>,
    /// `[redis]`.
    #[serde(default)]
    pub redis: RedisSection,
    /// `[bus]`: limits of every bus (embedded, in memory, Redis).
    #[serde(default)]
    pub bus: BusSection,
    /// `[dashboard]`.
    #[serde(default)]
    pub dashboard: DashboardSection,
    /// `[health]`: the health endpoint of `aito agent`.
    #[serde(default)]
    pub health: HealthSection,
    /// `[llm]`.
    #[serde(default)]
    pub llm: LlmSection,
    /// `[claude]`: how the Claude Code CLI runs.
    #[serde(default)]
    pub claude: Option<Spanned<super::claude::ClaudeSection>>,
    /// `[decisions]`.
    #[serde(default)]
    pub decisions: DecisionsSection,
    /// `[context]`: the agents' searchable memory (RAG); none when absent.
    #[serde(default)]
    pub context: Option<Spanned<aito_context::ContextConfig>>,
}

/// `[company]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanySection {
    /// The company's name; it also seeds the agents' derived ids.
    pub name: Option<Spanned<String>>,
    /// Where each agent gets `<role>/` as its workspace.
    pub workspace_root: Option<Spanned<String>>,
    /// Where data on disk goes (the context index).
    pub data_dir: Option<Spanned<String>>,
    /// The budget of the whole company.
    pub budget: Option<BudgetSection>,
    /// Session records kept per agent for the dashboard.
    pub sessions_keep: Option<Spanned<i64>>,
    /// Seconds an agent's lease lives without a renewal.
    pub lease_ttl_secs: Option<Spanned<i64>>,
}

/// `budget` tables of the company and of each agent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    /// Model sessions per clock hour.
    pub sessions_per_hour: Option<Spanned<i64>>,
    /// USD per clock hour.
    pub usd_per_hour: Option<Spanned<f64>>,
    /// USD per UTC day.
    pub usd_per_day: Option<Spanned<f64>>,
}

/// One `[[agents]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// `ceo`, `dao`, `cmo`, `cto`, `cfo`, `coo`, `cco`, or a custom role with `custom = true`.
    pub role: Spanned<String>,
    /// Allows a role outside the seven.
    #[serde(default)]
    pub custom: bool,
    /// A UUID; derived from the company name and role when absent.
    pub id: Option<Spanned<String>>,
    /// A markdown file, relative to the configuration file; the built-in profile when absent.
    pub profile: Option<Spanned<String>>,
    /// Cron expressions; the role's default schedule when absent, none when empty.
    pub schedules: Option<Vec<Spanned<String>>>,
    /// MCP servers (names from `[mcp]`) its workers may use.
    #[serde(default)]
    pub mcp_servers: Vec<Spanned<String>>,
    /// The model, when not the default.
    pub model: Option<String>,
    /// Its budget.
    pub budget: Option<BudgetSection>,
    /// Runs a session when its daemon starts.
    pub run_on_startup: Option<bool>,
    /// Its workspace directory (default `<workspace_root>/<role>`).
    pub workspace: Option<String>,
}

/// One `[mcp.<name>]` entry: a local command (`stdio`, the default) or a remote server
/// (`type = "http"` or `"sse"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    /// `stdio` (default), `http` or `sse`.
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// The program of a stdio server.
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment; secrets as `${VAR}` references.
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    /// The URL of an http or sse server.
    pub url: Option<String>,
    /// Its request headers; secrets as `${VAR}` references.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
}

/// `[redis]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// The server, without a password (a password goes in `AITO_REDIS_URL`).
    pub url: Option<Spanned<String>>,
    /// Prefix of every key.
    pub prefix: Option<String>,
}

/// `[bus]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSection {
    /// The largest envelope, as JSON, in bytes; larger ones are refused and dead-lettered.
    pub max_envelope_bytes: Option<Spanned<i64>>,
}

/// `[dashboard]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// Address to listen on.
    pub bind: Option<Spanned<String>>,
    /// Never allowed here: the token is a secret (`AITO_DASHBOARD_TOKEN`). Read only to say so.
    pub token: Option<Spanned<toml::Value>>,
    /// Where a JSON notice of each escalated decision is posted.
    pub escalation_webhook: Option<Spanned<String>>,
    /// The dashboard's public address, for links in notices.
    pub public_url: Option<Spanned<String>>,
}

/// `[health]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    /// Address of `aito agent`'s `GET /healthz`.
    pub bind: Option<Spanned<String>>,
}

/// `[llm]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSection {
    /// `claude`, `router`, `demo` or `replay:FILE`.
    pub provider: Option<Spanned<String>>,
    /// The `claude` program.
    pub claude_binary: Option<String>,
    /// The default model of agents that name none.
    pub model: Option<String>,
    /// Session timeout, in seconds.
    pub session_timeout_secs: Option<Spanned<i64>>,
    /// Maximum agentic turns per session.
    pub max_turns: Option<Spanned<i64>>,
    /// `[llm.providers.<name>]`: the providers a router chooses among.
    #[serde(default)]
    pub providers: BTreeMap<String, Spanned<super::providers::ProviderSection>>,
    /// `[[llm.rules]]`: which providers, in order, for which sessions.
    #[serde(default)]
    pub rules: Vec<Spanned<super::providers::RuleSection>>,
    /// The providers' order when no rule matches.
    pub order: Option<Spanned<Vec<String>>>,
}

/// `[decisions]`: deadlines per tier and the number of rounds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionsSection {
    /// Hours the CEO has to veto a minor decision.
    pub minor_hours: Option<Spanned<f64>>,
    /// Hours CEO and DAO have for a major decision.
    pub major_hours: Option<Spanned<f64>>,
    /// Hours CEO and DAO have for a critical decision.
    pub critical_hours: Option<Spanned<f64>>,
    /// Rounds before a veto deadlocks and escalates.
    pub max_rounds: Option<Spanned<i64>>,
}
