//! Building the CEO's prompt while the store holds 10,000 closed decisions (executed, rejected,
//! withdrawn), against the same prompt with none: the daemon's own work before a session
//! (state, history, decisions, open tasks, the prompt within its budget), on the in-memory
//! store and on the embedded SQLite store. A prompt reads the open decisions and only a window
//! of the newest executed ones: the figure does not grow with the closed ones.
//!
//! `{backend}/{closed}`: the closed decisions were reviewed by the CEO, which the prompt does
//! not tell of again (its text is the same with 0 and with 10,000). `{backend}/{closed}/
//! without_ceo`: they were carried out without the CEO's review, so the prompt tells of the
//! newest window of them (50); 64 closed (50 executed: one window) against 10,000 shows
//! that only the window costs.
//!
//! Sequential criterion runs on a shared machine drift by more than the difference sought, so
//! the bench first times 0 against 10,000 interleaved (blocks of calls, alternating, the
//! median block of each) and prints that as `RESULT` lines. Those blocks run on one CPU: a
//! SQLite store answers from a thread of its own, and on two CPUs whichever store's thread the
//! scheduler put beside the caller answered two to three times sooner than the other (the
//! same data in both stores showed it). The `control_ratio` line times 0 against 0 the same
//! way: how far apart two equal stores come out.
//!
//!     cargo bench -p aito-benches --bench prompt_decisions

#![allow(missing_docs)]

mod prompt_common;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aito_core::decision::{Decision, DecisionStatus, Tier};
use aito_core::store::StateStore;
use aito_core::{AgentId, DecisionId, MemoryStore, Role};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};

const CLOSED: usize = 10_000;
const OPEN: usize = 5;

/// Closed decisions of which 50 are executed (eight in ten are): the window of the newest
/// executed ones a CEO's prompt tells of.
const WINDOW: usize = 64;

fn decision(n: usize, proposer: AgentId, status: DecisionStatus, reviewers: &[Role]) -> Decision {
    let at = Utc::now() - chrono::Duration::minutes((CLOSED + OPEN - n) as i64);
    Decision {
        id: DecisionId::random(),
        proposer,
        proposer_role: Role::Cto,
        title: format!("Decision number {n}: move one more service"),
        description: "Move the service, measure it for a day, then report the figures.".into(),
        options: vec![],
        tier: Tier::Operational,
        status,
        round: 1,
        reviewers: reviewers.to_vec(),
        votes: vec![],
        history: vec![],
        created_at: at,
        deadline: None,
        escalation: None,
        human: None,
        version: 0,
        outbox: Vec::new(),
    }
}

/// The open decisions both stores hold, after `closed` closed ones reviewed by `reviewers`.
async fn fill(store: &dyn StateStore, cto: AgentId, closed: usize, reviewers: &[Role]) {
    for n in 0..closed {
        let status = match n % 10 {
            0 => DecisionStatus::Rejected,
            1 => DecisionStatus::Withdrawn,
            _ => DecisionStatus::Executed,
        };
        store
            .create_decision(&decision(n, cto, status, reviewers))
            .await
            .expect("create");
    }
    for n in CLOSED..CLOSED + OPEN {
        store
            .create_decision(&decision(n, cto, DecisionStatus::Pending, &[Role::Ceo]))
            .await
            .expect("create");
    }
}

/// A store of `backend` ("memory" or "sqlite"), in `dir` for SQLite.
fn store(runtime: &tokio::runtime::Runtime, backend: &str, dir: &Path) -> Arc<dyn StateStore> {
    match backend {
        "memory" => Arc::new(MemoryStore::new()),
        _ => Arc::new(
            runtime.block_on(async { aito_sqlite::Embedded::open(dir).await.expect("open").store }),
        ),
    }
}

/// Runs `work` with this thread, and every thread it starts, on the one CPU it runs on now;
/// the thread's own set of CPUs is given back after.
fn on_one_cpu<T>(work: impl FnOnce() -> T) -> T {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    let before = sched_getaffinity(None);
    let mut one = CpuSet::new();
    one.set(sched_getcpu());
    if let Err(err) = sched_setaffinity(None, &one) {
        eprintln!("could not keep the timed blocks on one CPU ({err}): timing them on all");
    }
    let out = work();
    if let Ok(before) = before {
        let _ = sched_setaffinity(None, &before);
    }
    out
}

/// The CEO's prompt with `closed[0]` and with `closed[1]` closed decisions, timed in
/// alternating blocks of `calls`, so that both see the same machine; returns the median block
/// of each, in microseconds.
fn paired(
    runtime: &tokio::runtime::Runtime,
    backend: &str,
    calls: u32,
    closed: [usize; 2],
) -> [f64; 2] {
    const ROUNDS: usize = 41;
    let workspaces = tempfile::tempdir().expect("tempdir");
    let cto = AgentId::derived("benchco", "cto");
    let trigger = prompt_common::check_in();
    let mut dirs = Vec::new();
    let daemons: Vec<_> = closed
        .into_iter()
        .map(|closed| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = store(runtime, backend, dir.path());
            dirs.push(dir);
            runtime.block_on(fill(&*store, cto, closed, &[Role::Ceo]));
            prompt_common::daemon(store, workspaces.path(), Role::Ceo)
        })
        .collect();
    let mut blocks = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for turn in 0..2 {
            let which = (round + turn) % 2;
            let started = Instant::now();
            for _ in 0..calls {
                std::hint::black_box(runtime.block_on(daemons[which].preview_prompt(&trigger)));
            }
            blocks[which].push(started.elapsed().as_secs_f64() * 1e6 / f64::from(calls));
        }
    }
    blocks.map(|mut times| {
        times.sort_by(f64::total_cmp);
        times[ROUNDS / 2]
    })
}

/// Prints 0 against 10,000 closed decisions on `backend`, and 0 against 0 as the control.
fn compare(runtime: &tokio::runtime::Runtime, backend: &str, calls: u32) {
    let [none, many] = on_one_cpu(|| paired(runtime, backend, calls, [0, CLOSED]));
    let [first, second] = on_one_cpu(|| paired(runtime, backend, calls, [0, 0]));
    println!("RESULT prompt_closed_decisions_{backend}_0_us {none:.2}");
    println!("RESULT prompt_closed_decisions_{backend}_{CLOSED}_us {many:.2}");
    println!(
        "RESULT prompt_closed_decisions_{backend}_ratio {:.3}",
        many / none
    );
    println!(
        "RESULT prompt_closed_decisions_{backend}_control_ratio {:.3}",
        second / first
    );
}

fn prompt_decisions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    compare(&runtime, "memory", 1000);
    compare(&runtime, "sqlite", 50);
    let workspaces = tempfile::tempdir().expect("tempdir");
    let cto = AgentId::derived("benchco", "cto");
    let trigger = prompt_common::check_in();
    let mut group = c.benchmark_group("prompt_ceo_closed_decisions");
    let mut data = Vec::new();
    let cases = [
        (0, &[Role::Ceo][..], ""),
        (CLOSED, &[Role::Ceo][..], ""),
        (WINDOW, &[Role::Cto][..], "/without_ceo"),
        (CLOSED, &[Role::Cto][..], "/without_ceo"),
    ];
    for backend in ["memory", "sqlite"] {
        for (closed, reviewers, label) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = store(&runtime, backend, dir.path());
            data.push(dir);
            runtime.block_on(fill(&*store, cto, closed, reviewers));
            let daemon = prompt_common::daemon(store, workspaces.path(), Role::Ceo);
            let prompt = runtime.block_on(daemon.preview_prompt(&trigger));
            assert!(
                prompt.user.contains("waiting for YOUR vote"),
                "{}",
                prompt.user
            );
            // Executed decisions are told of only when they were taken without the CEO.
            let told = prompt.user.matches("Decision number").count();
            if label.is_empty() {
                assert_eq!(told, OPEN, "{}", prompt.user);
            } else {
                assert!(told > OPEN, "{}", prompt.user);
            }
            group.bench_function(format!("{backend}/{closed}{label}"), |b| {
                b.iter(|| runtime.block_on(daemon.preview_prompt(&trigger)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, prompt_decisions);
criterion_main!(benches);
