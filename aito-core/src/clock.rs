//! Wall-clock time that follows tokio's clock, so that paused-time tests and replays see
//! deadlines, budget windows and cron ticks move exactly as tokio's timers do.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// The company's clock: a wall-clock anchor plus tokio's monotonic time since the anchor.
///
/// Share one `Clock` between everything in a process (it is `Copy`). Under
/// `tokio::time::pause()`, advancing tokio's time advances this clock by the same amount.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    wall: DateTime<Utc>,
    mono: Instant,
}

impl Clock {
    /// A clock that reads the system time now and follows tokio's time from here on.
    pub fn system() -> Self {
        Self::starting_at(Utc::now())
    }

    /// A clock that reads `start` now and follows tokio's time from here on (replays, tests).
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            wall: start,
            mono: Instant::now(),
        }
    }

    /// The current wall-clock time.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.mono);
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }

    /// How long from now until `at` (zero when `at` has passed).
    pub fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
    }

    /// Sleeps until the wall-clock time `at`.
    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        tokio::time::sleep(self.until(at)).await;
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_tokio_time() {
        let start: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        let at = start + chrono::Duration::seconds(100);
        assert_eq!(clock.until(at), Duration::from_secs(10));
        clock.sleep_until(at).await;
        assert!(clock.now() >= at);
    }
}
