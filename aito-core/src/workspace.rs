//! An agent's workspace: the only place `operational` actions may write, and the git
//! repository their commits go to.
//!
//! Paths come from a model and are untrusted. A write is refused when its path is absolute,
//! has a `..` component, touches `.git` (hooks there would run code), or passes through or ends
//! at a symbolic link; directories are created one component at a time, each checked, and the
//! file is opened with `O_NOFOLLOW`. Commits run the `git` program with arguments, never a shell
//! string, with hooks disabled.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Largest file an action may write.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Longest path an action may name.
const MAX_PATH_CHARS: usize = 512;

/// Why a workspace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The path breaks a rule; nothing was written.
    #[error("refused to write {path:?}: {reason}")]
    Refused {
        /// The path as given.
        path: String,
        /// Which rule.
        reason: String,
    },
    /// The file system failed.
    #[error("could not write {path:?}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `git` failed.
    #[error("git {step} failed: {detail}")]
    Git {
        /// Which step (`init`, `add`, `commit`).
        step: &'static str,
        /// Exit status and the end of stderr.
        detail: String,
    },
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A commit was made.
    Committed {
        /// Its hash.
        hash: String,
    },
    /// The files were unchanged.
    NothingToCommit,
}

/// A directory an agent owns.
#[derive(Clone, Debug)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Opens (creating if needed) the workspace at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, WorkspaceError> {
        let path = path.as_ref();
        let io = |source| WorkspaceError::Io {
            path: path.display().to_string(),
            source,
        };
        fs::create_dir_all(path).map_err(io)?;
        let root = fs::canonicalize(path).map_err(io)?;
        Ok(Self { root })
    }

    /// The workspace directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks `relative` against the rules without touching the disk.
    pub fn check_path(relative: &str) -> Result<PathBuf, WorkspaceError> {
        let refuse = |reason: &str| WorkspaceError::Refused {
            path: relative.to_owned(),
            reason: reason.to_owned(),
        };
        if relative.trim().is_empty() {
            return Err(refuse("the path is empty"));
        }
        if relative.chars().count() > MAX_PATH_CHARS {
            return Err(refuse("the path is too long"));
        }
        if relative.contains('\0') {
            return Err(refuse("the path contains a NUL byte"));
        }
        let path = Path::new(relative);
        if path.is_absolute() || relative.starts_with('\\') || relative.starts_with('~') {
            return Err(refuse(
                "absolute paths are not allowed; use a path relative to the workspace",
            ));
        }
        let mut clean = PathBuf::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => {
                    if part.to_string_lossy().eq_ignore_ascii_case(".git") {
                        return Err(refuse("the .git directory is off limits"));
                    }
                    clean.push(part);
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(refuse(
                        "\"..\" is not allowed: paths must stay inside the workspace",
                    ));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse(
                        "absolute paths are not allowed; use a path relative to the workspace",
                    ));
                }
            }
        }
        if clean.as_os_str().is_empty() {
            return Err(refuse("the path names the workspace itself, not a file"));
        }
        Ok(clean)
    }

    /// Writes `content` to `relative`, creating directories, refusing anything that would leave
    /// the workspace. Returns the path relative to the workspace.
    pub fn write(&self, relative: &str, content: &str) -> Result<PathBuf, WorkspaceError> {
        let clean = Self::check_path(relative)?;
        let refuse = |reason: String| WorkspaceError::Refused {
            path: relative.to_owned(),
            reason,
        };
        let io = |source| WorkspaceError::Io {
            path: relative.to_owned(),
            source,
        };
        if content.len() > MAX_FILE_BYTES {
            return Err(refuse(format!(
                "the content is {} bytes; the limit is {MAX_FILE_BYTES}",
                content.len()
            )));
        }
        let parts: Vec<_> = clean.components().collect();
        let mut current = self.root.clone();
        for part in &parts[..parts.len() - 1] {
            current.push(part);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(refuse(format!(
                        "{} is a symbolic link; links may lead outside the workspace",
                        current
                            .strip_prefix(&self.root)
                            .unwrap_or(&current)
                            .display()
                    )));
                }
                Ok(meta) if !meta.is_dir() => {
                    return Err(refuse(format!(
                        "{} is a file, not a directory",
                        current
                            .strip_prefix(&self.root)
                            .unwrap_or(&current)
                            .display()
                    )));
                }
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    fs::create_dir(&current).map_err(io)?;
                }
                Err(err) => return Err(io(err)),
            }
        }
        let target = self.root.join(&clean);
        if let Ok(meta) = fs::symlink_metadata(&target) {
            if meta.file_type().is_symlink() {
                return Err(refuse(
                    "the file is a symbolic link; links may lead outside the workspace".to_owned(),
                ));
            }
            if meta.is_dir() {
                return Err(refuse("the path is a directory".to_owned()));
            }
        }
        // O_NOFOLLOW: a link created between the check and the open is not followed.
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&target)
            .map_err(io)?;
        file.write_all(content.as_bytes()).map_err(io)?;
        Ok(clean)
    }

    /// Commits `files` (relative paths already written) with `message`, as `author`.
    /// Initializes the repository when there is none.
    pub async fn commit(
        &self,
        files: &[PathBuf],
        message: &str,
        author: &str,
    ) -> Result<CommitOutcome, WorkspaceError> {
        if !self.root.join(".git").exists() {
            self.git("init", &["init", "--quiet"]).await?;
        }
        let mut add: Vec<&str> = vec!["add", "--"];
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        add.extend(names.iter().map(String::as_str));
        self.git("add", &add).await?;
        let name = format!("user.name=aito {author}");
        let email = format!("user.email={author}@aito.invalid");
        let mut commit: Vec<&str> = vec![
            "-c",
            &name,
            "-c",
            &email,
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            message,
            "--",
        ];
        commit.extend(names.iter().map(String::as_str));
        match self.git("commit", &commit).await {
            Ok(_) => {
                let hash = self.git("commit", &["rev-parse", "HEAD"]).await?;
                Ok(CommitOutcome::Committed {
                    hash: hash.trim().to_owned(),
                })
            }
            Err(WorkspaceError::Git { detail, .. })
                if detail.contains("nothing to commit") || detail.contains("no changes added") =>
            {
                Ok(CommitOutcome::NothingToCommit)
            }
            Err(err) => Err(err),
        }
    }

    async fn git(&self, step: &'static str, args: &[&str]) -> Result<String, WorkspaceError> {
        let root = self.root.clone();
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        // Runs on the blocking pool with a real-time limit: a tokio timer would fire early
        // under a paused clock (tests, replays) while git is still working.
        tokio::task::spawn_blocking(move || run_git(&root, step, &args))
            .await
            .map_err(|err| WorkspaceError::Git {
                step,
                detail: format!("git task failed: {err}"),
            })?
    }
}

/// How long one git command may run.
const GIT_LIMIT: Duration = Duration::from_secs(60);

fn run_git(root: &Path, step: &'static str, args: &[String]) -> Result<String, WorkspaceError> {
    let fail = |detail: String| WorkspaceError::Git { step, detail };
    let mut child = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["-c", "core.hooksPath=/dev/null"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| fail(format!("could not run git: {err}")))?;
    // The commands used print a few lines at most, so their output fits the pipes while we
    // wait for the exit.
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= GIT_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("timed out after {} s", GIT_LIMIT.as_secs())));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(err) => return Err(fail(format!("could not wait for git: {err}"))),
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    if status.success() {
        return Ok(stdout);
    }
    let tail: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
    let tail = tail[tail.len().saturating_sub(5)..].join(" | ");
    Err(fail(format!("{status} ({tail})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_refuse_escapes() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            ".git/hooks/pre-commit",
            "a/.GIT/config",
            "",
            ".",
        ] {
            assert!(Workspace::check_path(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            Workspace::check_path("./docs/plan.md").unwrap(),
            PathBuf::from("docs/plan.md")
        );
    }

    #[test]
    fn writes_stay_inside_and_links_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::open(dir.path()).unwrap();
        workspace.write("docs/plan.md", "plan").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("docs/plan.md")).unwrap(),
            "plan"
        );
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let err = workspace.write("out/escaped.md", "x").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        std::os::unix::fs::symlink(outside.path().join("f"), dir.path().join("f")).unwrap();
        assert!(workspace.write("f", "x").is_err());
        assert!(
            fs::read_dir(outside.path()).unwrap().next().is_none(),
            "something was written outside"
        );
    }

    #[tokio::test]
    async fn commits_with_git_and_reports_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::open(dir.path()).unwrap();
        let file = workspace.write("plan.md", "v1").unwrap();
        let first = workspace
            .commit(std::slice::from_ref(&file), "-m looks like a flag", "cto")
            .await
            .unwrap();
        assert!(
            matches!(first, CommitOutcome::Committed { ref hash } if hash.len() >= 40),
            "{first:?}"
        );
        let again = workspace.commit(&[file], "same", "cto").await.unwrap();
        assert_eq!(again, CommitOutcome::NothingToCommit);
    }
}
