//! Decisions: proposals that reviewers vote on, in tiers, with rounds and human escalation.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::id::{AgentId, DecisionId};
use crate::role::Role;

/// How consequential a decision is; decides who reviews it and how long they have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Within the proposer's authority: executes at once, the CEO is informed.
    Operational,
    /// The CEO may veto.
    Minor,
    /// CEO and DAO review.
    Major,
    /// CEO and DAO review, then a human confirms.
    Critical,
}

impl Tier {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Operational => "operational",
            Tier::Minor => "minor",
            Tier::Major => "major",
            Tier::Critical => "critical",
        }
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "operational" => Ok(Tier::Operational),
            "minor" => Ok(Tier::Minor),
            "major" => Ok(Tier::Major),
            "critical" => Ok(Tier::Critical),
            other => Err(format!(
                "unknown tier {other:?}: expected operational, minor, major or critical"
            )),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a decision stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionStatus {
    /// Waiting for the reviewers' votes.
    Pending,
    /// Vetoed; back with the proposer to revise or withdraw.
    Revising,
    /// Waiting for a human's answer.
    Escalated,
    /// Approved; the proposer is told to carry it out.
    Approved,
    /// The proposer carried it out.
    Executed,
    /// A human rejected it.
    Rejected,
    /// The proposer withdrew it.
    Withdrawn,
}

impl DecisionStatus {
    /// All statuses, for listings.
    pub const ALL: [DecisionStatus; 7] = [
        DecisionStatus::Pending,
        DecisionStatus::Revising,
        DecisionStatus::Escalated,
        DecisionStatus::Approved,
        DecisionStatus::Executed,
        DecisionStatus::Rejected,
        DecisionStatus::Withdrawn,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionStatus::Pending => "pending",
            DecisionStatus::Revising => "revising",
            DecisionStatus::Escalated => "escalated",
            DecisionStatus::Approved => "approved",
            DecisionStatus::Executed => "executed",
            DecisionStatus::Rejected => "rejected",
            DecisionStatus::Withdrawn => "withdrawn",
        }
    }

    /// Whether nothing more can happen to the decision.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DecisionStatus::Executed | DecisionStatus::Rejected | DecisionStatus::Withdrawn
        )
    }

    /// Whether the decision still waits for someone (reviewers, proposer or a human).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            DecisionStatus::Pending | DecisionStatus::Revising | DecisionStatus::Escalated
        )
    }
}

impl FromStr for DecisionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DecisionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown decision status {s:?}: expected pending, revising, escalated, approved, executed, rejected or withdrawn"
                )
            })
    }
}

impl fmt::Display for DecisionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reviewer's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoteChoice {
    /// In favour.
    Approve,
    /// Against: sends the decision back to the proposer.
    Veto,
    /// No objection, no support.
    Abstain,
}

impl FromStr for VoteChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "approve" | "approved" | "yes" => Ok(VoteChoice::Approve),
            "veto" | "vetoed" | "reject" | "no" => Ok(VoteChoice::Veto),
            "abstain" => Ok(VoteChoice::Abstain),
            other => Err(format!(
                "unknown vote {other:?}: expected approve, veto or abstain"
            )),
        }
    }
}

/// One vote, in one round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// The voting agent.
    pub voter: AgentId,
    /// Its role.
    pub role: Role,
    /// The choice.
    pub choice: VoteChoice,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The round it was cast in.
    pub round: u8,
}

/// One change of status, kept forever in the decision's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// When.
    pub at: DateTime<Utc>,
    /// The status before (`None` at creation).
    pub from: Option<DecisionStatus>,
    /// The status after.
    pub to: DecisionStatus,
    /// The round at the time.
    pub round: u8,
    /// Who caused it: a role, `human` or `deadline`.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// A human's answer to an escalated decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HumanAnswer {
    /// Approved or rejected.
    pub approve: bool,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A notice about a decision (a transition, a request for votes, a result), stored with the
/// change it announces and removed once it is published, so the two cannot part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Where it goes.
    pub channel: crate::channel::Channel,
    /// What it says.
    pub envelope: crate::envelope::Envelope,
}

/// A decision and everything that happened to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Its id.
    pub id: DecisionId,
    /// Who proposed it.
    pub proposer: AgentId,
    /// The proposer's role.
    pub proposer_role: Role,
    /// Short title (current revision).
    pub title: String,
    /// What is proposed and why (current revision).
    pub description: String,
    /// Options the proposer laid out, verbatim.
    #[serde(default)]
    pub options: Vec<Value>,
    /// Tier.
    pub tier: Tier,
    /// Status.
    pub status: DecisionStatus,
    /// Round, 1 to the policy's maximum.
    pub round: u8,
    /// The roles whose votes count.
    pub reviewers: Vec<Role>,
    /// Every vote of every round.
    #[serde(default)]
    pub votes: Vec<Vote>,
    /// Every transition.
    #[serde(default)]
    pub history: Vec<Transition>,
    /// When proposed.
    pub created_at: DateTime<Utc>,
    /// When the current wait ends (reviewers', the proposer's or the human's); stored, so it
    /// survives restarts.
    pub deadline: Option<DateTime<Utc>>,
    /// Why it was escalated, while escalated.
    #[serde(default)]
    pub escalation: Option<String>,
    /// The human's answer, once given.
    #[serde(default)]
    pub human: Option<HumanAnswer>,
    /// Store version, for compare-and-set. Set by the store.
    #[serde(default)]
    pub version: u64,
    /// Notices of its changes not published yet (the outbox): written in the same store
    /// operation as the change, removed once published; whoever holds the company lease
    /// publishes what a failed publish left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<Notice>,
}

impl Decision {
    /// Whether it was decided without `agent` and `role`: someone else proposed it and `role`
    /// is not among its reviewers.
    pub fn is_without(&self, agent: AgentId, role: &Role) -> bool {
        self.proposer != agent && !self.reviewers.contains(role)
    }

    /// The votes of the current round.
    pub fn current_votes(&self) -> impl Iterator<Item = &Vote> {
        self.votes
            .iter()
            .filter(move |vote| vote.round == self.round)
    }

    /// The vote `role` cast in the current round, if any.
    pub fn vote_of(&self, role: &Role) -> Option<&Vote> {
        self.current_votes().find(|vote| &vote.role == role)
    }

    /// Records a transition and sets the status.
    pub fn transition(
        &mut self,
        to: DecisionStatus,
        at: DateTime<Utc>,
        by: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.history.push(Transition {
            at,
            from: Some(self.status),
            to,
            round: self.round,
            by: by.into(),
            reason: reason.into(),
        });
        self.status = to;
    }

    /// The path of statuses the decision took, e.g. `pending → revising → pending → approved`.
    pub fn path(&self) -> String {
        let mut steps: Vec<&str> = Vec::with_capacity(self.history.len());
        for transition in &self.history {
            steps.push(transition.to.as_str());
        }
        steps.join(" → ")
    }
}
