//! What a daemon is doing right now, readable without touching the store.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// Live counters of one daemon, shared with whoever runs it.
#[derive(Debug, Default)]
pub struct Monitor {
    queue_len: AtomicUsize,
    busy: AtomicBool,
    blocked: AtomicBool,
    workers: AtomicUsize,
    handled: AtomicU64,
    sessions: AtomicU64,
    parked: Mutex<Option<Parked>>,
    standby: Mutex<Option<Standby>>,
    changed: Notify,
}

/// A daemon that does not serve yet: another holder has the agent's lease, and it waits for
/// that lease to be released or to lapse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standby {
    /// Who holds the lease, when the store could tell.
    pub holder: Option<String>,
    /// When the lease lapses unless its holder renews it, when the store could tell.
    pub until: Option<DateTime<Utc>>,
}

/// An agent that holds work but waits before its next session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parked {
    /// When it tries again.
    pub until: DateTime<Utc>,
    /// Why: `quota` (a rate limit or usage quota of the model), `budget` (a budget window),
    /// `store` (the store could not persist).
    pub reason: &'static str,
}

impl Parked {
    /// Whether it waits for the model's rate limit or quota to lift.
    pub fn is_model_limit(&self) -> bool {
        self.reason == "quota"
    }
}

/// A snapshot of a [`Monitor`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorSnapshot {
    /// Triggers waiting.
    pub queue_len: usize,
    /// Handling a trigger.
    pub busy: bool,
    /// Work waits for a pause, budget or quota to lift.
    pub blocked: bool,
    /// Workers running.
    pub workers: usize,
    /// Triggers handled since start.
    pub handled: u64,
    /// Model sessions run since start.
    pub sessions: u64,
    /// Work waits until then (a rate limit, a quota, a budget window), when it does.
    pub parked: Option<Parked>,
}

impl MonitorSnapshot {
    /// Nothing to do until something new arrives (or a block lifts).
    pub fn is_idle(&self) -> bool {
        !self.busy && self.workers == 0 && (self.queue_len == 0 || self.blocked)
    }
}

impl Monitor {
    /// The current values.
    pub fn snapshot(&self) -> MonitorSnapshot {
        MonitorSnapshot {
            queue_len: self.queue_len.load(Ordering::SeqCst),
            busy: self.busy.load(Ordering::SeqCst),
            blocked: self.blocked.load(Ordering::SeqCst),
            workers: self.workers.load(Ordering::SeqCst),
            handled: self.handled.load(Ordering::SeqCst),
            sessions: self.sessions.load(Ordering::SeqCst),
            parked: *self
                .parked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// A future that completes at the next change. Create it before reading a snapshot, so
    /// that a change in between is not missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    fn touch(&self) {
        self.changed.notify_waiters();
    }

    pub(crate) fn set_queue_len(&self, len: usize) {
        self.queue_len.store(len, Ordering::SeqCst);
        self.touch();
    }

    pub(crate) fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::SeqCst);
        self.touch();
    }

    pub(crate) fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::SeqCst);
        self.touch();
    }

    pub(crate) fn set_parked(&self, parked: Option<Parked>) {
        *self
            .parked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = parked;
        self.touch();
    }

    /// Whether (and for whom) the daemon waits for the agent's lease.
    pub fn standby(&self) -> Option<Standby> {
        self.standby
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_standby(&self, standby: Option<Standby>) {
        *self
            .standby
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = standby;
        self.touch();
    }

    pub(crate) fn worker_started(&self) {
        self.workers.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    pub(crate) fn worker_finished(&self) {
        self.workers.fetch_sub(1, Ordering::SeqCst);
        self.touch();
    }

    pub(crate) fn handled_one(&self) {
        self.handled.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    pub(crate) fn session_started(&self) {
        self.sessions.fetch_add(1, Ordering::SeqCst);
    }
}
