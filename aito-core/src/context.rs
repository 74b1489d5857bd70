//! The [`ContextProvider`] trait: what an agent knows when it thinks (RAG).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::id::AgentId;
use crate::role::Role;

/// A question for the context provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ContextQuery {
    /// The agent that will read the passages.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// Query text, built from the trigger (title, content, decision text).
    pub text: String,
    /// How many characters the passages may take in the prompt, all together, each counted by
    /// [`Passage::prompt_chars`] (its text, its source and the framing around them).
    pub budget_chars: usize,
}

/// One ranked passage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Where it comes from (a file path, `decision:<id>`, `summary:<role>`...).
    pub source: String,
    /// The text.
    pub text: String,
    /// Relevance; higher is better.
    pub score: f32,
}

impl Passage {
    /// Characters of framing the prompt puts around each passage (`[source]`, line breaks).
    pub const FRAMING_CHARS: usize = 5;

    /// Characters this passage takes in a prompt: its trimmed text, its source and the framing.
    /// A provider fits its answer to [`ContextQuery::budget_chars`] with this count.
    pub fn prompt_chars(&self) -> usize {
        self.source.chars().count() + self.text.trim().chars().count() + Self::FRAMING_CHARS
    }
}

/// Room kept for the line that counts the passages left out.
const OMITTED_LINE_ROOM: usize = 72;

/// The smallest part of a passage worth showing when the passage must be cut.
const SMALLEST_CUT_PASSAGE: usize = 160;

/// Fits `passages` (best first) to `budget_chars`, each counted by [`Passage::prompt_chars`].
///
/// When they all fit, they are returned as they are. Otherwise whole passages are kept in
/// order, the first that does not fit is cut (the cut marked in its text) if a useful part of
/// it fits, and the last passage kept ends with a line counting the passages left out, so the
/// model knows there was more. Empty when not even a useful part of the best passage fits.
/// The prompt builder applies it to whatever a provider returns; providers may use it too.
pub fn fit_passages(passages: &[Passage], budget_chars: usize) -> Vec<Passage> {
    let total: usize = passages.iter().map(Passage::prompt_chars).sum();
    if total <= budget_chars {
        return passages.to_vec();
    }
    let Some(room) = budget_chars.checked_sub(OMITTED_LINE_ROOM) else {
        return Vec::new();
    };
    let mut kept: Vec<Passage> = Vec::new();
    let mut used = 0;
    for passage in passages {
        let cost = passage.prompt_chars();
        if used + cost <= room {
            used += cost;
            kept.push(passage.clone());
            continue;
        }
        let framing = passage.source.chars().count() + Passage::FRAMING_CHARS;
        let left = room - used;
        if left >= framing + SMALLEST_CUT_PASSAGE {
            kept.push(Passage {
                text: crate::prompt::fit(passage.text.trim(), left - framing),
                ..passage.clone()
            });
        }
        break;
    }
    let omitted = passages.len() - kept.len();
    if omitted > 0
        && let Some(last) = kept.last_mut()
    {
        last.text = format!(
            "{}\n[… {omitted} more passages omitted to fit the context budget]",
            last.text.trim_end()
        );
    }
    kept
}

/// Something the company learned, offered to the provider to index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Knowledge {
    /// A session's summary.
    SessionSummary {
        /// Whose.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// The trigger, described.
        trigger: String,
        /// The summary.
        summary: String,
    },
    /// A decision reached an outcome.
    Decision {
        /// The decision, as stored.
        decision: Box<crate::decision::Decision>,
    },
    /// A worker finished.
    WorkerResult {
        /// The requesting agent.
        agent: AgentId,
        /// Its role.
        role: Role,
        /// The task.
        task: String,
        /// The result text.
        result: String,
    },
}

/// Why context could not be given.
#[derive(Debug, thiserror::Error)]
#[error("context provider failed: {0}")]
pub struct ContextError(pub String);

/// Supplies ranked passages for a prompt and learns from what the company does.
///
/// # Contract
/// - [`context`](ContextProvider::context) returns passages best first whose total
///   [`Passage::prompt_chars`] fits `budget_chars`, and never passages the asking agent may not
///   see (another agent's private state). [`fit_passages`] does the fitting; the prompt builder
///   applies it again to whatever a provider returns, so a careless provider cannot overrun.
/// - [`observe`](ContextProvider::observe) is called as things happen; later queries should see
///   them without a rebuild. It must be cheap: it runs on the agent's loop.
/// - Failures are logged by the daemon and the prompt is built without context; they never stop
///   a session.
#[cfg_attr(any(test, feature = "test-utils"), mockall::automock)]
#[async_trait]
pub trait ContextProvider: Send + Sync {
    /// Passages for `query`, best first.
    async fn context(&self, query: &ContextQuery) -> Result<Vec<Passage>, ContextError>;

    /// Learns something new.
    async fn observe(&self, knowledge: &Knowledge) -> Result<(), ContextError>;
}

/// A provider that knows nothing; the default when none is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoContext;

#[async_trait]
impl ContextProvider for NoContext {
    async fn context(&self, _query: &ContextQuery) -> Result<Vec<Passage>, ContextError> {
        Ok(Vec::new())
    }

    async fn observe(&self, _knowledge: &Knowledge) -> Result<(), ContextError> {
        Ok(())
    }
}
