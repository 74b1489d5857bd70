//! The [`WorkerSpawner`] trait: short-lived helpers with tools (MCP servers).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::id::AgentId;
use crate::llm::{TokenUsage, duration_ms};
use crate::role::Role;

/// A job for a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerTask {
    /// Task id (the action id that asked for it, so a redelivery cannot start it twice).
    pub id: String,
    /// The requesting agent.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// What to do.
    pub task: String,
    /// Extra context from the agent.
    #[serde(default)]
    pub context: Option<String>,
    /// MCP servers the worker asks for.
    pub servers: Vec<String>,
    /// MCP servers the agent is allowed (from configuration, not from the model).
    pub allowed_servers: Vec<String>,
    /// Wall-clock limit.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
}

/// How a worker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Done.
    Succeeded,
    /// It ran and failed.
    Failed,
    /// Killed at the timeout.
    TimedOut,
    /// Its daemon stopped before it finished, so its result is lost. Set by the daemon when
    /// it next starts, never by a spawner.
    Interrupted,
}

impl WorkerStatus {
    /// The name used on the wire (`worker_result`'s `status`) and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Succeeded => "succeeded",
            WorkerStatus::Failed => "failed",
            WorkerStatus::TimedOut => "timed_out",
            WorkerStatus::Interrupted => "interrupted",
        }
    }
}

/// What a worker produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerResult {
    /// The task id.
    pub task_id: String,
    /// How it ended.
    pub status: WorkerStatus,
    /// Its final text (or the failure).
    pub result: String,
    /// Cost in USD.
    #[serde(default)]
    pub cost_usd: f64,
    /// Tokens used.
    #[serde(default)]
    pub usage: TokenUsage,
    /// Wall time.
    #[serde(default, with = "duration_ms")]
    pub duration: Duration,
}

/// Why a worker could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkerError {
    /// A requested server is not in the MCP registry.
    #[error("unknown MCP server {server:?}; the registry has: {known}")]
    UnknownServer {
        /// The server asked for.
        server: String,
        /// The servers the registry knows, comma-separated.
        known: String,
    },
    /// A requested server exists but the agent may not use it.
    #[error("MCP server {server:?} is not allowed for {role}; allowed: {allowed}")]
    NotAllowed {
        /// The server asked for.
        server: String,
        /// The agent's role.
        role: Role,
        /// The agent's allowed servers, comma-separated.
        allowed: String,
    },
    /// The worker could not be started.
    #[error("worker could not start: {0}")]
    Spawn(String),
    /// Anything else.
    #[error("worker failed: {0}")]
    Other(String),
}

/// Runs workers: one model session with exactly the MCP servers the task asked for.
///
/// # Guarantees
/// A task asking for a server outside [`WorkerTask::allowed_servers`] or unknown to the
/// registry is refused before anything starts. The worker sees only the requested servers,
/// its log lines are published to [`Channel::WorkerLogs`](crate::Channel::WorkerLogs) as they
/// come, and at the timeout its whole process group is killed and
/// [`WorkerStatus::TimedOut`] returned.
#[cfg_attr(any(test, feature = "test-utils"), mockall::automock)]
#[async_trait]
pub trait WorkerSpawner: Send + Sync {
    /// Runs the task to completion.
    async fn spawn(&self, task: WorkerTask) -> Result<WorkerResult, WorkerError>;
}

/// Checks `task.servers` against `task.allowed_servers`; the first server not allowed is the
/// error. Spawners call this before starting anything.
pub fn check_allowed(task: &WorkerTask) -> Result<(), WorkerError> {
    match task
        .servers
        .iter()
        .find(|server| !task.allowed_servers.contains(server))
    {
        Some(server) => Err(WorkerError::NotAllowed {
            server: server.clone(),
            role: task.role.clone(),
            allowed: if task.allowed_servers.is_empty() {
                "none".to_owned()
            } else {
                task.allowed_servers.join(", ")
            },
        }),
        None => Ok(()),
    }
}
