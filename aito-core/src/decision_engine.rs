//! The decision engine: proposals, votes, revisions, deadlines and human answers, applied to
//! the stored decision with compare-and-set and announced on the bus.
//!
//! The engine holds no timers: deadlines live in the store, and whichever daemon holds the
//! company lease calls [`DecisionEngine::check_deadlines`], so a restart loses nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::bus::{Bus, BusError};
use crate::channel::Channel;
use crate::clock::Clock;
use crate::context::{ContextProvider, Knowledge, NoContext};
use crate::decision::{
    Decision, DecisionStatus, HumanAnswer, Notice, Tier, Transition, Vote, VoteChoice,
};
use crate::directory::Directory;
use crate::envelope::{Envelope, MessageType, Priority, Sender};
use crate::event::Event;
use crate::id::{AgentId, DecisionId, MessageId};
use crate::policy::{DecisionPolicy, Resolution};
use crate::role::Role;
use crate::store::{StateStore, StoreError};
use crate::trigger::Cause;

/// How many times an update is retried when another writer got there first.
const CAS_ATTEMPTS: usize = 16;

/// Why a decision operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// No such decision.
    #[error("no decision with id {0}")]
    NotFound(DecisionId),
    /// The operation is not allowed now or for this actor.
    #[error("{0}")]
    NotAllowed(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Too many concurrent writers.
    #[error("decision {0} kept changing under concurrent updates; try again")]
    Contended(DecisionId),
}

/// Something to announce once an update is stored.
enum Effect {
    /// A message to one agent's inbox.
    Notify {
        to: AgentId,
        kind: MessageType,
        payload: Value,
        priority: Priority,
    },
    /// A company event.
    Event(Event),
}

/// A new decision, as its proposer put it.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    /// Its id; derive it from the proposing action so a repeat proposes the same decision.
    pub id: DecisionId,
    /// The tier asked for (the policy has the last word).
    pub tier: Option<Tier>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Options, verbatim.
    pub options: Vec<Value>,
}

/// Applies the decision process. Cheap to clone.
#[derive(Clone)]
pub struct DecisionEngine {
    store: Arc<dyn StateStore>,
    bus: Arc<dyn Bus>,
    policy: Arc<dyn DecisionPolicy>,
    clock: Clock,
    directory: Arc<Directory>,
    context: Arc<dyn ContextProvider>,
}

impl std::fmt::Debug for DecisionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionEngine").finish_non_exhaustive()
    }
}

impl DecisionEngine {
    /// An engine over the given adapters.
    pub fn new(
        store: Arc<dyn StateStore>,
        bus: Arc<dyn Bus>,
        policy: Arc<dyn DecisionPolicy>,
        clock: Clock,
        directory: Arc<Directory>,
    ) -> Self {
        Self {
            store,
            bus,
            policy,
            clock,
            directory,
            context: Arc::new(NoContext),
        }
    }

    /// Offers every decision that reaches an outcome (vetoed, approved, escalated, executed,
    /// rejected, withdrawn) to `context`, with its votes and history, so agents remember it.
    pub fn with_context(mut self, context: Arc<dyn ContextProvider>) -> Self {
        self.context = context;
        self
    }

    /// The policy in use.
    pub fn policy(&self) -> &Arc<dyn DecisionPolicy> {
        &self.policy
    }

    /// Proposes a decision. Reviewers are asked for their votes; a decision that needs no
    /// review (operational, or only the proposer reviews) is executed at once.
    pub async fn propose(
        &self,
        proposer: AgentId,
        role: &Role,
        proposal: Proposal,
        cause: &Cause,
    ) -> Result<Decision, DecisionError> {
        let now = self.clock.now();
        let tier = self
            .policy
            .classify(proposal.tier, &proposal.title, &proposal.description);
        let rules = self.policy.rules(tier);
        let mut decision = Decision {
            id: proposal.id,
            proposer,
            proposer_role: role.clone(),
            title: proposal.title,
            description: proposal.description,
            options: proposal.options,
            tier,
            status: DecisionStatus::Pending,
            round: 1,
            reviewers: rules.reviewers,
            votes: Vec::new(),
            history: vec![Transition {
                at: now,
                from: None,
                to: DecisionStatus::Pending,
                round: 1,
                by: role.to_string(),
                reason: format!("proposed as {tier}"),
            }],
            created_at: now,
            deadline: deadline_after(now, rules.deadline),
            escalation: None,
            human: None,
            version: 0,
            outbox: Vec::new(),
        };
        if decision.reviewers.contains(role) {
            decision.votes.push(Vote {
                voter: proposer,
                role: role.clone(),
                choice: VoteChoice::Approve,
                reason: "proposer".to_owned(),
                at: now,
                round: 1,
            });
        }
        let mut effects = Vec::new();
        self.settle(&mut decision, now, "policy", &mut effects);
        if decision.status == DecisionStatus::Approved {
            // Nobody else had to agree: the proposer's own session carries it out.
            decision.transition(
                DecisionStatus::Executed,
                now,
                role.to_string(),
                "executes at once: no review needed",
            );
            effects
                .retain(|effect| !matches!(effect, Effect::Notify { to, .. } if *to == proposer));
        }
        if decision.status == DecisionStatus::Pending {
            self.request_votes(&decision, &mut effects);
        }
        let (notices, escalated) = self.compose(&decision, 0, cause, effects);
        decision.outbox = notices;
        self.store.create_decision(&decision).await?;
        decision.version = 1;
        self.after_change(&decision, 0, escalated).await;
        self.deliver(&mut decision).await;
        Ok(decision)
    }

    /// Revises a decision that was sent back: the next round starts, votes reset.
    pub async fn revise(
        &self,
        id: DecisionId,
        by: AgentId,
        title: &str,
        description: &str,
        options: Vec<Value>,
        cause: &Cause,
    ) -> Result<Decision, DecisionError> {
        self.update(id, cause, |engine, decision, now, effects| {
            only_the_proposer(decision, by, "revise")?;
            if decision.status != DecisionStatus::Revising {
                return Err(DecisionError::NotAllowed(format!(
                    "decision {id} is {}, not waiting for a revision",
                    decision.status
                )));
            }
            let previous = std::mem::replace(&mut decision.title, title.to_owned());
            decision.description = description.to_owned();
            if !options.is_empty() {
                decision.options = options.clone();
            }
            decision.round += 1;
            let rules = engine.policy.rules(decision.tier);
            decision.deadline = deadline_after(now, rules.deadline);
            let role = decision.proposer_role.to_string();
            decision.transition(
                DecisionStatus::Pending,
                now,
                role.clone(),
                format!("revised for round {} (was: {previous})", decision.round),
            );
            if decision.reviewers.contains(&decision.proposer_role) {
                decision.votes.push(Vote {
                    voter: by,
                    role: decision.proposer_role.clone(),
                    choice: VoteChoice::Approve,
                    reason: "proposer".to_owned(),
                    at: now,
                    round: decision.round,
                });
            }
            engine.settle(decision, now, &role, effects);
            if decision.status == DecisionStatus::Pending {
                engine.request_votes(decision, effects);
            }
            Ok(())
        })
        .await
    }

    /// Withdraws an open decision; only its proposer may.
    pub async fn withdraw(
        &self,
        id: DecisionId,
        by: AgentId,
        reason: &str,
        cause: &Cause,
    ) -> Result<Decision, DecisionError> {
        self.update(id, cause, |_, decision, now, _| {
            only_the_proposer(decision, by, "withdraw")?;
            if !decision.status.is_open() {
                return Err(DecisionError::NotAllowed(format!(
                    "decision {id} is already {}",
                    decision.status
                )));
            }
            let role = decision.proposer_role.to_string();
            decision.deadline = None;
            decision.transition(
                DecisionStatus::Withdrawn,
                now,
                role,
                reason_or(reason, "withdrawn"),
            );
            Ok(())
        })
        .await
    }

    /// Records a reviewer's vote and applies the policy. A second vote in the same round
    /// replaces the first.
    pub async fn vote(
        &self,
        id: DecisionId,
        voter: AgentId,
        role: &Role,
        choice: VoteChoice,
        reason: &str,
        cause: &Cause,
    ) -> Result<Decision, DecisionError> {
        self.update(id, cause, |engine, decision, now, effects| {
            if decision.status != DecisionStatus::Pending {
                return Err(DecisionError::NotAllowed(format!(
                    "decision {id} is {}, not open for votes",
                    decision.status
                )));
            }
            if !decision.reviewers.contains(role) {
                return Err(DecisionError::NotAllowed(format!(
                    "{role} is not a reviewer of decision {id}; its reviewers are {}",
                    decision
                        .reviewers
                        .iter()
                        .map(Role::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let round = decision.round;
            decision
                .votes
                .retain(|vote| !(vote.round == round && &vote.role == role));
            decision.votes.push(Vote {
                voter,
                role: role.clone(),
                choice,
                reason: reason.to_owned(),
                at: now,
                round,
            });
            engine.settle(decision, now, role.as_str(), effects);
            Ok(())
        })
        .await
    }

    /// A human's answer to an escalated decision.
    pub async fn human_decide(
        &self,
        id: DecisionId,
        approve: bool,
        reason: &str,
    ) -> Result<Decision, DecisionError> {
        self.update(id, &Cause::default(), |_, decision, now, effects| {
            if decision.status != DecisionStatus::Escalated {
                return Err(DecisionError::NotAllowed(format!(
                    "decision {id} is {}; a human answers only escalated decisions",
                    decision.status
                )));
            }
            decision.human = Some(HumanAnswer {
                approve,
                reason: reason.to_owned(),
                at: now,
            });
            decision.escalation = None;
            decision.deadline = None;
            let (status, word) = if approve {
                (DecisionStatus::Approved, "approved")
            } else {
                (DecisionStatus::Rejected, "rejected")
            };
            decision.transition(status, now, "human", reason_or(reason, word));
            effects.push(result_notice(decision, word, reason));
            Ok(())
        })
        .await
    }

    /// Marks an approved decision as carried out by its proposer.
    pub async fn mark_executed(
        &self,
        id: DecisionId,
        by: AgentId,
        summary: &str,
    ) -> Result<Decision, DecisionError> {
        self.update(id, &Cause::default(), |_, decision, now, _| {
            if decision.proposer != by || decision.status != DecisionStatus::Approved {
                return Err(DecisionError::NotAllowed(format!(
                    "decision {id} is {} and proposed by {}; only the proposer executes an approved decision",
                    decision.status, decision.proposer_role
                )));
            }
            let role = decision.proposer_role.to_string();
            decision.transition(
                DecisionStatus::Executed,
                now,
                role,
                reason_or(summary, "carried out"),
            );
            Ok(())
        })
        .await
    }

    /// Applies the policy to every open decision whose deadline has passed. Returns the
    /// earliest deadline still ahead, so the caller knows when to look again.
    pub async fn check_deadlines(&self) -> Result<Option<DateTime<Utc>>, DecisionError> {
        let now = self.clock.now();
        let mut next: Option<DateTime<Utc>> = None;
        for status in [DecisionStatus::Pending, DecisionStatus::Revising] {
            for decision in self.store.decisions(Some(status)).await? {
                let Some(deadline) = decision.deadline else {
                    continue;
                };
                if deadline > now {
                    next = Some(next.map_or(deadline, |next| next.min(deadline)));
                    continue;
                }
                let result = self
                    .update(
                        decision.id,
                        &Cause::default(),
                        |engine, decision, now, effects| {
                            engine.settle(decision, now, "deadline", effects);
                            Ok(())
                        },
                    )
                    .await;
                if let Err(err) = result {
                    tracing::warn!(decision = %decision.id, error = %err, "deadline check failed");
                }
            }
        }
        Ok(next)
    }

    /// Loads, changes and stores a decision with compare-and-set, then announces it.
    async fn update<F>(
        &self,
        id: DecisionId,
        cause: &Cause,
        mut change: F,
    ) -> Result<Decision, DecisionError>
    where
        F: FnMut(
            &Self,
            &mut Decision,
            DateTime<Utc>,
            &mut Vec<Effect>,
        ) -> Result<(), DecisionError>,
    {
        for _ in 0..CAS_ATTEMPTS {
            let mut decision = self
                .store
                .decision(id)
                .await?
                .ok_or(DecisionError::NotFound(id))?;
            let seen = decision.history.len();
            let mut effects = Vec::new();
            change(self, &mut decision, self.clock.now(), &mut effects)?;
            let (notices, escalated) = self.compose(&decision, seen, cause, effects);
            decision.outbox.extend(notices);
            match self.store.update_decision(&decision).await {
                Ok(version) => {
                    decision.version = version;
                    self.after_change(&decision, seen, escalated).await;
                    return Ok(self.deliver_answering(decision).await);
                }
                Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                Err(err) => return Err(err.into()),
            }
        }
        Err(DecisionError::Contended(id))
    }

    /// Applies the policy until it has nothing more to say.
    fn settle(
        &self,
        decision: &mut Decision,
        now: DateTime<Utc>,
        by: &str,
        effects: &mut Vec<Effect>,
    ) {
        match self.policy.resolve(decision, now) {
            Resolution::Waiting => {}
            Resolution::Approve { reason } => {
                decision.deadline = None;
                decision.transition(DecisionStatus::Approved, now, by, reason.clone());
                effects.push(result_notice(decision, "approved", &reason));
            }
            Resolution::SendBack { reasons } => {
                let rules = self.policy.rules(decision.tier);
                decision.deadline = deadline_after(now, rules.deadline);
                decision.transition(
                    DecisionStatus::Revising,
                    now,
                    by,
                    format!("vetoed: {reasons}"),
                );
                effects.push(Effect::Notify {
                    to: decision.proposer,
                    kind: MessageType::Decision,
                    priority: Priority::High,
                    payload: json!({
                        "decisionId": decision.id,
                        "title": decision.title,
                        "tier": decision.tier,
                        "status": "revising",
                        "round": decision.round,
                        "vetoes": reasons,
                        "instruction": format!(
                            "Your decision was vetoed in round {} of {}. Revise it with a propose_decision action carrying \"decisionId\": \"{}\" and the new title and description, or withdraw it with withdraw_decision.",
                            decision.round, self.policy.max_rounds(), decision.id
                        ),
                    }),
                });
            }
            Resolution::Escalate { reason } => {
                decision.deadline = None;
                decision.escalation = Some(reason.clone());
                decision.transition(DecisionStatus::Escalated, now, by, reason.clone());
                effects.push(Effect::Event(Event::Escalated {
                    decision: decision.id,
                    title: decision.title.clone(),
                    reason,
                }));
            }
        }
    }

    fn request_votes(&self, decision: &Decision, effects: &mut Vec<Effect>) {
        for role in &decision.reviewers {
            if decision.vote_of(role).is_some() {
                continue;
            }
            let Some(reviewer) = self.directory.id_of(role) else {
                tracing::warn!(decision = %decision.id, %role, "reviewer role has no agent in this company");
                continue;
            };
            effects.push(Effect::Notify {
                to: reviewer,
                kind: MessageType::Vote,
                priority: Priority::High,
                payload: json!({
                    "decisionId": decision.id,
                    "title": decision.title,
                    "description": decision.description,
                    "tier": decision.tier,
                    "round": decision.round,
                    "proposer": decision.proposer_role,
                    "deadline": decision.deadline,
                    "instruction": format!(
                        "Vote on this decision with a vote action: {{\"type\": \"vote\", \"data\": {{\"decisionId\": \"{}\", \"vote\": \"approve|veto|abstain\", \"reason\": \"...\"}}}}",
                        decision.id
                    ),
                }),
            });
        }
    }

    /// The notices of the transitions since `seen` (on `Decisions`) and of the effects, and
    /// the escalation events among them.
    fn compose(
        &self,
        decision: &Decision,
        seen: usize,
        cause: &Cause,
        effects: Vec<Effect>,
    ) -> (Vec<Notice>, bool) {
        let mut notices = Vec::new();
        for (index, transition) in decision.history.iter().enumerate().skip(seen) {
            let payload = json!({
                "decisionId": decision.id,
                "title": decision.title,
                "tier": decision.tier,
                "from": transition.from,
                "to": transition.to,
                "round": transition.round,
                "by": transition.by,
                "reason": transition.reason,
                "at": transition.at,
            });
            let mut envelope = Envelope::new(MessageType::Decision, Sender::Orchestrator, payload);
            envelope.id = MessageId::derived(&format!("{}/transition/{index}", decision.id));
            notices.push(Notice {
                channel: Channel::Decisions,
                envelope,
            });
        }
        let transitions = decision.history.len();
        let mut escalated = false;
        for (index, effect) in effects.into_iter().enumerate() {
            match effect {
                Effect::Notify {
                    to,
                    kind,
                    payload,
                    priority,
                } => {
                    let mut envelope =
                        Envelope::new(kind, Sender::Orchestrator, payload).with_priority(priority);
                    // One notice per recipient, kind and transition: a repeat is a duplicate.
                    envelope.id = MessageId::derived(&format!(
                        "{}/{}/{transitions}/{to}",
                        decision.id, envelope.kind
                    ));
                    envelope.to = Some(crate::envelope::Recipient::Agent(to));
                    envelope.requires_response = envelope.kind == MessageType::Vote;
                    envelope.response_deadline = decision.deadline;
                    // A notice is one more hop of the chain that caused the transition (a
                    // proposal, a vote), so a loop of proposals and approvals meets the hop
                    // limit like any other; it keeps the origin for the self-wake filter and
                    // the ping-pong breaker, and the chain for loop detection.
                    envelope.hops = cause.hops;
                    envelope.origin = cause.origin;
                    envelope.chain = cause.chain.clone();
                    envelope.correlation_id = Some(decision.id.to_string());
                    notices.push(Notice {
                        channel: Channel::Agent(to),
                        envelope,
                    });
                }
                Effect::Event(event) => {
                    escalated |= matches!(event, Event::Escalated { .. });
                    tracing::info!(decision = %decision.id, event = event.name(), "decision event");
                    let mut envelope = event.to_envelope();
                    envelope.id =
                        MessageId::derived(&format!("{}/event/{transitions}/{index}", decision.id));
                    notices.push(Notice {
                        channel: Channel::Events,
                        envelope,
                    });
                }
            }
        }
        (notices, escalated)
    }

    /// What follows a stored change besides its notices: the escalation log, the context
    /// provider.
    async fn after_change(&self, decision: &Decision, seen: usize, escalated: bool) {
        if escalated {
            let record = json!({
                "decisionId": decision.id,
                "title": decision.title,
                "tier": decision.tier,
                "reason": decision.escalation,
                "at": self.clock.now(),
            });
            if let Err(err) = self
                .store
                .append_log(crate::store::logs::ESCALATIONS, &record, 1000)
                .await
            {
                tracing::warn!(error = %err, "could not record escalation");
            }
        }
        self.remember(decision, seen).await;
    }

    /// Publishes the decision's outbox and removes what was published from the stored
    /// decision. What could not be published stays for [`drain_outboxes`](Self::drain_outboxes).
    /// Delivers the notices of a change just stored and answers with the decision as that
    /// change left it. Its notices may have reached the proposer before the outbox is cleared,
    /// and the proposer may have carried the decision out already: the caller (a human who
    /// approved it) is still told of the approval it made, not of a later step.
    async fn deliver_answering(&self, decision: Decision) -> Decision {
        let mut delivered = decision.clone();
        self.deliver(&mut delivered).await;
        if delivered.history.len() == decision.history.len() {
            return delivered;
        }
        let mut answer = decision;
        answer.outbox.retain(|notice| {
            delivered
                .outbox
                .iter()
                .any(|left| left.envelope.id == notice.envelope.id)
        });
        answer
    }

    async fn deliver(&self, decision: &mut Decision) {
        let mut published = Vec::new();
        for notice in &decision.outbox {
            match self
                .bus
                .publish(notice.channel, notice.envelope.clone())
                .await
            {
                Ok(()) => published.push(notice.envelope.id),
                Err(err) => {
                    log_publish_error(notice.channel, &err);
                    break;
                }
            }
        }
        if published.is_empty() {
            return;
        }
        for _ in 0..CAS_ATTEMPTS {
            decision
                .outbox
                .retain(|notice| !published.contains(&notice.envelope.id));
            match self.store.update_decision(decision).await {
                Ok(version) => {
                    decision.version = version;
                    return;
                }
                Err(StoreError::Conflict { .. }) => match self.store.decision(decision.id).await {
                    Ok(Some(stored)) => *decision = stored,
                    _ => return,
                },
                Err(err) => {
                    // The notices stay stored; publishing them again is harmless (their ids
                    // are derived, receivers de-duplicate).
                    tracing::warn!(decision = %decision.id, error = %err, "could not clear published notices");
                    return;
                }
            }
        }
    }

    /// Publishes the notices that failed publishes left in any decision's outbox. Called by
    /// whoever holds the company lease, with the deadline checks.
    pub async fn drain_outboxes(&self) -> Result<usize, DecisionError> {
        let mut drained = 0;
        for mut decision in self.store.decisions(None).await? {
            if decision.outbox.is_empty() {
                continue;
            }
            let waiting = decision.outbox.len();
            self.deliver(&mut decision).await;
            drained += waiting.saturating_sub(decision.outbox.len());
        }
        if drained > 0 {
            tracing::info!(
                notices = drained,
                "published decision notices left by a failed publish"
            );
        }
        Ok(drained)
    }

    /// Offers the decision to the context provider if it reached an outcome since `seen`.
    async fn remember(&self, decision: &Decision, seen: usize) {
        let outcome = decision
            .history
            .iter()
            .skip(seen)
            .any(|transition| transition.to != DecisionStatus::Pending);
        if !outcome {
            return;
        }
        let knowledge = Knowledge::Decision {
            decision: Box::new(decision.clone()),
        };
        if let Err(err) = self.context.observe(&knowledge).await {
            tracing::warn!(decision = %decision.id, error = %err, "context provider could not index a decision");
        }
    }
}

fn log_publish_error(channel: Channel, err: &BusError) {
    tracing::error!(%channel, error = %err, "could not publish a decision notice");
}

/// Refuses `verb` on `decision` to anyone but its proposer.
fn only_the_proposer(decision: &Decision, by: AgentId, verb: &str) -> Result<(), DecisionError> {
    if decision.proposer == by {
        return Ok(());
    }
    Err(DecisionError::NotAllowed(format!(
        "only the proposer ({}) may {verb} decision {}",
        decision.proposer_role, decision.id
    )))
}

fn deadline_after(now: DateTime<Utc>, after: Option<std::time::Duration>) -> Option<DateTime<Utc>> {
    after
        .and_then(|after| chrono::Duration::from_std(after).ok())
        .map(|after| now + after)
}

fn reason_or(reason: &str, fallback: &str) -> String {
    if reason.trim().is_empty() {
        fallback.to_owned()
    } else {
        reason.to_owned()
    }
}

fn result_notice(decision: &Decision, status: &str, reason: &str) -> Effect {
    let instruction = if status == "approved" {
        "Your decision was approved: carry it out now."
    } else {
        "Your decision was rejected: do not carry it out."
    };
    Effect::Notify {
        to: decision.proposer,
        kind: MessageType::DecisionResult,
        priority: Priority::High,
        payload: json!({
            "decisionId": decision.id,
            "title": decision.title,
            "description": decision.description,
            "tier": decision.tier,
            "status": status,
            "round": decision.round,
            "reason": reason,
            "instruction": instruction,
        }),
    }
}
