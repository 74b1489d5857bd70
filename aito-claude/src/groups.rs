//! Process groups that outlive a killed daemon, recorded on disk and reaped by the next one.
//!
//! Every model process (a `claude` session or worker) and every stdio MCP server of the API
//! backends' workers leads a process group of its own, and gets SIGKILL as its parent-death
//! signal ([`die_with_parent`](crate::die_with_parent)). That signal reaches the leader only:
//! what the leader started in its group (the CLI's MCP servers, background jobs) is reparented
//! to init when the daemon is killed with `kill -9`, and keeps running. A [`GroupRegistry`]
//! closes that gap:
//!
//! - **Recorded.** When a daemon starts a group, one small JSON file is written into the
//!   registry's directory (`<data_dir>/process-groups/` for `aito run` and `aito agent`, see
//!   [`GROUPS_DIR`]; outside every agent's git workspace). It names the host and boot, the
//!   daemon (pid and start time), the group (its id, the leader's start time) and a token that
//!   is unique to the group and is also put in the leader's environment as [`GROUP_ENV`], from
//!   where every process the leader starts inherits it. The file is written to a hidden
//!   temporary name and renamed, so a reader never sees half a record; it is not synced, since
//!   it only has to survive the daemon's death, not the machine's.
//! - **Removed.** When the group ends (it exited, or the run killed it), its [`Recorded`] guard
//!   is dropped and the file is removed.
//! - **Reaped.** A daemon that starts calls [`GroupRegistry::reap`] before it starts work, then
//!   [`GroupRegistry::install`]s the registry for the process. The reap looks at every record
//!   whose daemon is dead and kills (SIGKILL to the whole group) each group that is still the
//!   recorded one, then removes the record.
//!
//! # Which group is ours: the rule against pid reuse
//!
//! Linux hands out a number as a new pid only while no process uses it as its pid, process
//! group id or session id. So while any member of our group `G` lives, no new process gets pid
//! `G`, and no other group `G` can exist; a group `G` found later is ours, or was made after
//! every member of ours was gone by a process that got pid `G` anew. A record is acted on only
//! when it comes from this host (same host name) and this boot (same `boot_id`: a record from
//! an earlier boot is removed, everything it names is gone), and when the daemon that wrote it
//! is dead (no process with its pid and start time, field 22 of `/proc/<pid>/stat`): a live
//! daemon's groups are its own business. Then group `G` is killed only if
//!
//! 1. the process `G` is alive, leads group `G` and has the recorded start time (the leader
//!    itself survived); or
//! 2. the process `G` is gone (the usual case: the parent-death signal killed it), and a live
//!    member of group `G` carries the record's token in its environment
//!    (`/proc/<pid>/environ`): a process carries it only by descending from our leader, and the
//!    token names the daemon (pid and start time) and the group's sequence number, so no
//!    other group holds it.
//!
//! A process `G` that is alive with another start time means the pid was reused, so our group
//! is gone: nothing is killed. A group whose members carry no token (a member that cleared its
//! environment) is left alone with a warning, since a reused group looks the same. No member
//! (zombies aside) means the group is gone. In every case the record is removed once decided.
//! The one gap is the instant between the check and the kill: the group would have to end and
//! its id be handed out again within it.
//!
//! Errors reading or writing records are logged (`tracing`) and never stop the daemon; a
//! group that could not be recorded is only not reaped after a crash.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

/// The environment variable that carries a group's token into every process of the group.
pub const GROUP_ENV: &str = "AITO_PROCESS_GROUP";

/// The registry's directory under a data directory: `<data_dir>/process-groups`.
pub const GROUPS_DIR: &str = "process-groups";

/// How long a reap waits for the groups it killed to be gone.
const GONE_WAIT: Duration = Duration::from_secs(3);

/// A temporary file older than this was left by a writer that died between write and rename.
const STALE_TEMP: Duration = Duration::from_secs(600);

/// The registry installed for this process, which [`track`] records into.
static INSTALLED: OnceLock<GroupRegistry> = OnceLock::new();

/// One record: a process group a daemon started, as written to disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The host name of the machine (`/proc/sys/kernel/hostname`).
    pub(crate) host: String,
    /// The boot of the machine (`/proc/sys/kernel/random/boot_id`).
    pub(crate) boot: String,
    /// The daemon's pid.
    pub(crate) owner_pid: i32,
    /// The daemon's start time, in clock ticks after boot.
    pub(crate) owner_start: u64,
    /// The group's id, which is its leader's pid.
    pub(crate) pgid: i32,
    /// The leader's start time, in clock ticks after boot.
    pub(crate) leader_start: u64,
    /// The token in the environment of the group's processes ([`GROUP_ENV`]).
    pub(crate) token: String,
    /// What the leader runs, for people reading the log.
    pub(crate) program: String,
}

/// What [`GroupRegistry::reap`] did with the records it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Groups of a dead daemon that were still running, killed with SIGKILL.
    pub killed: Vec<i32>,
    /// Records whose group had ended already.
    pub gone: usize,
    /// Records whose group id now names another group, or whose members could not be shown
    /// to be ours: nothing was killed.
    pub not_ours: usize,
    /// Records left alone: of a daemon that still runs, or of another machine.
    pub left: usize,
    /// Records from an earlier boot of this machine, removed.
    pub stale: usize,
}

/// The process groups a daemon started, recorded in a directory (see the module docs).
#[derive(Debug)]
pub struct GroupRegistry {
    dir: PathBuf,
    host: String,
    boot: String,
    owner_pid: i32,
    owner_start: u64,
    next: AtomicU64,
    warned: AtomicBool,
}

impl GroupRegistry {
    /// A registry kept in `dir` (created when the first group is recorded), for this process.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let owner_pid = rustix::process::getpid().as_raw_pid();
        Self {
            dir: dir.into(),
            host: host(),
            boot: boot(),
            owner_pid,
            owner_start: stat(owner_pid).map_or(0, |stat| stat.start),
            next: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// The registry of a data directory: `<data_dir>/process-groups`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(GROUPS_DIR))
    }

    /// The directory the records are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes this the registry every group started from now on in this process is recorded
    /// in ([`track`]). Only the first call takes effect; a later one returns `false`.
    pub fn install(self) -> bool {
        INSTALLED.set(self).is_ok()
    }

    /// Kills the groups that dead daemons left (see the module docs for the rule), waits up to
    /// three seconds for them to be gone, and removes the records it decided on. Call it before
    /// starting work. Problems are logged, never returned.
    pub fn reap(&self) -> Reaped {
        let mut reaped = Reaped::default();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return reaped,
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "could not read the records of process groups");
                return reaped;
            }
        };
        let mut killed = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                remove_stale_temp(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let record = match std::fs::read(&path)
                .map_err(|error| error.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<Record>(&bytes).map_err(|error| error.to_string())
                }) {
                Ok(record) => record,
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "removing an unreadable record of a process group");
                    remove(&path);
                    continue;
                }
            };
            match self.decide(&record) {
                Verdict::Leave => {
                    reaped.left += 1;
                    continue;
                }
                Verdict::Stale => reaped.stale += 1,
                Verdict::Gone => reaped.gone += 1,
                Verdict::NotOurs(reason) => {
                    tracing::info!(pgid = record.pgid, program = %record.program, reason, "not killing a recorded process group");
                    reaped.not_ours += 1;
                }
                Verdict::Kill => {
                    if let Some(pgid) = Pid::from_raw(record.pgid) {
                        match rustix::process::kill_process_group(pgid, Signal::KILL) {
                            Ok(()) => {
                                tracing::warn!(
                                    pgid = record.pgid,
                                    program = %record.program,
                                    daemon = record.owner_pid,
                                    "killed a process group that a killed daemon left running"
                                );
                                killed.push(record.pgid);
                            }
                            Err(Errno::SRCH) => reaped.gone += 1,
                            Err(error) => {
                                tracing::warn!(pgid = record.pgid, %error, "could not kill a process group that a killed daemon left");
                            }
                        }
                    }
                }
            }
            remove(&path);
        }
        let deadline = Instant::now() + GONE_WAIT;
        while killed.iter().any(|&pgid| !live_members(pgid).is_empty()) && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for &pgid in &killed {
            if !live_members(pgid).is_empty() {
                tracing::warn!(
                    pgid,
                    "a killed process group still has members after {GONE_WAIT:?}"
                );
            }
        }
        reaped.killed = killed;
        reaped
    }

    /// What to do with `record` (see the module docs).
    fn decide(&self, record: &Record) -> Verdict {
        if record.host != self.host {
            return Verdict::Leave;
        }
        if record.boot != self.boot {
            return Verdict::Stale;
        }
        if alive_since(record.owner_pid, record.owner_start) {
            return Verdict::Leave;
        }
        if record.pgid <= 1 || record.pgid == rustix::process::getpgrp().as_raw_pid() {
            return Verdict::NotOurs("it is not a model's group id");
        }
        if let Some(leader) = stat(record.pgid).filter(|stat| !stat.zombie) {
            if leader.start != record.leader_start {
                return Verdict::NotOurs("its id is now another process's");
            }
            if leader.pgrp == record.pgid {
                return Verdict::Kill;
            }
        }
        let members = live_members(record.pgid);
        if members.is_empty() {
            return Verdict::Gone;
        }
        if members
            .iter()
            .any(|&pid| carries(pid, &record.token).unwrap_or(false))
        {
            Verdict::Kill
        } else {
            Verdict::NotOurs("no member carries the group's token")
        }
    }

    /// Starts tracking a group that is about to be started: a token to put in its leader's
    /// environment, and the record to write once its pid is known.
    pub fn tracking(&self) -> Tracking<'_> {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        Tracking {
            registry: Some(self),
            token: format!("{}-{}-{sequence}", self.owner_pid, self.owner_start),
        }
    }

    /// Writes the record of the group led by `pid`; `None` when it could not be written.
    fn record(&self, token: String, pid: i32, program: &str) -> Option<PathBuf> {
        let Some(leader) = stat(pid) else {
            tracing::debug!(
                pid,
                "the process ended before its group was recorded; nothing to record"
            );
            return None;
        };
        let record = Record {
            host: self.host.clone(),
            boot: self.boot.clone(),
            owner_pid: self.owner_pid,
            owner_start: self.owner_start,
            pgid: pid,
            leader_start: leader.start,
            token,
            program: program.to_owned(),
        };
        let name = format!("{}-{}-{pid}.json", self.owner_pid, self.owner_start);
        let path = self.dir.join(&name);
        match self.write(&path, &name, &record) {
            Ok(()) => Some(path),
            Err(error) => {
                if self.warned.swap(true, Ordering::Relaxed) {
                    tracing::debug!(file = %path.display(), %error, "could not record a process group");
                } else {
                    tracing::warn!(file = %path.display(), %error, "could not record a process group; it is not reaped if this daemon is killed");
                }
                None
            }
        }
    }

    fn write(&self, path: &Path, name: &str, record: &Record) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let temp = self.dir.join(format!(".{name}.tmp"));
        let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        let written = std::fs::File::create(&temp)
            .and_then(|mut file| file.write_all(&bytes))
            .and_then(|()| std::fs::rename(&temp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }
}

/// A group about to be started; see [`GroupRegistry::tracking`] and [`track`].
#[derive(Debug)]
pub struct Tracking<'a> {
    registry: Option<&'a GroupRegistry>,
    token: String,
}

impl Tracking<'_> {
    /// The variable and value to put in the leader's environment; `None` when no registry is
    /// installed.
    pub fn env(&self) -> Option<(&'static str, &str)> {
        self.registry.map(|_| (GROUP_ENV, self.token.as_str()))
    }

    /// Records the group now led by `pid` (the leader was started with `process_group(0)`);
    /// the record is removed when the returned guard is dropped. Call it right after the
    /// spawn, before the leader is waited for, so that its pid still names it.
    pub fn started(self, pid: Option<u32>, program: &str) -> Recorded {
        let path = match (self.registry, pid.and_then(|pid| i32::try_from(pid).ok())) {
            (Some(registry), Some(pid)) => registry.record(self.token, pid, program),
            _ => None,
        };
        Recorded { path }
    }
}

/// The record of a running group; dropping it removes the record. Drop it once the group has
/// ended or has been sent SIGKILL.
#[derive(Debug)]
#[must_use = "dropping the guard removes the record at once"]
pub struct Recorded {
    path: Option<PathBuf>,
}

impl Drop for Recorded {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            remove(&path);
        }
    }
}

/// Prepares `command` to start a group recorded in the installed registry: puts the group's
/// token in its environment. Does nothing (and records nothing) when no registry is installed.
/// After the spawn, call [`Tracking::started`] with the child's pid.
pub fn track(command: &mut tokio::process::Command) -> Tracking<'static> {
    match INSTALLED.get() {
        Some(registry) => {
            let tracking = registry.tracking();
            command.env(GROUP_ENV, &tracking.token);
            tracking
        }
        None => Tracking {
            registry: None,
            token: String::new(),
        },
    }
}

/// What to do with one record.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Not this reaper's to judge: keep the record.
    Leave,
    /// From an earlier boot: remove the record.
    Stale,
    /// The group has ended: remove the record.
    Gone,
    /// The id names another group now, or ours cannot be told from it: remove the record.
    NotOurs(&'static str),
    /// Our group, still running: kill it and remove the record.
    Kill,
}

/// The fields of `/proc/<pid>/stat` that the reap needs.
#[derive(Clone, Copy, Debug)]
struct Stat {
    pgrp: i32,
    start: u64,
    zombie: bool,
}

/// Reads `/proc/<pid>/stat`: `None` when there is no such process.
fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted from the last `)`: field 3 (state) is the first.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    Some(Stat {
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        zombie: state == "Z" || state == "X",
    })
}

/// Whether the process `pid` runs and started at `start`.
fn alive_since(pid: i32, start: u64) -> bool {
    stat(pid).is_some_and(|stat| !stat.zombie && stat.start == start)
}

/// The pids of the processes in group `pgid` that have not exited (zombies are left out).
fn live_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|stat| stat.pgrp == pgid && !stat.zombie))
        .collect()
}

/// Whether the environment of `pid` holds `GROUP_ENV=token`; `None` when it cannot be read.
///
/// A process in the middle of `execve` shows an empty environment for a moment (the kernel
/// sets the new image's environment bounds after it has let a vfork parent go on), so an
/// empty one is read again a few times before it counts as unreadable.
fn carries(pid: i32, token: &str) -> Option<bool> {
    let wanted = format!("{GROUP_ENV}={token}");
    for attempt in 0..ENVIRON_READS {
        if attempt > 0 {
            std::thread::sleep(ENVIRON_REREAD);
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        if !environ.is_empty() {
            return Some(
                environ
                    .split(|&byte| byte == 0)
                    .any(|entry| entry == wanted.as_bytes()),
            );
        }
    }
    None
}

/// How often an empty environment is read before it counts as unreadable, and how long apart.
const ENVIRON_READS: u32 = 10;
const ENVIRON_REREAD: Duration = Duration::from_millis(10);

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

fn boot() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(file = %path.display(), %error, "could not remove the record of a process group");
        }
    }
}

/// Removes a temporary file that a writer left between write and rename, once it is old.
fn remove_stale_temp(path: &Path) {
    let old = std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age > STALE_TEMP);
    if old {
        remove(path);
    }
}

#[cfg(test)]
mod tests;
