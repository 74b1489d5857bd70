//! The reader of one subscription: claims rows from its queues (first, once, those its
//! consumer held before it was restarted), hands them out as deliveries, keeps their holds
//! fresh while they are handled, and sleeps until woken (a publication, a dropped delivery,
//! a change by another process) or until a hold it waits for lapses.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aito_core::bus::Acknowledge;
use aito_core::envelope::{PREVIEW_CHARS, preview};
use aito_core::store::{DeadLetter, StateStore};
use aito_core::{AgentId, BusError, Channel, Delivery, Envelope};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::handoff::Local;
use super::{BUFFER, HOLD, Holder, Inner};
use crate::error::Error;
use crate::queries as q;
use crate::store::{SqliteStore, millis};

/// Rows claimed by one query at most.
const BATCH: usize = 64;

/// One claimed row.
struct Row {
    seq: i64,
    channel: String,
    envelope: String,
    deliveries: i64,
}

#[derive(Default)]
struct Claimed {
    rows: Vec<Row>,
    /// When the earliest hold by someone else on these queues lapses, in ms since the epoch.
    next_release: Option<i64>,
}

pub(super) struct Reader {
    pub(super) inner: Arc<Inner>,
    pub(super) holder: Arc<Holder>,
    pub(super) queues: Vec<String>,
    /// The subscribing group (an agent's id, for the dead letters of refused envelopes).
    pub(super) group: String,
    /// For each of `queues` that is an inbox, this reader's place among its readers.
    pub(super) locals: Vec<Option<Arc<Local>>>,
    pub(super) sender: mpsc::Sender<Delivery>,
    pub(super) cancel: CancellationToken,
}

impl Reader {
    pub(super) async fn run(self) {
        let mut own_first = true;
        let mut start = 0;
        let mut renewed = Instant::now();
        let mut failures = 0u32;
        let mut look = true;
        let mut next_release = None;
        let mut was_holding = false;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let room = self.sender.capacity().min(BATCH);
            if room > 0 && look {
                match self.claim(room, own_first, start).await {
                    Ok(claimed) => {
                        failures = 0;
                        own_first = false;
                        start = start.wrapping_add(1);
                        let full = claimed.rows.len() >= room;
                        for row in claimed.rows {
                            if !self.deliver(row).await {
                                return;
                            }
                        }
                        if full {
                            continue;
                        }
                        next_release = claimed.next_release;
                    }
                    Err(err) => {
                        // What the failed claim saw was not committed.
                        self.behind();
                        failures += 1;
                        tracing::warn!(error = %err, consumer = %self.holder.consumer, "could not read the bus; retrying");
                        let pause = Duration::from_millis(100 << failures.min(5));
                        tokio::select! {
                            () = self.cancel.cancelled() => return,
                            () = tokio::time::sleep(pause) => {}
                        }
                        continue;
                    }
                }
            }
            // Sleep until something may have changed.
            let now = self.inner.db.now_ms();
            let lapse = next_release.map(|at| {
                Instant::now() + Duration::from_millis(u64::try_from(at - now).unwrap_or(0))
            });
            let holding = self.holding();
            if holding && !was_holding {
                renewed = Instant::now();
            }
            was_holding = holding;
            let renew = holding.then(|| renewed + HOLD / 3);
            let notified = self.holder.notify.notified();
            look = true;
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = notified => {
                    // Let the publications of the moment land: one claim for all of them.
                    tokio::task::yield_now().await;
                }
                () = self.holder.rearm.notified() => {
                    // A publication was handed over, held from now on: nothing to claim,
                    // the holds to keep fresh (from the next turn on).
                    look = false;
                }
                permit = self.sender.reserve(), if room == 0 => {
                    if permit.is_err() {
                        return;
                    }
                }
                () = sleep_until(lapse) => {}
                () = sleep_until(renew) => {
                    renewed = Instant::now();
                    if let Err(err) = self.renew().await {
                        tracing::warn!(error = %err, "could not keep the held deliveries fresh");
                    }
                }
            }
        }
    }

    async fn claim(&self, room: usize, own_first: bool, start: usize) -> Result<Claimed, Error> {
        let now = self.inner.db.now_ms();
        let until = now.saturating_add(millis(HOLD));
        let holder = Arc::clone(&self.holder);
        let queues = self.queues.clone();
        let locals = self.locals.clone();
        self.inner
            .db
            .write(move |conn| {
                let mut claimed = Claimed::default();
                if holder.closed.load(Ordering::SeqCst) {
                    return Ok(claimed);
                }
                let map = |row: &rusqlite::Row<'_>| {
                    Ok(Row {
                        seq: row.get(0)?,
                        channel: row.get(1)?,
                        envelope: row.get(2)?,
                        deliveries: row.get(3)?,
                    })
                };
                let mut caught_up = vec![false; queues.len()];
                if own_first {
                    let mut own = conn.prepare_cached(if holder.take_over {
                        q::CLAIM_GROUP
                    } else {
                        q::CLAIM_OWN
                    })?;
                    for queue in &queues {
                        let left = room.saturating_sub(claimed.rows.len());
                        if left == 0 {
                            break;
                        }
                        let rows = own.query_map(
                            params![queue, holder.token, holder.consumer, until, left as i64],
                            map,
                        )?;
                        for row in rows {
                            claimed.rows.push(row?);
                        }
                    }
                }
                let mut claim = conn.prepare_cached(q::CLAIM)?;
                for index in 0..queues.len() {
                    let left = room.saturating_sub(claimed.rows.len());
                    if left == 0 {
                        break;
                    }
                    let at = (start + index) % queues.len();
                    let queue = &queues[at];
                    let before = claimed.rows.len();
                    let rows = claim.query_map(
                        params![
                            queue,
                            holder.token,
                            holder.consumer,
                            until,
                            now,
                            left as i64
                        ],
                        map,
                    )?;
                    for row in rows {
                        claimed.rows.push(row?);
                    }
                    // Fewer rows than asked for: none is left unclaimed in this queue.
                    caught_up[at] = claimed.rows.len() - before < left;
                }
                for (local, caught_up) in locals.iter().zip(caught_up) {
                    if let Some(local) = local {
                        local.caught_up.store(caught_up, Ordering::SeqCst);
                    }
                }
                // Only when nothing could be claimed: while this reader holds deliveries it
                // looks again at every renewal anyway.
                if claimed.rows.is_empty() {
                    let mut next = conn.prepare_cached(q::NEXT_RELEASE)?;
                    for queue in &queues {
                        let at: Option<i64> = next
                            .query_row(params![queue, now, holder.token], |row| row.get(0))
                            .optional()?
                            .flatten();
                        claimed.next_release = match (claimed.next_release, at) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    }
                }
                claimed.rows.sort_by_key(|row| row.seq);
                Ok(claimed)
            })
            .await
    }

    /// Whether it holds deliveries, whose holds it keeps fresh; says so in `renewing`, so that
    /// publications handed to it while it does need not wake it.
    fn holding(&self) -> bool {
        let outstanding = &self.holder.outstanding;
        if outstanding.load(Ordering::SeqCst) > 0 {
            self.holder.renewing.store(true, Ordering::SeqCst);
            return true;
        }
        self.holder.renewing.store(false, Ordering::SeqCst);
        // A publication handed over before `renewing` was cleared did not wake the reader:
        // look again (each side writes its flag, then reads the other's).
        let holding = outstanding.load(Ordering::SeqCst) > 0;
        if holding {
            self.holder.renewing.store(true, Ordering::SeqCst);
        }
        holding
    }

    /// Marks this reader behind in every inbox: publications wait for its next claim.
    fn behind(&self) {
        self.locals
            .iter()
            .flatten()
            .for_each(|local| local.caught_up.store(false, Ordering::SeqCst));
    }

    async fn renew(&self) -> Result<(), Error> {
        let until = self.inner.db.now_ms().saturating_add(millis(HOLD));
        let token = self.holder.token.clone();
        self.inner
            .db
            .write_one(move |conn| {
                conn.prepare_cached(q::RENEW)?
                    .execute(params![token, until])?;
                Ok(())
            })
            .await
    }

    /// Hands one row out; `false` when the subscription has ended.
    async fn deliver(&self, row: Row) -> bool {
        let seq = row.seq;
        let limit = self.inner.max_envelope_bytes.load(Ordering::Relaxed);
        let (channel, envelope) = match (
            Channel::from_str(&row.channel),
            Envelope::from_json_capped(&row.envelope, limit),
        ) {
            (Ok(channel), Ok(envelope)) => (channel, envelope),
            (Ok(channel), Err(err)) if err.oversize.is_some() => {
                self.refuse(channel, &row.envelope, &err.reason).await;
                self.inner.acknowledge(seq);
                return true;
            }
            (channel, envelope) => {
                let reason = match (channel, envelope) {
                    (Err(err), _) => preview(&err.to_string(), PREVIEW_CHARS),
                    (_, Err(err)) => err.to_string(),
                    _ => String::new(),
                };
                tracing::warn!(seq, channel = %preview(&row.channel, PREVIEW_CHARS), reason = %reason, preview = %preview(&row.envelope, PREVIEW_CHARS), "malformed envelope on the bus; skipped");
                self.inner.acknowledge(seq);
                return true;
            }
        };
        self.holder.outstanding.fetch_add(1, Ordering::SeqCst);
        let ack = ack(Arc::clone(&self.inner), Arc::clone(&self.holder), seq);
        let delivery = Delivery::new(
            Arc::new(envelope),
            channel,
            row.deliveries > 1,
            Box::new(ack),
        );
        self.sender.send(delivery).await.is_ok()
    }
}

impl Reader {
    /// Dead-letters an envelope over the size cap, with its reason, and logs a preview.
    async fn refuse(&self, channel: Channel, raw: &str, reason: &str) {
        let agent = match channel {
            Channel::Agent(agent) => agent,
            _ => self.group.parse().unwrap_or(AgentId::NIL),
        };
        tracing::warn!(%channel, %agent, bytes = raw.len(), reason, preview = %preview(raw, PREVIEW_CHARS), "envelope refused; dead-lettered");
        let letter = DeadLetter::refused(agent, channel, raw, reason, chrono::Utc::now());
        let store = SqliteStore::new(self.inner.db.clone());
        if let Err(err) = store.push_dead_letter(&letter).await {
            tracing::warn!(%channel, error = %err, "could not dead-letter a refused envelope");
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The acknowledgement of row `seq`, held by `holder` (counted in its `outstanding`).
pub(super) fn ack(inner: Arc<Inner>, holder: Arc<Holder>, seq: i64) -> impl Acknowledge {
    SqliteAck {
        inner,
        holder,
        seq,
        settled: false,
    }
}

/// Acknowledges one delivery: deletes its row.
struct SqliteAck {
    inner: Arc<Inner>,
    holder: Arc<Holder>,
    seq: i64,
    settled: bool,
}

#[async_trait]
impl Acknowledge for SqliteAck {
    /// Queues the deletion of the row, to be committed with the database's next batch (within
    /// milliseconds), and returns: the handler does not wait for a commit of its own. Should
    /// the process die before that commit, the envelope is delivered again, flagged, and the
    /// receiver drops it as already handled (at least once, never lost).
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        self.settled = true;
        self.holder.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.inner.acknowledge(self.seq);
        Ok(())
    }
}

impl Drop for SqliteAck {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.holder.outstanding.fetch_sub(1, Ordering::SeqCst);
        if self.holder.closed.load(Ordering::SeqCst) {
            // The subscription's end frees everything it held.
            return;
        }
        let seq = self.seq;
        let from = self.inner.db.now_ms().saturating_add(millis(HOLD));
        let (token, dropped) = (self.holder.token.clone(), self.holder.dropped.clone());
        self.inner.db.submit(move |conn| {
            conn.prepare_cached(q::DROP)?
                .execute(params![seq, from, token, dropped])?;
            Ok(())
        });
        // The reader learns when the dropped row comes free.
        self.holder.notify.notify_one();
    }
}

const _: () = assert!(BATCH <= BUFFER);
