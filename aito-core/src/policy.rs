//! The [`DecisionPolicy`] trait and the default tier table.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::decision::{Decision, DecisionStatus, Tier, VoteChoice};
use crate::role::Role;

/// What happens when reviewers stay silent until the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnSilence {
    /// Silence is consent.
    Approve,
    /// A human must answer.
    Escalate,
}

/// The rules of one tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierRules {
    /// Roles whose votes count. Empty: executes at once.
    pub reviewers: Vec<Role>,
    /// How long reviewers (and, after a veto, the proposer) have.
    pub deadline: Option<Duration>,
    /// What silence at the deadline means.
    pub on_silence: OnSilence,
    /// Whether a human confirms even after the reviewers approve.
    pub human_confirms: bool,
}

/// What the policy says about a decision now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Nothing to do yet.
    Waiting,
    /// Approved.
    Approve {
        /// Why (for the history).
        reason: String,
    },
    /// Vetoed: back to the proposer with the reviewers' reasons.
    SendBack {
        /// The vetoes' reasons, joined.
        reasons: String,
    },
    /// A human must decide.
    Escalate {
        /// Why.
        reason: String,
    },
}

/// Classifies proposals and resolves decisions. The default is [`DefaultPolicy`]; replace it to
/// change tiers, reviewers, deadlines or the number of rounds.
///
/// Unlike the other four traits this one is synchronous: it is a pure function of the decision
/// and the time, with no I/O, so `async` would only add boxing.
#[cfg_attr(any(test, feature = "test-utils"), mockall::automock)]
pub trait DecisionPolicy: Send + Sync {
    /// The tier of a proposal. `requested` is what the proposer asked for (the original
    /// system's default is major).
    fn classify(&self, requested: Option<Tier>, title: &str, description: &str) -> Tier;

    /// The rules of `tier`.
    fn rules(&self, tier: Tier) -> TierRules;

    /// The number of rounds before a veto becomes a deadlock.
    fn max_rounds(&self) -> u8;

    /// What should happen to `decision` at `now`.
    fn resolve(&self, decision: &Decision, now: DateTime<Utc>) -> Resolution;
}

/// The tier table of the design: operational (no review), minor (CEO may veto, 4 h, silence
/// approves), major (CEO and DAO, 24 h, silence escalates), critical (CEO and DAO then a human,
/// 48 h); three rounds.
#[derive(Clone, Debug)]
pub struct DefaultPolicy {
    deadlines: BTreeMap<Tier, Duration>,
    max_rounds: u8,
}

impl Default for DefaultPolicy {
    fn default() -> Self {
        let hour = 3600;
        Self {
            deadlines: BTreeMap::from([
                (Tier::Minor, Duration::from_secs(4 * hour)),
                (Tier::Major, Duration::from_secs(24 * hour)),
                (Tier::Critical, Duration::from_secs(48 * hour)),
            ]),
            max_rounds: 3,
        }
    }
}

impl DefaultPolicy {
    /// Changes the deadline of a tier.
    pub fn with_deadline(mut self, tier: Tier, deadline: Duration) -> Self {
        self.deadlines.insert(tier, deadline);
        self
    }

    /// Changes the number of rounds (at least 1).
    pub fn with_max_rounds(mut self, rounds: u8) -> Self {
        self.max_rounds = rounds.max(1);
        self
    }
}

impl DecisionPolicy for DefaultPolicy {
    fn classify(&self, requested: Option<Tier>, _title: &str, _description: &str) -> Tier {
        requested.unwrap_or(Tier::Major)
    }

    fn rules(&self, tier: Tier) -> TierRules {
        let deadline = self.deadlines.get(&tier).copied();
        match tier {
            Tier::Operational => TierRules {
                reviewers: Vec::new(),
                deadline: None,
                on_silence: OnSilence::Approve,
                human_confirms: false,
            },
            Tier::Minor => TierRules {
                reviewers: vec![Role::Ceo],
                deadline,
                on_silence: OnSilence::Approve,
                human_confirms: false,
            },
            Tier::Major => TierRules {
                reviewers: vec![Role::Ceo, Role::Dao],
                deadline,
                on_silence: OnSilence::Escalate,
                human_confirms: false,
            },
            Tier::Critical => TierRules {
                reviewers: vec![Role::Ceo, Role::Dao],
                deadline,
                on_silence: OnSilence::Escalate,
                human_confirms: true,
            },
        }
    }

    fn max_rounds(&self) -> u8 {
        self.max_rounds
    }

    fn resolve(&self, decision: &Decision, now: DateTime<Utc>) -> Resolution {
        let rules = self.rules(decision.tier);
        let expired = decision.deadline.is_some_and(|deadline| now >= deadline);
        match decision.status {
            DecisionStatus::Pending => {}
            DecisionStatus::Revising if expired => {
                return Resolution::Escalate {
                    reason: "the proposer did not revise or withdraw before the deadline".into(),
                };
            }
            _ => return Resolution::Waiting,
        }
        let vetoes: Vec<String> = decision
            .current_votes()
            .filter(|vote| {
                vote.choice == VoteChoice::Veto && decision.reviewers.contains(&vote.role)
            })
            .map(|vote| format!("{}: {}", vote.role, vote.reason))
            .collect();
        if !vetoes.is_empty() {
            let reasons = vetoes.join("; ");
            if decision.round >= self.max_rounds {
                return Resolution::Escalate {
                    reason: format!(
                        "deadlock: vetoed in round {} of {} ({reasons})",
                        decision.round, self.max_rounds
                    ),
                };
            }
            return Resolution::SendBack { reasons };
        }
        let silent: Vec<&Role> = decision
            .reviewers
            .iter()
            .filter(|role| decision.vote_of(role).is_none())
            .collect();
        if silent.is_empty() {
            if rules.human_confirms {
                return Resolution::Escalate {
                    reason: format!(
                        "{} decision approved by {}; a human confirms",
                        decision.tier,
                        join_roles(decision.reviewers.iter())
                    ),
                };
            }
            let reason = if decision.reviewers.is_empty() {
                "no review needed".to_owned()
            } else {
                format!("approved by {}", join_roles(decision.reviewers.iter()))
            };
            return Resolution::Approve { reason };
        }
        if expired {
            let silent = join_roles(silent.into_iter());
            return match rules.on_silence {
                OnSilence::Approve => Resolution::Approve {
                    reason: format!("deadline passed without a veto ({silent} silent)"),
                },
                OnSilence::Escalate => Resolution::Escalate {
                    reason: format!("deadline passed; {silent} did not vote"),
                },
            };
        }
        Resolution::Waiting
    }
}

fn join_roles<'a>(roles: impl Iterator<Item = &'a Role>) -> String {
    roles.map(Role::as_str).collect::<Vec<_>>().join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Vote;
    use crate::id::{AgentId, DecisionId};

    fn decision(tier: Tier, now: DateTime<Utc>) -> Decision {
        let policy = DefaultPolicy::default();
        let rules = policy.rules(tier);
        Decision {
            id: DecisionId::random(),
            proposer: AgentId::random(),
            proposer_role: Role::Cto,
            title: "t".into(),
            description: "d".into(),
            options: vec![],
            tier,
            status: DecisionStatus::Pending,
            round: 1,
            reviewers: rules.reviewers,
            votes: vec![],
            history: vec![],
            created_at: now,
            deadline: rules
                .deadline
                .map(|d| now + chrono::Duration::from_std(d).unwrap()),
            escalation: None,
            human: None,
            version: 1,
            outbox: Vec::new(),
        }
    }

    fn vote(d: &mut Decision, role: Role, choice: VoteChoice, now: DateTime<Utc>) {
        d.votes.push(Vote {
            voter: AgentId::random(),
            role,
            choice,
            reason: "because".into(),
            at: now,
            round: d.round,
        });
    }

    #[test]
    fn major_needs_both_reviewers() {
        let now = Utc::now();
        let policy = DefaultPolicy::default();
        let mut d = decision(Tier::Major, now);
        vote(&mut d, Role::Ceo, VoteChoice::Approve, now);
        assert_eq!(policy.resolve(&d, now), Resolution::Waiting);
        vote(&mut d, Role::Dao, VoteChoice::Approve, now);
        assert!(matches!(
            policy.resolve(&d, now),
            Resolution::Approve { .. }
        ));
    }

    #[test]
    fn veto_sends_back_until_the_last_round() {
        let now = Utc::now();
        let policy = DefaultPolicy::default();
        let mut d = decision(Tier::Major, now);
        vote(&mut d, Role::Dao, VoteChoice::Veto, now);
        assert!(matches!(
            policy.resolve(&d, now),
            Resolution::SendBack { .. }
        ));
        d.round = 3;
        vote(&mut d, Role::Dao, VoteChoice::Veto, now);
        assert!(
            matches!(policy.resolve(&d, now), Resolution::Escalate { reason } if reason.contains("deadlock"))
        );
    }

    #[test]
    fn silence_approves_minor_and_escalates_major() {
        let now = Utc::now();
        let policy = DefaultPolicy::default();
        let minor = decision(Tier::Minor, now);
        let later = now + chrono::Duration::hours(4);
        assert_eq!(
            policy.resolve(&minor, later - chrono::Duration::seconds(1)),
            Resolution::Waiting
        );
        assert!(matches!(
            policy.resolve(&minor, later),
            Resolution::Approve { .. }
        ));
        let major = decision(Tier::Major, now);
        assert!(matches!(
            policy.resolve(&major, now + chrono::Duration::hours(24)),
            Resolution::Escalate { .. }
        ));
    }

    #[test]
    fn critical_goes_to_a_human_after_approval() {
        let now = Utc::now();
        let policy = DefaultPolicy::default();
        let mut d = decision(Tier::Critical, now);
        vote(&mut d, Role::Ceo, VoteChoice::Approve, now);
        vote(&mut d, Role::Dao, VoteChoice::Approve, now);
        assert!(
            matches!(policy.resolve(&d, now), Resolution::Escalate { reason } if reason.contains("human"))
        );
    }

    #[test]
    fn votes_of_non_reviewers_do_not_count() {
        let now = Utc::now();
        let policy = DefaultPolicy::default();
        let mut d = decision(Tier::Minor, now);
        vote(&mut d, Role::Cmo, VoteChoice::Veto, now);
        assert_eq!(policy.resolve(&d, now), Resolution::Waiting);
    }
}
