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

/// With deferred tool loading, the CLI may offer MCP tools only behind a search tool; a
/// worker gets every tool of its servers up front instead.
const TOOL_SEARCH_ENV: &str = "ENABLE_TOOL_SEARCH";

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
/// 2. writes a private temporary MCP configuration holding only the requested servers, and
///    makes a scratch working directory for the worker (both removed when the task ends, on
///    every path);
/// 3. runs `BINARY -p --output-format stream-json --verbose --no-session-persistence --tools=
///    --setting-sources=user [--model M] [--max-turns N] --system-prompt=INSTRUCTIONS
///    [EXTRA_ARGS...] --mcp-config FILE --strict-mcp-config [--allowedTools mcp__a,mcp__b]`
///    with the task on stdin, in the scratch directory, in its own process group, with
///    `ENABLE_TOOL_SEARCH=false`. So the worker has the `mcp__*` tools of its servers and no
///    others (`--tools=` removes Claude Code's built-in tools, `Read` and `Bash` among them),
///    sees neither the daemon's directory nor project settings or `CLAUDE.md` files above its
///    own, and leaves no transcript;
/// 4. publishes every stdout line, in order, to [`Channel::WorkerLogs`] as a
///    [`MessageType::WorkerLog`] envelope from `worker:<task id>` whose payload is
///    `{"taskId", "agent", "role", "seq", "event"}` (a stream-json event) or
///    `{"taskId", "agent", "role", "seq", "line"}` (a line that is not JSON); an event larger
///    than [`ClaudeConfig::max_log_event_bytes`] is sent as a `line` preview with
///    `"truncated": true` and its size in `"bytes"`;
/// 5. returns the final result with its status, cost, usage and duration. Failures while
///    running (an error result, a rate limit, a crash, unreadable output) are a
///    [`WorkerStatus::Failed`] result whose text says what happened; so is a run in which
///    the CLI refused a tool call (it still ends "success" then, with the refusal only in
///    `permission_denials`), and a run in which every requested MCP server failed to start.
///    A server that failed while others worked is named in the result's text. The timeout
///    (or [`ClaudeConfig::silence_timeout`]) kills the process group and is
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

    /// Where the workers' temporary files go: their MCP configurations and their scratch
    /// working directories (default: the system temp dir).
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
        let mut args: Vec<OsString> = [
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--no-session-persistence",
            "--tools=",
            "--setting-sources=user",
        ]
        .map(OsString::from)
        .into();
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
                format!("--system-prompt={instructions}"),
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
        let scratch = tempfile::Builder::new()
            .prefix("aito-worker-")
            .tempdir_in(&self.config_dir)
            .map_err(|error| {
                WorkerError::Spawn(format!(
                    "could not make a scratch directory in {}: {error}",
                    self.config_dir.display()
                ))
            })?;
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
                working_dir: Some(scratch.path()),
                // Every tool of its servers in the request, none deferred behind a search tool.
                env: vec![(TOOL_SEARCH_ENV.to_owned(), "false".to_owned())],
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
        if let Err(error) = scratch.close() {
            tracing::warn!(%error, "could not remove the worker's scratch directory");
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
        let problems = Problems::of(&servers, stream.result.as_ref(), &stream.hints);
        Ok(match &stream.result {
            Some(result) => match result.outcome(now, &stream.hints) {
                Ok(text) => {
                    let (status, text) = problems.judge(text);
                    finished(status, text, Some(result), exit.elapsed)
                }
                Err(error) => finished(
                    WorkerStatus::Failed,
                    problems.annotate(error.to_string()),
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
                finished(
                    WorkerStatus::Failed,
                    problems.annotate(error.to_string()),
                    None,
                    exit.elapsed,
                )
            }
        })
    }
}

/// What kept a worker from using its tools: calls the CLI refused, servers that failed.
#[derive(Debug, Default)]
struct Problems {
    /// `tool {input}` of each refused call.
    refused: Vec<String>,
    /// Requested servers the CLI reported as failed (or needing a login).
    failed_servers: Vec<String>,
    /// Whether every requested server failed.
    all_failed: bool,
}

impl Problems {
    fn of(servers: &[String], result: Option<&CliResult>, hints: &Hints) -> Self {
        let refused = result
            .map(|result| {
                result
                    .denials
                    .iter()
                    .map(|denial| {
                        format!("{} {}", denial.tool, preview(&denial.input, 200))
                            .trim_end()
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let failed_servers: Vec<String> = servers
            .iter()
            .filter(|server| {
                hints
                    .servers
                    .iter()
                    .any(|status| status.name == **server && status.failed())
            })
            .cloned()
            .collect();
        Self {
            all_failed: !servers.is_empty() && failed_servers.len() == servers.len(),
            refused,
            failed_servers,
        }
    }

    /// The status and text of a run that ended in success, given what went wrong in it.
    fn judge(&self, text: String) -> (WorkerStatus, String) {
        if !self.refused.is_empty() {
            let text = format!(
                "the worker did not finish: {} tool call(s) were refused ({}); its last words: {text}",
                self.refused.len(),
                self.refused.join("; ")
            );
            (WorkerStatus::Failed, self.servers_note(text))
        } else if self.all_failed {
            let text = format!(
                "the worker had no tools: every MCP server of its task failed to start ({}); its last words: {text}",
                self.failed_servers.join(", ")
            );
            (WorkerStatus::Failed, text)
        } else {
            (WorkerStatus::Succeeded, self.servers_note(text))
        }
    }

    /// A failure's text, with what went wrong with the tools.
    fn annotate(&self, text: String) -> String {
        let text = if self.refused.is_empty() {
            text
        } else {
            format!("{text} (refused tool calls: {})", self.refused.join("; "))
        };
        self.servers_note(text)
    }

    fn servers_note(&self, text: String) -> String {
        if self.failed_servers.is_empty() {
            return text;
        }
        format!(
            "{text}\n\n[MCP server(s) that failed to start, whose tools the worker did not have: {}]",
            self.failed_servers.join(", ")
        )
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
