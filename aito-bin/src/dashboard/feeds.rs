//! The dashboard's one subscription to the bus: company events (for `/metrics` and escalation
//! notices) and worker log lines (kept in the store for the history on load, and fanned out to
//! the live streams).

use std::sync::Arc;
use std::time::Duration;

use aito_core::store::logs;
use aito_core::{Channel, Deliveries, Delivery, Event, Subscription};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::DashboardState;
use super::notify::Notifier;
use super::worker_logs::{self, LogLine};

/// The subscription group of dashboards on the bus.
const GROUP: &str = "dashboard";

/// What the health page shows about the subscription.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FeedStatus {
    /// Whether the dashboard is subscribed to the event and worker log channels now.
    pub subscribed: bool,
    /// Since when (the last time it subscribed).
    pub since: Option<DateTime<Utc>>,
    /// Envelopes received since start.
    pub received: u64,
    /// When the last one arrived.
    pub last_received_at: Option<DateTime<Utc>>,
    /// Why the last subscription attempt failed.
    pub last_error: Option<String>,
}

/// The dashboard's background work: the bus subscription and the escalation notices. Stop it
/// with [`Background::shutdown`]; [`serve`](super::serve) does that itself.
#[derive(Debug)]
pub struct Background {
    tracker: TaskTracker,
    closing: CancellationToken,
}

impl Background {
    /// Stops the subscription, ends the live streams, abandons notices still waiting for a
    /// retry, and waits for all of it.
    pub async fn shutdown(self) {
        self.closing.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Starts the background work of `state`. Returns once the subscription is in place (or has
/// failed once; it is then retried in the background), so that nothing published after this
/// returns is missed.
pub async fn start_background(state: &DashboardState) -> Background {
    let closing = state.hub.closing.clone();
    let tracker = TaskTracker::new();
    let first = subscribe(state).await;
    let notifier = state.escalation_webhook.clone().map(|webhook| {
        Arc::new(Notifier {
            webhook,
            runtime: state.runtime.clone(),
            public_url: state.public_url.clone(),
            metrics: Arc::clone(&state.hub.metrics),
            stats: Arc::clone(&state.hub.notices),
            closing: closing.clone(),
        })
    });
    if let Some(notifier) = &notifier {
        let notifier = Arc::clone(notifier);
        let tasks = tracker.clone();
        tracker.spawn(async move {
            for id in notifier.waiting_in_log().await {
                let notifier = Arc::clone(&notifier);
                tasks.spawn(async move { notifier.announce(id, "", "").await });
            }
        });
    }
    let feed = Feed {
        state: state.clone(),
        notifier,
        tracker: tracker.clone(),
        closing: closing.clone(),
    };
    tracker.spawn(feed.run(first));
    Background { tracker, closing }
}

async fn subscribe(state: &DashboardState) -> Option<Deliveries> {
    let subscription = Subscription::new(
        GROUP,
        state.hub.instance.clone(),
        [Channel::Events, Channel::WorkerLogs],
    );
    let result = state.runtime.bus.subscribe(subscription).await;
    let now = state.runtime.clock.now();
    let mut status = state.hub.feed_status();
    match result {
        Ok(deliveries) => {
            status.subscribed = true;
            status.since = Some(now);
            status.last_error = None;
            Some(deliveries)
        }
        Err(err) => {
            tracing::warn!(error = %err, "dashboard could not subscribe to events and worker logs");
            status.subscribed = false;
            status.last_error = Some(err.to_string());
            None
        }
    }
}

struct Feed {
    state: DashboardState,
    notifier: Option<Arc<Notifier>>,
    tracker: TaskTracker,
    closing: CancellationToken,
}

impl Feed {
    async fn run(self, mut deliveries: Option<Deliveries>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            if let Some(mut stream) = deliveries.take() {
                backoff = Duration::from_millis(500);
                loop {
                    let delivery = tokio::select! {
                        delivery = stream.next() => delivery,
                        () = self.closing.cancelled() => return,
                    };
                    match delivery {
                        Some(delivery) => self.handle(delivery).await,
                        None => break,
                    }
                }
                tracing::warn!("the bus closed the dashboard's subscription; subscribing again");
                self.state.hub.feed_status().subscribed = false;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.closing.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            deliveries = subscribe(&self.state).await;
        }
    }

    async fn handle(&self, delivery: Delivery) {
        let hub = &self.state.hub;
        {
            let mut status = hub.feed_status();
            status.received += 1;
            status.last_received_at = Some(self.state.runtime.clock.now());
        }
        let envelope = delivery.envelope();
        match delivery.channel() {
            Channel::Events => match serde_json::from_value::<Event>(envelope.payload.clone()) {
                Ok(event) => {
                    hub.metrics.record(&event);
                    if let (
                        Event::Escalated {
                            decision,
                            title,
                            reason,
                        },
                        Some(notifier),
                    ) = (event, &self.notifier)
                    {
                        let notifier = Arc::clone(notifier);
                        self.tracker.spawn(async move {
                            notifier.announce(decision, &title, &reason).await
                        });
                    }
                }
                Err(err) => {
                    let name = envelope.payload_str("event").map_or_else(
                        || "unreadable".to_owned(),
                        |name| aito_core::envelope::preview(name, 40),
                    );
                    tracing::debug!(event = %name, error = %err, "event not understood; counted by name only");
                    hub.metrics.record_unknown(&name);
                }
            },
            Channel::WorkerLogs => {
                let line = LogLine::from_envelope(envelope);
                hub.metrics.record_log_line();
                match serde_json::to_value(&line) {
                    Ok(value) => {
                        if let Err(err) = self
                            .state
                            .runtime
                            .store
                            .append_log(logs::WORKER_LOGS, &value, worker_logs::KEPT)
                            .await
                        {
                            tracing::warn!(error = %err, "could not keep a worker log line");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "could not encode a worker log line"),
                }
                // Nobody listening is fine.
                let _ = hub.logs.send(Arc::new(line));
            }
            other => tracing::debug!(channel = %other, "unexpected channel on the dashboard feed"),
        }
        // Live channels need no acknowledgement; this keeps the contract if that changes.
        if let Err(err) = delivery.ack().await {
            tracing::debug!(error = %err, "ack failed");
        }
    }
}
