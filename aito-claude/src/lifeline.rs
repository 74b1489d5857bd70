//! Model processes that cannot outlive the daemon: every child is started from one
//! long-lived thread with `PR_SET_PDEATHSIG` set to SIGKILL, so the kernel kills it when the
//! daemon dies, even by `kill -9`.
//!
//! The death signal fires when the *thread* that forked the child exits, not the process;
//! tokio's blocking threads exit when idle, and a runtime's worker threads end with the
//! runtime. The children are therefore forked on a dedicated thread that lives as long as
//! the process.

use std::io;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use rustix::process::Signal;
use tokio::process::{Child, Command};

type Job = Box<dyn FnOnce() + Send>;

/// The sender to the spawning thread, started on first use.
fn spawner() -> mpsc::Sender<Job> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (sender, jobs) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("aito-spawner".to_owned())
            .spawn(move || {
                while let Ok(job) = jobs.recv() {
                    job();
                }
            });
        if let Err(error) = started {
            tracing::error!(%error, "could not start the thread that starts model processes");
        }
        Mutex::new(sender)
    });
    sender
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Gives the child of `command` SIGKILL as its parent-death signal: the kernel kills it when
/// the thread that starts it exits (with the process, however it dies). A child that finds its
/// starter already gone does not start. Start it from a thread that lives as long as the child
/// should (a tokio worker thread lives as long as its runtime; a blocking thread ends when idle).
pub fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the hook runs in the forked child before exec and only makes two raw system
    // calls (prctl and getppid) through rustix, which neither allocate nor take locks.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The daemon may have died between fork and prctl: then nothing would kill us.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::other(
                    "the daemon exited while starting the child",
                ));
            }
            Ok(())
        });
    }
}

/// Starts `command` from the spawning thread, with SIGKILL as its parent-death signal, and
/// returns the child registered with the calling task's tokio runtime.
pub(crate) async fn spawn(mut command: Command) -> io::Result<Child> {
    die_with_parent(&mut command);
    let handle = tokio::runtime::Handle::current();
    let (sender, started) = tokio::sync::oneshot::channel();
    spawner()
        .send(Box::new(move || {
            let _runtime = handle.enter();
            let _ = sender.send(command.spawn());
        }))
        .map_err(|_| io::Error::other("the thread that starts model processes is gone"))?;
    started
        .await
        .map_err(|_| io::Error::other("the thread that starts model processes is gone"))?
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use crate::config::ClaudeConfig;
    use crate::process::{Launch, StdoutSink, run};

    /// Set in the environment of the stand-in daemon: where its model process writes its pid.
    const DAEMON_ENV: &str = "AITO_TEST_LIFELINE_PIDFILE";

    /// Whether `pid` names a process that runs (a zombie waiting for init counts as gone).
    fn running(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
            Err(_) => false,
        }
    }

    /// The stand-in daemon: runs one long model session (a shell that records its pid and then
    /// sleeps) from a tokio task, as the daemon does. Does nothing in a normal test run.
    #[test]
    fn stand_in_daemon() {
        let Some(pidfile) = std::env::var_os(DAEMON_ENV) else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let config = ClaudeConfig::new("/bin/sh");
            let script = format!(
                "echo $$ > '{}.tmp' && mv '{0}.tmp' '{0}' && exec sleep 300",
                Path::new(&pidfile).display()
            );
            let launch = Launch {
                config: &config,
                args: vec!["-c".into(), script.into()],
                stdin: Vec::new(),
                timeout: Duration::from_secs(300),
                silence: None,
                working_dir: None,
                env: Vec::new(),
            };
            let _ = run(launch, StdoutSink::Whole).await;
        });
    }

    /// `kill -9` of the daemon mid-session: its model process dies with it, within seconds.
    #[test]
    fn a_model_process_dies_with_its_daemon_killed_by_sigkill() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("model.pid");
        let mut daemon = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", "lifeline::tests::stand_in_daemon", "--nocapture"])
            .env(DAEMON_ENV, &pidfile)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the daemon");
        let started = Instant::now();
        let pid = loop {
            if let Ok(text) = std::fs::read_to_string(&pidfile) {
                break text.trim().parse::<i32>().expect("pid");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the model process never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(running(pid));
        daemon.kill().expect("kill -9");
        daemon.wait().expect("reap the daemon");
        let killed = Instant::now();
        while running(pid) && killed.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let alive = running(pid);
        if alive {
            // Do not leave it behind.
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        assert!(!alive, "the model process {pid} outlived its daemon by 5 s");
    }
}
