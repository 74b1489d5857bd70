//! Knowledge folders: which files they hold, and which changed since they were indexed.
//!
//! A scan lists the markdown and text files under each folder with their modification time and
//! size (one `stat` per file, no reading); only files whose stamp changed are read again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Utc};

/// File extensions that are indexed, and whether they are markdown.
const EXTENSIONS: &[(&str, bool)] = &[("md", true), ("markdown", true), ("txt", false)];

/// Files larger than this are skipped (with a warning): knowledge is prose, not data dumps.
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// How deep folders are followed.
const MAX_DEPTH: usize = 16;

/// A file found in a knowledge folder.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    /// Its path (as reached from the folder).
    pub(crate) path: PathBuf,
    /// How it is named in sources: the folder's name and the path below it.
    pub(crate) display: String,
    /// Whether it is markdown.
    pub(crate) markdown: bool,
    /// Modification time and size.
    pub(crate) stamp: String,
    /// Modification time.
    pub(crate) modified: DateTime<Utc>,
    /// Size in bytes.
    pub(crate) len: u64,
}

/// The registered folders and the stamps of the files indexed from them.
#[derive(Debug, Default)]
pub(crate) struct Folders {
    pub(crate) roots: Vec<PathBuf>,
    /// Indexed files: the group key (`file:<path>`) and its stamp.
    pub(crate) indexed: HashMap<String, String>,
    /// Files that could not be indexed, and the stamp they had when that was logged.
    pub(crate) skipped: HashMap<String, String>,
}

/// The group key of a file's passages.
pub(crate) fn group_of(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// The files under `root`, sorted by path. A missing folder has none (and is logged).
pub(crate) fn scan(root: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    let name = root.file_name().map_or_else(
        || root.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    walk(root, &name, 0, &mut found);
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn walk(dir: &Path, display: &str, depth: usize, found: &mut Vec<Found>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(folder = %dir.display(), error = %err, "knowledge folder unreadable; skipped");
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links, so a linked folder or file counts as its target.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let shown = format!("{display}/{name}");
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, &shown, depth + 1, found);
            }
            continue;
        }
        let extension = path
            .extension()
            .map(|ext| ext.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let Some(&(_, markdown)) = EXTENSIONS.iter().find(|(ext, _)| *ext == extension) else {
            continue;
        };
        let modified = meta.modified().ok();
        let nanos = modified
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        found.push(Found {
            path,
            display: shown,
            markdown,
            stamp: format!("{nanos}:{}", meta.len()),
            modified: modified.map_or(DateTime::<Utc>::UNIX_EPOCH, DateTime::<Utc>::from),
            len: meta.len(),
        });
    }
}
