//! Loop breakers beyond the hop limit.
//!
//! - **Ping-pong**: two agents that keep messaging each other without changing any state or
//!   proposing anything are talking in circles; past a number of exchanges within a window,
//!   further messages between them are dropped until the window lapses or one of them makes
//!   progress.
//! - **No progress**: an agent whose scheduled sessions keep doing nothing has its schedule
//!   backed off, doubling each time, until a real message arrives.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::AgentDaemon;
use crate::action::{Action, ModelResponse};
use crate::envelope::{MessageType, Sender};
use crate::event::Event;
use crate::id::AgentId;
use crate::schedule::Schedule;
use crate::store::AgentState;
use crate::trigger::{Trigger, TriggerKind};

impl AgentDaemon {
    /// The other agent of a conversation this trigger continues, if it is one: the sender of
    /// a message, or, for the decision engine's notices, the agent whose proposal or vote
    /// caused them.
    fn conversation_partner(&self, trigger: &Trigger) -> Option<AgentId> {
        let envelope = trigger.envelope()?;
        let other = match envelope.from {
            Sender::Agent(other) if !is_engine_notice_kind(&envelope.kind) => other,
            Sender::Orchestrator if is_engine_notice(trigger) => envelope.origin?,
            _ => return None,
        };
        (other != self.id).then_some(other)
    }

    fn pair_key(&self, other: AgentId) -> String {
        let (a, b) = if self.id < other {
            (self.id, other)
        } else {
            (other, self.id)
        };
        format!("pingpong:{a}:{b}")
    }

    /// `Some(reason)` when the ping-pong breaker stops this trigger.
    pub(super) async fn ping_pong_trips(&self, trigger: &Trigger) -> Option<String> {
        let other = self.conversation_partner(trigger)?;
        let guards = &self.runtime.settings.loops;
        let exchanges = self
            .runtime
            .store
            .counter(&self.pair_key(other))
            .await
            .ok()?;
        if exchanges < f64::from(guards.ping_pong_exchanges) {
            return None;
        }
        let other_name = self.runtime.directory.name_of(&Sender::Agent(other));
        let reason = format!(
            "{} and {other_name} exchanged {exchanges} messages within {} min without a state change or a new decision; the conversation is paused",
            self.spec.role,
            guards.ping_pong_window.as_secs() / 60
        );
        self.runtime
            .emit(Event::GuardTripped {
                agent: self.id,
                role: self.spec.role.clone(),
                guard: "ping_pong".to_owned(),
                reason: reason.clone(),
                figures: json!({
                    "with": other_name,
                    "exchanges": exchanges,
                    "limit": guards.ping_pong_exchanges,
                    "window_s": guards.ping_pong_window.as_secs(),
                }),
            })
            .await;
        Some(reason)
    }

    /// Counts an exchange, or clears the count when the session made progress.
    pub(super) async fn note_exchange(&self, trigger: &Trigger, progress: bool) {
        let Some(other) = self.conversation_partner(trigger) else {
            return;
        };
        let key = self.pair_key(other);
        let store = &self.runtime.store;
        let window = self.runtime.settings.loops.ping_pong_window;
        let result = if progress {
            match store.counter(&key).await {
                Ok(current) if current != 0.0 => store.add_to_counter(&key, -current, window).await,
                other => other,
            }
        } else {
            store.add_to_counter(&key, 1.0, window).await
        };
        if let Err(err) = result {
            tracing::warn!(agent = %self.id, error = %err, "could not count an exchange");
        }
    }

    /// Whether a cron tick should be skipped because the schedule is backed off.
    pub(super) async fn backed_off(&self, schedule: &Schedule, tick: DateTime<Utc>) -> bool {
        let guards = &self.runtime.settings.loops;
        let Ok(state) = self.runtime.store.load_state(self.id).await else {
            return false;
        };
        let state = state.value;
        if state.idle_streak < guards.idle_sessions {
            return false;
        }
        let Some(last) = state.last_loop_at else {
            return false;
        };
        let interval = schedule
            .next_after(tick)
            .and_then(|next| (next - tick).to_std().ok())
            .unwrap_or(Duration::from_secs(3600));
        let doublings = (state.idle_streak - guards.idle_sessions + 1).min(16);
        let backoff = interval
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(guards.idle_backoff_max);
        let due = last + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::MAX);
        tick < due
    }

    /// Raises the no-progress event when the idle streak reaches the limit.
    pub(super) async fn note_idle_streak(&self, state: &AgentState) {
        let guards = &self.runtime.settings.loops;
        if state.idle_streak == guards.idle_sessions {
            self.runtime
                .emit(Event::GuardTripped {
                    agent: self.id,
                    role: self.spec.role.clone(),
                    guard: "no_progress".to_owned(),
                    reason: format!(
                        "{} scheduled sessions in a row did nothing; the schedule backs off until a message arrives",
                        state.idle_streak
                    ),
                    figures: json!({ "idle_sessions": state.idle_streak, "limit": guards.idle_sessions }),
                })
                .await;
        }
    }
}

/// The next idle streak: scheduled sessions that did nothing count up; anything else resets.
pub(super) fn next_idle_streak(current: u32, trigger: &Trigger, did_something: bool) -> u32 {
    let scheduled = matches!(
        trigger.kind,
        TriggerKind::Schedule { .. } | TriggerKind::Startup
    );
    if scheduled && !did_something {
        current + 1
    } else {
        0
    }
}

/// Whether `kind` is one the decision engine (or a worker) sends: such messages from an agent
/// are not a conversation with it.
fn is_engine_notice_kind(kind: &MessageType) -> bool {
    matches!(
        kind,
        MessageType::WorkerResult
            | MessageType::Vote
            | MessageType::Decision
            | MessageType::DecisionResult
    )
}

/// Whether the trigger is a notice of the decision engine (a vote request, a veto, a result).
fn is_engine_notice(trigger: &Trigger) -> bool {
    trigger.envelope().is_some_and(|envelope| {
        envelope.from == Sender::Orchestrator
            && matches!(
                envelope.kind,
                MessageType::Vote | MessageType::Decision | MessageType::DecisionResult
            )
    })
}

/// The actions that answer a decision notice in kind; after such a notice they are the
/// conversation itself, not progress.
const DECISION_ACTIONS: &[&str] = &["propose_decision", "withdraw_decision", "vote"];

/// Whether a conversation moved anything: a state change, a decision, or an action other than
/// a message that was carried out. After a decision notice, proposing and voting are what a
/// loop of proposals and approvals does, so only a state change or another action counts.
pub(super) fn made_progress(
    trigger: &Trigger,
    response: &ModelResponse,
    records: &[crate::store::ActionRecord],
) -> bool {
    let notice = is_engine_notice(trigger);
    let acted = records.iter().any(|record| {
        record.ok
            && record.kind != "message"
            && !(notice && DECISION_ACTIONS.contains(&record.kind.as_str()))
    });
    let decided = !notice
        && response
            .actions
            .iter()
            .any(|action| matches!(action, Action::ProposeDecision { .. } | Action::Vote { .. }));
    !response.state_updates.is_empty() || acted || decided
}
