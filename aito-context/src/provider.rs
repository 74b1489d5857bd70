//! [`TantivyContext`]: the built-in [`ContextProvider`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use aito_core::Clock;
use aito_core::context::{
    ContextError, ContextProvider, ContextQuery, Knowledge, Passage, fit_passages,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TantivyDocument,
    TantivyError, Term,
};

use crate::entry::{self, Entry, Kind, PUBLIC};
use crate::error::IndexError;
use crate::folder::{self, Folders, MAX_FILE_BYTES};
use crate::rank::{Ranking, Visibility};
use crate::schema::{self, Fields};

/// Memory the index writer may use before it flushes a segment.
const WRITER_MEMORY: usize = 16 * 1024 * 1024;

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

/// The built-in context provider: a tantivy full-text index of the company's knowledge
/// folders, session summaries, decisions and worker results, ranked by BM25 and recency.
///
/// - **Knowledge folders** (markdown and text) are re-scanned before every search: one `stat`
///   per file; only new or changed files are read and re-indexed, removed files drop out. A
///   file written now is found by the next session, without a restart.
/// - **Summaries, decisions and worker results** arrive through
///   [`observe`](ContextProvider::observe) and are searchable as soon as it returns. A
///   decision is indexed again at each outcome and replaces its previous passages.
/// - **Visibility**: see [`Visibility`]; an agent never gets another agent's private entries
///   unless its role is an overseer.
/// - **Storage**: [`in_memory`](TantivyContext::in_memory), or
///   [`open`](TantivyContext::open) on a directory, where it survives restarts.
///
/// Operations are synchronous and short (well under 10 ms for a query or an observed entry on
/// an index of 10,000 passages); the async trait methods run them in place.
pub struct TantivyContext {
    index: Index,
    reader: IndexReader,
    /// `None` when opened read-only.
    writer: Option<Mutex<IndexWriter>>,
    fields: Fields,
    folders: Mutex<Folders>,
    clock: Clock,
    ranking: Ranking,
    visibility: Visibility,
    location: Option<PathBuf>,
}

impl std::fmt::Debug for TantivyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyContext")
            .field("location", &self.location)
            .field("read_only", &self.writer.is_none())
            .field("ranking", &self.ranking)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves tantivy's writer usable: its operations either
    // happened or did not.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
        schema::register_analyzer(&index);
        let writer = if writable {
            Some(Mutex::new(index.writer_with_num_threads(1, WRITER_MEMORY)?))
        } else {
            None
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let context = Self {
            index,
            reader,
            writer,
            fields,
            folders: Mutex::new(Folders::default()),
            clock: Clock::system(),
            ranking: Ranking::default(),
            visibility: Visibility::default(),
            location,
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
        self.writer.is_none()
    }

    /// How many passages are indexed (as of the last change this process made or saw).
    pub fn passages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Re-scans the knowledge folders and re-indexes new and changed files; drops the
    /// passages of removed files. [`search`](Self::search) does this first; call it to index
    /// ahead of time. Does nothing on a read-only index.
    pub fn refresh(&self) -> Result<Refresh, IndexError> {
        let Some(writer) = &self.writer else {
            return Ok(Refresh::default());
        };
        let mut folders = lock(&self.folders);
        let mut report = Refresh::default();
        let mut seen = HashSet::new();
        let mut changes: Vec<Entry> = Vec::new();
        let roots = folders.roots.clone();
        for root in &roots {
            for found in folder::scan(root) {
                let group = folder::group_of(&found.path);
                if !seen.insert(group.clone()) {
                    continue;
                }
                if folders.indexed.get(&group) == Some(&found.stamp) {
                    report.unchanged += 1;
                    continue;
                }
                if found.len > MAX_FILE_BYTES {
                    tracing::warn!(file = %found.path.display(), bytes = found.len, "knowledge file too large; skipped");
                    continue;
                }
                let bytes = std::fs::read(&found.path).map_err(|source| IndexError::Io {
                    path: found.path.clone(),
                    source,
                })?;
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
        let mut writer = lock(writer);
        for group in &gone {
            writer.delete_term(Term::from_field_text(self.fields.group, group));
            folders.indexed.remove(group);
            report.removed += 1;
        }
        for entry in &changes {
            self.write(&writer, entry)?;
        }
        self.commit(&mut writer)?;
        tracing::info!(
            indexed = report.indexed,
            removed = report.removed,
            "knowledge folders re-indexed"
        );
        Ok(report)
    }

    /// Indexes `knowledge` as learned at `at` (a decision is dated by its last transition).
    /// Searchable when this returns. A decision replaces its earlier passages.
    pub fn index(&self, knowledge: &Knowledge, at: DateTime<Utc>) -> Result<(), IndexError> {
        self.index_all(std::iter::once((knowledge, at)))
    }

    /// Indexes many things with one commit (for loading history in bulk).
    pub fn index_all<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a Knowledge, DateTime<Utc>)>,
    ) -> Result<(), IndexError> {
        let writer = self.writer.as_ref().ok_or(IndexError::ReadOnly)?;
        let mut writer = lock(writer);
        for (knowledge, at) in items {
            self.write(&writer, &entry::from_knowledge(knowledge, at))?;
        }
        self.commit(&mut writer)
    }

    /// Replaces the passages of `entry`'s group with its passages (not yet committed).
    fn write(&self, writer: &IndexWriter, entry: &Entry) -> Result<(), IndexError> {
        let fields = &self.fields;
        writer.delete_term(Term::from_field_text(fields.group, &entry.group));
        for piece in &entry.pieces {
            let mut doc = TantivyDocument::new();
            doc.add_text(fields.group, &entry.group);
            doc.add_text(fields.kind, entry.kind.as_str());
            doc.add_text(fields.owner, entry.owner.term());
            doc.add_text(fields.source, &piece.source);
            doc.add_text(fields.title, format!("{} {}", entry.title, piece.heading));
            doc.add_text(fields.body, &piece.text);
            doc.add_i64(fields.at, entry.at.timestamp());
            if let Some(stamp) = &entry.stamp {
                doc.add_text(fields.stamp, stamp);
            }
            writer.add_document(doc)?;
        }
        Ok(())
    }

    /// Commits and makes the new passages visible to searches.
    fn commit(&self, writer: &mut IndexWriter) -> Result<(), IndexError> {
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Reads back which knowledge files an on-disk index holds, so a restart re-reads only
    /// the files that changed meanwhile.
    fn load_stamps(&self) -> Result<(), IndexError> {
        let searcher = self.reader.searcher();
        if searcher.num_docs() == 0 {
            return Ok(());
        }
        let query = TermQuery::new(
            Term::from_field_text(self.fields.kind, Kind::Knowledge.as_str()),
            IndexRecordOption::Basic,
        );
        let mut folders = lock(&self.folders);
        for address in searcher.search(&query, &DocSetCollector)? {
            let doc: TantivyDocument = searcher.doc(address)?;
            let group = doc.get_first(self.fields.group).and_then(|v| v.as_str());
            let stamp = doc.get_first(self.fields.stamp).and_then(|v| v.as_str());
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
        let terms = schema::terms(&self.index, &query.text, self.ranking.max_query_terms);
        if terms.is_empty() || query.budget_chars == 0 || self.ranking.max_passages == 0 {
            return Ok(Vec::new());
        }
        let fields = self.fields;
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
        let searcher = self.reader.searcher();
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
