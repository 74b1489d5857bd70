//! Message dispatch on the embedded buses: MemoryBus and the durable SqliteBus, publish →
//! handler → ack, beside raw tokio mpsc in the same run, so the ratios are visible.
//!
//! SqliteBus: every publish and every acknowledgement is committed to a file (WAL mode,
//! `synchronous = NORMAL`) in a temporary directory before it returns; one publisher awaits each
//! publish in turn, as an agent does, or several publish at once.
//!
//! After each durable benchmark it also prints the CPU time (every thread of the process: the
//! runtime's workers and the database thread) that one message cost, which, unlike the
//! throughput, does not depend on what else the machine runs.
//!
//! Run: `cargo bench -p aito-benches --bench dispatch`.

#![allow(missing_docs)]

mod process_cpu;

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_core::{AgentId, Bus, Channel, Envelope, MemoryBus, MessageType, Sender, Subscription};
use aito_sqlite::Embedded;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tokio::runtime::Runtime;

const MESSAGES: usize = 100_000;

/// Messages per round on the durable bus.
const DURABLE_MESSAGES: usize = 20_000;

fn envelopes(n: usize) -> Vec<Envelope> {
    let template = Envelope::new(
        MessageType::Task,
        Sender::Human,
        json!({"title": "Ship the release", "description": "All green"}),
    );
    (0..n).map(|_| template.clone()).collect()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Publishes `MESSAGES` envelopes to one agent's inbox and waits until a handler task has
/// received and acknowledged every one.
async fn memory_bus_round(batch: Vec<Envelope>) -> Duration {
    let bus = Arc::new(MemoryBus::new());
    let agent = AgentId::random();
    let mut deliveries = bus
        .subscribe(Subscription::new("g", "c", [Channel::Agent(agent)]))
        .await
        .expect("subscribe");
    let count = batch.len();
    let start = Instant::now();
    let handler = tokio::spawn(async move {
        for _ in 0..count {
            let delivery = deliveries.next().await.expect("delivery");
            delivery.ack().await.expect("ack");
        }
    });
    for envelope in batch {
        bus.publish(Channel::Agent(agent), envelope)
            .await
            .expect("publish");
    }
    handler.await.expect("handler");
    start.elapsed()
}

/// Publishes `batch` to one agent's inbox on a fresh SqliteBus, from `publishers` tasks that
/// each await every publish, while a handler task receives and acknowledges every one. Returns
/// the time it took and the CPU time it cost.
async fn sqlite_bus_round(batch: Vec<Envelope>, publishers: usize) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = Embedded::open(dir.path()).await.expect("open");
    let bus = Arc::new(embedded.bus.clone());
    let agent = AgentId::random();
    let mut deliveries = bus
        .subscribe(Subscription::new("g", "c", [Channel::Agent(agent)]))
        .await
        .expect("subscribe");
    let count = batch.len();
    let (start, cpu) = (Instant::now(), process_cpu::cpu_time());
    let handler = tokio::spawn(async move {
        for _ in 0..count {
            let delivery = deliveries.next().await.expect("delivery");
            delivery.ack().await.expect("ack");
        }
    });
    let per = count.div_ceil(publishers);
    let mut batch = batch;
    let mut tasks = Vec::new();
    while !batch.is_empty() {
        let part: Vec<Envelope> = batch.drain(..per.min(batch.len())).collect();
        let bus = Arc::clone(&bus);
        tasks.push(tokio::spawn(async move {
            for envelope in part {
                bus.publish(Channel::Agent(agent), envelope)
                    .await
                    .expect("publish");
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher");
    }
    handler.await.expect("handler");
    let elapsed = (start.elapsed(), process_cpu::cpu_time().saturating_sub(cpu));
    drop(embedded);
    elapsed
}

/// The same traffic through a bare unbounded tokio channel.
async fn raw_mpsc_round(batch: Vec<Envelope>) -> Duration {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Envelope>();
    let count = batch.len();
    let start = Instant::now();
    let handler = tokio::spawn(async move {
        for _ in 0..count {
            let envelope = receiver.recv().await.expect("message");
            std::hint::black_box(&envelope);
        }
    });
    for envelope in batch {
        sender.send(envelope).expect("send");
    }
    handler.await.expect("handler");
    start.elapsed()
}

fn dispatch(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.sample_size(20);
    group.bench_function("memory_bus_publish_to_handler", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let batch = envelopes(MESSAGES);
                total += runtime.block_on(memory_bus_round(batch));
            }
            total
        });
    });
    group.bench_function("raw_tokio_mpsc", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let batch = envelopes(MESSAGES);
                total += runtime.block_on(raw_mpsc_round(batch));
            }
            total
        });
    });
    group.finish();

    let mut durable = c.benchmark_group("dispatch_durable");
    durable.throughput(Throughput::Elements(DURABLE_MESSAGES as u64));
    durable.sample_size(10);
    for publishers in [1, 8] {
        let (cpu, messages) = (Cell::new(Duration::ZERO), Cell::new(0u32));
        let name = format!("sqlite_bus_publish_to_handler/{publishers}_publishers");
        durable.bench_function(&name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let batch = envelopes(DURABLE_MESSAGES);
                    let (elapsed, spent) = runtime.block_on(sqlite_bus_round(batch, publishers));
                    total += elapsed;
                    cpu.set(cpu.get() + spent);
                    messages.set(messages.get() + DURABLE_MESSAGES as u32);
                }
                total
            });
        });
        if let Some(per) = cpu.get().checked_div(messages.get()) {
            println!(
                "dispatch_durable/{name}: {:.1} µs of CPU per message ({} messages)",
                per.as_secs_f64() * 1e6,
                messages.get()
            );
        }
    }
    durable.bench_function("memory_bus_publish_to_handler", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let batch = envelopes(DURABLE_MESSAGES);
                total += runtime.block_on(memory_bus_round(batch));
            }
            total
        });
    });
    durable.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
