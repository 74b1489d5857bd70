//! Publications handed straight to a reader of this process.
//!
//! When a subscription of this process reads an agent inbox and has claimed everything in it
//! (it is *caught up*), a publication to that inbox is inserted already held by it, in the
//! publication's own transaction, and handed to it once that transaction is committed: one
//! transaction per message instead of a publication and a claim, and no wake-up of the
//! reader. The row is the same as a claimed one (held, renewed, acknowledged, redelivered
//! after a crash), so nothing else changes.
//!
//! Order is kept: a publication that is not handed over (no reader caught up, or its buffer
//! full) marks every reader of the inbox behind, and the next ones are not handed over until
//! a claim has taken that row. Claims and publications both run on the database thread, so
//! the marks are seen in the order of the transactions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aito_core::{Channel, Delivery, Envelope};
use tokio::sync::mpsc;

use super::{Holder, Inner, lock};

/// One subscription reading one inbox.
pub(crate) struct Local {
    /// The subscription's id.
    pub(crate) id: u64,
    pub(crate) holder: Arc<Holder>,
    pub(crate) sender: mpsc::Sender<Delivery>,
    /// Its last claim left nothing to claim in the inbox, and every publication since was
    /// handed over to a reader.
    pub(crate) caught_up: AtomicBool,
}

/// The readers of this process, by inbox.
#[derive(Default)]
pub(crate) struct Locals {
    by_queue: Mutex<HashMap<String, Vec<Arc<Local>>>>,
    /// Where the choice among several readers of one inbox starts (turn by turn).
    turn: AtomicUsize,
}

impl Locals {
    pub(crate) fn register(&self, queue: &str, local: Arc<Local>) {
        lock(&self.by_queue)
            .entry(queue.to_owned())
            .or_default()
            .push(local);
    }

    pub(crate) fn unregister(&self, id: u64) {
        let mut map = lock(&self.by_queue);
        map.values_mut()
            .for_each(|list| list.retain(|local| local.id != id));
        map.retain(|_, list| !list.is_empty());
    }

    /// On the database thread, in a publication's transaction: a caught-up reader of `queue`
    /// with room, a place in its buffer reserved. When there is none, every reader of the
    /// inbox is marked behind (the row will wait for a claim).
    pub(crate) fn choose(&self, queue: &str) -> Option<Handoff> {
        let map = lock(&self.by_queue);
        let list = map.get(queue)?;
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        for index in 0..list.len() {
            let local = &list[(turn + index) % list.len()];
            if !local.caught_up.load(Ordering::SeqCst) || local.holder.closed.load(Ordering::SeqCst)
            {
                continue;
            }
            if let Ok(permit) = local.sender.clone().try_reserve_owned() {
                return Some(Handoff {
                    local: Arc::clone(local),
                    permit,
                });
            }
        }
        list.iter()
            .for_each(|local| local.caught_up.store(false, Ordering::SeqCst));
        None
    }
}

/// A place in a reader's buffer, for a publication being committed.
pub(crate) struct Handoff {
    pub(crate) local: Arc<Local>,
    permit: mpsc::OwnedPermit<Delivery>,
}

impl Handoff {
    /// After the commit: the delivery of row `seq`, into the reader's buffer.
    pub(crate) fn deliver(
        self,
        inner: &Arc<Inner>,
        seq: i64,
        envelope: Arc<Envelope>,
        channel: Channel,
    ) {
        let holder = &self.local.holder;
        holder.outstanding.fetch_add(1, Ordering::SeqCst);
        if !holder.renewing.load(Ordering::SeqCst) {
            // The reader keeps holds fresh only while it holds something: tell it.
            holder.rearm.notify_one();
        }
        let ack = super::reader::ack(Arc::clone(inner), Arc::clone(holder), seq);
        self.permit
            .send(Delivery::new(envelope, channel, false, Box::new(ack)));
    }
}
