//! The tantivy index behind the provider, with batched commits.
//!
//! Adding a document to tantivy takes microseconds; committing (sealing a segment, writing the
//! index's metadata, and on disk syncing the files) takes milliseconds to tens of
//! milliseconds. So writes are not committed one by one: they are marked pending, and
//! committed by whichever comes first: the next search (which therefore always sees every
//! write made before it), the [`Committer`] thread a moment later, or dropping the provider.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::entry::Entry;
use crate::error::IndexError;
use crate::schema::Fields;

/// Memory the index writer may use before it flushes a segment (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 16 * 1024 * 1024;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves tantivy's writer usable: its operations either
    // happened or did not.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The index, its reader, and its writer unless read-only.
pub(crate) struct Core {
    pub(crate) index: Index,
    pub(crate) fields: Fields,
    reader: IndexReader,
    writer: Option<Mutex<IndexWriter>>,
    /// Whether writes wait for a commit. Set and cleared under the writer's lock.
    pending: AtomicBool,
}

impl Core {
    pub(crate) fn new(index: Index, fields: Fields, writable: bool) -> Result<Self, IndexError> {
        crate::schema::register_analyzer(&index);
        let writer = if writable {
            Some(Mutex::new(index.writer_with_num_threads(1, WRITER_MEMORY)?))
        } else {
            None
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            fields,
            reader,
            writer,
            pending: AtomicBool::new(false),
        })
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.writer.is_none()
    }

    /// The writer, locked.
    pub(crate) fn writer(&self) -> Result<MutexGuard<'_, IndexWriter>, IndexError> {
        self.writer.as_ref().map(lock).ok_or(IndexError::ReadOnly)
    }

    /// Replaces the passages of `entry`'s group with its passages, pending a commit.
    pub(crate) fn write(&self, writer: &IndexWriter, entry: &Entry) -> Result<(), IndexError> {
        let fields = &self.fields;
        self.delete(writer, &entry.group);
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

    /// Deletes every passage of `group`, pending a commit.
    pub(crate) fn delete(&self, writer: &IndexWriter, group: &str) {
        writer.delete_term(Term::from_field_text(self.fields.group, group));
        self.pending.store(true, Ordering::Release);
    }

    /// Commits pending writes and makes them visible to searches. Whether there were any.
    pub(crate) fn commit(&self) -> Result<bool, IndexError> {
        if !self.pending.load(Ordering::Acquire) {
            return Ok(false);
        }
        let mut writer = self.writer()?;
        if !self.pending.load(Ordering::Acquire) {
            return Ok(false);
        }
        writer.commit()?;
        self.pending.store(false, Ordering::Release);
        drop(writer);
        self.reader.reload()?;
        Ok(true)
    }

    /// A searcher over what is committed.
    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }
}

/// A thread that commits pending writes every `every`, so that on disk they are durable
/// within about that time and searches rarely have a commit to make first.
pub(crate) struct Committer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Starts the thread; `None` (logged) if the system refuses a thread: searches and drop
    /// still commit.
    pub(crate) fn start(core: &Arc<Core>, every: Duration) -> Option<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak: Weak<Core> = Arc::downgrade(core);
        let stopped = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("aito-context-commit".to_owned())
            .spawn(move || {
                loop {
                    std::thread::park_timeout(every);
                    if stopped.load(Ordering::Acquire) {
                        break;
                    }
                    let Some(core) = weak.upgrade() else {
                        break;
                    };
                    if let Err(err) = core.commit() {
                        tracing::warn!(error = %err, "could not commit the context index; will try again");
                    }
                }
            });
        match spawned {
            Ok(thread) => Some(Self {
                stop,
                thread: Some(thread),
            }),
            Err(err) => {
                tracing::warn!(error = %err, "no committer thread; writes are committed by the next search");
                None
            }
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
