//! The daemon's own cost per trigger, the model excluded: one agent on the embedded bus and
//! store, a replay model that answers at once, and 10,000 tasks sent one after the other.
//! Each is timed from the publish to the moment the daemon has handled it (intake, queue,
//! budget check, prompt, "session", parse, state, history, events, ack: its `trigger_handled`
//! event reached a subscriber); the median, p99 and worst are printed,
//! and the CPU time one trigger cost (every thread of the process).
//!
//!     cargo bench -p aito-benches --bench trigger_overhead
//!
//! Environment: `AITO_BENCH_TRIGGERS` (default 10000), `AITO_BENCH_WARMUP` (default 500),
//! `AITO_BENCH_LOGS=1` to format the daemon's info logs as `aito run` does (into a sink), so
//! that their cost is counted too.

#![allow(missing_docs)]

mod process_cpu;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_core::mock::{Script, ScriptedResponse};
use aito_core::{
    AgentSpec, Budget, Channel, Company, Deliveries, MessageType, MockWorkers, Priority, ReplayLlm,
    Role, RunningCompany, Settings, Subscription,
};
use serde_json::{Value, json};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Sends one task and waits until the daemon has handled it (its `trigger_handled` event has
/// been published); returns the round trip. The wait sleeps on the event instead of polling,
/// so that the bench leaves the runtime's threads to the daemon.
async fn one(company: &RunningCompany, events: &mut Deliveries, index: usize) -> Duration {
    let started = Instant::now();
    company
        .send(
            "cto",
            MessageType::Task,
            json!({ "title": format!("task {index}") }),
            Priority::Normal,
        )
        .await
        .expect("send");
    loop {
        let delivery = events.next().await.expect("the events channel ended");
        if delivery.envelope().payload["event"] == "trigger_handled" {
            break;
        }
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let triggers = env_or("AITO_BENCH_TRIGGERS", 10_000);
    let warmup = env_or("AITO_BENCH_WARMUP", 500);
    let logs = std::env::var("AITO_BENCH_LOGS").is_ok_and(|value| value == "1");
    if logs {
        tracing_subscriber::fmt()
            .with_env_filter("warn,aito_core=info")
            .with_writer(std::io::sink)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let workspaces = tempfile::tempdir().expect("tempdir");
        let llm = ReplayLlm::new(Script {
            description: None,
            responses: vec![ScriptedResponse {
                response: Some(Value::String(
                    r#"{"summary": "done", "actions": []}"#.to_owned(),
                )),
                repeat: true,
                ..ScriptedResponse::default()
            }],
            on_exhausted: Default::default(),
        });
        let settings = Settings {
            company_budget: Budget::unlimited(),
            ..Settings::default()
        };
        let company = Company::builder("bench")
            .agent(
                AgentSpec::new(Role::Cto)
                    .without_schedules()
                    .budget(Budget::unlimited()),
            )
            .embedded()
            .llm(Arc::new(llm))
            .workers(Arc::new(MockWorkers::new()))
            .settings(settings)
            .workspace_root(workspaces.path())
            .build()
            .expect("company")
            .start()
            .expect("start");
        // Wait for the daemon to serve.
        while company
            .runtime()
            .store
            .statuses()
            .await
            .map_or(true, |statuses| statuses.is_empty())
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut events = company
            .runtime()
            .bus
            .subscribe(Subscription::new("bench", "bench", [Channel::Events]))
            .await
            .expect("subscribe to events");
        for index in 0..warmup {
            one(&company, &mut events, index).await;
        }
        let mut times = Vec::with_capacity(triggers);
        let (all, cpu) = (Instant::now(), process_cpu::cpu_time());
        for index in 0..triggers {
            times.push(one(&company, &mut events, warmup + index).await);
        }
        let (total, cpu) = (all.elapsed(), process_cpu::cpu_time().saturating_sub(cpu));
        company.shutdown().await;
        times.sort();
        let median = percentile(&times, 0.5);
        let p99 = percentile(&times, 0.99);
        let worst = times.last().copied().unwrap_or_default();
        let mean = total / u32::try_from(triggers.max(1)).unwrap_or(u32::MAX);
        println!(
            "trigger overhead over {triggers} triggers (after {warmup} warm-up, logs {}): median {median:?}, p99 {p99:?}, worst {worst:?}, mean {mean:?}, {:.0} triggers/s",
            if logs { "formatted" } else { "off" },
            triggers as f64 / total.as_secs_f64()
        );
        println!(
            "RESULT trigger_overhead_median_us {:.1}",
            median.as_secs_f64() * 1e6
        );
        println!("RESULT trigger_overhead_p99_us {:.1}", p99.as_secs_f64() * 1e6);
        // The CPU time (every thread) one trigger cost: unlike the round trip, it does not
        // depend on how soon the machine wakes a sleeping thread.
        println!(
            "RESULT trigger_overhead_cpu_us {:.1}",
            cpu.as_secs_f64() * 1e6 / triggers.max(1) as f64
        );
    });
}
