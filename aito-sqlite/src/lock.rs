//! [`DirLock`]: one process at a time runs a company on a data directory.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::Error;

/// The name of the lock file in the data directory.
pub const LOCK_FILE: &str = "run.lock";

/// An exclusive lock on a data directory, held until dropped (or the process ends, however
/// it ends: the operating system releases it, so a killed process never leaves it behind).
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock of `dir` (created when absent), writing `holder` (who and since when)
    /// into the lock file; refuses with [`Error::Locked`] naming the holder if another process
    /// has it.
    pub fn acquire(dir: &Path, holder: &str) -> Result<Self, Error> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = text.trim();
                return Err(Error::Locked {
                    path,
                    holder: if holder.is_empty() {
                        "a process that did not say who it is".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(err) => return Err(io(&path)(err.into())),
        }
        file.set_len(0).map_err(io(&path))?;
        file.rewind().map_err(io(&path))?;
        file.write_all(holder.as_bytes()).map_err(io(&path))?;
        file.flush().map_err(io(&path))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), "aito run (pid 1)").unwrap();
        let err = DirLock::acquire(dir.path(), "aito run (pid 2)").unwrap_err();
        assert!(err.to_string().contains("aito run (pid 1)"), "{err}");
        drop(first);
        DirLock::acquire(dir.path(), "aito run (pid 2)").unwrap();
    }
}
