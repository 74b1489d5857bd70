//! Budget holds and bookings (`{<company>}:holds:<name>`, `{<company>}:booked:<id>`, with the
//! budget counters in the company's slot): `lua/budget_reserve.lua` and `lua/budget_book.lua`.

use aito_core::reservation::{Booking, Reservation, Reserved};

use super::{RedisStateStore, millis};
use crate::error::Error;

fn number(key: &str, text: &str) -> Result<f64, Error> {
    text.parse().map_err(|_| Error::Corrupt {
        key: key.to_owned(),
        reason: format!("expected a number, found {text:?}"),
    })
}

impl RedisStateStore {
    pub(super) async fn reserve_inner(&self, reservation: &Reservation) -> Result<Reserved, Error> {
        let mut call = self.scripts.budget_reserve.call();
        for limit in &reservation.limits {
            call.key(self.keys.counter(&limit.counter));
            call.key(self.keys.budget_holds(&limit.holds));
        }
        let ttl = (reservation.expires_at - reservation.now)
            .to_std()
            .unwrap_or_default();
        call.arg(&reservation.id)
            .arg(reservation.amount.to_string())
            .arg(reservation.now.timestamp_millis())
            .arg(reservation.expires_at.timestamp_millis())
            // A hash of holds outlives its newest hold a little, then goes.
            .arg(millis(ttl) + 60_000);
        for limit in &reservation.limits {
            call.arg(limit.limit.to_string());
        }
        let reply: Vec<String> = call.invoke_async(&mut self.connection()).await?;
        let script = "budget_reserve reply";
        match reply.as_slice() {
            [held] if held == "1" => Ok(Reserved::Held),
            [refused, limit, spent, held] if refused == "0" => Ok(Reserved::Refused {
                limit: limit.parse().map_err(|_| Error::Corrupt {
                    key: script.to_owned(),
                    reason: format!("expected a limit index, found {limit:?}"),
                })?,
                spent: number(script, spent)?,
                held: number(script, held)?,
            }),
            other => Err(Error::Corrupt {
                key: script.to_owned(),
                reason: format!("unexpected reply {other:?}"),
            }),
        }
    }

    pub(super) async fn book_inner(&self, booking: &Booking) -> Result<bool, Error> {
        let mut call = self
            .scripts
            .budget_book
            .key(self.keys.budget_booking(&booking.id));
        for (counter, _) in &booking.counters {
            call.key(self.keys.counter(counter));
        }
        for holds in &booking.holds {
            call.key(self.keys.budget_holds(holds));
        }
        call.arg(&booking.id)
            .arg(millis(booking.mark_ttl))
            .arg(millis(booking.counter_ttl))
            .arg(booking.counters.len());
        for (_, amount) in &booking.counters {
            call.arg(amount.to_string());
        }
        let booked: i64 = call.invoke_async(&mut self.connection()).await?;
        Ok(booked == 1)
    }
}
