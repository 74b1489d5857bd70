//! `aito agent` on a private `redis-server` with 50,000 messages in its inbox while it waits for
//! its budget: the backlog stays in the stream. The daemon holds no more than a queue's worth
//! in memory (its RSS stays low) and keeps no per-message traffic going with Redis (the
//! server's command rate stays flat).

mod binary;

use std::process::Command;
use std::time::{Duration, Instant};

use aito_core::bus::Bus;
use aito_core::{AgentId, Channel, Envelope, MessageType, Sender};
use aito_redis::RedisBus;
use aito_redis::testing::RedisServer;
use binary::{Running, aito};
use serde_json::json;

const BACKLOG: usize = 50_000;
/// The most resident memory the daemon may use with the whole backlog waiting.
const RSS_LIMIT_KB: u64 = 50 * 1024;
/// The most commands per second Redis may see from the parked daemon: its own lease, status
/// and reads of the shared channels, nothing per waiting message.
const RATE_LIMIT: f64 = 100.0;
/// How long the parked daemon is watched: more than two heartbeats of its deliveries (every
/// ten seconds with the default reclaim threshold).
const WATCH: Duration = Duration::from_secs(25);

const CONFIG: &str = r#"[company]
name = "backlog-co"

[[agents]]
role = "cto"
schedules = []

[agents.budget]
usd_per_day = 0.5
"#;

/// Every session costs a dollar: after the first, the CTO waits for the next day's budget.
const SCRIPT: &str = r#"{
  "responses": [
    {"role": "cto", "repeat": true, "cost_usd": 1.0,
     "response": {"summary": "Looked at the ticket", "actions": []}}
  ]
}"#;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS")
}

fn commands_processed(port: u16) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "stats"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("total_commands_processed")
}

/// Fills the CTO's inbox, many publications at a time.
fn fill_inbox(server: &RedisServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // The binary's prefix with `--redis`.
        let config = server.config().with_prefix("aito:");
        let bus = RedisBus::connect(config).await.expect("bus");
        let inbox = Channel::Agent(AgentId::derived("backlog-co", "cto"));
        let filler = "Steps to reproduce, logs and a stack trace. ".repeat(20);
        let mut tasks = Vec::new();
        for worker in 0..32 {
            let bus = bus.clone();
            let filler = filler.clone();
            tasks.push(tokio::spawn(async move {
                for n in (worker..BACKLOG).step_by(32) {
                    let envelope = Envelope::new(
                        MessageType::Task,
                        Sender::Human,
                        json!({"title": format!("Ticket {n}"), "content": filler}),
                    );
                    bus.publish(inbox, envelope).await.expect("publish");
                }
            }));
        }
        for task in tasks {
            task.await.expect("publisher");
        }
    });
}

#[test]
fn an_agent_parked_on_its_budget_leaves_its_backlog_in_the_stream() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("aito.toml"), CONFIG).expect("config");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    fill_inbox(&server);

    let mut daemon = Running::start(aito(
        dir.path(),
        &[
            "agent",
            "--role",
            "cto",
            "--redis",
            &url,
            "--llm",
            "replay:script.json",
            "--health-bind",
            "127.0.0.1:0",
        ],
    ));
    daemon.wait_for_line("Looked at the ticket", Duration::from_secs(60));
    daemon.wait_for_line("budget reached; pausing the agent", Duration::from_secs(60));
    // Let what was in flight when it parked settle.
    std::thread::sleep(Duration::from_secs(3));

    let pid = daemon.child.id();
    let started = Instant::now();
    let before = commands_processed(server.port());
    let mut peak = 0;
    while started.elapsed() < WATCH {
        peak = peak.max(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = commands_processed(server.port());
    let seconds = started.elapsed().as_secs_f64();
    peak = peak.max(rss_kb(pid));
    // The INFO calls themselves count too: one at each end.
    let rate = (after - before).saturating_sub(2) as f64 / seconds;
    eprintln!("parked with {BACKLOG} waiting: peak RSS {peak} kB, {rate:.1} Redis commands/s");
    assert!(
        peak < RSS_LIMIT_KB,
        "the parked daemon's RSS reached {peak} kB with {BACKLOG} messages waiting"
    );
    assert!(
        rate < RATE_LIMIT,
        "Redis processed {rate:.0} commands a second for the parked daemon"
    );
    // Nothing of the backlog was lost or handled: it waits in the inbox.
    let out = Command::new("redis-cli")
        .args([
            "-p",
            &server.port().to_string(),
            "--scan",
            "--pattern",
            "*stream:agent*",
        ])
        .output()
        .expect("redis-cli");
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let out = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "XLEN", &key])
        .output()
        .expect("redis-cli");
    let left: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("XLEN");
    assert_eq!(left, BACKLOG - 1, "one message was handled, the rest wait");
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}
