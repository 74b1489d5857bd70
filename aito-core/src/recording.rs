//! Recording a company's run: every session's request and outcome, every action carried out,
//! every worker result, every cron tick and every message from outside, as JSON lines. A
//! recording replays exactly with [`replay`](crate::replay).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::agent::{AgentSpec, Budget, Settings};
use crate::envelope::Envelope;
use crate::id::AgentId;
use crate::llm::{LlmError, LlmResponse};
use crate::role::Role;
use crate::store::ActionRecord;
use crate::worker::{WorkerResult, WorkerTask};

/// An agent as the recording remembers it: enough to build it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedAgent {
    /// Its id.
    pub id: AgentId,
    /// Its role.
    pub role: Role,
    /// Its profile.
    pub profile: String,
    /// Its cron expressions.
    pub schedules: Vec<String>,
    /// Its budget.
    pub budget: Budget,
    /// Its MCP servers.
    pub mcp_servers: Vec<String>,
    /// Its model.
    pub model: Option<String>,
    /// Whether it ran a session at start-up.
    pub run_on_startup: bool,
}

impl RecordedAgent {
    /// The record of `spec` with id `id`.
    pub fn of(id: AgentId, spec: &AgentSpec) -> Self {
        Self {
            id,
            role: spec.role.clone(),
            profile: spec.profile.clone(),
            schedules: spec
                .schedules
                .iter()
                .map(|schedule| schedule.expression().to_owned())
                .collect(),
            budget: spec.budget.clone(),
            mcp_servers: spec.mcp_servers.clone(),
            model: spec.model.clone(),
            run_on_startup: spec.run_on_startup,
        }
    }
}

/// How a recorded session ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOutcome {
    /// The model answered.
    Answer(LlmResponse),
    /// The session failed.
    Failure(LlmError),
}

/// How a recorded worker ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerOutcome {
    /// It ran.
    Finished(WorkerResult),
    /// It could not run.
    Refused(String),
}

/// One line of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The first line: the company as it started.
    Start {
        /// Company name.
        company: String,
        /// The clock at the start.
        started_at: DateTime<Utc>,
        /// Every agent.
        agents: Vec<RecordedAgent>,
        /// Loop settings.
        settings: Box<Settings>,
    },
    /// A message that came from outside the company (a human, a tool, a webhook).
    Input {
        /// When.
        at: DateTime<Utc>,
        /// The `to` it was sent with.
        to: String,
        /// The envelope.
        envelope: Box<Envelope>,
    },
    /// A model session.
    Session {
        /// When it started.
        at: DateTime<Utc>,
        /// When it ended.
        ended_at: DateTime<Utc>,
        /// The agent's role.
        role: Role,
        /// The trigger, described.
        trigger: String,
        /// The system prompt.
        system_prompt: String,
        /// The prompt.
        prompt: String,
        /// How it ended.
        outcome: SessionOutcome,
    },
    /// What a trigger's handling carried out.
    Actions {
        /// When.
        at: DateTime<Utc>,
        /// The agent's role.
        role: Role,
        /// The trigger, described.
        trigger: String,
        /// Every message and action with its outcome.
        actions: Vec<ActionRecord>,
    },
    /// A worker's run.
    Worker {
        /// When it ended.
        at: DateTime<Utc>,
        /// The requesting agent's role.
        role: Role,
        /// What it was asked.
        task: String,
        /// Its servers.
        servers: Vec<String>,
        /// How it ended.
        outcome: WorkerOutcome,
    },
    /// The company stopped; the last line of a complete recording.
    End {
        /// When.
        at: DateTime<Utc>,
    },
    /// A cron tick that woke an agent.
    Tick {
        /// The agent's role.
        role: Role,
        /// The schedule.
        expression: String,
        /// The tick.
        tick: DateTime<Utc>,
    },
}

impl Entry {
    /// The role the entry belongs to, if any.
    pub fn role(&self) -> Option<&Role> {
        match self {
            Entry::Session { role, .. }
            | Entry::Actions { role, .. }
            | Entry::Worker { role, .. }
            | Entry::Tick { role, .. } => Some(role),
            Entry::Start { .. } | Entry::Input { .. } | Entry::End { .. } => None,
        }
    }

    /// The entry's name (`session`, `actions`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Entry::Start { .. } => "start",
            Entry::Input { .. } => "input",
            Entry::Session { .. } => "session",
            Entry::Actions { .. } => "actions",
            Entry::Worker { .. } => "worker",
            Entry::Tick { .. } => "tick",
            Entry::End { .. } => "end",
        }
    }
}

/// Receives a company's entries as they happen.
#[async_trait::async_trait]
pub trait Recorder: Send + Sync {
    /// Takes one entry. Must not block for long: it runs on the agents' loops.
    fn record(&self, entry: Entry);

    /// Called before an agent of `role` builds a prompt. A replay waits here until the
    /// recorded session started, so agents see each other's effects as they did; recorders
    /// do nothing.
    async fn pace(&self, _role: &Role) {}

    /// Called before an agent of `role` carries out its next message or action. A replay
    /// waits here until the recorded moment of that action; recorders do nothing.
    async fn pace_action(&self, _role: &Role) {}
}

/// Writes entries as JSON lines to a file, flushing each, so a crash loses nothing written.
pub struct FileRecorder {
    out: Mutex<BufWriter<File>>,
}

impl std::fmt::Debug for FileRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRecorder").finish_non_exhaustive()
    }
}

impl FileRecorder {
    /// Creates (or truncates) `path`.
    pub fn create(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self {
            out: Mutex::new(BufWriter::new(File::create(path)?)),
        })
    }
}

#[async_trait::async_trait]
impl Recorder for FileRecorder {
    fn record(&self, entry: Entry) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let written = serde_json::to_writer(&mut *out, &entry)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(err) = written {
            tracing::error!(error = %err, entry = entry.name(), "could not write to the recording");
        }
    }
}

/// Keeps entries in memory (for tests and in-process replays).
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    entries: Mutex<Vec<Entry>>,
}

impl MemoryRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl Recorder for MemoryRecorder {
    fn record(&self, entry: Entry) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }
}

/// A recording that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be read.
    #[error("cannot read recording {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not an entry.
    #[error("recording {path}, line {line}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The first line is not a `start` entry.
    #[error("recording {0} does not begin with a start entry")]
    NoStart(String),
}

/// Reads a recording written by [`FileRecorder`]; entries in order, the `start` entry first.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<Entry>, RecordingError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| RecordingError::Io {
        path: name.clone(),
        source,
    })?;
    let mut entries = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| RecordingError::Io {
            path: name.clone(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|err| RecordingError::Invalid {
            path: name.clone(),
            line: index + 1,
            reason: err.to_string(),
        })?;
        entries.push(entry);
    }
    match entries.first() {
        Some(Entry::Start { .. }) => Ok(entries),
        _ => Err(RecordingError::NoStart(name)),
    }
}

/// The start entry for a company about to run.
pub fn start_entry(
    company: &str,
    started_at: DateTime<Utc>,
    agents: impl IntoIterator<Item = RecordedAgent>,
    settings: &Settings,
) -> Entry {
    Entry::Start {
        company: company.to_owned(),
        started_at,
        agents: agents.into_iter().collect(),
        settings: Box::new(settings.clone()),
    }
}

/// A worker task as recorded.
pub(crate) fn worker_entry(at: DateTime<Utc>, task: &WorkerTask, outcome: WorkerOutcome) -> Entry {
    Entry::Worker {
        at,
        role: task.role.clone(),
        task: task.task.clone(),
        servers: task.servers.clone(),
        outcome,
    }
}
