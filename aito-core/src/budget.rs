//! The budget ledger: what each agent and the whole company spent in the current hour and
//! day, and whether the next session or worker may start.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Timelike, Utc};

use crate::agent::Budget;
use crate::reservation::{Booking, Charge, Reservation, ReservationLimit, Reserved};
use crate::store::{StateStore, StoreError};

/// Counters outlive their window by a day, so a late reader still sees them.
const COUNTER_TTL: Duration = Duration::from_secs(2 * 24 * 3600);

/// Money spent per day is kept for a week and a day, for the spend chart of the last 7 days.
const DAY_USD_TTL: Duration = Duration::from_secs(8 * 24 * 3600);

/// Whose money: one agent, or the company as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One agent, by id.
    Agent(String),
    /// Everyone together.
    Company,
}

impl Scope {
    fn key(&self) -> &str {
        match self {
            Scope::Agent(id) => id,
            Scope::Company => "company",
        }
    }
}

/// A human's change to a budget: for each limit, leave it (`None`), remove it (`Some(None)`),
/// or set it (`Some(Some(limit))`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetChange {
    /// Sessions per clock hour.
    pub sessions_per_hour: Option<Option<u32>>,
    /// USD per clock hour.
    pub usd_per_hour: Option<Option<f64>>,
    /// USD per UTC day.
    pub usd_per_day: Option<Option<f64>>,
    /// Tokens per clock hour.
    pub tokens_per_hour: Option<Option<u64>>,
    /// Tokens per UTC day.
    pub tokens_per_day: Option<Option<u64>>,
}

impl BudgetChange {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self == &BudgetChange::default()
    }

    /// Applies the change to `budget`.
    pub fn apply(&self, budget: &mut Budget) {
        if let Some(limit) = self.sessions_per_hour {
            budget.sessions_per_hour = limit;
        }
        if let Some(limit) = self.usd_per_hour {
            budget.usd_per_hour = limit;
        }
        if let Some(limit) = self.usd_per_day {
            budget.usd_per_day = limit;
        }
        if let Some(limit) = self.tokens_per_hour {
            budget.tokens_per_hour = limit;
        }
        if let Some(limit) = self.tokens_per_day {
            budget.tokens_per_day = limit;
        }
    }
}

/// Spend in the current windows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spend {
    /// Sessions this hour.
    pub sessions_hour: f64,
    /// Sessions today.
    pub sessions_day: f64,
    /// USD this hour.
    pub usd_hour: f64,
    /// USD today.
    pub usd_day: f64,
    /// Tokens this hour.
    pub tokens_hour: f64,
    /// Tokens today.
    pub tokens_day: f64,
}

impl Spend {
    /// The average cost of a session today, the forecast for the next one.
    pub fn expected_session_cost(&self) -> f64 {
        if self.sessions_day > 0.0 {
            self.usd_day / self.sessions_day
        } else {
            0.0
        }
    }
}

/// A limit that stops the next session.
#[derive(Clone, Debug, PartialEq)]
pub struct Exceeded {
    /// Which limit (`sessions_per_hour`, `usd_per_day`, ...).
    pub limit: &'static str,
    /// Spent (with the forecast of the next session, for money).
    pub spent: f64,
    /// The limit.
    pub of: f64,
    /// When the window resets.
    pub until: DateTime<Utc>,
}

/// A limit passed its soft threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// Which limit.
    pub limit: &'static str,
    /// Spent.
    pub spent: f64,
    /// The limit.
    pub of: f64,
    /// The window's key, so the warning is raised once per window.
    pub window: String,
}

/// The outcome of a budget check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// The first hard limit that stops the next session, if any.
    pub exceeded: Option<Exceeded>,
    /// Soft limits passed.
    pub warnings: Vec<Warning>,
}

/// Reads and writes budget counters in the store.
#[derive(Clone)]
pub struct BudgetLedger {
    store: Arc<dyn StateStore>,
}

impl std::fmt::Debug for BudgetLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetLedger").finish_non_exhaustive()
    }
}

// Written out rather than through `format("%Y%m%d%H")`: every budget check names a dozen
// windows, and parsing a format string each time cost more than the check itself.
fn hour_window(now: DateTime<Utc>) -> String {
    format!("{}{:02}", day_window(now), now.hour())
}

fn day_window(now: DateTime<Utc>) -> String {
    format!("{:04}{:02}{:02}", now.year(), now.month(), now.day())
}

fn next_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), now.hour(), 0, 0)
        .single()
        .unwrap_or(now);
    start + ChronoDuration::hours(1)
}

fn next_day(now: DateTime<Utc>) -> DateTime<Utc> {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now);
    start + ChronoDuration::days(1)
}

impl BudgetLedger {
    /// A ledger over `store`.
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }

    fn key(scope: &Scope, what: &str, window: &str) -> String {
        format!("budget:{}:{what}:{window}", scope.key())
    }

    fn override_key(scope: &Scope) -> String {
        format!("budget:override:{}", scope.key())
    }

    /// The budget in force for `scope`: a human's override if one was set, else `configured`.
    pub async fn effective(&self, scope: &Scope, configured: &Budget) -> Budget {
        match self.store.get_value(&Self::override_key(scope)).await {
            Ok(Some(value)) => serde_json::from_value(value).unwrap_or_else(|err| {
                tracing::warn!(scope = scope.key(), error = %err, "unreadable budget override ignored");
                configured.clone()
            }),
            Ok(None) => configured.clone(),
            Err(err) => {
                tracing::warn!(scope = scope.key(), error = %err, "budget override unreadable; using the configured budget");
                configured.clone()
            }
        }
    }

    /// Replaces the budget of `scope` until changed again (a human raising or lowering it).
    pub async fn set_override(&self, scope: &Scope, budget: &Budget) -> Result<(), StoreError> {
        let value = serde_json::to_value(budget).map_err(|err| StoreError::Corrupt {
            key: Self::override_key(scope),
            reason: err.to_string(),
        })?;
        self.store
            .set_value(&Self::override_key(scope), &value, None)
            .await
    }

    /// Spend of `scope` in the windows around `now`.
    pub async fn spend(&self, scope: &Scope, now: DateTime<Utc>) -> Result<Spend, StoreError> {
        let (hour, day) = (hour_window(now), day_window(now));
        let store = &self.store;
        let key = |what: &str, window: &str| Self::key(scope, what, window);
        Ok(Spend {
            sessions_hour: store.counter(&key("sessions", &hour)).await?,
            sessions_day: store.counter(&key("sessions", &day)).await?,
            usd_hour: store.counter(&key("usd", &hour)).await?,
            usd_day: store.counter(&key("usd", &day)).await?,
            tokens_hour: store.counter(&key("tokens", &hour)).await?,
            tokens_day: store.counter(&key("tokens", &day)).await?,
        })
    }

    /// Money `scope` spent in each hour of the UTC day of `now`, midnight first (24 values;
    /// hours still to come are 0).
    pub async fn usd_by_hour(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Result<Vec<f64>, StoreError> {
        let midnight = next_day(now) - ChronoDuration::days(1);
        let mut spent = Vec::with_capacity(24);
        for hour in 0..24 {
            let window = hour_window(midnight + ChronoDuration::hours(hour));
            spent.push(
                self.store
                    .counter(&Self::key(scope, "usd", &window))
                    .await?,
            );
        }
        Ok(spent)
    }

    /// Money `scope` spent on each of the last `days` UTC days up to the day of `now`, oldest
    /// first, with each day's date. Days are kept a week and a day.
    pub async fn usd_by_day(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        days: u32,
    ) -> Result<Vec<(chrono::NaiveDate, f64)>, StoreError> {
        let mut spent = Vec::with_capacity(days as usize);
        for back in (0..i64::from(days)).rev() {
            let day = now - ChronoDuration::days(back);
            let usd = self
                .store
                .counter(&Self::key(scope, "usd", &day_window(day)))
                .await?;
            spent.push((day.date_naive(), usd));
        }
        Ok(spent)
    }

    /// Whether a session of `scope` may start under `budget` at `now`. Money limits count the
    /// forecast cost of the next session, so a session that would cross the limit never starts.
    pub async fn check(
        &self,
        scope: &Scope,
        budget: &Budget,
        now: DateTime<Utc>,
        counts_as_session: bool,
    ) -> Result<(Verdict, Spend), StoreError> {
        let spend = self.spend(scope, now).await?;
        let next_cost = spend.expected_session_cost();
        let (hour, day) = (hour_window(now), day_window(now));
        let session = if counts_as_session { 1.0 } else { 0.0 };
        #[allow(clippy::type_complexity)] // A local table; a named type would add nothing.
        let limits: [(&'static str, Option<f64>, f64, f64, DateTime<Utc>, &str); 5] = [
            (
                "sessions_per_hour",
                budget.sessions_per_hour.map(f64::from),
                spend.sessions_hour,
                spend.sessions_hour + session,
                next_hour(now),
                &hour,
            ),
            (
                "usd_per_hour",
                budget.usd_per_hour,
                spend.usd_hour,
                spend.usd_hour + next_cost,
                next_hour(now),
                &hour,
            ),
            (
                "usd_per_day",
                budget.usd_per_day,
                spend.usd_day,
                spend.usd_day + next_cost,
                next_day(now),
                &day,
            ),
            (
                "tokens_per_hour",
                budget.tokens_per_hour.map(|t| t as f64),
                spend.tokens_hour,
                spend.tokens_hour,
                next_hour(now),
                &hour,
            ),
            (
                "tokens_per_day",
                budget.tokens_per_day.map(|t| t as f64),
                spend.tokens_day,
                spend.tokens_day,
                next_day(now),
                &day,
            ),
        ];
        let mut verdict = Verdict::default();
        for (limit, of, spent, projected, until, window) in limits {
            let Some(of) = of else { continue };
            let over = if limit.starts_with("tokens") {
                projected >= of
            } else {
                projected > of + 1e-9
            };
            if over && verdict.exceeded.is_none() {
                verdict.exceeded = Some(Exceeded {
                    limit,
                    spent: projected,
                    of,
                    until,
                });
            } else if spent >= of * budget.soft_ratio {
                verdict.warnings.push(Warning {
                    limit,
                    spent,
                    of,
                    window: window.to_owned(),
                });
            }
        }
        Ok((verdict, spend))
    }

    /// Counts a session start.
    pub async fn record_session(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for window in [hour_window(now), day_window(now)] {
            self.store
                .add_to_counter(&Self::key(scope, "sessions", &window), 1.0, COUNTER_TTL)
                .await?;
        }
        Ok(())
    }

    /// Adds money and tokens spent.
    pub async fn record_cost(
        &self,
        scope: &Scope,
        usd: f64,
        tokens: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for (window, usd_ttl) in [
            (hour_window(now), COUNTER_TTL),
            (day_window(now), DAY_USD_TTL),
        ] {
            if usd > 0.0 {
                self.store
                    .add_to_counter(&Self::key(scope, "usd", &window), usd, usd_ttl)
                    .await?;
            }
            if tokens > 0 {
                self.store
                    .add_to_counter(
                        &Self::key(scope, "tokens", &window),
                        tokens as f64,
                        COUNTER_TTL,
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// What [`BudgetLedger::reserve`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Hold {
    /// The estimate is held (or no money limit applies).
    Held,
    /// A limit refused the hold.
    Refused {
        /// The limit, with spent plus held plus the estimate as `spent`.
        exceeded: Exceeded,
        /// Whether the limit would have let the estimate through but for what others hold:
        /// a wait until their sessions are booked, not until the window resets.
        by_holds: bool,
    },
}

impl BudgetLedger {
    fn holds_key(scope: &Scope, window: &str) -> String {
        Self::key(scope, "held", window)
    }

    /// Holds `amount` USD under `id` against the money limits of every scope (each with the
    /// budget in force), in one atomic store operation: the hold is taken only if, for every
    /// limit, what was spent, what others hold and `amount` stay within it. The hold lapses
    /// after `ttl` unless [`book`](Self::book) releases it first.
    pub async fn reserve(
        &self,
        scopes: &[(Scope, Budget)],
        id: &str,
        amount: f64,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Hold, StoreError> {
        let (hour, day) = (hour_window(now), day_window(now));
        let mut limits = Vec::new();
        let mut named = Vec::new();
        for (scope, budget) in scopes {
            for (name, limit, window, until) in [
                ("usd_per_hour", budget.usd_per_hour, &hour, next_hour(now)),
                ("usd_per_day", budget.usd_per_day, &day, next_day(now)),
            ] {
                let Some(limit) = limit else { continue };
                limits.push(ReservationLimit {
                    counter: Self::key(scope, "usd", window),
                    holds: Self::holds_key(scope, window),
                    limit,
                });
                named.push((name, until));
            }
        }
        if limits.is_empty() {
            return Ok(Hold::Held);
        }
        let reservation = Reservation {
            id: id.to_owned(),
            amount,
            now,
            expires_at: now + ChronoDuration::from_std(ttl).unwrap_or(ChronoDuration::MAX),
            limits,
        };
        Ok(match self.store.reserve(&reservation).await? {
            Reserved::Held => Hold::Held,
            Reserved::Refused { limit, spent, held } => {
                let (name, until) = named.get(limit).copied().unwrap_or(("usd_per_day", now));
                let of = reservation.limits.get(limit).map_or(0.0, |l| l.limit);
                Hold::Refused {
                    exceeded: Exceeded {
                        limit: name,
                        spent: spent + held + amount,
                        of,
                        until,
                    },
                    by_holds: held > 0.0 && spent + amount <= of + 1e-9,
                }
            }
        })
    }

    /// Books `charge` for every scope in one atomic store operation, once per charge id
    /// (remembered for `remember`), and releases the hold of the same id.
    pub async fn book(
        &self,
        scopes: &[Scope],
        charge: &Charge,
        remember: Duration,
    ) -> Result<bool, StoreError> {
        let (hour, day) = (hour_window(charge.at), day_window(charge.at));
        let mut counters = Vec::new();
        let mut holds = Vec::new();
        for scope in scopes {
            for window in [&hour, &day] {
                if charge.usd > 0.0 {
                    counters.push((Self::key(scope, "usd", window), charge.usd));
                }
                if charge.tokens > 0 {
                    counters.push((Self::key(scope, "tokens", window), charge.tokens as f64));
                }
                holds.push(Self::holds_key(scope, window));
            }
        }
        self.store
            .book(&Booking {
                id: charge.id.clone(),
                counters,
                counter_ttl: COUNTER_TTL,
                mark_ttl: remember,
                holds,
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    #[test]
    fn windows_are_named_by_their_date_and_hour_as_stored_counters_are() {
        // Counters already in a store are found under these names after an upgrade.
        let at: DateTime<Utc> = "2026-03-04T05:06:07Z".parse().unwrap();
        assert_eq!(hour_window(at), "2026030405");
        assert_eq!(day_window(at), "20260304");
        let late: DateTime<Utc> = "2026-12-31T23:59:59Z".parse().unwrap();
        assert_eq!(hour_window(late), late.format("%Y%m%d%H").to_string());
        assert_eq!(day_window(late), late.format("%Y%m%d").to_string());
    }

    #[tokio::test]
    async fn the_session_that_would_cross_the_daily_limit_does_not_start() {
        let ledger = BudgetLedger::new(Arc::new(MemoryStore::new()));
        let scope = Scope::Agent("a".into());
        let budget = Budget {
            usd_per_day: Some(1.0),
            ..Budget::unlimited()
        };
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        for _ in 0..3 {
            let (verdict, _) = ledger.check(&scope, &budget, now, true).await.unwrap();
            assert!(verdict.exceeded.is_none());
            ledger.record_session(&scope, now).await.unwrap();
            ledger.record_cost(&scope, 0.30, 100, now).await.unwrap();
        }
        let (verdict, _) = ledger.check(&scope, &budget, now, true).await.unwrap();
        let exceeded = verdict.exceeded.expect("the fourth session must not start");
        assert_eq!(exceeded.limit, "usd_per_day");
        assert_eq!(
            exceeded.until,
            "2026-11-25T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let tomorrow = now + ChronoDuration::days(1);
        let (verdict, _) = ledger.check(&scope, &budget, tomorrow, true).await.unwrap();
        assert!(verdict.exceeded.is_none());
    }

    #[tokio::test]
    async fn sessions_per_hour_and_soft_warnings() {
        let ledger = BudgetLedger::new(Arc::new(MemoryStore::new()));
        let scope = Scope::Company;
        let budget = Budget {
            sessions_per_hour: Some(5),
            ..Budget::unlimited()
        };
        let now: DateTime<Utc> = "2026-11-24T10:59:00Z".parse().unwrap();
        for _ in 0..4 {
            ledger.record_session(&scope, now).await.unwrap();
        }
        let (verdict, _) = ledger.check(&scope, &budget, now, true).await.unwrap();
        assert!(verdict.exceeded.is_none());
        assert_eq!(verdict.warnings.len(), 1);
        ledger.record_session(&scope, now).await.unwrap();
        let (verdict, _) = ledger.check(&scope, &budget, now, true).await.unwrap();
        let exceeded = verdict.exceeded.unwrap();
        assert_eq!(
            exceeded.until,
            "2026-11-24T11:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn spend_by_hour_of_today_and_by_day_for_a_week() {
        let ledger = BudgetLedger::new(Arc::new(MemoryStore::new()));
        let scope = Scope::Agent("cto".into());
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        ledger
            .record_cost(&scope, 0.5, 10, at("2026-11-18T23:10:00Z"))
            .await
            .unwrap();
        ledger
            .record_cost(&scope, 0.25, 10, at("2026-11-24T09:05:00Z"))
            .await
            .unwrap();
        ledger
            .record_cost(&scope, 0.25, 10, at("2026-11-24T09:55:00Z"))
            .await
            .unwrap();
        ledger
            .record_cost(&scope, 1.0, 10, at("2026-11-24T10:01:00Z"))
            .await
            .unwrap();
        let now = at("2026-11-24T10:30:00Z");
        let hours = ledger.usd_by_hour(&scope, now).await.unwrap();
        assert_eq!(hours.len(), 24);
        assert_eq!((hours[9], hours[10], hours[11]), (0.5, 1.0, 0.0));
        assert_eq!(hours.iter().sum::<f64>(), 1.5);
        let days = ledger.usd_by_day(&scope, now, 7).await.unwrap();
        let dates: Vec<String> = days.iter().map(|(day, _)| day.to_string()).collect();
        assert_eq!(dates.first().map(String::as_str), Some("2026-11-18"));
        assert_eq!(dates.last().map(String::as_str), Some("2026-11-24"));
        assert_eq!((days[0].1, days[6].1), (0.5, 1.5));
        // Six days later the hours of that day are gone, the day's total stays.
        tokio::time::advance(Duration::from_secs(6 * 24 * 3600)).await;
        assert_eq!(ledger.usd_by_hour(&scope, now).await.unwrap()[10], 0.0);
        assert_eq!(ledger.usd_by_day(&scope, now, 7).await.unwrap()[6].1, 1.5);
    }
}
