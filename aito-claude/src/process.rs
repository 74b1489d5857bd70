//! Running one `claude` child: its own process group, the prompt written to stdin and closed,
//! stdout and stderr read concurrently, a wall-clock and an optional silence timeout, and the
//! whole group terminated (SIGTERM, grace, SIGKILL) and reaped on every path. The child is
//! started through [`lifeline`], so it dies with the daemon, and its group is recorded in the
//! installed [`groups`](crate::groups) registry while it runs, so that a daemon started after a
//! `kill -9` kills what the group left.

use std::ffi::OsString;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aito_core::envelope::preview;
use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::config::{ClaudeConfig, NESTED_SESSION_ENV};
use crate::error::ClaudeError;
use crate::{groups, lifeline};

/// How much of standard error is kept for error messages.
const STDERR_TAIL_BYTES: usize = 4 * 1024;
/// How long to wait for the killed group's last members to be reaped by init.
const GONE_WAIT: Duration = Duration::from_secs(2);
/// After the leader has exited and its group has been killed, how long the pipes may stay
/// open (held by a process that left the group) before reading stops.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);
/// How often the silence timeout is checked.
const SILENCE_TICK: Duration = Duration::from_millis(50);

/// One invocation.
pub(crate) struct Launch<'a> {
    /// Binary, directory, environment and limits.
    pub(crate) config: &'a ClaudeConfig,
    /// The arguments, each passed as is (no shell).
    pub(crate) args: Vec<OsString>,
    /// Written to the child's stdin, which is then closed.
    pub(crate) stdin: Vec<u8>,
    /// Wall-clock limit.
    pub(crate) timeout: Duration,
    /// Kill the child when it prints nothing for this long.
    pub(crate) silence: Option<Duration>,
    /// Working directory for this run, over the configured one.
    pub(crate) working_dir: Option<&'a std::path::Path>,
    /// Environment for this run, under the configured one (which may override it).
    pub(crate) env: Vec<(String, String)>,
}

/// Where standard output goes.
pub(crate) enum StdoutSink {
    /// Collected whole (up to the size limit) and returned in [`Exit::stdout`].
    Whole,
    /// Split into lines (without the newline) and sent as they come, in order.
    Lines(mpsc::Sender<Vec<u8>>),
}

/// A child that ran to its end.
#[derive(Debug)]
pub(crate) struct Exit {
    /// How it ended.
    pub(crate) status: ExitStatus,
    /// Its standard output, for [`StdoutSink::Whole`].
    pub(crate) stdout: Vec<u8>,
    /// The end of its standard error.
    pub(crate) stderr_tail: String,
    /// Wall time from start to the end of its output.
    pub(crate) elapsed: Duration,
}

/// Runs one child to its end (see the module docs). On timeout, silence, too much output or
/// an I/O error the whole process group is terminated and reaped before the error returns; if
/// the returned future is dropped early, the group is killed with SIGKILL and tokio reaps the
/// leader in the background.
pub(crate) async fn run(launch: Launch<'_>, sink: StdoutSink) -> Result<Exit, ClaudeError> {
    let config = launch.config;
    let start = Instant::now();
    let mut command = Command::new(&config.binary);
    command
        .args(&launch.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = launch.working_dir.or(config.working_dir.as_deref()) {
        command.current_dir(dir);
    }
    for (key, value) in launch.env.iter().cloned().chain(config.child_env()) {
        command.env(key, value);
    }
    command.env_remove(NESTED_SESSION_ENV);
    let tracking = groups::track(&mut command);

    // Started so that the kernel kills it when this process dies, however it dies.
    let mut child = lifeline::spawn(command)
        .await
        .map_err(|source| ClaudeError::Spawn {
            program: config.binary.display().to_string(),
            source,
        })?;
    let pid = child.id();
    let recorded = tracking.started(pid, &config.binary.display().to_string());
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut group = Group {
        child,
        // With `process_group(0)` the child leads a new group whose id is its pid.
        pgid: pid
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(Pid::from_raw),
        settled: false,
        _recorded: recorded,
    };
    tracing::debug!(pid, program = %config.binary.display(), "claude started");

    let activity = AtomicU64::new(0);
    // Cancelled to stop reading pipes that stay open after the whole group is gone.
    let stop_reading = CancellationToken::new();
    let reading = Reading {
        activity: &activity,
        start,
        stop: &stop_reading,
    };
    let write_stdin = write_stdin(stdin, launch.stdin);
    let read_stdout = read_stdout(stdout, sink, config.max_output_bytes, reading);
    let read_stderr = read_stderr_tail(stderr, reading);
    tokio::pin!(write_stdin, read_stdout, read_stderr);
    let deadline = sleep(launch.timeout);
    tokio::pin!(deadline);
    let mut silence_tick = tokio::time::interval(SILENCE_TICK);

    let grace = config.kill_grace;
    let mut stdin_done = false;
    let mut out: Option<Vec<u8>> = None;
    let mut err: Option<String> = None;
    let mut status: Option<ExitStatus> = None;
    let mut deadline_passed = false;
    // When the leader has exited but other members of its group are left (MCP servers,
    // background jobs), they got SIGTERM and are killed at this instant.
    let mut kill_leftovers_at: Option<Instant> = None;
    // A process that left the group (setsid) may hold the pipes open forever; once the leader
    // is done and the group killed, reading stops at this instant.
    let mut stop_reading_at: Option<Instant> = None;

    while status.is_none() || out.is_none() || err.is_none() {
        tokio::select! {
            () = &mut write_stdin, if !stdin_done => stdin_done = true,
            result = &mut read_stdout, if out.is_none() => match result {
                Ok(bytes) => out = Some(bytes),
                Err(error) => {
                    group.terminate(grace, status).await;
                    return Err(error);
                }
            },
            tail = &mut read_stderr, if err.is_none() => err = Some(tail),
            exited = group.child.wait(), if status.is_none() => {
                let exited = exited?;
                tracing::debug!(pid, status = %exited, "claude exited");
                status = Some(exited);
                if group.alive() {
                    tracing::debug!(pid, "claude left processes behind; terminating its group");
                    group.signal(Signal::TERM);
                    kill_leftovers_at = Some(Instant::now() + grace);
                }
                stop_reading_at = Some(Instant::now() + grace + DRAIN_AFTER_KILL);
            },
            () = sleep_until(kill_leftovers_at.unwrap_or_else(Instant::now)),
                if kill_leftovers_at.is_some() => {
                group.signal(Signal::KILL);
                kill_leftovers_at = None;
            },
            () = &mut deadline, if !deadline_passed => {
                deadline_passed = true;
                if status.is_none() {
                    tracing::warn!(pid, timeout = ?launch.timeout, "claude timed out; killing its process group");
                    group.terminate(grace, status).await;
                    return Err(ClaudeError::Timeout(launch.timeout));
                }
                // The leader is done; only its leftovers keep the pipes open.
                group.signal(Signal::KILL);
                stop_reading_at = Some(Instant::now() + DRAIN_AFTER_KILL);
            },
            () = sleep_until(stop_reading_at.unwrap_or_else(Instant::now)),
                if stop_reading_at.is_some() && !stop_reading.is_cancelled() => {
                tracing::warn!(pid, "processes outside claude's process group hold its output open; reading stops");
                stop_reading.cancel();
            },
            _ = silence_tick.tick(), if launch.silence.is_some() && status.is_none() => {
                let quiet_for = start.elapsed().saturating_sub(Duration::from_millis(activity.load(Ordering::Relaxed)));
                if let Some(silence) = launch.silence.filter(|silence| quiet_for >= *silence) {
                    tracing::warn!(pid, ?silence, "claude went silent; killing its process group");
                    group.terminate(grace, status).await;
                    return Err(ClaudeError::Silent(silence));
                }
            },
        }
    }
    let elapsed = start.elapsed();
    let status = group.terminate(grace, status).await;
    match (status, out, err) {
        (Some(status), Some(stdout), Some(stderr_tail)) => Ok(Exit {
            status,
            stdout,
            stderr_tail,
            elapsed,
        }),
        _ => Err(ClaudeError::Io(std::io::Error::other(
            "the child's exit status was lost",
        ))),
    }
}

/// The child and its process group. Dropping it before [`Group::terminate`] has run kills
/// the whole group with SIGKILL; dropping it removes the group's record.
struct Group {
    child: Child,
    pgid: Option<Pid>,
    settled: bool,
    /// Dropped after [`Drop::drop`] has run, so the record goes once the group is killed.
    _recorded: groups::Recorded,
}

impl Group {
    /// Sends `signal` to every member of the group.
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            match rustix::process::kill_process_group(pgid, signal) {
                Ok(()) | Err(Errno::SRCH) => {}
                Err(error) => {
                    tracing::warn!(pgid = pgid.as_raw_pid(), %error, "could not signal the process group")
                }
            }
        }
    }

    /// Whether any member of the group (a zombie leader included) still exists.
    fn alive(&self) -> bool {
        match self.pgid {
            Some(pgid) => !matches!(
                rustix::process::test_kill_process_group(pgid),
                Err(Errno::SRCH)
            ),
            None => false,
        }
    }

    /// Ends the group: nothing to do if it is already gone; otherwise SIGTERM, up to `grace`
    /// for the members to exit, then SIGKILL. Reaps the leader (unless `status` says it was
    /// reaped already) and waits briefly for init to reap the other members.
    async fn terminate(
        &mut self,
        grace: Duration,
        status: Option<ExitStatus>,
    ) -> Option<ExitStatus> {
        let mut status = status;
        if status.is_none() {
            status = self.child.try_wait().ok().flatten();
        }
        if status.is_none() || self.alive() {
            self.signal(Signal::TERM);
            let deadline = Instant::now() + grace;
            loop {
                if status.is_none() {
                    status = self.child.try_wait().ok().flatten();
                }
                if (status.is_some() && !self.alive()) || Instant::now() >= deadline {
                    break;
                }
                sleep(Duration::from_millis(10)).await;
            }
            self.signal(Signal::KILL);
            if status.is_none() {
                status = match self.child.wait().await {
                    Ok(status) => Some(status),
                    Err(error) => {
                        tracing::warn!(%error, "could not reap claude");
                        None
                    }
                };
            }
        }
        // The leader is reaped; the other members were reparented to init, which reaps them.
        let gone_by = Instant::now() + GONE_WAIT;
        while self.alive() && Instant::now() < gone_by {
            sleep(Duration::from_millis(10)).await;
        }
        if self.alive() {
            tracing::warn!(
                pgid = self.pgid.map(Pid::as_raw_pid),
                "claude's process group still exists after SIGKILL"
            );
        }
        self.settled = true;
        status
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.settled {
            // Cancelled (or failed) mid-run: nothing may outlive the run. tokio reaps the
            // dropped leader in the background.
            self.signal(Signal::KILL);
        }
    }
}

async fn write_stdin(pipe: Option<ChildStdin>, bytes: Vec<u8>) {
    if let Some(mut pipe) = pipe {
        if let Err(error) = pipe.write_all(&bytes).await {
            // The child exited (or closed stdin) before reading it all; its exit says why.
            tracing::debug!(%error, "could not write the prompt to claude");
        }
        // Dropping the pipe closes it: the CLI waits for end of input before it starts.
        drop(pipe);
    }
}

/// What the pipe readers share: the time of the last output, and the signal to stop.
#[derive(Clone, Copy)]
struct Reading<'a> {
    activity: &'a AtomicU64,
    start: Instant,
    stop: &'a CancellationToken,
}

impl Reading<'_> {
    /// Reads the next chunk; `Ok(0)` at end of input or once reading is stopped (data
    /// already waiting in the pipe is still read first).
    async fn read(
        &self,
        pipe: &mut (impl AsyncRead + Unpin),
        chunk: &mut [u8],
    ) -> std::io::Result<usize> {
        let n = tokio::select! {
            biased;
            read = pipe.read(chunk) => read?,
            () = self.stop.cancelled() => 0,
        };
        if n > 0 {
            let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.activity.store(ms, Ordering::Relaxed);
        }
        Ok(n)
    }
}

async fn read_stdout(
    pipe: Option<ChildStdout>,
    sink: StdoutSink,
    limit: usize,
    reading: Reading<'_>,
) -> Result<Vec<u8>, ClaudeError> {
    let Some(mut pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut chunk = vec![0u8; 64 * 1024];
    let mut whole = Vec::new();
    let mut line = Vec::new();
    loop {
        let n = reading.read(&mut pipe, &mut chunk).await?;
        if n == 0 {
            break;
        }
        let data = &chunk[..n];
        match &sink {
            StdoutSink::Whole => {
                if whole.len() + data.len() > limit {
                    return Err(too_large(limit, &whole, data));
                }
                whole.extend_from_slice(data);
            }
            StdoutSink::Lines(lines) => {
                let mut rest = data;
                while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                    if line.len() + end > limit {
                        return Err(too_large(limit, &line, &rest[..end]));
                    }
                    line.extend_from_slice(&rest[..end]);
                    // A closed receiver only means nobody listens any more; keep draining.
                    let _ = lines.send(std::mem::take(&mut line)).await;
                    rest = &rest[end + 1..];
                }
                if line.len() + rest.len() > limit {
                    return Err(too_large(limit, &line, rest));
                }
                line.extend_from_slice(rest);
            }
        }
    }
    if let StdoutSink::Lines(lines) = &sink
        && !line.is_empty()
    {
        let _ = lines.send(line).await;
    }
    Ok(whole)
}

fn too_large(limit: usize, head: &[u8], more: &[u8]) -> ClaudeError {
    let mut start = head[..head.len().min(400)].to_vec();
    start.extend_from_slice(&more[..more.len().min(400 - start.len())]);
    ClaudeError::OutputTooLarge {
        limit,
        preview: preview(&String::from_utf8_lossy(&start), 200),
    }
}

async fn read_stderr_tail(pipe: Option<ChildStderr>, reading: Reading<'_>) -> String {
    match pipe {
        Some(pipe) => tail_of(pipe, reading).await,
        None => String::new(),
    }
}

async fn tail_of(mut pipe: impl AsyncRead + Unpin, reading: Reading<'_>) -> String {
    let mut chunk = vec![0u8; 8 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        match reading.read(&mut pipe, &mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 2 * STDERR_TAIL_BYTES {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                }
            }
            Err(error) => {
                tracing::debug!(%error, "could not read claude's stderr");
                break;
            }
        }
    }
    if tail.len() > STDERR_TAIL_BYTES {
        tail.drain(..tail.len() - STDERR_TAIL_BYTES);
    }
    String::from_utf8_lossy(&tail).trim().to_owned()
}
