//! [`ClaudeWorkers`]: a [`WorkerSpawner`] that runs one `claude` process per task with exactly
//! the MCP servers the task asked for, streaming its events to [`Channel::WorkerLogs`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aito_core::envelope::preview;
use aito_core::worker::check_allowed;
use aito_core::{
    Bus, Channel, Envelope, MessageType, Sender, WorkerError, WorkerResult, WorkerSpawner,
    WorkerStatus, WorkerTask,
};
use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::ClaudeConfig;
use crate::error::ClaudeError;
use crate::mcp::{McpRegistry, tool_pattern};
use crate::process::{self, Launch, StdoutSink};
use crate::result::{self, CliResult, Hints};
use crate::session::checked_arg;

/// The default instructions appended to a worker's system prompt; `{role}` is replaced by the
/// requesting agent's role.
pub const DEFAULT_WORKER_PROMPT: &str = "You are a worker for the {role} agent of an autonomous \
company. Carry out the task you are given with the MCP tools you have; you have no others. When \
you are done, answer with a short report of what you did and its outcome, including anything \
that failed.";

/// Runs workers as headless `claude` processes.
///
/// For each task it
/// 1. refuses, before anything starts, a server unknown to the [`McpRegistry`]
///    ([`WorkerError::UnknownServer`], listing the known ones) or not in
///    [`WorkerTask::allowed_servers`] ([`WorkerError::NotAllowed`]);
/// 2. writes a private temporary MCP configuration holding only the requested servers
///    (removed when the task ends, on every path);
/// 3. runs `BINARY -p --output-format stream-json --verbose [--model M] [--max-turns N]
///    --append-system-prompt=INSTRUCTIONS [EXTRA_ARGS...] --mcp-config FILE --strict-mcp-config
///    [--allowedTools mcp__a,mcp__b]` with the task on stdin, in its own process group;
/// 4. publishes every stdout line, in order, to [`Channel::WorkerLogs`] as a
///    [`MessageType::WorkerLog`] envelope from `worker:<task id>` whose payload is
///    `{"taskId", "agent", "role", "seq", "event"}` (a stream-json event) or
///    `{"taskId", "agent", "role", "seq", "line"}` (a line that is not JSON); an event larger
///    than [`ClaudeConfig::max_log_event_bytes`] is sent as a `line` preview with
///    `"truncated": true` and its size in `"bytes"`;
/// 5. returns the final result with its status, cost, usage and duration. Failures while
///    running (an error result, a rate limit, a crash, unreadable output) are a
///    [`WorkerStatus::Failed`] result whose text says what happened; the timeout (or
///    [`ClaudeConfig::silence_timeout`]) kills the process group and is
///    [`WorkerStatus::TimedOut`].
///
/// The `worker_result` message back to the agent is the daemon's job.
#[derive(Clone)]
pub struct ClaudeWorkers {
    config: ClaudeConfig,
    registry: McpRegistry,
    bus: Arc<dyn Bus>,
    instructions: String,
    max_turns: Option<u32>,
    config_dir: PathBuf,
}

impl std::fmt::Debug for ClaudeWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaudeWorkers")
            .field("config", &self.config)
            .field("registry", &self.registry)
            .field("max_turns", &self.max_turns)
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

/// What the stream said so far.
#[derive(Default)]
struct Stream {
    next_seq: u64,
    result: Option<CliResult>,
    hints: Hints,
    last_line: String,
}

impl ClaudeWorkers {
    /// Workers launched with `config`, given servers from `registry`, logging to `bus`.
    pub fn new(config: ClaudeConfig, registry: McpRegistry, bus: Arc<dyn Bus>) -> Self {
        Self {
            config,
            registry,
            bus,
            instructions: DEFAULT_WORKER_PROMPT.to_owned(),
            max_turns: None,
            config_dir: std::env::temp_dir(),
        }
    }

    /// Replaces the instructions appended to the system prompt (`{role}` is replaced by the
    /// requesting agent's role).
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Limits the agentic turns of every worker (`--max-turns`).
    pub fn with_max_turns(mut self, turns: Option<u32>) -> Self {
        self.max_turns = turns;
        self
    }

    /// Where the temporary MCP configurations are written (default: the system temp dir).
    pub fn with_config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = dir.into();
        self
    }

    /// The registry.
    pub fn registry(&self) -> &McpRegistry {
        &self.registry
    }

    /// The arguments for `task` given `servers` (already checked) and the MCP configuration
    /// at `mcp_config`.
    pub fn arguments(
        &self,
        task: &WorkerTask,
        servers: &[String],
        mcp_config: &std::path::Path,
    ) -> Result<Vec<OsString>, ClaudeError> {
        let mut args: Vec<OsString> = vec![
            "-p".into(),
            "--output-format".into(),
            "stream-json".into(),
            "--verbose".into(),
        ];
        if let Some(model) = &self.config.model {
            args.push("--model".into());
            args.push(model.into());
        }
        if let Some(turns) = self.max_turns {
            args.push("--max-turns".into());
            args.push(turns.to_string().into());
        }
        let instructions = self.instructions.replace("{role}", task.role.as_str());
        if !instructions.is_empty() {
            args.push(checked_arg(
                "the worker instructions",
                format!("--append-system-prompt={instructions}"),
            )?);
        }
        args.extend(self.config.extra_args.iter().map(OsString::from));
        // The variadic options come last, so that nothing after them is taken for a value.
        args.push("--mcp-config".into());
        args.push(mcp_config.into());
        args.push("--strict-mcp-config".into());
        if !servers.is_empty() {
            let tools: Vec<String> = servers.iter().map(|server| tool_pattern(server)).collect();
            args.push("--allowedTools".into());
            args.push(tools.join(",").into());
        }
        Ok(args)
    }

    fn prompt(task: &WorkerTask) -> String {
        match task.context.as_deref().map(str::trim) {
            Some(context) if !context.is_empty() => {
                format!(
                    "{}\n\nContext from the {} agent:\n{context}",
                    task.task, task.role
                )
            }
            _ => task.task.clone(),
        }
    }

    async fn publish(
        &self,
        task: &WorkerTask,
        seq: u64,
        key: &str,
        value: Value,
        extra: Option<Value>,
    ) {
        let mut payload = json!({
            "taskId": task.id,
            "agent": task.agent,
            "role": task.role,
            "seq": seq,
        });
        payload[key] = value;
        if let (Some(Value::Object(extra)), Some(object)) = (extra, payload.as_object_mut()) {
            object.extend(extra);
        }
        let envelope = Envelope::new(
            MessageType::WorkerLog,
            Sender::Worker(task.id.clone()),
            payload,
        );
        if let Err(error) = self.bus.publish(Channel::WorkerLogs, envelope).await {
            tracing::warn!(%error, seq, "could not publish a worker log line");
        }
    }

    /// Reads one stdout line: remembers the result and limit hints, and publishes it.
    async fn take_line(&self, task: &WorkerTask, stream: &mut Stream, line: Vec<u8>) {
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let event = if text.starts_with('{') {
            match serde_json::from_str::<Value>(text) {
                Ok(event) => {
                    stream.hints.observe(&event);
                    if let Some(result) = CliResult::from_value(&event) {
                        stream.result = Some(result);
                    }
                    Some(event)
                }
                Err(error) => {
                    tracing::debug!(%error, "a worker line looks like JSON but is not");
                    None
                }
            }
        } else {
            None
        };
        stream.last_line = preview(text, 200);
        let seq = stream.next_seq;
        stream.next_seq += 1;
        if text.len() > self.config.max_log_event_bytes {
            let kind = event
                .as_ref()
                .and_then(|event| event["type"].as_str())
                .map(str::to_owned);
            let extra = json!({"truncated": true, "bytes": text.len(), "eventType": kind});
            let cut = preview(text, self.config.max_log_event_bytes.min(4096));
            self.publish(task, seq, "line", Value::String(cut), Some(extra))
                .await;
        } else {
            match event {
                Some(event) => self.publish(task, seq, "event", event, None).await,
                None => {
                    self.publish(task, seq, "line", Value::String(text.to_owned()), None)
                        .await
                }
            }
        }
    }

    async fn run_task(&self, task: &WorkerTask) -> Result<WorkerResult, WorkerError> {
        let mut servers: Vec<String> = Vec::with_capacity(task.servers.len());
        for server in &task.servers {
            if !servers.contains(server) {
                servers.push(server.clone());
            }
        }
        self.registry.check_known(&servers)?;
        check_allowed(task)?;

        let config_file = self.registry.write_config(&servers, &self.config_dir)?;
        let args = self.arguments(task, &servers, config_file.path())?;
        let start = Instant::now();
        let (lines_tx, mut lines_rx) = mpsc::channel::<Vec<u8>>(64);
        let run = process::run(
            Launch {
                config: &self.config,
                args,
                stdin: Self::prompt(task).into_bytes(),
                timeout: task.timeout,
                silence: self.config.silence_timeout,
                working_dir: None,
            },
            StdoutSink::Lines(lines_tx),
        );
        let forward = async {
            let mut stream = Stream::default();
            while let Some(line) = lines_rx.recv().await {
                self.take_line(task, &mut stream, line).await;
            }
            stream
        };
        let (outcome, stream) = tokio::join!(run, forward);
        if let Err(error) = config_file.close() {
            tracing::warn!(%error, "could not remove the temporary MCP configuration");
        }
        let elapsed = start.elapsed();
        let finished =
            |status, result: String, from: Option<&CliResult>, elapsed: Duration| WorkerResult {
                task_id: task.id.clone(),
                status,
                result,
                cost_usd: from.map_or(0.0, |r| r.cost_usd),
                usage: from.map(|r| r.usage).unwrap_or_default(),
                duration: from.and_then(|r| r.duration).unwrap_or(elapsed),
            };
        let exit = match outcome {
            Ok(exit) => exit,
            Err(error @ ClaudeError::Spawn { .. }) => return Err(error.into()),
            Err(error) if error.is_timeout() => {
                return Ok(finished(
                    WorkerStatus::TimedOut,
                    error.to_string(),
                    None,
                    elapsed,
                ));
            }
            Err(error) => {
                return Ok(finished(
                    WorkerStatus::Failed,
                    error.to_string(),
                    None,
                    elapsed,
                ));
            }
        };
        if !exit.stderr_tail.is_empty() {
            tracing::debug!(stderr = %exit.stderr_tail, "worker wrote to stderr");
        }
        let now = Utc::now();
        Ok(match &stream.result {
            Some(result) => match result.outcome(now, &stream.hints) {
                Ok(text) => finished(WorkerStatus::Succeeded, text, Some(result), exit.elapsed),
                Err(error) => finished(
                    WorkerStatus::Failed,
                    error.to_string(),
                    Some(result),
                    exit.elapsed,
                ),
            },
            None => {
                let unreadable = ClaudeError::Unreadable {
                    reason: "expected the stream to end with a result event, it ended without one"
                        .to_owned(),
                    preview: stream.last_line.clone(),
                };
                let error = result::without_result(&exit, unreadable, now);
                finished(WorkerStatus::Failed, error.to_string(), None, exit.elapsed)
            }
        })
    }
}

#[async_trait]
impl WorkerSpawner for ClaudeWorkers {
    async fn spawn(&self, task: WorkerTask) -> Result<WorkerResult, WorkerError> {
        let span = tracing::info_span!(
            "claude_worker",
            task_id = %task.id,
            agent = %task.agent,
            role = %task.role,
            servers = %task.servers.join(","),
        );
        async {
            let outcome = self.run_task(&task).await;
            match &outcome {
                Ok(result) => tracing::info!(
                    status = ?result.status,
                    cost_usd = result.cost_usd,
                    duration_ms = u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
                    "worker finished"
                ),
                Err(error) => tracing::warn!(%error, "worker refused or not started"),
            }
            outcome
        }
        .instrument(span)
        .await
    }
}
