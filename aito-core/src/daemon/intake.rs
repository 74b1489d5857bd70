//! Intake: every delivery is checked before it may wake the agent. Control messages and status
//! requests are answered without the model; messages past the hop limit, the agent's own
//! messages and messages already handled are acknowledged and dropped.
//!
//! The agent's inbox is read through a subscription of its own, and only while the trigger
//! queue has room ([`queue::LIMIT`](super::queue::LIMIT)): an agent that cannot keep up (or
//! waits for its budget) leaves its backlog in the bus, which stops reading the inbox for it,
//! and holds no more than a queue's worth in memory. The shared channels (broadcast, heads,
//! C-level), which carry the company's controls, are read all the time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{AgentDaemon, Term, sleep_or_cancel};
use crate::bus::{Deliveries, Delivery, Subscription};
use crate::channel::Channel;
use crate::control;
use crate::envelope::{Envelope, MessageType, Sender};
use crate::event::Event;
use crate::trigger::{Trigger, TriggerKind};

/// The two subscriptions of a term: the agent's inbox, read while the queue has room, and the
/// shared channels, read all the time.
pub(super) struct Inlets {
    inbox: Deliveries,
    shared: Deliveries,
}

/// What to do with a delivery.
enum Verdict {
    /// Queue it as a trigger.
    Wake,
    /// Acknowledge and drop it; the reason is logged.
    Drop(&'static str),
    /// Already taken care of by intake (control, status); acknowledge it.
    Answered,
}

impl AgentDaemon {
    pub(super) fn handled_key(&self, trigger_id: &str) -> String {
        format!("handled:{}:{trigger_id}", self.id)
    }

    /// Subscribes to the agent's inbox and, apart, to the shared channels it hears, retrying
    /// until the term ends (`None`).
    pub(super) async fn subscribe(&self, term: &CancellationToken) -> Option<Inlets> {
        let mut shared = vec![Channel::Broadcast];
        if self.spec.role.is_head() {
            shared.push(Channel::Head);
        }
        if self.spec.role.is_clevel() {
            shared.push(Channel::CLevel);
        }
        let group = self.id.to_string();
        // Each daemon reads under its own consumer name and takes over, at once, whatever the
        // group's earlier consumers left unacknowledged: only the lease holder subscribes.
        let inbox = Subscription::new(
            group.clone(),
            self.instance.clone(),
            [Channel::Agent(self.id)],
        )
        .taking_over();
        let shared = Subscription::new(group, self.instance.clone(), shared).taking_over();
        loop {
            let subscribed = match self.runtime.bus.subscribe(inbox.clone()).await {
                Ok(inbox) => self
                    .runtime
                    .bus
                    .subscribe(shared.clone())
                    .await
                    .map(|shared| Inlets { inbox, shared }),
                Err(err) => Err(err),
            };
            match subscribed {
                Ok(inlets) => return Some(inlets),
                Err(err) => {
                    tracing::warn!(agent = %self.id, error = %err, "could not subscribe; retrying");
                    if !sleep_or_cancel(Duration::from_secs(2), term).await {
                        return None;
                    }
                }
            }
        }
    }

    pub(super) async fn intake(
        self: Arc<Self>,
        inlets: Inlets,
        term: Arc<Term>,
        token: CancellationToken,
    ) {
        let Inlets {
            mut inbox,
            mut shared,
        } = inlets;
        let room_freed = term.queue.lock().await.room();
        let mut waiting_for_room = false;
        loop {
            let room = term.queue.lock().await.has_room();
            if room && waiting_for_room {
                tracing::debug!(agent = %self.id, "room in the queue; reading the inbox again");
            } else if !room && !waiting_for_room {
                tracing::debug!(agent = %self.id, limit = super::queue::LIMIT, "the queue is full; the inbox waits in the bus");
            }
            waiting_for_room = !room;
            let delivery = tokio::select! {
                biased;
                () = token.cancelled() => return,
                delivery = shared.next() => delivery,
                delivery = inbox.next(), if room => delivery,
                () = room_freed.notified(), if !room => continue,
            };
            let Some(delivery) = delivery else {
                tracing::warn!(agent = %self.id, "the bus closed the subscription");
                token.cancel();
                return;
            };
            match self.judge(&delivery, &term).await {
                Verdict::Wake => {
                    let envelope = delivery.envelope().clone();
                    let trigger = Trigger {
                        id: envelope.id.to_string(),
                        priority: envelope.priority,
                        at: self.runtime.clock.now(),
                        kind: TriggerKind::Message {
                            channel: delivery.channel(),
                            envelope,
                        },
                    };
                    self.enqueue(&term, trigger, Some(delivery)).await;
                }
                Verdict::Drop(reason) => {
                    tracing::debug!(agent = %self.id, id = %delivery.envelope().id, kind = %delivery.envelope().kind, reason, "message dropped");
                    self.ack(delivery).await;
                }
                Verdict::Answered => self.ack(delivery).await,
            }
        }
    }

    async fn ack(&self, delivery: Delivery) {
        if let Err(err) = delivery.ack().await {
            tracing::warn!(agent = %self.id, error = %err, "ack failed");
        }
    }

    async fn judge(&self, delivery: &Delivery, term: &Term) -> Verdict {
        let envelope = delivery.envelope();
        match &envelope.kind {
            MessageType::System => {
                self.control(envelope, term).await;
                return Verdict::Answered;
            }
            MessageType::StatusRequest => {
                self.answer_status(envelope).await;
                return Verdict::Answered;
            }
            MessageType::StatusResponse
            | MessageType::WorkerLog
            | MessageType::Event
            | MessageType::TaskQueued => {
                return Verdict::Drop("informational; does not wake the agent");
            }
            _ => {}
        }
        let own = envelope.origin == Some(self.id) || envelope.from == Sender::Agent(self.id);
        if own && envelope.kind != MessageType::WorkerResult {
            return Verdict::Drop("the agent's own message does not wake it");
        }
        let limit = self.runtime.settings.hop_limit;
        if envelope.hops > limit {
            tracing::warn!(agent = %self.id, id = %envelope.id, hops = envelope.hops, limit, "hop limit reached; message dropped");
            self.runtime
                .emit(Event::GuardTripped {
                    agent: self.id,
                    role: self.spec.role.clone(),
                    guard: "hop_limit".to_owned(),
                    reason: format!(
                        "a {} from {} had passed through {} sessions (limit {limit})",
                        envelope.kind,
                        self.runtime.directory.name_of(&envelope.from),
                        envelope.hops
                    ),
                    figures: json!({ "hops": envelope.hops, "limit": limit }),
                })
                .await;
            return Verdict::Drop("hop limit");
        }
        match self
            .runtime
            .store
            .is_marked(&self.handled_key(&envelope.id.to_string()))
            .await
        {
            Ok(true) => return Verdict::Drop("already handled"),
            Ok(false) => {}
            Err(err) => {
                // Queue it anyway: action marks still keep its actions from running twice.
                tracing::warn!(agent = %self.id, error = %err, "could not check whether a message was handled");
            }
        }
        Verdict::Wake
    }

    async fn control(&self, envelope: &Envelope, term: &Term) {
        let paused = match control::control_action(envelope) {
            Some(action) if action.eq_ignore_ascii_case("budget") => {
                tracing::info!(agent = %self.id, "a budget changed; checking again");
                self.end_budget_wait().await;
                term.wake.notify_one();
                return;
            }
            Some(action) if action.eq_ignore_ascii_case("pause") => true,
            Some(action) if action.eq_ignore_ascii_case("resume") => false,
            other => {
                tracing::warn!(agent = %self.id, action = ?other, "unknown system message ignored");
                return;
            }
        };
        let by = self.runtime.directory.name_of(&envelope.from);
        // Messages sent straight to the bus (redis-cli) flip the switch too.
        match control::is_paused(&*self.runtime.store).await {
            Ok(current) if current == paused => {}
            _ => {
                if let Err(err) = control::store_paused(&*self.runtime.store, paused, &by).await {
                    tracing::warn!(agent = %self.id, error = %err, "could not record pause switch");
                }
                self.runtime
                    .emit(Event::Paused {
                        paused,
                        by: by.clone(),
                    })
                    .await;
            }
        }
        tracing::info!(agent = %self.id, paused, by = %by, "company pause switch");
        term.wake.notify_one();
    }

    async fn answer_status(&self, request: &Envelope) {
        let state = self
            .runtime
            .store
            .load_state(self.id)
            .await
            .ok()
            .map(|state| state.value);
        let snapshot = self.monitor.snapshot();
        let payload = json!({
            "role": self.spec.role,
            "loopCount": state.as_ref().map_or(0, |state| state.loop_count),
            "lastLoopAt": state.as_ref().and_then(|state| state.last_loop_at),
            "currentFocus": state.as_ref().and_then(|state| state.values.get("current_focus").cloned()),
            "queueLength": snapshot.queue_len,
            "busy": snapshot.busy,
        });
        let mut reply = Envelope::new(MessageType::StatusResponse, Sender::Agent(self.id), payload);
        reply.id = crate::id::MessageId::derived(&format!("{}/status/{}", self.id, request.id));
        reply.correlation_id = Some(request.id.to_string());
        reply.origin = Some(self.id);
        let channel = match request.from {
            Sender::Agent(asker) => Channel::Agent(asker),
            _ => Channel::Events,
        };
        if let Err(err) = self.runtime.bus.publish(channel, reply).await {
            tracing::warn!(agent = %self.id, error = %err, "could not answer a status request");
        }
    }
}
