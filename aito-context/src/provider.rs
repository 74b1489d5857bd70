//! [`TantivyContext`]: the built-in [`ContextProvider`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aito_core::Clock;
use aito_core::context::{
    ContextError, ContextProvider, ContextQuery, Knowledge, Passage, fit_passages,
};
use aito_core::decision::DecisionStatus;
use aito_core::directory::Directory;
use aito_core::store::{Outcome, StateStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocId, Index, Score, SegmentReader, TantivyDocument, TantivyError, Term};

use crate::entry::{self, Entry, Kind, PUBLIC};
use crate::error::IndexError;
use crate::folder::{self, Folders, MAX_FILE_BYTES};
use crate::index::{Committer, Core, lock};
use crate::rank::{Ranking, Visibility};
use crate::schema::{self, Fields};

/// How long a write may wait for its commit, by default.
pub const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// What a refresh of the knowledge folders did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Files read and indexed (new or changed).
    pub indexed: usize,
    /// Files gone from the folders, whose passages were removed.
    pub removed: usize,
    /// Files seen unchanged.
    pub unchanged: usize,
}

/// What [`TantivyContext::backfill`] indexed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backfill {
    /// Session summaries from the agents' history.
    pub summaries: usize,
    /// Decisions with an outcome.
    pub decisions: usize,
}

/// The built-in context provider: a tantivy full-text index of the company's knowledge
/// folders, session summaries, decisions and worker results, ranked by BM25 and recency.
///
/// - **Knowledge folders** (markdown and text) are re-scanned before every search: one `stat`
///   per file; only new or changed files are read and re-indexed, removed files drop out. A
///   file written now is found by the next session, without a restart.
/// - **Summaries, decisions and worker results** arrive through
///   [`observe`](ContextProvider::observe); every search sees what was observed before it. A
///   decision is indexed again at each outcome and replaces its previous passages.
/// - **Visibility**: see [`Visibility`]; an agent never gets another agent's private entries
///   unless its role is an overseer.
/// - **Storage**: [`in_memory`](TantivyContext::in_memory), or
///   [`open`](TantivyContext::open) on a directory, where it survives restarts.
///
/// Operations are synchronous and short: an observed entry takes microseconds (its commit is
/// batched, see [`index`](TantivyContext::index)); a query a few milliseconds on an index of
/// 10,000 passages, plus a commit if something was observed since the last one. The async
/// trait methods run them in place.
pub struct TantivyContext {
    core: Arc<Core>,
    folders: Mutex<Folders>,
    clock: Clock,
    ranking: Ranking,
    visibility: Visibility,
    location: Option<PathBuf>,
    committer: Option<Committer>,
}

impl std::fmt::Debug for TantivyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyContext")
            .field("location", &self.location)
            .field("read_only", &self.core.is_read_only())
            .field("ranking", &self.ranking)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

impl Drop for TantivyContext {
    fn drop(&mut self) {
        self.committer = None;
        if let Err(err) = self.core.commit() {
            tracing::warn!(error = %err, "the last writes to the context index could not be committed");
        }
    }
}

impl TantivyContext {
    /// An index in memory: nothing on disk, gone when the process ends. The embedded default.
    pub fn in_memory() -> Result<Self, IndexError> {
        let (schema, fields) = schema::schema();
        let index = Index::create_in_ram(schema);
        Self::with_index(index, fields, true, None)
    }

    /// The index in `dir`, created if missing. It keeps what was observed across restarts.
    ///
    /// Fails with [`IndexError::Locked`] while another process writes it (open it with
    /// [`open_read_only`](Self::open_read_only) to inspect it then), and with
    /// [`IndexError::SchemaMismatch`] if it was written by an incompatible version.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let directory = MmapDirectory::open(dir).map_err(|err| IndexError::Directory {
            path: dir.to_owned(),
            reason: err.to_string(),
        })?;
        let (schema, fields) = schema::schema();
        let index = match Index::open_or_create(directory, schema) {
            Ok(index) => index,
            Err(TantivyError::SchemaError(_)) => {
                return Err(IndexError::SchemaMismatch {
                    path: dir.to_owned(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        Self::with_index(index, fields, true, Some(dir.to_owned())).map_err(|err| match err {
            IndexError::Tantivy(TantivyError::LockFailure(..)) => IndexError::Locked {
                path: dir.to_owned(),
            },
            other => other,
        })
    }

    /// The index in `dir`, for searching only (while a running company writes it). Knowledge
    /// folders are not re-scanned; what the writer last indexed is searched.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        let dir = dir.as_ref();
        let index = Index::open_in_dir(dir)?;
        let fields = schema::fields_of(&index).ok_or_else(|| IndexError::SchemaMismatch {
            path: dir.to_owned(),
        })?;
        Self::with_index(index, fields, false, Some(dir.to_owned()))
    }

    fn with_index(
        index: Index,
        fields: Fields,
        writable: bool,
        location: Option<PathBuf>,
    ) -> Result<Self, IndexError> {
        let core = Arc::new(Core::new(index, fields, writable)?);
        let committer = if writable {
            Committer::start(&core, COMMIT_EVERY)
        } else {
            None
        };
        let context = Self {
            core,
            folders: Mutex::new(Folders::default()),
            clock: Clock::system(),
            ranking: Ranking::default(),
            visibility: Visibility::default(),
            location,
            committer,
        };
        context.load_stamps()?;
        Ok(context)
    }

    /// Indexes the markdown (`.md`, `.markdown`) and text (`.txt`) files under `folder`
    /// (sub-folders included, hidden files skipped), from the next search on.
    pub fn with_knowledge(self, folder: impl Into<PathBuf>) -> Self {
        lock(&self.folders).roots.push(folder.into());
        self
    }

    /// The clock that dates observed entries and measures their age (default: the system
    /// clock). Give it the company's clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The ranking (default: [`Ranking::default`]).
    pub fn with_ranking(mut self, ranking: Ranking) -> Self {
        self.ranking = ranking;
        self
    }

    /// Who sees what (default: [`Visibility::default`]).
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// The directory of an on-disk index.
    pub fn location(&self) -> Option<&Path> {
        self.location.as_deref()
    }

    /// Whether the index was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.core.is_read_only()
    }

    /// How many passages are indexed (pending writes committed first; on a read-only index,
    /// as of the writer's last commit it has seen).
    pub fn passages(&self) -> u64 {
        if let Err(err) = self.core.commit() {
            tracing::warn!(error = %err, "could not commit the context index");
        }
        self.core.searcher().num_docs()
    }

    /// Commits pending writes now (searches and a background thread do it anyway, within
    /// [`COMMIT_EVERY`]; on disk, a commit is what survives a crash).
    pub fn commit(&self) -> Result<(), IndexError> {
        self.core.commit().map(|_| ())
    }

    /// Re-scans the knowledge folders and re-indexes new and changed files; drops the
    /// passages of removed files. [`search`](Self::search) does this first; call it to index
    /// ahead of time. Does nothing on a read-only index.
    pub fn refresh(&self) -> Result<Refresh, IndexError> {
        if self.core.is_read_only() {
            return Ok(Refresh::default());
        }
        let mut folders = lock(&self.folders);
        let mut report = Refresh::default();
        let mut seen = HashSet::new();
        let mut changes: Vec<Entry> = Vec::new();
        let roots = folders.roots.clone();
        for root in &roots {
            for found in folder::scan(root) {
                let group = folder::group_of(&found.path);
                if seen.contains(&group) {
                    continue;
                }
                if folders.indexed.get(&group) == Some(&found.stamp) {
                    seen.insert(group);
                    report.unchanged += 1;
                    continue;
                }
                // A file that cannot be indexed is left out (its old passages too), and said
                // once per version of it, not at every search.
                let bytes = if found.len > MAX_FILE_BYTES {
                    Err(format!("larger than {MAX_FILE_BYTES} bytes"))
                } else {
                    std::fs::read(&found.path).map_err(|err| err.to_string())
                };
                let bytes = match bytes {
                    Ok(bytes) => bytes,
                    Err(reason) => {
                        if folders.skipped.get(&group) != Some(&found.stamp) {
                            tracing::warn!(file = %found.path.display(), %reason, "knowledge file skipped");
                            folders.skipped.insert(group, found.stamp);
                        }
                        continue;
                    }
                };
                seen.insert(group.clone());
                let text = String::from_utf8_lossy(&bytes);
                changes.push(entry::from_file(
                    group.clone(),
                    &found.display,
                    &text,
                    found.markdown,
                    found.modified,
                    found.stamp.clone(),
                ));
                folders.indexed.insert(group, found.stamp);
                report.indexed += 1;
            }
        }
        let gone: Vec<String> = folders
            .indexed
            .keys()
            .filter(|group| !seen.contains(*group))
            .cloned()
            .collect();
        if changes.is_empty() && gone.is_empty() {
            return Ok(report);
        }
        self.core.with_writer(|writer| {
            for group in &gone {
                self.core.delete(writer, group);
                folders.indexed.remove(group);
                report.removed += 1;
            }
            changes
                .iter()
                .try_for_each(|entry| self.core.write(writer, entry))
        })?;
        self.core.commit()?;
        tracing::info!(
            indexed = report.indexed,
            removed = report.removed,
            "knowledge folders re-indexed"
        );
        Ok(report)
    }

    /// Indexes `knowledge` as learned at `at` (a decision is dated by its last transition; a
    /// decision replaces its earlier passages). Takes microseconds: the commit is left to the
    /// next search, which sees it, or to the background commit within [`COMMIT_EVERY`].
    pub fn index(&self, knowledge: &Knowledge, at: DateTime<Utc>) -> Result<(), IndexError> {
        self.core.with_writer(|writer| {
            self.core
                .write(writer, &entry::from_knowledge(knowledge, at))
        })
    }

    /// Indexes many things and commits (for loading history in bulk).
    pub fn index_all<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a Knowledge, DateTime<Utc>)>,
    ) -> Result<(), IndexError> {
        self.core.with_writer(|writer| {
            items.into_iter().try_for_each(|(knowledge, at)| {
                self.core
                    .write(writer, &entry::from_knowledge(knowledge, at))
            })
        })?;
        self.core.commit().map(|_| ())
    }

    /// Indexes what `store` remembers: the newest `per_agent` handled sessions of every agent
    /// in `directory` (their summaries, dated by the history) and every decision with an
    /// outcome. Then commits.
    ///
    /// Idempotent: an entry already indexed, observed or backfilled, is replaced, not
    /// duplicated. Call it at start-up to give an in-memory index what a restart made it
    /// forget (the store, Redis for example, kept it), or an on-disk index what happened while
    /// it was not running.
    pub async fn backfill(
        &self,
        store: &dyn StateStore,
        directory: &Directory,
        per_agent: usize,
    ) -> Result<Backfill, IndexError> {
        let mut items: Vec<(Knowledge, DateTime<Utc>)> = Vec::new();
        let mut report = Backfill::default();
        for agent in directory.agents() {
            for entry in store.history(agent.id, per_agent).await? {
                if entry.outcome != Outcome::Handled {
                    continue;
                }
                items.push((
                    Knowledge::SessionSummary {
                        agent: agent.id,
                        role: agent.role.clone(),
                        trigger: entry.trigger,
                        summary: entry.summary,
                    },
                    entry.at,
                ));
                report.summaries += 1;
            }
        }
        for decision in store.decisions(None).await? {
            if decision.status == DecisionStatus::Pending {
                continue;
            }
            let at = decision
                .history
                .last()
                .map_or(decision.created_at, |transition| transition.at);
            items.push((
                Knowledge::Decision {
                    decision: Box::new(decision),
                },
                at,
            ));
            report.decisions += 1;
        }
        self.index_all(items.iter().map(|(knowledge, at)| (knowledge, *at)))?;
        tracing::info!(
            summaries = report.summaries,
            decisions = report.decisions,
            "context index backfilled from the store"
        );
        Ok(report)
    }

    /// Reads back which knowledge files an on-disk index holds, so a restart re-reads only
    /// the files that changed meanwhile.
    fn load_stamps(&self) -> Result<(), IndexError> {
        let searcher = self.core.searcher();
        let fields = self.core.fields;
        if searcher.num_docs() == 0 {
            return Ok(());
        }
        let query = TermQuery::new(
            Term::from_field_text(fields.kind, Kind::Knowledge.as_str()),
            IndexRecordOption::Basic,
        );
        let mut folders = lock(&self.folders);
        for address in searcher.search(&query, &DocSetCollector)? {
            let doc: TantivyDocument = searcher.doc(address)?;
            let group = doc.get_first(fields.group).and_then(|v| v.as_str());
            let stamp = doc.get_first(fields.stamp).and_then(|v| v.as_str());
            if let (Some(group), Some(stamp)) = (group, stamp) {
                folders.indexed.insert(group.to_owned(), stamp.to_owned());
            }
        }
        Ok(())
    }

    /// The passages `query.agent` (as `query.role`) would get at `now`: knowledge folders
    /// refreshed first, then ranked by BM25 times recency, cut by relative score, at most
    /// [`Ranking::max_passages`], and fitted to `query.budget_chars` by [`fit_passages`]
    /// (whole passages first; a cut or a passage left out is marked). Best first.
    pub fn search(
        &self,
        query: &ContextQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<Passage>, IndexError> {
        if let Err(err) = self.refresh() {
            // Stale knowledge is better than none.
            tracing::warn!(error = %err, "knowledge folders could not be refreshed");
        }
        // Everything observed before this search is in it.
        if let Err(err) = self.core.commit() {
            tracing::warn!(error = %err, "searching without the latest observations: they could not be committed");
        }
        let terms = schema::terms(&self.core.index, &query.text, self.ranking.max_query_terms);
        if terms.is_empty() || query.budget_chars == 0 || self.ranking.max_passages == 0 {
            return Ok(Vec::new());
        }
        let fields = self.core.fields;
        // One clause per word, matching in what the entry is about (boosted) or in its text.
        let words: Vec<Box<dyn Query>> = terms
            .iter()
            .map(|term| -> Box<dyn Query> {
                Box::new(BooleanQuery::union(vec![
                    Box::new(BoostQuery::new(
                        Box::new(TermQuery::new(
                            Term::from_field_text(fields.title, term),
                            IndexRecordOption::WithFreqs,
                        )),
                        self.ranking.title_boost,
                    )),
                    Box::new(TermQuery::new(
                        Term::from_field_text(fields.body, term),
                        IndexRecordOption::WithFreqs,
                    )),
                ]))
            })
            .collect();
        let shared = if terms.len() >= 3 {
            self.ranking.min_shared_terms.clamp(1, terms.len())
        } else {
            1
        };
        let text: Box<dyn Query> = Box::new(BooleanQuery::union_with_minimum_required_clauses(
            words, shared,
        ));
        let full: Box<dyn Query> = if self.visibility.oversees(&query.role) {
            text
        } else {
            let owners = [PUBLIC.to_owned(), query.agent.to_string()]
                .into_iter()
                .map(|owner| -> (Occur, Box<dyn Query>) {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(fields.owner, &owner),
                            IndexRecordOption::Basic,
                        )),
                    )
                })
                .collect();
            let visible = ConstScoreQuery::new(Box::new(BooleanQuery::new(owners)), 0.0);
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, text),
                (Occur::Must, Box::new(visible)),
            ]))
        };

        let now_secs = now.timestamp();
        let ranking = self.ranking.clone();
        let candidates = self.ranking.max_passages.saturating_mul(3);
        let collector =
            TopDocs::with_limit(candidates).tweak_score(move |segment: &SegmentReader| {
                let written = segment
                    .fast_fields()
                    .i64("at")
                    .ok()
                    .map(|column| column.first_or_default_col(now_secs));
                let ranking = ranking.clone();
                move |doc: DocId, score: Score| {
                    let at = written
                        .as_ref()
                        .map_or(now_secs, |column| column.get_val(doc));
                    score * ranking.recency(now_secs - at)
                }
            });
        let searcher = self.core.searcher();
        let hits = searcher.search(&full, &collector)?;
        let Some(best) = hits.first().map(|(score, _)| *score) else {
            return Ok(Vec::new());
        };
        let threshold = best * self.ranking.min_relative_score.clamp(0.0, 1.0);
        let mut relevant = Vec::new();
        for (score, address) in hits {
            if score < threshold || relevant.len() >= self.ranking.max_passages {
                break;
            }
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field| {
                doc.get_first(field)
                    .and_then(|value| value.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            relevant.push(Passage {
                source: text(fields.source),
                text: text(fields.body),
                score,
            });
        }
        let passages = fit_passages(&relevant, query.budget_chars);
        tracing::debug!(agent = %query.agent, role = %query.role, terms = terms.len(), relevant = relevant.len(), passages = passages.len(), "context");
        Ok(passages)
    }
}

#[async_trait]
impl ContextProvider for TantivyContext {
    async fn context(&self, query: &ContextQuery) -> Result<Vec<Passage>, ContextError> {
        Ok(self.search(query, self.clock.now())?)
    }

    async fn observe(&self, knowledge: &Knowledge) -> Result<(), ContextError> {
        Ok(self.index(knowledge, self.clock.now())?)
    }
}
