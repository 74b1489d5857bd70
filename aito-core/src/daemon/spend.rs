//! Money around a session: the hold taken before it starts (so daemons starting together
//! cannot spend past a budget between them) and the booking of what it cost, kept with its
//! trigger until the store took it, and made once however often it is retried.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::AgentDaemon;
use super::queue::Queued;
use crate::agent::Budget;
use crate::budget::{Hold, Scope, Spend};
use crate::reservation::Charge;
use crate::store::StoreError;

/// How long a hold refused because of others' holds waits before it asks again: their
/// sessions are booked by then, or nearly.
pub(super) const HOLD_RETRY: Duration = Duration::from_secs(10);

/// What the budget check before a session found, which the session's hold goes by: the
/// budgets in force (a human's override or the configured one) and the agent's spend.
#[derive(Clone, Debug, Default)]
pub(super) struct Checked {
    pub(super) agent: Budget,
    pub(super) agent_spend: Spend,
    pub(super) company: Budget,
}

/// Why a session may not start yet.
pub(super) enum NotYet {
    /// Until then (a budget window resets, or others' holds are booked).
    Until(DateTime<Utc>),
    /// The store did not answer.
    Store(StoreError),
}

impl AgentDaemon {
    /// Holds the estimate of the next session under `id` against the agent's and the
    /// company's money limits, in force as `checked` (the budget check just before) found
    /// them. The estimate is the agent's average session today, or
    /// `settings.session_reserve_usd` before its first session of the day; the hold lapses
    /// after the session timeout (and a minute) if this daemon dies before it books the
    /// session.
    pub(super) async fn reserve_session(
        &self,
        id: &str,
        now: DateTime<Utc>,
        checked: Checked,
    ) -> Result<(), NotYet> {
        let runtime = &self.runtime;
        let spend = checked.agent_spend;
        // The forecast the budget check uses; before the day's first session, the setting.
        let estimate = if spend.sessions_day > 0.0 {
            spend.expected_session_cost()
        } else {
            runtime.settings.session_reserve_usd
        };
        let scopes = [
            (Scope::Agent(self.id.to_string()), checked.agent),
            (Scope::Company, checked.company),
        ];
        let ttl = runtime.settings.session_timeout + Duration::from_secs(60);
        match runtime
            .ledger
            .reserve(&scopes, id, estimate, now, ttl)
            .await
            .map_err(NotYet::Store)?
        {
            Hold::Held => Ok(()),
            Hold::Refused { exceeded, by_holds } => {
                let until = if by_holds {
                    now + chrono::Duration::from_std(HOLD_RETRY).unwrap_or_default()
                } else {
                    exceeded.until
                };
                tracing::info!(agent = %self.id, limit = exceeded.limit, spent_and_held = exceeded.spent, of = exceeded.of, by_holds, %until, "budget hold refused; the session waits");
                Err(NotYet::Until(until))
            }
        }
    }

    /// Books a session's cost (and releases its hold). A booking the store did not take is
    /// kept with the trigger, to be booked before the trigger is finished.
    pub(super) async fn book_session(&self, queued: &mut Queued, charge: Charge) {
        if let Err(err) = self.book(&charge).await {
            tracing::warn!(agent = %self.id, error = %err, usd = charge.usd, "could not book the session's cost yet; kept with the trigger");
            queued.charges.push(charge);
        }
    }

    /// Books every cost kept with the trigger; fails (keeping those not booked) when the store
    /// does not take one, so the trigger is not finished with its spend unbooked.
    pub(super) async fn book_kept(&self, queued: &mut Queued) -> Result<(), StoreError> {
        while let Some(charge) = queued.charges.first().cloned() {
            self.book(&charge).await?;
            queued.charges.remove(0);
        }
        Ok(())
    }

    async fn book(&self, charge: &Charge) -> Result<bool, StoreError> {
        let scopes = [Scope::Agent(self.id.to_string()), Scope::Company];
        let booked = self
            .runtime
            .ledger
            .book(&scopes, charge, self.runtime.settings.mark_ttl)
            .await?;
        if !booked {
            tracing::info!(agent = %self.id, charge = %charge.id, "cost booked before; not booked again");
        }
        Ok(booked)
    }

    /// Keeps `charges` with the trigger, adding those it does not hold yet (from the journal
    /// of a handling cut off before they were booked).
    pub(super) fn keep_charges(queued: &mut Queued, charges: Vec<Charge>) {
        for charge in charges {
            if !queued.charges.iter().any(|kept| kept.id == charge.id) {
                queued.charges.push(charge);
            }
        }
    }
}
