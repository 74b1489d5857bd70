//! The tantivy index behind the provider, with batched commits.
//!
//! Adding a document to tantivy takes microseconds; committing (sealing a segment, writing the
//! index's metadata, and on disk syncing the files) takes milliseconds to tens of
//! milliseconds. So writes are not committed one by one: they are marked pending, and
//! committed by whichever comes first: the next search (which therefore always sees every
//! write made before it), the [`Committer`] thread a moment later, or dropping the provider.
//!
//! An open tantivy writer holds its indexing buffers and threads, some 20 MB of a process that
//! otherwise needs a few: more than an idle company should carry. So the writer is opened by
//! the first write and closed by the committer once a commit period has gone by without one.
//! The index stays locked for writing by this process all along, by a lock of its own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use tantivy::directory::{Directory as _, DirectoryLock, Lock};
use tantivy::{
    Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, TantivyError, Term,
};

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

/// The file of the lock a writable index holds for its whole life (tantivy's own writer lock,
/// `.tantivy-writer.lock`, is held only while the writer is open).
const WRITABLE_LOCK: &str = ".aito-writable.lock";

/// The writer side of a writable index.
struct Writing {
    /// Keeps other processes from opening the index for writing while the writer is closed.
    _lock: DirectoryLock,
    /// The writer while open.
    writer: Mutex<Option<IndexWriter>>,
}

/// The index, its reader, and its writer side unless read-only.
pub(crate) struct Core {
    pub(crate) index: Index,
    pub(crate) fields: Fields,
    reader: IndexReader,
    writing: Option<Writing>,
    /// Whether writes wait for a commit. Set and cleared under the writer's lock.
    pending: AtomicBool,
}

impl Core {
    /// Fails with tantivy's lock failure if `writable` and another process writes the index.
    pub(crate) fn new(index: Index, fields: Fields, writable: bool) -> Result<Self, IndexError> {
        crate::schema::register_analyzer(&index);
        let writing = if writable {
            let lock = Lock {
                filepath: PathBuf::from(WRITABLE_LOCK),
                is_blocking: false,
            };
            let lock = index
                .directory()
                .acquire_lock(&lock)
                .map_err(|err| TantivyError::LockFailure(err, None))?;
            Some(Writing {
                _lock: lock,
                writer: Mutex::new(None),
            })
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
            writing,
            pending: AtomicBool::new(false),
        })
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.writing.is_none()
    }

    /// Runs `write` with the writer, locked, and opened first if closed.
    pub(crate) fn with_writer<T>(
        &self,
        write: impl FnOnce(&IndexWriter) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let writing = self.writing.as_ref().ok_or(IndexError::ReadOnly)?;
        let mut slot = lock(&writing.writer);
        let writer = match slot.take() {
            Some(writer) => writer,
            None => self.index.writer_with_num_threads(1, WRITER_MEMORY)?,
        };
        write(slot.insert(writer))
    }

    /// Closes the writer if nothing waits for a commit: what the committer does once a
    /// period has passed without a write. Segment merges under way are finished first, under
    /// the lock, so that a write meanwhile waits rather than finding tantivy's writer lock
    /// still held. Whether it was open.
    pub(crate) fn close_idle_writer(&self) -> bool {
        let Some(writing) = &self.writing else {
            return false;
        };
        let mut slot = lock(&writing.writer);
        if self.pending.load(Ordering::Acquire) {
            return false;
        }
        let Some(writer) = slot.take() else {
            return false;
        };
        if let Err(err) = writer.wait_merging_threads() {
            // The merge is left undone; the segments it would have merged stay as they are.
            tracing::warn!(error = %err, "a segment merge of the context index failed");
        }
        true
    }

    /// Whether the writer is open.
    #[cfg(test)]
    fn writer_is_open(&self) -> bool {
        self.writing
            .as_ref()
            .is_some_and(|writing| lock(&writing.writer).is_some())
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
        let writing = self.writing.as_ref().ok_or(IndexError::ReadOnly)?;
        let mut slot = lock(&writing.writer);
        if !self.pending.load(Ordering::Acquire) {
            return Ok(false);
        }
        // Pending writes were made through an open writer, which stays open until they are
        // committed.
        if let Some(writer) = slot.as_mut() {
            writer.commit()?;
        }
        self.pending.store(false, Ordering::Release);
        drop(slot);
        self.reader.reload()?;
        Ok(true)
    }

    /// A searcher over what is committed.
    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }
}

/// A thread that commits pending writes every `every`, so that on disk they are durable
/// within about that time and searches rarely have a commit to make first, and closes the
/// writer when a period went by without a write.
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
                    match core.commit() {
                        Ok(true) => {}
                        Ok(false) => {
                            if core.close_idle_writer() {
                                tracing::debug!("context index writer closed while idle");
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "could not commit the context index; will try again");
                        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::directory::MmapDirectory;

    fn on_disk(dir: &std::path::Path, writable: bool) -> Result<Core, IndexError> {
        let (schema, fields) = crate::schema::schema();
        let directory = MmapDirectory::open(dir).expect("directory");
        let index = Index::open_or_create(directory, schema).expect("index");
        Core::new(index, fields, writable)
    }

    #[test]
    fn the_writer_is_open_only_while_there_is_writing_and_the_index_stays_locked_between() {
        let dir = tempfile::tempdir().expect("tempdir");
        let core = on_disk(dir.path(), true).expect("writable");
        assert!(!core.writer_is_open(), "opening the index opens no writer");

        core.with_writer(|writer| {
            core.delete(writer, "group");
            Ok(())
        })
        .expect("write");
        assert!(core.writer_is_open());
        assert!(
            !core.close_idle_writer(),
            "a pending write keeps the writer open"
        );
        assert!(core.commit().expect("commit"));
        assert!(core.close_idle_writer());
        assert!(!core.writer_is_open());

        assert!(
            matches!(
                on_disk(dir.path(), true),
                Err(IndexError::Tantivy(TantivyError::LockFailure(..)))
            ),
            "another writer is refused while the writer is closed"
        );
        assert!(on_disk(dir.path(), false).is_ok(), "a reader is not");

        core.with_writer(|writer| {
            core.delete(writer, "group");
            Ok(())
        })
        .expect("a write reopens the writer");
        assert!(core.commit().expect("commit"));
        drop(core);
        assert!(
            on_disk(dir.path(), true).is_ok(),
            "the lock goes with the index"
        );
    }

    #[test]
    fn the_committer_closes_the_writer_a_period_after_the_last_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let core = Arc::new(on_disk(dir.path(), true).expect("writable"));
        let _committer = Committer::start(&core, Duration::from_millis(20)).expect("thread");
        core.with_writer(|writer| {
            core.delete(writer, "group");
            Ok(())
        })
        .expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while core.writer_is_open() {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer stays open"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !core.pending.load(Ordering::Acquire),
            "the write was committed before the writer was closed"
        );
    }
}
