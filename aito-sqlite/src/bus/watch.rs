//! Noticing what other processes write to the file, without polling while idle.
//!
//! On Linux the directory of the database is watched with inotify: any write to the file or
//! its write-ahead log wakes this task, which asks SQLite whether another connection committed
//! since it last looked (`PRAGMA data_version`, which a connection's own commits do not
//! change) and, if one did, wakes every reader of this process. Writes come in bursts, so the
//! task lets a burst settle for [`SETTLE`] before it looks. Elsewhere (or when inotify cannot
//! be had) it looks every [`POLL`].

use std::sync::Weak;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::error::Error;

/// How long a burst of writes settles before the task looks.
const SETTLE: Duration = Duration::from_millis(5);

/// How often the task looks when it cannot watch the file.
const POLL: Duration = Duration::from_millis(250);

pub(super) fn spawn(inner: Weak<Inner>, cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut last = match version(&inner).await {
            Some(version) => version,
            None => return,
        };
        let mut changes = Changes::new(&inner);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = changes.next() => {}
            }
            let Some(now) = version(&inner).await else {
                return;
            };
            if now != last {
                last = now;
                if let Some(inner) = inner.upgrade() {
                    inner.wakers.wake_all();
                }
            }
        }
    });
}

/// The connection's data version; `None` once the bus is gone.
async fn version(inner: &Weak<Inner>) -> Option<i64> {
    let db = inner.upgrade()?.db.clone();
    match db
        .read(|conn| Ok(conn.pragma_query_value(None, "data_version", |row| row.get::<_, i64>(0))?))
        .await
    {
        Ok(version) => Some(version),
        Err(Error::Closed) => None,
        Err(err) => {
            tracing::debug!(error = %err, "could not read the data version");
            Some(-1)
        }
    }
}

/// Wakes when the file may have changed.
enum Changes {
    #[cfg(target_os = "linux")]
    Watched {
        _watch: inotify::Watcher,
        notify: std::sync::Arc<tokio::sync::Notify>,
    },
    Polled,
}

impl Changes {
    fn new(inner: &Weak<Inner>) -> Self {
        #[cfg(target_os = "linux")]
        if let Some(inner) = inner.upgrade() {
            let notify = std::sync::Arc::new(tokio::sync::Notify::new());
            match inotify::Watcher::start(inner.db.path(), std::sync::Arc::clone(&notify)) {
                Ok(watch) => {
                    return Changes::Watched {
                        _watch: watch,
                        notify,
                    };
                }
                Err(err) => {
                    tracing::info!(error = %err, poll_ms = POLL.as_millis() as u64, "cannot watch the database file; looking for other processes' writes periodically");
                }
            }
        }
        let _ = inner;
        Changes::Polled
    }

    async fn next(&mut self) {
        match self {
            #[cfg(target_os = "linux")]
            Changes::Watched { notify, .. } => notify.notified().await,
            Changes::Polled => tokio::time::sleep(POLL).await,
        }
    }
}

#[cfg(target_os = "linux")]
mod inotify {
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
    use tokio::sync::Notify;

    /// An inotify watch on the database's directory, read by a thread of its own (blocked in
    /// `read` while nothing happens), filtered to the database's files. Dropping it removes
    /// the watch, which wakes the thread to end.
    pub(super) struct Watcher {
        fd: Arc<OwnedFd>,
        watch: i32,
        stop: Arc<AtomicBool>,
    }

    impl Watcher {
        pub(super) fn start(path: &Path, notify: Arc<Notify>) -> std::io::Result<Self> {
            let dir = path
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = path
                .file_name()
                .map(|name| name.as_encoded_bytes().to_vec())
                .unwrap_or_default();
            let fd = Arc::new(inotify::init(CreateFlags::CLOEXEC)?);
            let watch = inotify::add_watch(
                &*fd,
                dir,
                WatchFlags::MODIFY
                    | WatchFlags::CLOSE_WRITE
                    | WatchFlags::MOVED_TO
                    | WatchFlags::CREATE,
            )?;
            let stop = Arc::new(AtomicBool::new(false));
            let (thread_fd, thread_stop) = (Arc::clone(&fd), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("aito-sqlite-watch".to_owned())
                .spawn(move || read_events(&thread_fd, &name, &thread_stop, &notify))?;
            Ok(Self { fd, watch, stop })
        }
    }

    impl Drop for Watcher {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // Queues IN_IGNORED, which ends the thread's read.
            let _ = inotify::remove_watch(&*self.fd, self.watch);
        }
    }

    fn read_events(fd: &OwnedFd, name: &[u8], stop: &AtomicBool, notify: &Notify) {
        let mut buffer = vec![MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(fd, &mut buffer);
        let mut relevant = false;
        loop {
            match reader.next() {
                Ok(event) => {
                    let flags = event.events();
                    if flags.contains(ReadFlags::IGNORED) || stop.load(Ordering::SeqCst) {
                        return;
                    }
                    relevant |= flags.contains(ReadFlags::QUEUE_OVERFLOW)
                        || event
                            .file_name()
                            .is_some_and(|file| file.to_bytes().starts_with(name));
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => {
                    tracing::debug!(error = %err, "the database watch failed");
                    return;
                }
            }
            if reader.is_buffer_empty() && relevant {
                relevant = false;
                notify.notify_one();
                // Let a burst of writes settle: one look for all of it.
                std::thread::sleep(super::SETTLE);
            }
        }
    }
}
