//! Budget holds (the `budget_holds` table) and bookings (a mark `budget-booked:<id>` in the
//! `marks` table, set in the transaction that adds to the counters), each one transaction.

use aito_core::StoreError;
use aito_core::reservation::{Booking, Reservation, Reserved};
use aito_core::store::LeaseHolder;
use chrono::{TimeZone, Utc};
use rusqlite::{OptionalExtension, params};

use crate::queries as q;
use crate::store::SqliteStore;

fn booking_mark(id: &str) -> String {
    format!("budget-booked:{id}")
}

impl SqliteStore {
    pub(crate) async fn reserve_inner(
        &self,
        reservation: &Reservation,
    ) -> Result<Reserved, StoreError> {
        let counters_now = self.db.now_ms();
        let reservation = reservation.clone();
        Ok(self
            .db
            .write(move |conn| {
                let now = reservation.now.timestamp_millis();
                for (index, limit) in reservation.limits.iter().enumerate() {
                    let spent: f64 = conn
                        .prepare_cached(q::COUNTER_GET)?
                        .query_row(params![limit.counter, counters_now], |row| row.get(0))
                        .optional()?
                        .unwrap_or(0.0);
                    let held: f64 = conn
                        .prepare_cached(q::BUDGET_HELD)?
                        .query_row(params![limit.holds, reservation.id, now], |row| row.get(0))?;
                    if spent + held + reservation.amount > limit.limit + 1e-9 {
                        return Ok(Reserved::Refused {
                            limit: index,
                            spent,
                            held,
                        });
                    }
                }
                let expires = reservation.expires_at.timestamp_millis();
                for limit in &reservation.limits {
                    conn.prepare_cached(q::BUDGET_HOLDS_LAPSED)?
                        .execute(params![limit.holds, now])?;
                    conn.prepare_cached(q::BUDGET_HOLD_PUT)?.execute(params![
                        limit.holds,
                        reservation.id,
                        reservation.amount,
                        expires
                    ])?;
                }
                Ok(Reserved::Held)
            })
            .await?)
    }

    pub(crate) async fn book_inner(&self, booking: &Booking) -> Result<bool, StoreError> {
        let (now, mark_expires) = self.expiry(booking.mark_ttl);
        let (_, counter_expires) = self.expiry(booking.counter_ttl);
        let booking = booking.clone();
        Ok(self
            .db
            .write(move |conn| {
                let first = conn.prepare_cached(q::MARK_SET)?.execute(params![
                    booking_mark(&booking.id),
                    mark_expires,
                    now
                ])? == 1;
                if !first {
                    return Ok(false);
                }
                for (counter, amount) in &booking.counters {
                    conn.prepare_cached(q::COUNTER_ADD)?
                        .query_row(params![counter, amount, counter_expires, now], |row| {
                            row.get::<_, f64>(0)
                        })?;
                }
                for holds in &booking.holds {
                    conn.prepare_cached(q::BUDGET_HOLD_RELEASE)?
                        .execute(params![holds, booking.id])?;
                }
                Ok(true)
            })
            .await?)
    }

    pub(crate) async fn lease_holder_inner(
        &self,
        name: &str,
    ) -> Result<Option<LeaseHolder>, StoreError> {
        let now = self.db.now_ms();
        let name = name.to_owned();
        let found: Option<(String, i64)> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::LEASE_HOLDER)?
                    .query_row(params![name, now], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?)
            })
            .await?;
        Ok(found.map(|(holder, expires)| LeaseHolder {
            holder,
            expires_at: Utc
                .timestamp_millis_opt(expires)
                .single()
                .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC),
        }))
    }
}
