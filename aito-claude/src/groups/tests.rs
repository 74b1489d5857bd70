use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A child killed and reaped when dropped, so that a failed test leaves nothing behind.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process killed when dropped.
struct Member(i32);

impl Drop for Member {
    fn drop(&mut self) {
        end(self.0);
    }
}

/// A process of its own group, `sleep 600`, with `env` in its environment.
fn sleeper(env: &[(&str, &str)]) -> Sleeper {
    let mut command = Command::new("sleep");
    command
        .arg("600")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    Sleeper(command.spawn().expect("start sleep"))
}

/// A group whose leader has exited, leaving one member (`sleep 600`): returns the group id
/// and the member.
fn orphaned_group(env: &[(&str, &str)]) -> (i32, Member) {
    let mut command = Command::new("sh");
    command
        .args(["-c", "sleep 600 >/dev/null 2>&1 & echo $!"])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut leader = command.spawn().expect("start sh");
    let mut out = String::new();
    leader
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read the member's pid");
    leader.wait().expect("reap the leader");
    let pgid = i32::try_from(leader.id()).expect("pid");
    let member = out.trim().parse().expect("the member's pid");
    (pgid, Member(member))
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> i32 {
    let mut child = Command::new("true").spawn().expect("start true");
    child.wait().expect("reap true");
    i32::try_from(child.id()).expect("pid")
}

fn pid_of(child: &Sleeper) -> i32 {
    i32::try_from(child.0.id()).expect("pid")
}

/// Whether `pid` runs (a zombie counts as gone).
fn running(pid: i32) -> bool {
    stat(pid).is_some_and(|stat| !stat.zombie)
}

fn gone_within(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while running(pid) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn end(pid: i32) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

/// A record of group `pgid` (leader started at `leader_start`) written by a daemon that
/// has died since, with `token`.
fn dead_daemons_record(
    registry: &GroupRegistry,
    pgid: i32,
    leader_start: u64,
    token: &str,
) -> PathBuf {
    let owner_pid = dead_pid();
    let record = Record {
        host: registry.host.clone(),
        boot: registry.boot.clone(),
        owner_pid,
        owner_start: 7,
        pgid,
        leader_start,
        token: token.to_owned(),
        program: "test".to_owned(),
    };
    write_record(registry, &record)
}

fn write_record(registry: &GroupRegistry, record: &Record) -> PathBuf {
    let name = format!(
        "{}-{}-{}.json",
        record.owner_pid, record.owner_start, record.pgid
    );
    let path = registry.dir.join(&name);
    registry
        .write(&path, &name, record)
        .expect("write the record");
    path
}

fn start_of(pid: i32) -> u64 {
    stat(pid).expect("stat").start
}

#[test]
fn stat_fields_are_counted_from_the_end_of_the_command_name() {
    let line = "4242 (a (weird) name) S 1 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
    let parsed = parse_stat(line).expect("parsed");
    assert_eq!(parsed.pgrp, 4240);
    assert_eq!(parsed.start, 98765);
    assert!(!parsed.zombie);
    assert!(
        parse_stat("4242 (x) Z 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0")
            .is_some_and(|stat| stat.zombie)
    );
    assert!(parse_stat("garbage").is_none());
    let own = stat(rustix::process::getpid().as_raw_pid()).expect("own stat");
    assert_eq!(own.pgrp, rustix::process::getpgrp().as_raw_pid());
}

#[test]
fn a_started_group_is_recorded_and_the_record_removed_when_the_guard_drops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = GroupRegistry::new(dir.path().join("groups"));
    let tracking = registry.tracking();
    let (key, token) = tracking.env().expect("an installed registry's token");
    assert_eq!(key, GROUP_ENV);
    let token = token.to_owned();
    let child = sleeper(&[(GROUP_ENV, &token)]);
    let pid = pid_of(&child);
    let recorded = tracking.started(Some(child.0.id()), "sleep");
    let files: Vec<_> = std::fs::read_dir(registry.dir())
        .expect("the directory was created")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let record: Record =
        serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("a record");
    assert_eq!(record.pgid, pid);
    assert_eq!(record.leader_start, start_of(pid));
    assert_eq!(record.owner_pid, rustix::process::getpid().as_raw_pid());
    assert_eq!(record.token, token);
    assert!(carries(pid, &token).expect("own child's environment"));
    // This process still runs: its own records are not reaped.
    let reaped = registry.reap();
    assert_eq!(reaped.left, 1, "{reaped:?}");
    assert!(running(pid));
    drop(recorded);
    assert!(!files[0].exists(), "the record outlived its group's guard");
}

#[test]
fn an_empty_environment_is_unreadable_rather_than_without_the_token() {
    let mut command = Command::new("sleep");
    command
        .arg("600")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = Sleeper(command.spawn().expect("start sleep"));
    assert_eq!(carries(pid_of(&child), "4242-99-9"), None);
    let carrying = sleeper(&[(GROUP_ENV, "4242-99-9")]);
    assert_eq!(carries(pid_of(&carrying), "4242-99-9"), Some(true));
    assert_eq!(carries(pid_of(&carrying), "4242-99-8"), Some(false));
}

#[test]
fn a_surviving_leader_of_a_dead_daemon_is_killed_with_its_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = GroupRegistry::new(dir.path());
    let mut child = sleeper(&[]);
    let pid = pid_of(&child);
    let path = dead_daemons_record(&registry, pid, start_of(pid), "unused");
    let reaped = registry.reap();
    assert_eq!(reaped.killed, vec![pid], "{reaped:?}");
    let status = child.0.wait().expect("reap");
    assert!(!status.success(), "killed, not exited: {status:?}");
    assert!(!path.exists());
}

#[test]
fn a_group_whose_leader_is_gone_is_killed_when_a_member_carries_its_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = GroupRegistry::new(dir.path());
    let token = "4242-99-0";
    let (pgid, member) = orphaned_group(&[(GROUP_ENV, token)]);
    assert!(running(member.0));
    let path = dead_daemons_record(&registry, pgid, 1, token);
    let reaped = registry.reap();
    assert_eq!(reaped.killed, vec![pgid], "{reaped:?}");
    assert!(
        gone_within(member.0, Duration::from_secs(5)),
        "the group's member {} survived the reap",
        member.0
    );
    assert!(!path.exists());
}

#[test]
fn a_record_whose_group_has_ended_kills_nothing_and_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = GroupRegistry::new(dir.path());
    let mut child = sleeper(&[]);
    let pid = pid_of(&child);
    let start = start_of(pid);
    child.0.kill().expect("kill");
    child.0.wait().expect("reap");
    let path = dead_daemons_record(&registry, pid, start, "4242-99-1");
    let reaped = registry.reap();
    assert_eq!(
        reaped,
        Reaped {
            gone: 1,
            ..Reaped::default()
        }
    );
    assert!(!path.exists());
}

#[test]
fn a_record_whose_pid_now_names_an_unrelated_process_kills_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = GroupRegistry::new(dir.path());
    // An unrelated process leads group `pid` now; the record is of an earlier one that had the
    // same pid and started at another time.
    let unrelated = sleeper(&[]);
    let pid = pid_of(&unrelated);
    let path = dead_daemons_record(&registry, pid, start_of(pid) + 1, "4242-99-2");
    let reaped = registry.reap();
    assert!(reaped.killed.is_empty(), "{reaped:?}");
    assert_eq!(reaped.not_ours, 1, "{reaped:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(running(pid), "an unrelated process was killed");
    assert!(!path.exists());

    // A group of another's whose leader is gone, and whose members do not carry the token.
    let (pgid, member) = orphaned_group(&[(GROUP_ENV, "4242-99-other")]);
    let path = dead_daemons_record(&registry, pgid, 1, "4242-99-3");
    let reaped = registry.reap();
    assert!(reaped.killed.is_empty(), "{reaped:?}");
    assert_eq!(reaped.not_ours, 1, "{reaped:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        running(member.0),
        "a member of an unrelated group was killed"
    );
    assert!(!path.exists());
}

#[test]
fn records_of_a_live_daemon_or_another_machine_are_left_and_of_an_earlier_boot_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = GroupRegistry::new(dir.path());
    let child = sleeper(&[]);
    let pid = pid_of(&child);
    let live = Record {
        host: registry.host.clone(),
        boot: registry.boot.clone(),
        owner_pid: registry.owner_pid,
        owner_start: registry.owner_start,
        pgid: pid,
        leader_start: start_of(pid),
        token: "live".to_owned(),
        program: "sleep".to_owned(),
    };
    let live_path = write_record(&registry, &live);
    let elsewhere = Record {
        host: format!("{}-elsewhere", registry.host),
        owner_pid: dead_pid(),
        ..live.clone()
    };
    let elsewhere_path = write_record(&registry, &elsewhere);
    let earlier = Record {
        boot: "00000000-0000-0000-0000-000000000000".to_owned(),
        owner_pid: dead_pid(),
        owner_start: 3,
        ..live.clone()
    };
    let earlier_path = write_record(&registry, &earlier);
    std::fs::write(dir.path().join("broken.json"), b"{\"host\":").expect("write");

    let reaped = registry.reap();
    assert_eq!(
        reaped,
        Reaped {
            left: 2,
            stale: 1,
            ..Reaped::default()
        }
    );
    assert!(running(pid), "a group was killed");
    assert!(live_path.exists() && elsewhere_path.exists());
    assert!(!earlier_path.exists());
    assert!(!dir.path().join("broken.json").exists());
}

#[test]
fn a_registry_whose_directory_cannot_be_made_records_nothing_and_does_not_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let registry = GroupRegistry::new(file.join("groups"));
    let child = sleeper(&[]);
    let recorded = registry.tracking().started(Some(child.0.id()), "sleep");
    assert!(recorded.path.is_none());
    assert_eq!(registry.reap(), Reaped::default());
}
