//! Handling one trigger: think (budget, prompt, session, parse, repair, retries), act, persist.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::queue::Queued;
use super::spend::Checked;
use super::{AgentDaemon, Step, Term, Wait, WaitReason};
use crate::action::ModelResponse;
use crate::budget::Scope;
use crate::context::{ContextQuery, Passage};
use crate::decision::{Decision, DecisionStatus, Tier};
use crate::envelope::{MessageType, preview};
use crate::event::Event;
use crate::execute::ActionContext;
use crate::llm::{LlmError, LlmRequest, SessionKind};
use crate::parse::parse_response;
use crate::prompt::{self, Prompt, PromptInput};
use crate::store::StoreError;
use crate::trigger::{Cause, Trigger, TriggerKind};

/// How long to wait before retrying when the store could not persist a handled trigger.
const PERSIST_RETRY: Duration = Duration::from_secs(5);

/// How many of the newest executed decisions a CEO's prompt looks at for those carried out
/// since its last session (more than a CEO's session ever saw pass between two of them).
pub(crate) const EXECUTED_IN_PROMPT: usize = 50;

/// A model answer kept until its trigger is fully handled, so a redelivery after a crash
/// re-uses it instead of paying for a second session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Journal {
    pub(super) text: String,
    pub(super) cost_usd: f64,
    pub(super) tokens: u64,
    pub(super) session_id: Option<String>,
    /// The model provider that answered, when a router chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) provider: Option<String>,
    /// Costs of this trigger's sessions not booked when the answer was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) charges: Vec<crate::reservation::Charge>,
    /// The system prompt and prompt the answer was given to, for the session's record; not
    /// journaled (an answer recalled after a restart has none).
    #[serde(skip)]
    pub(super) prompt: Option<(String, String)>,
}

/// What thinking produced.
enum Thought {
    /// An answer that parsed.
    Ready(Box<Journal>, ModelResponse),
    /// Not now.
    Defer(Wait),
    /// A guard stopped this trigger: record why and let it go.
    Drop(String),
    /// Give up on this trigger.
    DeadLetter {
        reason: String,
        cost_usd: f64,
        tokens: u64,
    },
}

impl AgentDaemon {
    pub(super) fn journal_key(&self, trigger_id: &str) -> String {
        format!("journal:{}:{trigger_id}", self.id)
    }

    pub(super) async fn handle(&self, mut queued: Queued, term: &Term) -> (Step, Queued) {
        let started = tokio::time::Instant::now();
        let trigger = queued.trigger.clone();
        let description = trigger.describe(&self.runtime.directory);
        self.publish_status(
            crate::store::Activity::Busy,
            None,
            Some(description.clone()),
        )
        .await;
        tracing::info!(agent = %self.id, role = %self.spec.role, trigger = %trigger.id, what = %description, "handling");
        // Intake checked the mark when the delivery came, but a second copy may have been
        // queued while the first was still being handled.
        if self.already_handled(&trigger).await {
            tracing::info!(agent = %self.id, trigger = %trigger.id, "already handled; acknowledged without a session");
            return (Step::Done, queued);
        }
        let panics = self
            .runtime
            .store
            .counter(&self.panic_key(&trigger.id))
            .await
            .unwrap_or(0.0);
        let thought = if panics >= f64::from(self.runtime.settings.retry.max_attempts) {
            Thought::DeadLetter {
                reason: format!("handling panicked {panics} times"),
                cost_usd: 0.0,
                tokens: 0,
            }
        } else {
            match self.recall(&trigger).await {
                Some((journal, response)) => {
                    tracing::info!(agent = %self.id, trigger = %trigger.id, "re-using the answer recorded before a restart");
                    Self::keep_charges(&mut queued, journal.charges.clone());
                    Thought::Ready(Box::new(journal), response)
                }
                None => match self.ping_pong_trips(&trigger).await {
                    Some(reason) => Thought::Drop(reason),
                    None => self.think(&mut queued).await,
                },
            }
        };
        let elapsed = |started: tokio::time::Instant| {
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
        };
        if !matches!(thought, Thought::Defer(_))
            && let Err(err) = self.book_kept(&mut queued).await
        {
            // Not finished while its spend is unbooked: the retry books it (once) first.
            tracing::error!(agent = %self.id, trigger = %trigger.id, error = %err, "could not book the trigger's spend; will try again");
            return (Step::Defer(self.store_wait()), queued);
        }
        let result = match thought {
            Thought::Defer(wait) => return (Step::Defer(wait), queued),
            Thought::Drop(reason) => self.drop_trigger(&trigger, &reason, elapsed(started)).await,
            Thought::DeadLetter {
                reason,
                cost_usd,
                tokens,
            } => {
                self.dead_letter(&queued, &reason, cost_usd, tokens, elapsed(started))
                    .await
            }
            Thought::Ready(journal, response) => {
                let cause = Cause::of(self.id, &trigger);
                let context = ActionContext {
                    runtime: &self.runtime,
                    agent: self.id,
                    spec: &self.spec,
                    workspace: &self.workspace,
                    trigger_id: &trigger.id,
                    cause,
                    workers: &term.pool,
                    fence: self.fence(),
                };
                let execution = context.execute(&response).await;
                self.runtime.record(|| crate::recording::Entry::Actions {
                    at: self.runtime.clock.now(),
                    role: self.spec.role.clone(),
                    trigger: description.clone(),
                    actions: execution.records.clone(),
                });
                self.finish(&trigger, &journal, &response, execution, elapsed(started))
                    .await
            }
        };
        match result {
            Ok(()) => (Step::Done, queued),
            Err(StoreError::Fenced { .. }) => (Step::Fenced, queued),
            Err(err) => {
                tracing::error!(agent = %self.id, trigger = %trigger.id, error = %err, "could not persist; will try again");
                (Step::Defer(self.store_wait()), queued)
            }
        }
    }

    fn store_wait(&self) -> Wait {
        Wait {
            until: self.runtime.clock.now() + to_chrono(PERSIST_RETRY),
            reason: WaitReason::Store,
        }
    }

    async fn recall(&self, trigger: &Trigger) -> Option<(Journal, ModelResponse)> {
        let value = self
            .runtime
            .store
            .get_value(&self.journal_key(&trigger.id))
            .await
            .ok()??;
        let journal: Journal = serde_json::from_value(value).ok()?;
        let response = parse_response(&journal.text).ok()?;
        Some((journal, response))
    }

    /// Runs the model until it gives a readable answer, within budget, retries and quotas.
    async fn think(&self, queued: &mut Queued) -> Thought {
        let runtime = &self.runtime;
        let settings = &runtime.settings;
        let mut prompt: Option<Prompt> = None;
        let mut repair: Option<String> = None;
        let (mut cost_usd, mut tokens) = (0.0, 0u64);
        loop {
            let now = runtime.clock.now();
            let checked = match self.over_budget(now).await {
                Ok(checked) => checked,
                Err(until) => {
                    return Thought::Defer(Wait {
                        until,
                        reason: WaitReason::Budget,
                    });
                }
            };
            let base = match prompt.take() {
                Some(prompt) => prompt,
                None => {
                    if let Some(recorder) = &runtime.recorder {
                        recorder.pace(&self.spec.role).await;
                    }
                    self.build_prompt(&queued.trigger, runtime.clock.now())
                        .await
                }
            };
            // What the prompt shows was read now: a replay builds it at this same moment.
            let prompt_ready = runtime.clock.now();
            let request_prompt = match &repair {
                Some(error) => prompt::repair(&base, error, settings.prompt_budget),
                None => base.clone(),
            };
            prompt = Some(base);
            let request = LlmRequest {
                agent: self.id,
                role: self.spec.role.clone(),
                system_prompt: request_prompt.system,
                prompt: request_prompt.user,
                resume_session: None,
                keep_session: false,
                model: self.spec.model.clone(),
                max_turns: settings.max_turns,
                timeout: settings.session_timeout,
                working_dir: Some(self.workspace.root().to_path_buf()),
                kind: session_kind(&queued.trigger),
                tier: trigger_tier(&queued.trigger),
            };
            let hold = uuid::Uuid::new_v4().to_string();
            match self.reserve_session(&hold, now, checked).await {
                Ok(()) => {}
                Err(super::spend::NotYet::Until(until)) => {
                    return Thought::Defer(Wait {
                        until,
                        reason: WaitReason::Budget,
                    });
                }
                Err(super::spend::NotYet::Store(err)) => {
                    tracing::warn!(agent = %self.id, error = %err, "budget hold not taken; waiting");
                    return Thought::Defer(self.store_wait());
                }
            }
            for scope in self.scopes() {
                if let Err(err) = runtime.ledger.record_session(&scope, now).await {
                    tracing::warn!(error = %err, "could not count a session");
                }
            }
            self.monitor.session_started();
            runtime
                .emit(Event::SessionStarted {
                    agent: self.id,
                    role: self.spec.role.clone(),
                    trigger: queued.trigger.describe(&self.runtime.directory),
                })
                .await;
            let sent = (settings.sessions_keep > 0)
                .then(|| (request.system_prompt.clone(), request.prompt.clone()));
            let recorded = runtime.recorder.as_ref().map(|_| {
                (
                    prompt_ready,
                    request.system_prompt.clone(),
                    request.prompt.clone(),
                )
            });
            let limit = settings.session_timeout + Duration::from_secs(30);
            let outcome = match tokio::time::timeout(limit, runtime.llm.run(request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(LlmError::Timeout { after: limit }),
            };
            if let Some((at, system_prompt, prompt)) = recorded {
                runtime.record(|| crate::recording::Entry::Session {
                    at,
                    ended_at: runtime.clock.now(),
                    role: self.spec.role.clone(),
                    trigger: queued.trigger.describe(&runtime.directory),
                    system_prompt,
                    prompt,
                    outcome: match &outcome {
                        Ok(response) => crate::recording::SessionOutcome::Answer(response.clone()),
                        Err(err) => crate::recording::SessionOutcome::Failure(err.clone()),
                    },
                });
            }
            let (spent, used) = match &outcome {
                Ok(response) => (response.cost_usd, response.usage.total()),
                Err(_) => (0.0, 0),
            };
            // Booked under the hold's id: the hold is released, and a retry books it once.
            let charge = crate::reservation::Charge {
                id: hold,
                usd: spent,
                tokens: used,
                at: runtime.clock.now(),
            };
            self.book_session(queued, charge).await;
            match outcome {
                Ok(response) => {
                    cost_usd += response.cost_usd;
                    tokens += response.usage.total();
                    match parse_response(&response.text) {
                        Ok(parsed) => {
                            let journal = Journal {
                                text: response.text,
                                cost_usd,
                                tokens,
                                session_id: response.session_id,
                                provider: response.provider,
                                charges: queued.charges.clone(),
                                prompt: sent,
                            };
                            self.keep_journal(&queued.trigger.id, &journal).await;
                            return Thought::Ready(Box::new(journal), parsed);
                        }
                        Err(err) if repair.is_none() => {
                            tracing::warn!(agent = %self.id, error = %preview(&err.to_string(), 400), output = %preview(&response.text, 200), "unreadable answer; asking once more");
                            repair = Some(err.to_string());
                        }
                        Err(err) => {
                            return Thought::DeadLetter {
                                reason: format!("the answer was unreadable twice: {err}"),
                                cost_usd,
                                tokens,
                            };
                        }
                    }
                }
                Err(LlmError::RateLimited {
                    quota,
                    resets_at,
                    retry_after,
                    message,
                }) => {
                    queued.rate_limit_waits += 1;
                    if queued.rate_limit_waits > settings.retry.max_rate_limit_waits {
                        return Thought::DeadLetter {
                            reason: format!(
                                "still rate limited after {} waits: {message}",
                                settings.retry.max_rate_limit_waits
                            ),
                            cost_usd,
                            tokens,
                        };
                    }
                    let now = runtime.clock.now();
                    let wait = retry_after.unwrap_or(settings.retry.rate_limit_fallback);
                    let until = resets_at.unwrap_or_else(|| now + to_chrono(wait)) + self.jitter();
                    runtime
                        .emit(Event::GuardTripped {
                            agent: self.id,
                            role: self.spec.role.clone(),
                            guard: if quota { "quota" } else { "rate_limit" }.to_owned(),
                            reason: format!("model refused: {message}; parked until {}", until.to_rfc3339()),
                            figures: json!({ "until": until, "quota": quota, "waits": queued.rate_limit_waits }),
                        })
                        .await;
                    tracing::warn!(agent = %self.id, quota, %until, message = %preview(&message, 400), "rate limited; parking the agent");
                    return Thought::Defer(Wait {
                        until,
                        reason: WaitReason::Quota,
                    });
                }
                Err(err) if err.is_transient() => {
                    queued.attempts += 1;
                    let dead = queued.attempts >= settings.retry.max_attempts;
                    runtime
                        .emit(Event::SessionFailed {
                            agent: self.id,
                            role: self.spec.role.clone(),
                            error: err.to_string(),
                            dead_lettered: dead,
                        })
                        .await;
                    if dead {
                        return Thought::DeadLetter {
                            reason: format!("failed {} times; last error: {err}", queued.attempts),
                            cost_usd,
                            tokens,
                        };
                    }
                    let backoff = settings.retry.backoff(queued.attempts, self.seed());
                    tracing::warn!(agent = %self.id, error = %preview(&err.to_string(), 400), attempt = queued.attempts, ?backoff, "session failed; retrying");
                    tokio::time::sleep(backoff).await;
                }
                Err(err) => {
                    runtime
                        .emit(Event::SessionFailed {
                            agent: self.id,
                            role: self.spec.role.clone(),
                            error: err.to_string(),
                            dead_lettered: true,
                        })
                        .await;
                    return Thought::DeadLetter {
                        reason: format!("not retried: {err}"),
                        cost_usd,
                        tokens,
                    };
                }
            }
        }
    }

    fn scopes(&self) -> [Scope; 2] {
        [Scope::Agent(self.id.to_string()), Scope::Company]
    }

    fn seed(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.id.hash(&mut hasher);
        hasher.finish()
    }

    /// Up to two seconds, fixed per agent, so parked agents do not all wake at once.
    fn jitter(&self) -> chrono::Duration {
        chrono::Duration::milliseconds((self.seed() % 2000) as i64)
    }

    /// When the next session may start, if a budget says not now.
    async fn over_budget(&self, now: DateTime<Utc>) -> Result<Checked, DateTime<Utc>> {
        let runtime = &self.runtime;
        let budgets = [&self.spec.budget, &runtime.settings.company_budget];
        let mut checked = Checked::default();
        for (scope, configured) in self.scopes().into_iter().zip(budgets) {
            let budget = runtime.ledger.effective(&scope, configured).await;
            let verdict = match runtime.ledger.check(&scope, &budget, now, true).await {
                Ok((verdict, spend)) => {
                    match scope {
                        Scope::Agent(_) => (checked.agent, checked.agent_spend) = (budget, spend),
                        Scope::Company => checked.company = budget,
                    }
                    verdict
                }
                Err(err) => {
                    tracing::warn!(agent = %self.id, error = %err, "budget unreadable; waiting");
                    return Err(now + to_chrono(PERSIST_RETRY));
                }
            };
            let who = match &scope {
                Scope::Agent(_) => Some(self.id),
                Scope::Company => None,
            };
            for warning in verdict.warnings {
                let key = format!(
                    "warned:{}:{}:{}",
                    scope_name(&scope),
                    warning.limit,
                    warning.window
                );
                if runtime
                    .store
                    .first_time(&key, Duration::from_secs(2 * 24 * 3600))
                    .await
                    .unwrap_or(false)
                {
                    runtime
                        .emit(Event::BudgetWarning {
                            agent: who,
                            limit: warning.limit.to_owned(),
                            spent: warning.spent,
                            of: warning.of,
                        })
                        .await;
                }
            }
            if let Some(exceeded) = verdict.exceeded {
                let key = format!(
                    "tripped:{}:{}:{}",
                    scope_name(&scope),
                    exceeded.limit,
                    exceeded.until.timestamp()
                );
                if runtime
                    .store
                    .first_time(&key, Duration::from_secs(2 * 24 * 3600))
                    .await
                    .unwrap_or(false)
                {
                    tracing::warn!(agent = %self.id, limit = exceeded.limit, spent = exceeded.spent, of = exceeded.of, until = %exceeded.until, "budget reached; pausing the agent");
                    runtime
                        .emit(Event::GuardTripped {
                            agent: self.id,
                            role: self.spec.role.clone(),
                            guard: "budget".to_owned(),
                            reason: format!(
                                "{} budget {} reached; no session until {}",
                                if who.is_some() { "agent" } else { "company" },
                                exceeded.limit,
                                exceeded.until.to_rfc3339()
                            ),
                            figures: json!({ "limit": exceeded.limit, "spent": exceeded.spent, "of": exceeded.of, "until": exceeded.until }),
                        })
                        .await;
                }
                return Err(exceeded.until);
            }
        }
        Ok(checked)
    }

    /// The prompt a session for `trigger` would get now: what the store holds of the agent
    /// (state, history, decisions, open tasks) and the context, within the prompt budget.
    pub async fn preview_prompt(&self, trigger: &Trigger) -> Prompt {
        self.build_prompt(trigger, self.runtime.clock.now()).await
    }

    async fn build_prompt(&self, trigger: &Trigger, now: DateTime<Utc>) -> Prompt {
        let runtime = &self.runtime;
        let settings = &runtime.settings;
        // The context first (it may take a while): what the prompt shows of the store is read
        // last, as close as can be to the moment the prompt is ready (which a replay follows).
        let context_budget = (settings.prompt_budget as f64 * settings.context_share) as usize;
        // The provider fills the section under its heading.
        let passages_budget = context_budget.saturating_sub(prompt::CONTEXT_HEADER.chars().count());
        // The open tasks come before the context: a check-in's query is made of them.
        let tasks = self.open_tasks_by_urgency(now).await;
        let context = self.context(trigger, &tasks, passages_budget).await;
        // The reads are made together: a store that answers them in one round (the embedded
        // database thread takes every waiting read into one transaction; Redis pipelines the
        // commands of one connection) wakes once per prompt instead of once per read.
        let store = &runtime.store;
        let (state, history, decisions) = tokio::join!(
            store.load_state(self.id),
            store.history(self.id, settings.history_in_prompt),
            self.decisions_of_interest(),
        );
        let state = match state {
            Ok(state) => state.value,
            Err(err) => {
                tracing::warn!(agent = %self.id, error = %err, "state unreadable; prompting without it");
                Default::default()
            }
        };
        let history = history.unwrap_or_default();
        let decisions = self.involving_me(decisions, state.last_loop_at);
        prompt::build(&PromptInput {
            agent: self.id,
            role: &self.spec.role,
            profile: &self.spec.profile,
            directory: &runtime.directory,
            state: &state,
            history: &history,
            decisions: &decisions,
            tasks: &tasks,
            task_limit: settings.tasks_in_prompt,
            context: &context,
            context_budget,
            trigger,
            now,
            budget: settings.prompt_budget,
        })
    }

    /// The open decisions, and for the CEO the newest executed ones it was not asked about,
    /// read together. Closed decisions pile up for as long as the company runs: only the
    /// newest [`EXECUTED_IN_PROMPT`] executed ones are looked at, of those only the ones taken
    /// without the CEO are read, and no other closed one.
    async fn decisions_of_interest(&self) -> Vec<Result<Vec<Decision>, StoreError>> {
        let role = &self.spec.role;
        let store = &self.runtime.store;
        let executed = async {
            // Only the CEO is told of executed decisions (see `involving_me`); the others
            // never read them.
            if role != &crate::role::Role::Ceo {
                return Ok(Vec::new());
            }
            store
                .recent_decisions_without(
                    DecisionStatus::Executed,
                    EXECUTED_IN_PROMPT,
                    self.id,
                    role,
                )
                .await
        };
        let (pending, revising, escalated, approved, executed) = tokio::join!(
            store.decisions(Some(DecisionStatus::Pending)),
            store.decisions(Some(DecisionStatus::Revising)),
            store.decisions(Some(DecisionStatus::Escalated)),
            store.decisions(Some(DecisionStatus::Approved)),
            executed,
        );
        vec![pending, revising, escalated, approved, executed]
    }

    /// Of the decisions read by [`decisions_of_interest`](Self::decisions_of_interest), the
    /// open ones the agent proposed or reviews, and for the CEO the executed ones carried out
    /// without its review since its last look (`since`).
    fn involving_me(
        &self,
        lists: Vec<Result<Vec<Decision>, StoreError>>,
        since: Option<DateTime<Utc>>,
    ) -> Vec<Decision> {
        let role = &self.spec.role;
        let mut mine = Vec::new();
        for listed in lists {
            let Ok(decisions) = listed else {
                continue;
            };
            for decision in decisions {
                let involved = decision.proposer == self.id
                    || (decision.reviewers.contains(role) && decision.status.is_open());
                // The CEO is informed of decisions carried out without its review since its
                // last look (operational ones, or ones only others reviewed).
                let executed_at = decision.history.last().map(|transition| transition.at);
                let informed = role == &crate::role::Role::Ceo
                    && decision.status == DecisionStatus::Executed
                    && decision.proposer != self.id
                    && !decision.reviewers.contains(role)
                    && since.is_none_or(|since| executed_at.is_some_and(|at| at > since));
                let stale =
                    decision.status == DecisionStatus::Executed && decision.proposer == self.id;
                if (involved && !stale) || informed {
                    mine.push(decision);
                }
            }
        }
        mine
    }

    async fn context(
        &self,
        trigger: &Trigger,
        tasks: &[crate::task::Task],
        budget_chars: usize,
    ) -> Vec<Passage> {
        let mut text = query_text(trigger);
        if text.trim().is_empty() {
            text = super::tasks::query_from_tasks(tasks, self.runtime.settings.tasks_in_prompt);
        }
        if text.trim().is_empty() || budget_chars == 0 {
            return Vec::new();
        }
        let query = ContextQuery {
            agent: self.id,
            role: self.spec.role.clone(),
            text,
            budget_chars,
        };
        match self.runtime.context.context(&query).await {
            Ok(passages) => passages,
            Err(err) => {
                tracing::warn!(agent = %self.id, error = %err, "no context for this prompt");
                Vec::new()
            }
        }
    }

    async fn keep_journal(&self, trigger_id: &str, journal: &Journal) {
        let value = serde_json::to_value(journal).unwrap_or(Value::Null);
        let store = &self.runtime.store;
        let key = self.journal_key(trigger_id);
        let ttl = Some(self.runtime.settings.mark_ttl);
        let kept = match self.fence() {
            Some(fence) => store.set_value_fenced(&key, &value, ttl, &fence).await,
            None => store.set_value(&key, &value, ttl).await,
        };
        if let Err(err) = kept {
            tracing::warn!(agent = %self.id, error = %err, "could not keep the answer; a crash now would cost a second session");
        }
    }
}

/// What a session for `trigger` is for, as a model router sees it.
fn session_kind(trigger: &Trigger) -> SessionKind {
    match &trigger.kind {
        TriggerKind::Schedule { .. } | TriggerKind::Startup => SessionKind::Scheduled,
        TriggerKind::Message { envelope, .. } => match envelope.kind {
            MessageType::Vote => SessionKind::Vote,
            MessageType::Decision | MessageType::DecisionResult => SessionKind::Decision,
            _ => SessionKind::Message,
        },
    }
}

/// The tier of the decision a vote or decision message is about, when its payload names one.
fn trigger_tier(trigger: &Trigger) -> Option<Tier> {
    let envelope = trigger.envelope()?;
    if !matches!(
        envelope.kind,
        MessageType::Vote | MessageType::Decision | MessageType::DecisionResult
    ) {
        return None;
    }
    envelope.payload.get("tier")?.as_str()?.parse().ok()
}

fn scope_name(scope: &Scope) -> &str {
    match scope {
        Scope::Agent(id) => id,
        Scope::Company => "company",
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The query for the context provider: what the trigger is about.
fn query_text(trigger: &Trigger) -> String {
    match &trigger.kind {
        TriggerKind::Message { envelope, .. } => [
            "title",
            "content",
            "description",
            "message",
            "task",
            "result",
        ]
        .iter()
        .filter_map(|key| envelope.payload_str(key))
        .collect::<Vec<_>>()
        .join(" "),
        TriggerKind::Schedule { .. } | TriggerKind::Startup => String::new(),
    }
}
