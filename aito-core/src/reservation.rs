//! The store's two atomic budget operations: a [`Reservation`] holds money for a session or
//! worker before it starts, only if what was spent, what others hold and this estimate stay
//! within every limit; a [`Booking`] adds what it really cost to the counters and releases
//! its hold, once, however often it is retried.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Money held for a session or worker about to start ([`crate::StateStore::reserve`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Reservation {
    /// Names the hold; the [`Booking`] of the same id releases it.
    pub id: String,
    /// The estimate held, in USD.
    pub amount: f64,
    /// The store's "now", to tell live holds from lapsed ones.
    pub now: DateTime<Utc>,
    /// When the hold lapses if it is never booked (its daemon crashed).
    pub expires_at: DateTime<Utc>,
    /// Every limit the hold must stay within; the hold is taken in all or none.
    pub limits: Vec<ReservationLimit>,
}

/// One limit a [`Reservation`] is checked against.
#[derive(Clone, Debug, PartialEq)]
pub struct ReservationLimit {
    /// The counter of what was spent (a name for [`crate::StateStore::counter`]).
    pub counter: String,
    /// The set of holds against this limit.
    pub holds: String,
    /// The limit, in USD.
    pub limit: f64,
}

/// What [`crate::StateStore::reserve`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Reserved {
    /// The hold was taken against every limit (or was taken before under the same id).
    Held,
    /// Spent, held and the estimate together would pass a limit; nothing was held.
    Refused {
        /// Which limit, by index in [`Reservation::limits`].
        limit: usize,
        /// What its counter says was spent.
        spent: f64,
        /// What live holds of others keep of it.
        held: f64,
    },
}

/// What a session or worker really cost, booked once ([`crate::StateStore::book`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Booking {
    /// Names the booking (and the hold it releases); a second booking under the same id
    /// changes nothing.
    pub id: String,
    /// Counters and what to add to each.
    pub counters: Vec<(String, f64)>,
    /// The time to live of a counter the booking creates.
    pub counter_ttl: Duration,
    /// How long the booking is remembered, against a second one.
    pub mark_ttl: Duration,
    /// Sets of holds from which the hold `id` is removed.
    pub holds: Vec<String>,
}

/// A session's cost not yet known to be booked: kept with its trigger (in memory, and in the
/// trigger's journal) until the booking goes through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    /// The id of the booking, which is that of the session's reservation.
    pub id: String,
    /// USD spent.
    pub usd: f64,
    /// Tokens in and out.
    pub tokens: u64,
    /// When the session ended: the windows it is booked in.
    pub at: DateTime<Utc>,
}
