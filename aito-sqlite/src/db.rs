//! [`Database`]: one SQLite file in WAL mode, owned by a dedicated thread.
//!
//! Every operation is a closure sent to that thread. The thread takes whatever operations
//! are waiting (up to [`MAX_BATCH`]), runs them in one transaction, each inside its own
//! savepoint (an operation that fails leaves no trace, the others stand), commits, and only
//! then answers each caller. So each operation is atomic, nothing is reported done before it
//! is committed, concurrent callers share one commit (group commit), and no SQLite call ever
//! runs on the async runtime's threads.
//!
//! Acknowledged rows are deleted by the next transaction that writes anyway, first thing in it
//! (before any other operation of its batch), or after [`ACK_DELAY`] when none comes: a stream
//! of messages costs one transaction per publication, not one more per acknowledgement.

use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aito_core::Clock;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::schema;

/// Operations committed together at most.
pub const MAX_BATCH: usize = 256;

/// How long the deletion of an acknowledged row waits at most for a transaction to join.
pub const ACK_DELAY: Duration = Duration::from_millis(2);

/// Acknowledged rows (their seq numbers) not yet deleted.
type Acks = Arc<Mutex<Vec<i64>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A plain list: each operation leaves it consistent even under a panic elsewhere.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How hard a commit is made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = NORMAL`: a commit survives the process being killed at any point; a
    /// power loss may take back the last commits (never corrupting the file). Fast: the file
    /// is synced at checkpoints, not at every commit.
    #[default]
    Process,
    /// `synchronous = FULL`: a commit also survives a power loss; each commit syncs the
    /// write-ahead log (group commit shares the sync between concurrent operations).
    PowerLoss,
}

/// How the database is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// What a commit survives.
    pub durability: Durability,
    /// How long an operation waits for another process's write to finish.
    pub busy_timeout: Duration,
    /// The company's clock, against which times to live are measured.
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            busy_timeout: Duration::from_secs(5),
            clock: Clock::system(),
        }
    }
}

/// What the open found in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The schema version the file was at (0: new).
    pub found_version: i64,
}

trait Job: Send {
    /// Runs the operation; `true` when it succeeded (its savepoint is kept).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the transaction ended: `Ok` when it was committed.
    fn finish(self: Box<Self>, committed: Result<(), &Error>);
}

struct Call<T, F, A> {
    operation: Option<F>,
    result: Option<Result<T, Error>>,
    /// Runs on the database thread once the operation is committed, before the caller hears.
    committed: Option<A>,
    reply: Option<oneshot::Sender<Result<T, Error>>>,
}

/// No step after the commit.
type Nothing<T> = fn(&mut T);

impl<T, F, A> Job for Call<T, F, A>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, Error> + Send,
    A: FnOnce(&mut T) + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(operation) = self.operation.take() else {
            return false;
        };
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| operation(conn))).unwrap_or_else(|_| {
                tracing::error!("a database operation panicked; it was rolled back");
                Err(Error::Closed)
            });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), &Error>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(Ok(mut value))) => {
                if let Some(after) = self.committed {
                    after(&mut value);
                }
                Ok(value)
            }
            (Ok(()), Some(Err(err))) => Err(err),
            (_, Some(Err(err))) => Err(err),
            (Err(err), _) => Err(copy(err)),
            (Ok(()), None) => Err(Error::Closed),
        };
        if let Some(reply) = self.reply {
            let _ = reply.send(result);
        }
    }
}

fn copy(err: &Error) -> Error {
    Error::Transaction {
        reason: err.to_string(),
        busy: err.is_busy(),
    }
}

/// How a task runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// In a batch's transaction, reading only.
    Read,
    /// In a batch's transaction, writing, inside a savepoint of its own.
    Write,
    /// In a batch's transaction, writing with one statement (atomic by itself: no savepoint).
    Statement,
    /// Alone, outside any transaction (`VACUUM INTO`).
    Bare,
}

struct Task {
    job: Box<dyn Job>,
    mode: Mode,
}

/// One SQLite file, shared by the store and the bus of a process. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    sender: mpsc::UnboundedSender<Task>,
    path: PathBuf,
    clock: Clock,
    acks: Acks,
    /// A flush of the acknowledgements is scheduled.
    ack_timer: AtomicBool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens (creating it and its directory when absent) the database at `path`, checks it,
    /// and migrates it to the current schema.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, Options::default())
            .await
            .map(|(db, _)| db)
    }

    /// [`open`](Self::open) with options; also says what was found.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: Options,
    ) -> Result<(Self, Opened), Error> {
        let path = path.as_ref().to_path_buf();
        let (sender, receiver) = mpsc::unbounded_channel::<Task>();
        let (ready, opened) = oneshot::channel();
        let thread_path = path.clone();
        let thread_options = options.clone();
        let acks = Acks::default();
        let thread_acks = Arc::clone(&acks);
        std::thread::Builder::new()
            .name("aito-sqlite".to_owned())
            .spawn(move || match connect(&thread_path, &thread_options) {
                Ok((conn, found)) => {
                    if ready.send(Ok(found)).is_ok() {
                        serve(conn, receiver, &thread_acks);
                    }
                }
                Err(err) => {
                    let _ = ready.send(Err(err));
                }
            })
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        let found_version = opened.await.map_err(|_| Error::Closed)??;
        let inner = Arc::new(Shared {
            sender,
            path,
            clock: options.clock,
            acks,
            ack_timer: AtomicBool::new(false),
        });
        crate::clean::spawn(Arc::downgrade(&inner));
        Ok((Self { inner }, Opened { found_version }))
    }

    pub(crate) fn from_shared(inner: Arc<Shared>) -> Self {
        Self { inner }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The company's clock, in milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now().timestamp_millis()
    }

    fn send<T, F, A>(
        &self,
        mode: Mode,
        operation: F,
        committed: Option<A>,
        reply: Option<oneshot::Sender<Result<T, Error>>>,
    ) -> Result<(), Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        A: FnOnce(&mut T) + Send + 'static,
    {
        let job = Box::new(Call {
            operation: Some(operation),
            result: None,
            committed,
            reply,
        });
        self.inner
            .sender
            .send(Task { job, mode })
            .map_err(|_| Error::Closed)
    }

    /// Runs `operation` atomically on the database thread; answers once it is committed.
    pub(crate) async fn write<T, F>(&self, operation: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Mode::Write, operation, None::<Nothing<T>>, Some(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// [`write`](Self::write) for an operation that changes the database with one statement
    /// (reads besides it are fine): atomic without a savepoint of its own.
    pub(crate) async fn write_one<T, F>(&self, operation: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Mode::Statement, operation, None::<Nothing<T>>, Some(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// [`write_one`](Self::write_one), and `committed` runs on the database thread with the
    /// operation's result once it is committed (never when it is not), before the caller
    /// hears: what must follow the commit happens even if the caller stopped waiting.
    pub(crate) async fn write_one_then<T, F, A>(
        &self,
        operation: F,
        committed: A,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
        A: FnOnce(&mut T) + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Mode::Statement, operation, Some(committed), Some(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Runs a read-only `operation` on the database thread.
    pub(crate) async fn read<T, F>(&self, operation: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Mode::Read, operation, None::<Nothing<T>>, Some(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Runs `operation` alone, outside any transaction.
    async fn bare<T, F>(&self, operation: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Mode::Bare, operation, None::<Nothing<T>>, Some(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Queues a write of one statement without waiting for it (from `Drop`, where nothing can
    /// be awaited).
    pub(crate) fn submit<F>(&self, operation: F)
    where
        F: FnOnce(&Connection) -> Result<(), Error> + Send + 'static,
    {
        if self
            .send::<(), F, Nothing<()>>(Mode::Statement, operation, None, None)
            .is_err()
        {
            tracing::debug!("database closed; a queued write was dropped");
        }
    }

    /// Queues the deletion of acknowledged row `seq`: it is deleted first thing in the next
    /// transaction that writes, within [`ACK_DELAY`]. Should the process die before, the row
    /// is delivered again (at least once, never lost).
    pub(crate) fn acknowledge(&self, seq: i64) {
        lock(&self.inner.acks).push(seq);
        // One timer at a time, however many acknowledgements come meanwhile.
        if self.inner.ack_timer.swap(true, Ordering::SeqCst) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let db = self.clone();
                runtime.spawn(async move {
                    tokio::time::sleep(ACK_DELAY).await;
                    db.inner.ack_timer.store(false, Ordering::SeqCst);
                    db.flush_acks();
                });
            }
            Err(_) => {
                self.inner.ack_timer.store(false, Ordering::SeqCst);
                self.flush_acks();
            }
        }
    }

    /// A transaction for the acknowledgements still waiting, unless one took them already.
    fn flush_acks(&self) {
        if !lock(&self.inner.acks).is_empty() {
            self.submit(|_| Ok(()));
        }
    }

    /// Moves everything in the write-ahead log into the database file and empties the log
    /// (SQLite does it by itself every 4,000 pages of log, and when the last connection to the
    /// file closes).
    pub async fn checkpoint(&self) -> Result<(), Error> {
        self.bare(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Writes a consistent copy of the database to `target` while it is in use (`VACUUM
    /// INTO`): the way to back the company up while it runs.
    pub async fn backup_to(&self, target: impl AsRef<Path>) -> Result<(), Error> {
        let target = target.as_ref().to_path_buf();
        if target.exists() {
            return Err(Error::Io {
                path: target,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the backup file exists already",
                ),
            });
        }
        let text = target.to_string_lossy().into_owned();
        self.bare(move |conn| {
            conn.execute("VACUUM INTO ?1", [text])?;
            Ok(())
        })
        .await
    }
}

/// Maps SQLite's "this is no database" errors to [`Error::Corrupt`].
fn corrupt_or(path: &Path, err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::Corrupt {
            path: path.to_path_buf(),
            reason: err.to_string(),
        },
        _ => Error::Sqlite(err),
    }
}

/// SQLite's file header.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

fn check_header(path: &Path) -> Result<(), Error> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut header = Vec::with_capacity(100);
    file.by_ref()
        .take(100)
        .read_to_end(&mut header)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if header.is_empty() {
        return Ok(());
    }
    if header.len() < 100 || &header[..16] != MAGIC {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "it does not start with SQLite's header ({} bytes{})",
                header.len(),
                if header.len() < 100 {
                    ", cut short"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(())
}

fn connect(path: &Path, options: &Options) -> Result<(Connection, i64), Error> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    check_header(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|err| corrupt_or(path, err))?;
    conn.busy_timeout(options.busy_timeout)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(|err| corrupt_or(path, err))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("it cannot be switched to write-ahead logging (journal mode {mode})"),
        });
    }
    let synchronous = match options.durability {
        Durability::Process => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    // Checkpoints (which sync the file) every 4,000 pages of log instead of 1,000: fewer
    // syncs on the path of commits. The log is reset at checkpoints; its file is kept under
    // 64 MiB.
    conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The same plan whatever the bound values: otherwise SQLite plans `LIMIT ?` with the value
    // bound and marks the statement stale at every new binding, so each cached statement with
    // a bound limit (the history, the bus's claims, the windows of decisions) was compiled
    // again on every run.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    let problems: Vec<String> = {
        let mut check = conn
            .prepare("PRAGMA quick_check(5)")
            .map_err(|err| corrupt_or(path, err))?;
        check
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|err| corrupt_or(path, err))?
            .collect::<Result<_, _>>()
            .map_err(|err| corrupt_or(path, err))?
    };
    if problems != ["ok"] {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("SQLite's integrity check failed: {}", problems.join("; ")),
        });
    }
    let found = schema::migrate(&mut conn, path).map_err(|err| match err {
        Error::Sqlite(err) => corrupt_or(path, err),
        other => other,
    })?;
    conn.set_prepared_statement_cache_capacity(96);
    Ok((conn, found))
}

/// The database thread: batches, transactions, savepoints, answers.
fn serve(conn: Connection, mut receiver: mpsc::UnboundedReceiver<Task>, acks: &Acks) {
    let mut batch: Vec<Task> = Vec::with_capacity(MAX_BATCH);
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(task) => task,
            None => match receiver.blocking_recv() {
                Some(task) => task,
                None => break,
            },
        };
        if first.mode == Mode::Bare {
            // A checkpoint or a backup includes what was acknowledged before it.
            delete_acked(&conn, acks);
            let mut job = first.job;
            let ok = job.run(&conn);
            job.finish(if ok { Ok(()) } else { Err(&Error::Closed) });
            continue;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(task) if task.mode == Mode::Bare => {
                    next = Some(task);
                    break;
                }
                Ok(task) => batch.push(task),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch, acks);
    }
    // Closing: the acknowledgements still waiting are deleted now.
    delete_acked(&conn, acks);
    if let Err((_, err)) = conn.close() {
        tracing::warn!(error = %err, "the database did not close cleanly");
    }
}

/// Deletes the acknowledged rows (in a transaction of their own, or the caller's); on failure
/// they wait for the next try.
fn delete_acked(conn: &Connection, acks: &Acks) -> Vec<i64> {
    let acked = std::mem::take(&mut *lock(acks));
    if acked.is_empty() {
        return acked;
    }
    let deleted = match acked.as_slice() {
        [seq] => conn
            .prepare_cached(crate::queries::ACK_ONE)
            .and_then(|mut delete| delete.execute([seq]))
            .map_err(|err| err.to_string()),
        _ => serde_json::to_string(&acked)
            .map_err(|err| err.to_string())
            .and_then(|list| {
                conn.prepare_cached(crate::queries::ACK)
                    .and_then(|mut delete| delete.execute([list]))
                    .map_err(|err| err.to_string())
            }),
    };
    match deleted {
        Ok(_) => acked,
        Err(reason) => {
            tracing::warn!(%reason, "could not delete acknowledged messages; trying again");
            lock(acks).extend_from_slice(&acked);
            Vec::new()
        }
    }
}

fn statement(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_batch(conn: &Connection, batch: &mut Vec<Task>, acks: &Acks) {
    let writes = batch
        .iter()
        .any(|task| matches!(task.mode, Mode::Write | Mode::Statement));
    let begin = if writes { "BEGIN IMMEDIATE" } else { "BEGIN" };
    if let Err(err) = statement(conn, begin) {
        let err = Error::Transaction {
            reason: err.to_string(),
            busy: Error::Sqlite(err).is_busy(),
        };
        for task in batch.drain(..) {
            task.job.finish(Err(&err));
        }
        return;
    }
    // The acknowledgements first: what follows (a subscription's end that frees its rows)
    // must not see an acknowledged row as pending.
    let acked = if writes {
        delete_acked(conn, acks)
    } else {
        Vec::new()
    };
    let single = batch.len() == 1 && acked.is_empty();
    let mut jobs = Vec::with_capacity(batch.len());
    let mut all_ok = true;
    for mut task in batch.drain(..) {
        if single {
            all_ok = task.job.run(conn);
        } else if task.mode != Mode::Write {
            // Reads change nothing; one statement is undone by SQLite itself when it fails.
            task.job.run(conn);
        } else if statement(conn, "SAVEPOINT job").is_ok() {
            if !task.job.run(conn) {
                let _ = statement(conn, "ROLLBACK TO job");
            }
            let _ = statement(conn, "RELEASE job");
        }
        jobs.push(task.job);
    }
    let outcome = if single && !all_ok {
        // The only operation failed: nothing to keep.
        let _ = statement(conn, "ROLLBACK");
        Ok(())
    } else {
        match statement(conn, "COMMIT") {
            Ok(()) => Ok(()),
            Err(err) => {
                let _ = statement(conn, "ROLLBACK");
                lock(acks).extend_from_slice(&acked);
                Err(Error::Transaction {
                    reason: err.to_string(),
                    busy: Error::Sqlite(err).is_busy(),
                })
            }
        }
    };
    for job in jobs {
        job.finish(outcome.as_ref().map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[tokio::test]
    async fn a_failed_operation_leaves_no_trace_and_the_others_of_its_batch_stand() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("t.db")).await.unwrap();
        db.write(|conn| {
            conn.execute_batch("CREATE TABLE t (x INTEGER UNIQUE)")?;
            Ok(())
        })
        .await
        .unwrap();
        let writes = (0..20).map(|n| {
            let db = db.clone();
            async move {
                db.write(move |conn| {
                    if n == 3 {
                        conn.execute("INSERT INTO t VALUES (?1)", [50])?;
                        conn.execute("INSERT INTO t VALUES (?1)", [100])?;
                        conn.execute("INSERT INTO t VALUES (?1)", [100])?;
                    }
                    conn.execute("INSERT INTO t VALUES (?1)", [n % 10])?;
                    Ok(())
                })
                .await
            }
        });
        let results = futures_join(writes).await;
        // Values 0 to 9 once each; the operation of n = 3 failed as a whole.
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
        let (count, stray): (i64, i64) = db
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT count(*), count(*) FILTER (WHERE x >= 50) FROM t",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(count, 10);
        assert_eq!(
            stray, 0,
            "the failed operation's first inserts were rolled back"
        );
    }

    #[test]
    fn a_cached_statement_with_a_bound_limit_is_not_compiled_again_for_each_binding() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, _) = connect(&dir.path().join("t.db"), &Options::default()).unwrap();
        let run = |agent: &str, limit: i64| {
            let mut statement = conn.prepare_cached(crate::queries::HISTORY_READ).unwrap();
            let rows = statement
                .query_map(rusqlite::params![agent, limit], |row| {
                    row.get::<_, String>(0)
                })
                .unwrap()
                .count();
            (
                rows,
                statement.get_status(rusqlite::StatementStatus::RePrepare),
            )
        };
        for (agent, limit) in [("a", 12), ("b", 12), ("a", 3), ("c", 50)] {
            let (rows, reprepared) = run(agent, limit);
            assert_eq!(rows, 0);
            assert_eq!(
                reprepared, 0,
                "the history read was compiled again for {agent} with limit {limit}"
            );
        }
    }

    async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }
}
