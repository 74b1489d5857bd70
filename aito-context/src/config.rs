//! [`ContextConfig`]: the `[context]` table of `aito.toml`, and [`search_as`], what
//! `aito context search "QUERY" --agent ROLE` runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aito_core::context::{ContextQuery, Passage};
use aito_core::prompt::CONTEXT_HEADER;
use aito_core::{Clock, Role, Settings};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::IndexError;
use crate::provider::TantivyContext;
use crate::rank::{Ranking, Visibility};

/// Where the index lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// In memory: rebuilt from the knowledge folders at start; what was observed is lost at
    /// exit. The embedded default.
    #[default]
    Memory,
    /// On disk under the data directory: survives restarts.
    Disk,
}

/// The `[context]` table of `aito.toml`.
///
/// ```toml
/// [context]
/// knowledge = ["knowledge"]   # folders of .md/.markdown/.txt, relative to aito.toml
/// storage = "disk"            # "memory" (default) or "disk"
/// dir = "context"             # the on-disk index, relative to the data directory
/// overseers = ["ceo"]         # roles that see every agent's summaries and worker results
/// max_passages = 8
/// half_life_days = 30
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextConfig {
    /// Knowledge folders, relative to the folder of `aito.toml` unless absolute.
    pub knowledge: Vec<PathBuf>,
    /// Memory or disk.
    pub storage: Storage,
    /// The on-disk index, relative to the data directory unless absolute (default `context`).
    pub dir: PathBuf,
    /// Roles that also see every agent's private entries (default: the CEO).
    pub overseers: Vec<Role>,
    /// At most this many passages per prompt.
    pub max_passages: usize,
    /// Days after which the recency bonus of an entry is halved.
    pub half_life_days: f64,
}

impl Default for ContextConfig {
    fn default() -> Self {
        let ranking = Ranking::default();
        Self {
            knowledge: Vec::new(),
            storage: Storage::Memory,
            dir: PathBuf::from("context"),
            overseers: Visibility::default().overseers,
            max_passages: ranking.max_passages,
            half_life_days: ranking.half_life.as_secs_f64() / 86_400.0,
        }
    }
}

impl ContextConfig {
    /// The on-disk index directory, if the storage is on disk.
    pub fn index_dir(&self, data_dir: &Path) -> Option<PathBuf> {
        (self.storage == Storage::Disk).then(|| data_dir.join(&self.dir))
    }

    /// The ranking this configuration asks for.
    pub fn ranking(&self) -> Ranking {
        let half_life = if self.half_life_days.is_finite() && self.half_life_days > 0.0 {
            Duration::from_secs_f64(self.half_life_days * 86_400.0)
        } else {
            Duration::ZERO
        };
        Ranking {
            half_life,
            max_passages: self.max_passages,
            ..Ranking::default()
        }
    }

    /// The provider: on disk or in memory, with the knowledge folders (relative paths taken
    /// from `base`, the folder of `aito.toml`), the ranking, the visibility and `clock`.
    pub fn build(
        &self,
        base: &Path,
        data_dir: &Path,
        clock: Clock,
    ) -> Result<TantivyContext, IndexError> {
        let context = match self.index_dir(data_dir) {
            Some(dir) => TantivyContext::open(dir)?,
            None => TantivyContext::in_memory()?,
        };
        Ok(self.configure(context, base).with_clock(clock))
    }

    fn configure(&self, mut context: TantivyContext, base: &Path) -> TantivyContext {
        for folder in &self.knowledge {
            context = context.with_knowledge(base.join(folder));
        }
        context
            .with_ranking(self.ranking())
            .with_visibility(Visibility {
                overseers: self.overseers.clone(),
            })
    }
}

/// The characters of passages a prompt built with `settings` has room for: the context share
/// of the prompt budget, less the section's heading. What the daemon passes as
/// [`ContextQuery::budget_chars`].
pub fn budget_for(settings: &Settings) -> usize {
    let share = (settings.prompt_budget as f64 * settings.context_share) as usize;
    share.saturating_sub(CONTEXT_HEADER.chars().count())
}

/// What an agent would get for a query.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    /// The role asked as.
    pub role: Role,
    /// The passages, best first.
    pub passages: Vec<Passage>,
    /// Passages in the index.
    pub indexed: u64,
    /// The budget used.
    pub budget_chars: usize,
    /// Whether the index was opened read-only (a running company holds it; the knowledge
    /// folders were not re-scanned).
    pub read_only: bool,
}

impl Inspection {
    /// What `context` gives `query` at `now`.
    pub fn of(
        context: &TantivyContext,
        query: &ContextQuery,
        now: DateTime<Utc>,
    ) -> Result<Self, IndexError> {
        let passages = context.search(query, now)?;
        Ok(Self {
            role: query.role.clone(),
            passages,
            indexed: context.passages(),
            budget_chars: query.budget_chars,
            read_only: context.is_read_only(),
        })
    }

    /// The inspection as text for a terminal: a line of figures, then each passage with its
    /// rank, score and source, its text indented.
    pub fn render(&self) -> String {
        let used: usize = self.passages.iter().map(Passage::prompt_chars).sum();
        let mut out = format!(
            "{} would get {} passage(s), {used} of {} characters, from {} indexed{}\n",
            self.role.as_str().to_uppercase(),
            self.passages.len(),
            self.budget_chars,
            self.indexed,
            if self.read_only {
                " (read-only: a running company holds the index; knowledge folders not re-scanned)"
            } else {
                ""
            }
        );
        for (rank, passage) in self.passages.iter().enumerate() {
            let _ = writeln!(
                out,
                "\n{}. [{}] score {:.3}",
                rank + 1,
                passage.source,
                passage.score
            );
            for line in passage.text.trim().lines() {
                let _ = writeln!(out, "   {line}");
            }
        }
        out
    }
}

/// What `aito context search "QUERY" --agent ROLE` does: builds the provider as the company
/// would (`config`, knowledge folders relative to `base`, the index under `data_dir`) and runs
/// `query` (the agent's id and role, the text, and the budget: [`budget_for`] the company's
/// settings) at `now`.
///
/// An on-disk index held by a running company is opened read-only. An in-memory index holds
/// only the knowledge folders here; to add what the company's store remembers (a Redis
/// store), build the provider with [`ContextConfig::build`], call
/// [`TantivyContext::backfill`], and inspect with [`Inspection::of`].
pub fn search_as(
    config: &ContextConfig,
    base: &Path,
    data_dir: &Path,
    query: &ContextQuery,
    now: DateTime<Utc>,
) -> Result<Inspection, IndexError> {
    let context = match config.index_dir(data_dir) {
        Some(dir) => match TantivyContext::open(&dir) {
            Err(IndexError::Locked { .. }) => TantivyContext::open_read_only(&dir)?,
            other => other?,
        },
        None => TantivyContext::in_memory()?,
    };
    let context = config.configure(context, base);
    Inspection::of(&context, query, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_table_reads_its_keys_and_defaults_the_rest() {
        let config: ContextConfig = serde_json::from_value(serde_json::json!({
            "knowledge": ["knowledge", "/srv/handbook"],
            "storage": "disk",
            "overseers": ["ceo", "dao"],
            "half_life_days": 7
        }))
        .expect("config");
        assert_eq!(config.knowledge.len(), 2);
        assert_eq!(config.storage, Storage::Disk);
        assert_eq!(config.overseers, vec![Role::Ceo, Role::Dao]);
        assert_eq!(config.max_passages, 8);
        assert_eq!(
            config.index_dir(Path::new("aito-data")),
            Some(PathBuf::from("aito-data/context"))
        );
        assert_eq!(config.ranking().half_life, Duration::from_secs(7 * 86_400));

        let default = ContextConfig::default();
        assert_eq!(default.storage, Storage::Memory);
        assert_eq!(default.index_dir(Path::new("aito-data")), None);
        assert_eq!(default.ranking(), Ranking::default());

        let typo = serde_json::from_value::<ContextConfig>(serde_json::json!({"knowlege": []}));
        assert!(typo.is_err(), "unknown keys are refused");
    }

    #[test]
    fn the_budget_is_the_daemons() {
        let settings = Settings::default();
        assert_eq!(
            budget_for(&settings),
            6_000 - CONTEXT_HEADER.chars().count()
        );
    }
}
