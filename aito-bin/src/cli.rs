//! The command line: `aito run`, `agent`, `dashboard`, `send`, `status`, `decide`,
//! `config check` and `health`. Every command has `--help`; usage errors exit with 2.

use std::net::SocketAddr;
use std::path::PathBuf;

use aito_core::Priority;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::LlmChoice;

/// aito: an autonomous company of AI agents.
///
/// Seven role agents (CEO, DAO, CMO, CTO, CFO, COO, CCO) talk over a bus, keep state in a store,
/// think with Claude Code and act on what it returns, governed by decisions with tiers, vetoes
/// and human escalation. Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(name = "aito", version, propagate_version = true)]
pub struct Cli {
    /// The configuration file [default: ./aito.toml when it exists, else the built-in one].
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "AITO_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole company in this process, with the dashboard.
    ///
    /// The company is kept in the data directory (company.data_dir in aito.toml, default aito-data/):
    /// state, history, spend, decisions and unhandled messages survive a restart, and the
    /// operator's commands (status, send, decide, budget) work beside it. --memory keeps it in
    /// memory instead (gone when the process ends); --redis puts it on Redis. Without --llm: the
    /// claude CLI when it is on the PATH, else the built-in demo scenario (a replay model and
    /// scripted workers), which sends its own first task to the CEO. Stops on Ctrl-C or
    /// SIGTERM (or, with --exit-when-idle, once nothing is left to do) and prints a summary.
    Run(RunArgs),
    /// Run one agent's daemon, as in one container per agent (needs Redis).
    ///
    /// Serves GET /healthz and GET /readyz on --health-bind for the container's health check.
    Agent(AgentArgs),
    /// Serve the dashboard of a company that runs in other processes (needs Redis).
    Dashboard(DashboardArgs),
    /// Send a message from a human to an agent, a group or everyone; prints the envelope id.
    Send(SendArgs),
    /// Show the agents, their queues and spend, and the decisions.
    Status(StatusArgs),
    /// Answer a decision that was escalated to a human.
    Decide(DecideArgs),
    /// List the task ledger: what each agent owes, newest first.
    Tasks(TasksArgs),
    /// Show one task with its history (who changed it, when and why) and its sub-tasks.
    Task(TaskArgs),
    /// Check and show the configuration.
    Config {
        /// What to do with it.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Probe a health endpoint: exit 0 when it answers 200 (for container health checks).
    Health(HealthArgs),
    /// Replay a recording made with `aito run --record`: the same company on a virtual clock
    /// against the recorded answers; reports the first step that differs (exit 1), or none.
    Replay(ReplayArgs),
    /// Show an agent's or the company's budget and spend, or change it (a human raising or
    /// lowering a limit; an agent waiting for its budget resumes at once when it allows).
    Budget(BudgetArgs),
    /// Write the company out as JSON lines (state, history, decisions, spend, logs, messages not
    /// yet handled), from its data directory or Redis: to move it, or to keep a copy.
    Export(ExportArgs),
    /// Read a company written by `aito export` into an empty data directory or Redis.
    Import(ImportArgs),
    /// The agents' searchable memory (the `[context]` section).
    Context {
        /// What to do with it.
        #[command(subcommand)]
        command: ContextCommand,
    },
}

/// `aito context ...`.
#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Print the passages an agent would get for a query, with their sources and scores.
    Search(ContextSearchArgs),
}

/// `aito context search`.
#[derive(Debug, Args)]
pub struct ContextSearchArgs {
    /// What to search for, as a trigger's title and content would read.
    #[arg(value_name = "QUERY")]
    pub query: String,

    /// The agent to search as (what it may see differs: another agent's summaries are private).
    #[arg(long, value_name = "ROLE")]
    pub agent: String,

    /// The company's store, to add what it remembers to an index kept in memory.
    #[command(flatten)]
    pub connection: Connection,
}

/// Where the company's bus and store are.
#[derive(Debug, Args, Clone, Default)]
pub struct Connection {
    /// Redis URL of the company's bus and store [env: AITO_REDIS_URL, or redis.url in aito.toml]. A URL
    /// with a password is better given in AITO_REDIS_URL than on the command line.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// The data directory of a company kept on this machine (without Redis) [default:
    /// company.data_dir in aito.toml, AITO_COMPANY_DATA_DIR, or aito-data].
    #[arg(long, value_name = "DIR", conflicts_with = "redis")]
    pub data_dir: Option<PathBuf>,
}

/// `aito run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,

    /// The model: claude, router, demo, or replay:FILE (a scenario) [env: AITO_LLM_PROVIDER].
    #[arg(long, value_name = "MODEL")]
    pub llm: Option<LlmChoice>,

    /// Stop once every agent has been idle for a moment, print the summary and exit.
    #[arg(long)]
    pub exit_when_idle: bool,

    /// Keep the company in memory only: nothing is written to the data directory, and
    /// everything is gone when the process ends (tests, throw-away runs).
    #[arg(long, conflicts_with_all = ["redis", "data_dir"])]
    pub memory: bool,

    /// The dashboard's address [env: AITO_DASHBOARD_BIND or AITO_BIND; default 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,

    /// Record the run as JSON lines (sessions, actions, workers, ticks, outside messages) for
    /// `aito replay`. A recorded run keeps its company in memory (unless --redis), as its
    /// replay does.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Send the `kickoff` messages of a scenario (`demo`, or a scenario file) once every agent
    /// serves, whichever model runs: the demo on a model router, for one. They replace those
    /// of the model's own scenario.
    #[arg(long, value_name = "SCENARIO")]
    pub kickoff: Option<String>,
}

/// `aito export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write [default: standard output].
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// The company's bus and store.
    #[command(flatten)]
    pub connection: Connection,
}

/// `aito import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file `aito export` wrote.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where the company goes: a data directory (created when absent) or Redis; it must hold
    /// no company yet.
    #[command(flatten)]
    pub connection: Connection,
}

/// `aito replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recording.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where the replayed agents' workspaces go (default: a temporary directory, removed after).
    #[arg(long, value_name = "DIR")]
    pub workspaces: Option<PathBuf>,
}

/// `aito budget`.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// The agent, by role; without it, the whole company's budget.
    #[arg(long, value_name = "ROLE")]
    pub agent: Option<String>,

    /// Model sessions per clock hour (a number, or `none` for no limit).
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    pub sessions_per_hour: Option<Limit>,

    /// USD per clock hour (a number, or `none`).
    #[arg(long, value_name = "USD|none", value_parser = parse_limit)]
    pub usd_per_hour: Option<Limit>,

    /// USD per UTC day (a number, or `none`).
    #[arg(long, value_name = "USD|none", value_parser = parse_limit)]
    pub usd_per_day: Option<Limit>,

    /// Tokens per clock hour (a number, or `none`).
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    pub tokens_per_hour: Option<Limit>,

    /// Tokens per UTC day (a number, or `none`).
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    pub tokens_per_day: Option<Limit>,

    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,
}

/// A budget limit given on the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// No limit of this kind.
    None,
    /// At most this much.
    At(f64),
}

fn parse_limit(text: &str) -> Result<Limit, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "none" | "unlimited" => Ok(Limit::None),
        number => match number.parse::<f64>() {
            Ok(value) if value.is_finite() && value >= 0.0 => Ok(Limit::At(value)),
            _ => Err(format!(
                "expected a number of at least 0, or none; saw {text:?}"
            )),
        },
    }
}

/// `aito agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The agent's role, as in the configuration (ceo, dao, cmo, cto, cfo, coo, cco, ...).
    /// Repeat it to run several agents in this process (`--role ceo --role cto`).
    #[arg(long, value_name = "ROLE", required_unless_present = "all")]
    pub role: Vec<String>,

    /// Run every agent of the configuration in this process.
    #[arg(long, conflicts_with = "role")]
    pub all: bool,

    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,

    /// The model: claude, demo, or replay:FILE [env: AITO_LLM_PROVIDER; default claude].
    #[arg(long, value_name = "MODEL")]
    pub llm: Option<LlmChoice>,

    /// Where GET /healthz is served [env: AITO_HEALTH_BIND; default 127.0.0.1:3001].
    #[arg(long, value_name = "ADDR")]
    pub health_bind: Option<SocketAddr>,
}

/// `aito dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,

    /// The dashboard's address [env: AITO_DASHBOARD_BIND or AITO_BIND; default 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

/// `aito send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The recipient: a role name, an agent uuid, broadcast (or all), head or clevel.
    #[arg(long, value_name = "ROLE|UUID|broadcast")]
    pub to: String,

    /// The message type: task, direct, alert, status_request, ...
    #[arg(long = "type", value_name = "TYPE", default_value = "task")]
    pub kind: String,

    /// The payload, a JSON object such as '{"title": "Write the changelog"}'.
    #[arg(long, value_name = "JSON")]
    pub payload: String,

    /// low, normal, high, urgent or critical.
    #[arg(long, value_name = "PRIORITY", default_value = "normal", value_parser = parse_priority)]
    pub priority: Priority,

    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,
}

fn parse_priority(text: &str) -> Result<Priority, String> {
    text.parse()
}

/// `aito status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object (fields in docs/cli.md) instead of text.
    #[arg(long)]
    pub json: bool,

    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,
}

/// `aito tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Only the tasks assigned to this agent (a role).
    #[arg(long, value_name = "ROLE")]
    pub agent: Option<String>,

    /// Only the tasks in this status: open, in_progress, blocked, done or cancelled.
    #[arg(long, value_name = "S")]
    pub status: Option<String>,

    /// Print one JSON object (`{"tasks": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,
}

/// `aito task`.
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// The task's id (from `aito tasks`).
    #[arg(value_name = "ID")]
    pub id: String,

    /// Print one JSON object (`{"task", "subtasks"}`) instead of text.
    #[arg(long)]
    pub json: bool,

    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,
}

/// The human's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Answer {
    /// Carry it out.
    Approve,
    /// Do not.
    Reject,
}

/// `aito decide`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The decision's id (from `aito status`).
    #[arg(value_name = "ID")]
    pub id: String,

    /// approve or reject.
    #[arg(value_name = "ANSWER")]
    pub answer: Answer,

    /// Why; the proposer reads it.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    /// The bus and store.
    #[command(flatten)]
    pub connection: Connection,
}

/// `aito config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it resolved (environment applied, secrets
    /// masked); exit 2 with every problem when it is unusable.
    Check,
}

/// `aito health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The endpoint.
    #[arg(
        value_name = "URL",
        env = "AITO_HEALTH_URL",
        default_value = "http://127.0.0.1:3001/healthz"
    )]
    pub url: String,

    /// How long to wait for the answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub timeout: u64,
}

impl Command {
    /// The log filter when `RUST_LOG` is unset: daemons log their work, clients only
    /// problems.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Run(_) | Command::Agent(_) | Command::Dashboard(_) => {
                "warn,aito=info,aito_bin=info,aito_core=info,aito_redis=info,aito_claude=info"
            }
            Command::Replay(_) => "error",
            _ => "warn",
        }
    }

    /// Whether the command runs on a virtual clock (tokio's paused time).
    pub fn is_virtual_time(&self) -> bool {
        matches!(self, Command::Replay(_))
    }

    /// Whether the command records a run: its agents then interleave on one thread, so the
    /// recorded times give the true order of their effects and the replay can follow it.
    pub fn is_recording(&self) -> bool {
        matches!(self, Command::Run(args) if args.record.is_some())
    }

    /// Whether the command runs daemons (and wants worker threads).
    pub fn is_long_running(&self) -> bool {
        matches!(
            self,
            Command::Run(_) | Command::Agent(_) | Command::Dashboard(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn decide_takes_an_answer_and_a_reason() {
        let cli = Cli::try_parse_from([
            "aito",
            "decide",
            "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3",
            "approve",
            "--reason",
            "ok",
        ])
        .expect("parses");
        let Command::Decide(args) = cli.command else {
            panic!("not decide");
        };
        assert_eq!(args.answer, Answer::Approve);
        let err = Cli::try_parse_from(["aito", "decide", "x", "maybe", "--reason", "r"])
            .expect_err("bad answer");
        assert_eq!(err.exit_code(), 2);
    }
}
