//! Recording a handled trigger: one store operation ([`StateStore::finish_trigger`]) writes the
//! agent's state, its history entry, the dead letter, the handled mark and drops the journal, so
//! a crash or a lost reply at any point leaves the trigger either not recorded at all (it is
//! handled again, re-using its journal) or recorded once.
//!
//! [`StateStore::finish_trigger`]: crate::store::StateStore::finish_trigger

use super::AgentDaemon;
use super::guards::{made_progress, next_idle_streak};
use super::handle::Journal;
use super::queue::Queued;
use crate::action::ModelResponse;
use crate::context::Knowledge;
use crate::envelope::{MessageType, preview};
use crate::event::Event;
use crate::execute::Execution;
use crate::id::DecisionId;
use crate::session::{ParsedAnswer, SessionRecord};
use crate::store::{
    ActionRecord, AgentState, DeadLetter, Finish, FinishedTrigger, HistoryEntry, Outcome,
    StoreError,
};
use crate::trigger::Trigger;

/// Largest serialized size of the model's own state values.
const STATE_VALUES_LIMIT: usize = 32 * 1024;

/// How often a finish is tried again when another writer changed the state in between.
const CONFLICT_RETRIES: u32 = 8;

/// What a trigger's handling came to, for its history entry.
struct Record<'a> {
    outcome: Outcome,
    summary: &'a str,
    actions: Vec<ActionRecord>,
    cost_usd: f64,
    tokens: u64,
    duration_ms: u64,
    provider: Option<String>,
    /// The prompt, answer and its reading, when a session ran.
    session: Option<SessionParts<'a>>,
}

/// What a session that ran adds to its record.
#[derive(Clone, Copy)]
struct SessionParts<'a> {
    journal: &'a Journal,
    response: &'a ModelResponse,
}

impl AgentDaemon {
    /// Applies `change` to the agent's state with compare-and-set, outside the finishing of a
    /// trigger (notes the daemon adds on its own); returns what was saved.
    pub(super) async fn update_state(
        &self,
        mut change: impl FnMut(&mut AgentState),
    ) -> Result<AgentState, StoreError> {
        let store = &self.runtime.store;
        let mut attempts = 0;
        loop {
            let current = store.load_state(self.id).await?;
            let mut state = current.value;
            change(&mut state);
            match store.save_state(self.id, &state, current.version).await {
                Ok(_) => return Ok(state),
                Err(StoreError::Conflict { .. }) if attempts < CONFLICT_RETRIES => {
                    attempts += 1;
                    tokio::task::yield_now().await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Whether the trigger was recorded as handled already (a redelivery, or a second copy that
    /// intake let through while the first was being handled).
    pub(super) async fn already_handled(&self, trigger: &Trigger) -> bool {
        match self
            .runtime
            .store
            .is_marked(&self.handled_key(&trigger.id))
            .await
        {
            Ok(marked) => marked,
            Err(err) => {
                // Go ahead: finishing checks the mark again, atomically.
                tracing::warn!(agent = %self.id, error = %err, "could not check whether a trigger was handled");
                false
            }
        }
    }

    /// Persists a handled trigger: state, history and marks at once, then knowledge and events.
    pub(super) async fn finish(
        &self,
        trigger: &Trigger,
        journal: &Journal,
        response: &ModelResponse,
        execution: Execution,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        let runtime = &self.runtime;
        let summary = response
            .summary
            .clone()
            .unwrap_or_else(|| "(no summary)".to_owned());
        let now = runtime.clock.now();
        let did_something =
            !response.state_updates.is_empty() || execution.records.iter().any(|record| record.ok);
        let progress = made_progress(trigger, response, &execution.records);
        // Before the trigger is recorded: a crash in between carries it out again on the
        // redelivery, and marking a decision executed twice changes nothing.
        if let Some(id) = approved_decision(trigger) {
            match runtime.engine.mark_executed(id, self.id, &summary).await {
                Ok(_) => tracing::info!(agent = %self.id, decision = %id, "decision carried out"),
                Err(err) => {
                    tracing::debug!(agent = %self.id, decision = %id, error = %err, "decision not marked executed")
                }
            }
        }
        let notes = &execution.notes;
        let committed = self
            .commit(
                trigger,
                |state| {
                    state.idle_streak =
                        next_idle_streak(state.idle_streak, trigger, did_something);
                    state.loop_count += 1;
                    state.success_count += 1;
                    state.last_loop_at = Some(now);
                    state.last_summary = Some(summary.clone());
                    if journal.session_id.is_some() {
                        state.session_id = journal.session_id.clone();
                    }
                    let mut values = state.values.clone();
                    for (key, value) in &response.state_updates {
                        if value.is_null() {
                            values.remove(key);
                        } else {
                            values.insert(key.clone(), value.clone());
                        }
                    }
                    let size =
                        serde_json::to_string(&values).map_or(usize::MAX, |text| text.len());
                    let mut state_notes = notes.clone();
                    if size <= STATE_VALUES_LIMIT {
                        state.values = values;
                    } else {
                        state_notes.push(format!(
                            "your stateUpdates were not applied: the state would be {size} bytes, over the {STATE_VALUES_LIMIT}-byte limit; remove keys by setting them to null"
                        ));
                    }
                    state.notes = state_notes;
                },
                Record {
                    outcome: Outcome::Handled,
                    summary: &summary,
                    actions: execution.records.clone(),
                    cost_usd: journal.cost_usd,
                    tokens: journal.tokens,
                    duration_ms,
                    provider: journal.provider.clone(),
                    session: Some(SessionParts { journal, response }),
                },
                None,
            )
            .await?;
        let Some(state) = committed else {
            return Ok(());
        };
        self.note_idle_streak(&state).await;
        self.note_stalled_tasks(&state).await;
        self.note_exchange(trigger, progress).await;
        let knowledge = Knowledge::SessionSummary {
            agent: self.id,
            role: self.spec.role.clone(),
            trigger: trigger.describe(&self.runtime.directory),
            summary: summary.clone(),
        };
        if let Err(err) = runtime.context.observe(&knowledge).await {
            tracing::warn!(error = %err, "context provider could not index a summary");
        }
        tracing::info!(agent = %self.id, role = %self.spec.role, trigger = %trigger.id, actions = execution.records.len(), notes = state.notes.len(), cost = journal.cost_usd, summary = %preview(&summary, 160), "handled");
        runtime
            .emit(Event::TriggerHandled {
                agent: self.id,
                role: self.spec.role.clone(),
                trigger: trigger.describe(&self.runtime.directory),
                outcome: Outcome::Handled,
                summary,
                actions: execution.records.iter().filter(|record| record.ok).count(),
                cost_usd: journal.cost_usd,
                duration_ms,
            })
            .await;
        Ok(())
    }

    /// Gives up on a trigger: the dead letter, a note for the agent, history and marks at once.
    pub(super) async fn dead_letter(
        &self,
        queued: &Queued,
        reason: &str,
        cost_usd: f64,
        tokens: u64,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        let runtime = &self.runtime;
        let trigger = &queued.trigger;
        tracing::error!(agent = %self.id, trigger = %trigger.id, reason = %preview(reason, 400), "dead-lettered");
        let letter = DeadLetter {
            agent: self.id,
            trigger: trigger.clone(),
            reason: reason.to_owned(),
            attempts: queued.attempts.max(1),
            at: runtime.clock.now(),
        };
        let note = format!(
            "your session for \"{}\" failed and was set aside for a human: {}",
            trigger.describe(&self.runtime.directory),
            preview(reason, 300)
        );
        let committed = self
            .commit(
                trigger,
                |state| {
                    state.error_count += 1;
                    state.notes = vec![note.clone()];
                },
                Record {
                    outcome: Outcome::DeadLettered,
                    summary: reason,
                    actions: Vec::new(),
                    cost_usd,
                    tokens,
                    duration_ms,
                    provider: None,
                    session: None,
                },
                Some(letter),
            )
            .await?;
        if committed.is_none() {
            return Ok(());
        }
        runtime
            .emit(Event::TriggerHandled {
                agent: self.id,
                role: self.spec.role.clone(),
                trigger: trigger.describe(&self.runtime.directory),
                outcome: Outcome::DeadLettered,
                summary: reason.to_owned(),
                actions: 0,
                cost_usd,
                duration_ms,
            })
            .await;
        Ok(())
    }

    /// Records a trigger a guard stopped: history, a note for the agent, the handled mark.
    pub(super) async fn drop_trigger(
        &self,
        trigger: &Trigger,
        reason: &str,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        tracing::warn!(agent = %self.id, trigger = %trigger.id, reason, "trigger dropped by a guard");
        let note = format!("a message was not handled: {reason}");
        self.commit(
            trigger,
            |state| state.notes = vec![note.clone()],
            Record {
                outcome: Outcome::Dropped,
                summary: reason,
                actions: Vec::new(),
                cost_usd: 0.0,
                tokens: 0,
                duration_ms,
                provider: None,
                session: None,
            },
            None,
        )
        .await?;
        Ok(())
    }

    /// Records the trigger as handled in one store operation, applying `change` to the agent's
    /// state by compare-and-set. Returns the state saved, or `None` when the trigger had been
    /// recorded before (nothing was written again).
    async fn commit(
        &self,
        trigger: &Trigger,
        mut change: impl FnMut(&mut AgentState),
        record: Record<'_>,
        dead_letter: Option<DeadLetter>,
    ) -> Result<Option<AgentState>, StoreError> {
        let runtime = &self.runtime;
        let store = &runtime.store;
        let mut finished = FinishedTrigger {
            agent: self.id,
            state: AgentState::default(),
            expected_version: 0,
            history: HistoryEntry {
                at: runtime.clock.now(),
                trigger_id: trigger.id.clone(),
                trigger: trigger.describe(&runtime.directory),
                outcome: record.outcome,
                summary: record.summary.to_owned(),
                actions: record.actions,
                cost_usd: record.cost_usd,
                tokens: record.tokens,
                duration_ms: record.duration_ms,
                provider: record.provider,
            },
            history_keep: runtime.settings.history_keep,
            dead_letter,
            handled_mark: self.handled_key(&trigger.id),
            mark_ttl: runtime.settings.mark_ttl,
            journal: self.journal_key(&trigger.id),
            fence: self.fence(),
        };
        let mut attempts = 0;
        loop {
            let current = store.load_state(self.id).await?;
            finished.state = current.value;
            finished.expected_version = current.version;
            change(&mut finished.state);
            match store.finish_trigger(&finished).await {
                Ok(Finish::Written(_)) => {
                    self.keep_session(trigger, &finished.history, record.session)
                        .await;
                    return Ok(Some(finished.state));
                }
                Ok(Finish::AlreadyFinished) => {
                    tracing::info!(agent = %self.id, trigger = %trigger.id, "recorded as handled before; not counted again");
                    return Ok(None);
                }
                Err(StoreError::Conflict { .. }) if attempts < CONFLICT_RETRIES => {
                    attempts += 1;
                    tokio::task::yield_now().await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

impl AgentDaemon {
    /// Keeps the record of a finished trigger's session (see [`crate::session`]), the newest
    /// `sessions_keep` per agent. After the trigger is recorded, so a failure here costs only
    /// the record: the history row stays, its page says the session was not kept.
    async fn keep_session(
        &self,
        trigger: &Trigger,
        history: &HistoryEntry,
        session: Option<SessionParts<'_>>,
    ) {
        let runtime = &self.runtime;
        let keep = runtime.settings.sessions_keep;
        if keep == 0 {
            return;
        }
        let prompt = session
            .as_ref()
            .and_then(|parts| parts.journal.prompt.clone());
        let record = SessionRecord {
            agent: self.id,
            role: self.spec.role.clone(),
            trigger_id: trigger.id.clone(),
            description: history.trigger.clone(),
            trigger: trigger.clone(),
            at: history.at,
            outcome: history.outcome,
            summary: history.summary.clone(),
            correlation_id: SessionRecord::correlation_of(self.id, trigger),
            system_prompt: prompt.as_ref().map(|(system, _)| system.clone()),
            prompt: prompt.map(|(_, prompt)| prompt),
            answer: session.as_ref().map(|parts| parts.journal.text.clone()),
            parsed: session
                .as_ref()
                .map(|parts| ParsedAnswer::of(parts.response)),
            actions: history.actions.clone(),
            cost_usd: history.cost_usd,
            tokens: history.tokens,
            duration_ms: history.duration_ms,
            provider: history.provider.clone(),
        };
        if let Err(err) = runtime.store.put_session(&record, keep).await {
            tracing::warn!(agent = %self.id, trigger = %trigger.id, error = %err, "could not keep the session's record");
        }
    }
}

/// The decision a `decision_result` trigger approved, if any.
fn approved_decision(trigger: &Trigger) -> Option<DecisionId> {
    let envelope = trigger.envelope()?;
    if envelope.kind != MessageType::DecisionResult
        || envelope.payload_str("status") != Some("approved")
    {
        return None;
    }
    envelope.payload_str("decisionId")?.parse().ok()
}
