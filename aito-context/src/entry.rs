//! Entries: what the index learns, turned into passages with a source, an owner and a time.

use std::fmt::Write as _;

use aito_core::context::Knowledge;
use aito_core::decision::{Decision, DecisionStatus, VoteChoice};
use aito_core::{AgentId, Role};
use chrono::{DateTime, Utc};

use crate::chunk::{self, MAX_PASSAGE};

/// The kinds of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A passage of a file in a knowledge folder.
    Knowledge,
    /// An agent's session summary.
    Summary,
    /// A decision with its outcome, votes and reasons.
    Decision,
    /// A worker's result.
    Worker,
}

impl Kind {
    /// The name stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Knowledge => "knowledge",
            Kind::Summary => "summary",
            Kind::Decision => "decision",
            Kind::Worker => "worker",
        }
    }
}

/// Who may see an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Every agent.
    Public,
    /// This agent (and the overseers, see [`Visibility`](crate::Visibility)).
    Agent(AgentId),
}

impl Owner {
    /// The term stored in the index.
    pub(crate) fn term(self) -> String {
        match self {
            Owner::Public => PUBLIC.to_owned(),
            Owner::Agent(agent) => agent.to_string(),
        }
    }
}

/// The owner term of public entries.
pub(crate) const PUBLIC: &str = "public";

/// One passage of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) source: String,
    /// Headings above this passage, indexed with the entry's title.
    pub(crate) heading: String,
    pub(crate) text: String,
}

/// Something to index: one or more passages deleted and replaced together.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The deletion key; indexing an entry replaces every passage of the same group.
    pub(crate) group: String,
    pub(crate) kind: Kind,
    pub(crate) owner: Owner,
    /// What the whole entry is about; indexed with every passage, matches weigh more.
    pub(crate) title: String,
    pub(crate) pieces: Vec<Piece>,
    pub(crate) at: DateTime<Utc>,
    /// Modification stamp of a knowledge file.
    pub(crate) stamp: Option<String>,
}

/// The entry for something the company learned at `at` (a decision's own time is its last
/// transition).
pub(crate) fn from_knowledge(knowledge: &Knowledge, at: DateTime<Utc>) -> Entry {
    match knowledge {
        Knowledge::SessionSummary {
            agent,
            role,
            trigger,
            summary,
        } => {
            let text = format!("Woken by: {trigger}\nWhat I did: {summary}");
            private(Kind::Summary, *agent, role, trigger, &text, at, "summary")
        }
        Knowledge::WorkerResult {
            agent,
            role,
            task,
            result,
        } => {
            let text = format!("Task: {task}\nResult: {result}");
            private(Kind::Worker, *agent, role, task, &text, at, "worker")
        }
        Knowledge::Decision { decision } => from_decision(decision),
    }
}

fn private(
    kind: Kind,
    agent: AgentId,
    role: &Role,
    title: &str,
    text: &str,
    at: DateTime<Utc>,
    label: &str,
) -> Entry {
    let source = format!("{label}:{role} {}", at.format("%Y-%m-%d %H:%M"));
    // Named by its content, so the same session observed and later loaded from the store's
    // history (see `TantivyContext::backfill`) is one entry, not two.
    let name = format!("{agent}\n{title}\n{text}");
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    Entry {
        group: format!("{label}:{id}"),
        kind,
        owner: Owner::Agent(agent),
        title: title.to_owned(),
        pieces: pieces(&source, text),
        at,
        stamp: None,
    }
}

/// What a status means, in words.
/// `text` cut into passages of at most [`MAX_PASSAGE`] characters, each citing `source`.
fn pieces(source: &str, text: &str) -> Vec<Piece> {
    chunk::pack(text, MAX_PASSAGE)
        .into_iter()
        .map(|text| Piece {
            source: source.to_owned(),
            heading: String::new(),
            text,
        })
        .collect()
}

fn outcome(status: DecisionStatus) -> &'static str {
    match status {
        DecisionStatus::Pending => "waiting for votes",
        DecisionStatus::Revising => "VETOED and sent back to the proposer",
        DecisionStatus::Escalated => "escalated to a human",
        DecisionStatus::Approved => "APPROVED",
        DecisionStatus::Executed => "approved and carried out",
        DecisionStatus::Rejected => "REJECTED by a human",
        DecisionStatus::Withdrawn => "withdrawn by the proposer",
    }
}

fn from_decision(decision: &Decision) -> Entry {
    let at = decision
        .history
        .last()
        .map_or(decision.created_at, |transition| transition.at);
    let mut text = format!(
        "Decision \"{}\", {} tier, proposed by {} on {}: {} (round {}).\n",
        decision.title,
        decision.tier,
        decision.proposer_role,
        decision.created_at.format("%Y-%m-%d"),
        outcome(decision.status),
        decision.round
    );
    if !decision.description.trim().is_empty() {
        let _ = writeln!(text, "{}", decision.description.trim());
    }
    for vote in &decision.votes {
        if vote.reason == "proposer" && vote.voter == decision.proposer {
            continue;
        }
        let choice = match vote.choice {
            VoteChoice::Approve => "approved",
            VoteChoice::Veto => "VETOED",
            VoteChoice::Abstain => "abstained",
        };
        let _ = writeln!(
            text,
            "- round {}: {} {choice}: {}",
            vote.round, vote.role, vote.reason
        );
    }
    for transition in decision.history.iter().skip(1) {
        if transition.to == DecisionStatus::Revising || transition.to == DecisionStatus::Pending {
            // Vetoes are in the votes; revisions say what the title was.
            if !transition.reason.starts_with("revised") {
                continue;
            }
        }
        let _ = writeln!(
            text,
            "- {} {} by {}: {}",
            transition.at.format("%Y-%m-%d %H:%M"),
            transition.to,
            transition.by,
            transition.reason
        );
    }
    if let Some(human) = &decision.human {
        let _ = writeln!(
            text,
            "A human {}: {}",
            if human.approve {
                "approved"
            } else {
                "rejected"
            },
            human.reason
        );
    }
    let source = format!("decision:{}", decision.id);
    Entry {
        group: source.clone(),
        kind: Kind::Decision,
        owner: Owner::Public,
        title: decision.title.clone(),
        pieces: pieces(&source, &text),
        at,
        stamp: None,
    }
}

/// The entry for a knowledge file. `display` is how the file is named in sources
/// (`knowledge/finance/burn.md`); markdown is cut by heading, other text by paragraph.
pub(crate) fn from_file(
    group: String,
    display: &str,
    text: &str,
    markdown: bool,
    at: DateTime<Utc>,
    stamp: String,
) -> Entry {
    let chunks = if markdown {
        chunk::markdown(text, MAX_PASSAGE)
    } else {
        chunk::plain(text, MAX_PASSAGE)
    };
    let stem = std::path::Path::new(display)
        .file_stem()
        .map(|stem| stem.to_string_lossy().replace(['-', '_', '.'], " "))
        .unwrap_or_default();
    // The file name and its top heading say what every passage of the file is about.
    let top = chunks
        .iter()
        .find_map(|chunk| {
            chunk
                .heading
                .split(" › ")
                .next()
                .filter(|top| !top.is_empty())
        })
        .unwrap_or_default()
        .to_owned();
    let title = if words(&stem) == words(&top) || top.is_empty() {
        stem
    } else {
        format!("{stem} {top}")
    };
    let pieces = chunks
        .into_iter()
        .map(|chunk| Piece {
            source: if chunk.heading.is_empty() {
                display.to_owned()
            } else {
                format!("{display} § {}", chunk.heading)
            },
            heading: chunk.heading,
            text: chunk.text,
        })
        .collect();
    Entry {
        group,
        kind: Kind::Knowledge,
        owner: Owner::Public,
        title,
        pieces,
        at,
        stamp: Some(stamp),
    }
}

/// The lowercase words of `text`, for comparing a file name with a heading.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}
