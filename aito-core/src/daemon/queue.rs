//! The per-agent trigger queue: priority first, then age; duplicates dropped; cron ticks
//! coalesced. It is bounded: once [`LIMIT`] triggers wait, intake takes no more from the inbox,
//! whose backlog waits in the bus (a stream, a table), not in the daemon's memory.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::bus::Delivery;
use crate::trigger::{Trigger, TriggerKind};

/// A trigger waiting to be handled, with the delivery to acknowledge once it is.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) trigger: Trigger,
    pub(crate) delivery: Option<Delivery>,
    /// Sessions tried so far.
    pub(crate) attempts: u32,
    /// Times it waited for a rate limit.
    pub(crate) rate_limit_waits: u32,
    /// Costs of its sessions the store has not booked yet.
    pub(crate) charges: Vec<crate::reservation::Charge>,
    seq: u64,
}

struct Entry(Queued);

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Higher priority first; within a priority, the older (smaller sequence) first.
        self.0
            .trigger
            .priority
            .cmp(&other.0.trigger.priority)
            .then_with(|| other.0.seq.cmp(&self.0.seq))
    }
}

/// What happened to a pushed trigger.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// Queued.
    Queued,
    /// A trigger with the same id is already queued or being handled; the delivery comes back
    /// so the caller can acknowledge the duplicate.
    Duplicate(Option<Delivery>),
    /// A tick of the same schedule is already waiting; the new one was folded into it.
    Coalesced,
}

/// How many triggers may wait in the queue before intake stops taking messages from the
/// agent's inbox. Triggers put back after a wait, cron ticks and the shared channels' messages
/// still come in above it (ticks coalesce; the shared channels' streams are capped by the bus).
pub(crate) const LIMIT: usize = 100;

/// The queue.
#[derive(Default)]
pub(crate) struct TriggerQueue {
    heap: BinaryHeap<Entry>,
    /// Signalled whenever a trigger leaves the heap, for an intake waiting for room.
    room: Arc<Notify>,
    /// Ids queued or being handled.
    ids: HashSet<String>,
    /// Schedules with a tick waiting (not yet being handled).
    waiting_ticks: HashSet<String>,
    next_seq: u64,
}

impl TriggerQueue {
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Whether intake may take another message from the inbox.
    pub(crate) fn has_room(&self) -> bool {
        self.heap.len() < LIMIT
    }

    /// Signalled when a trigger leaves the queue; a signal given while no one waited is kept
    /// for the next wait, so none is lost between a look at [`TriggerQueue::has_room`] and
    /// the wait.
    pub(crate) fn room(&self) -> Arc<Notify> {
        Arc::clone(&self.room)
    }

    pub(crate) fn push(&mut self, trigger: Trigger, delivery: Option<Delivery>) -> Pushed {
        if self.ids.contains(&trigger.id) {
            return Pushed::Duplicate(delivery);
        }
        if let TriggerKind::Schedule { expression, .. } = &trigger.kind
            && !self.waiting_ticks.insert(expression.clone())
        {
            return Pushed::Coalesced;
        }
        self.ids.insert(trigger.id.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry(Queued {
            trigger,
            delivery,
            attempts: 0,
            rate_limit_waits: 0,
            charges: Vec::new(),
            seq,
        }));
        Pushed::Queued
    }

    /// Puts a trigger back where it was (same age), e.g. after a budget or quota wait.
    pub(crate) fn requeue(&mut self, queued: Queued) {
        if let TriggerKind::Schedule { expression, .. } = &queued.trigger.kind {
            self.waiting_ticks.insert(expression.clone());
        }
        self.heap.push(Entry(queued));
    }

    /// The next trigger to handle; its id stays reserved until [`TriggerQueue::finish`].
    pub(crate) fn pop(&mut self) -> Option<Queued> {
        let queued = self.heap.pop()?.0;
        if let TriggerKind::Schedule { expression, .. } = &queued.trigger.kind {
            self.waiting_ticks.remove(expression);
        }
        self.room.notify_one();
        Some(queued)
    }

    /// Releases a handled trigger's id.
    pub(crate) fn finish(&mut self, id: &str) {
        self.ids.remove(id);
    }

    /// Empties the queue (on shutdown), handing back what was waiting.
    pub(crate) fn drain(&mut self) -> Vec<Queued> {
        self.waiting_ticks.clear();
        self.ids.clear();
        self.room.notify_one();
        self.heap.drain().map(|entry| entry.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use crate::envelope::{Envelope, MessageType, Priority, Sender};
    use crate::id::AgentId;
    use chrono::Utc;

    fn message(id: &str, priority: Priority) -> Trigger {
        let envelope = Envelope::new(MessageType::Task, Sender::Human, serde_json::json!({}));
        Trigger {
            id: id.into(),
            kind: TriggerKind::Message {
                envelope,
                channel: Channel::Agent(AgentId::random()),
            },
            priority,
            at: Utc::now(),
        }
    }

    fn tick(id: &str) -> Trigger {
        Trigger {
            id: id.into(),
            kind: TriggerKind::Schedule {
                expression: "*/5 * * * *".into(),
                tick: Utc::now(),
            },
            priority: Priority::Low,
            at: Utc::now(),
        }
    }

    #[test]
    fn priority_then_age() {
        let mut queue = TriggerQueue::default();
        queue.push(message("a", Priority::Normal), None);
        queue.push(message("b", Priority::Critical), None);
        queue.push(message("c", Priority::Normal), None);
        queue.push(message("d", Priority::Urgent), None);
        queue.push(message("e", Priority::Low), None);
        let order: Vec<String> = std::iter::from_fn(|| queue.pop().map(|q| q.trigger.id)).collect();
        assert_eq!(order, ["b", "d", "a", "c", "e"]);
    }

    #[test]
    fn duplicates_are_refused_until_finished() {
        let mut queue = TriggerQueue::default();
        assert!(matches!(
            queue.push(message("a", Priority::Normal), None),
            Pushed::Queued
        ));
        assert!(matches!(
            queue.push(message("a", Priority::Normal), None),
            Pushed::Duplicate(_)
        ));
        let item = queue.pop().unwrap();
        assert!(
            matches!(
                queue.push(message("a", Priority::Normal), None),
                Pushed::Duplicate(_)
            ),
            "still being handled"
        );
        queue.finish(&item.trigger.id);
        assert!(matches!(
            queue.push(message("a", Priority::Normal), None),
            Pushed::Queued
        ));
    }

    #[test]
    fn ticks_coalesce_while_one_waits_but_not_while_one_runs() {
        let mut queue = TriggerQueue::default();
        assert!(matches!(queue.push(tick("t1"), None), Pushed::Queued));
        assert!(matches!(queue.push(tick("t2"), None), Pushed::Coalesced));
        let running = queue.pop().unwrap();
        assert!(
            matches!(queue.push(tick("t3"), None), Pushed::Queued),
            "a tick during the session waits"
        );
        assert!(matches!(queue.push(tick("t4"), None), Pushed::Coalesced));
        queue.finish(&running.trigger.id);
        assert_eq!(queue.len(), 1);
    }

    #[tokio::test]
    async fn a_full_queue_has_no_room_until_one_leaves_and_says_so() {
        let mut queue = TriggerQueue::default();
        for n in 0..LIMIT {
            assert!(queue.has_room());
            queue.push(message(&n.to_string(), Priority::Normal), None);
        }
        assert!(!queue.has_room());
        let room = queue.room();
        // A signal given before the wait (intake looked, then the handler popped) is kept.
        let popped = queue.pop().unwrap();
        assert!(queue.has_room());
        tokio::time::timeout(std::time::Duration::from_secs(1), room.notified())
            .await
            .expect("the pop signalled room");
        queue.requeue(popped);
        assert!(
            !queue.has_room(),
            "a trigger put back takes its place again"
        );
    }
}
