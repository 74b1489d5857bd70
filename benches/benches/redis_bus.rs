//! RedisBus publish-to-handler throughput and latency, beside what `redis-benchmark -t publish`
//! gets from the same server (scripts/bench-redis.sh runs both and prints them side by side).
//!
//! Environment: `AITO_BENCH_REDIS_URL` (else a private `redis-server` is started on a free
//! port), `AITO_BENCH_SIZE` (envelope size in bytes, default 256), `AITO_BENCH_MESSAGES`
//! (default 20000), `AITO_BENCH_CONCURRENCY` (publishes in flight, default 50 like
//! redis-benchmark's 50 clients).

#![allow(missing_docs)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_core::{AgentId, Bus, Channel, Deliveries, Envelope, MessageType, Sender, Subscription};
use aito_redis::{RedisBus, RedisConfig};
use criterion::Criterion;
use futures_util::StreamExt;
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A private server, killed on drop.
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> (String, Server) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on the PATH (Debian: apt-get install redis-server)");
    let url = format!("redis://127.0.0.1:{port}/0");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (url, Server { child, _dir: dir })
}

/// An envelope whose JSON is `size` bytes (or a little more when `size` is tiny), stamped
/// with the nanoseconds since `origin`.
fn envelope(size: usize, origin: Instant) -> Envelope {
    let stamp = u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut envelope = Envelope::new(
        MessageType::Task,
        Sender::Human,
        json!({ "t": format!("{stamp:020}"), "pad": "" }),
    );
    let base = envelope.to_json().len();
    envelope.payload["pad"] = json!("x".repeat(size.saturating_sub(base)));
    envelope
}

fn stamp(envelope: &Envelope) -> u64 {
    envelope
        .payload_str("t")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

async fn inbox(bus: &RedisBus, agent: AgentId) -> Deliveries {
    bus.subscribe(Subscription::new(
        agent.to_string(),
        "bench",
        [Channel::Agent(agent)],
    ))
    .await
    .expect("subscribe")
}

/// Publishes `count` envelopes with `concurrency` in flight; a handler acknowledges each
/// (one at a time when `sequential_acks`).
/// Returns the rate (envelopes handled per second) and the publish-to-handler latencies.
async fn run(
    bus: &RedisBus,
    size: usize,
    count: usize,
    concurrency: usize,
    sequential_acks: bool,
) -> (f64, Vec<u64>) {
    let agent = AgentId::random();
    let mut deliveries = inbox(bus, agent).await;
    let origin = Instant::now();
    // The handler takes each envelope as it comes and hands the acknowledgement to a task that
    // keeps up to 64 in flight, as a daemon that acknowledges asynchronously would; the rate
    // counts an envelope once its acknowledgement is confirmed.
    let (ack_tx, ack_rx) = tokio::sync::mpsc::unbounded_channel::<aito_core::Delivery>();
    let acker = tokio::spawn(async move {
        tokio_stream_of(ack_rx)
            .map(|delivery| async move { delivery.ack().await.expect("ack") })
            .buffer_unordered(64)
            .count()
            .await
    });
    let handler = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(count);
        for _ in 0..count {
            let Some(delivery) = deliveries.next().await else {
                break;
            };
            let now = u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
            latencies.push(now.saturating_sub(stamp(delivery.envelope())));
            if sequential_acks {
                delivery.ack().await.expect("ack");
            } else {
                let _ = ack_tx.send(delivery);
            }
        }
        latencies
    });
    let start = Instant::now();
    let bus = Arc::new(bus.clone());
    futures_util::stream::iter(0..count)
        .map(|_| {
            let bus = Arc::clone(&bus);
            async move {
                bus.publish(Channel::Agent(agent), envelope(size, origin))
                    .await
                    .expect("publish")
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
    let latencies = handler.await.expect("handler");
    acker.await.expect("acker");
    let elapsed = start.elapsed().as_secs_f64();
    (latencies.len() as f64 / elapsed, latencies)
}

/// An unbounded receiver as a stream.
fn tokio_stream_of<T: Send + 'static>(
    receiver: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() {
    let size = env_or("AITO_BENCH_SIZE", 256);
    let count = env_or("AITO_BENCH_MESSAGES", 20_000);
    let concurrency = env_or("AITO_BENCH_CONCURRENCY", 50);
    let (url, _server) = match std::env::var("AITO_BENCH_REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let (url, server) = start_server();
            (url, Some(server))
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The readers wait together on one connection (the default: a process of many agents),
    // then each on its own (a process of one agent, as `aito agent --role x` runs it).
    let mut buses = Vec::new();
    for (shared, label) in [(true, ""), (false, "_own_wait")] {
        let bus = runtime
            .block_on(RedisBus::connect(
                RedisConfig::new(url.clone())
                    .with_prefix("bench:")
                    .with_shared_wait(shared),
            ))
            .expect("connect");
        let wait = if shared {
            "readers waiting together"
        } else {
            "each reader waiting on its own connection"
        };
        // Warm up connections and scripts.
        runtime.block_on(run(&bus, size, 1000, concurrency, false));
        let (rate, _) = runtime.block_on(run(&bus, size, count, concurrency, false));
        println!(
            "RESULT redisbus_rate{label} {rate:.0} msg/s ({count} envelopes of {size} bytes, {concurrency} publishes in flight, publish -> handler -> ack confirmed, acks in flight; {wait})"
        );
        let (serial_ack_rate, _) = runtime.block_on(run(&bus, size, count, concurrency, true));
        println!(
            "RESULT redisbus_rate_serial_acks{label} {serial_ack_rate:.0} msg/s (same, the handler awaits each ack before the next envelope)"
        );
        let (sequential_rate, mut latencies) =
            runtime.block_on(run(&bus, size, count.min(5_000), 1, true));
        latencies.sort_unstable();
        println!(
            "RESULT redisbus_sequential_rate{label} {sequential_rate:.0} msg/s (one publish in flight)"
        );
        println!(
            "RESULT redisbus_latency{label} p50 {:.0} us, p99 {:.0} us (one publish in flight, publish -> handler; {wait})",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99)
        );
        buses.push(bus);
    }
    let bus = buses.swap_remove(0);

    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let agent = AgentId::random();
    let mut deliveries = runtime.block_on(inbox(&bus, agent));
    let origin = Instant::now();
    criterion.bench_function("redis_bus/publish_to_handler_one_envelope", |b| {
        b.iter(|| {
            runtime.block_on(async {
                bus.publish(Channel::Agent(agent), envelope(size, origin))
                    .await
                    .expect("publish");
                let delivery = deliveries.next().await.expect("delivery");
                delivery.ack().await.expect("ack");
            })
        })
    });
    criterion.final_summary();
}
