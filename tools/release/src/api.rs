//! Public-API snapshots: the public items of a library crate, one per line, committed next to
//! its manifest as `public-api.txt`, so a change to the API is a visible diff and an
//! unrecorded change fails the check.
//!
//! The list comes from rustdoc's JSON output, rendered by the `public-api` crate. That output
//! is unstable in rustdoc: on the stable toolchain it is unlocked with `RUSTC_BOOTSTRAP=1`, the
//! documented way to use an unstable feature of a stable compiler. It is built into a target
//! directory of its own (`target/public-api`), because `RUSTC_BOOTSTRAP` changes the
//! fingerprints of crates whose build scripts probe for nightly, and sharing `target/` would
//! rebuild them on every switch.
//!
//! Listed, for the crate's default features: every public item with its signature, every trait implementation (the items of
//! derived ones are left out, their `impl` line kept: a removed `derive(Clone)` shows), and the
//! auto traits (`Send`, `Sync`, `Unpin`, ...), whose loss breaks users too. Blanket
//! implementations (`impl<T> From<T> for T`, ...) are left out: they follow from the rest.
//! Optional features are not listed: aito-core's `test-utils` mocks are mockall's rendering of
//! the traits, so a change to a trait already shows, and mockall's own changes would drown it.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use public_api::rustdoc_types::FORMAT_VERSION;
use serde::Deserialize;

use crate::error::Error;
use crate::workspace::{self, Package, Workspace};

/// The snapshot's file name, next to the crate's `Cargo.toml`.
pub const SNAPSHOT: &str = "public-api.txt";

/// Where the snapshot of `package` lives.
pub fn snapshot_path(package: &Package) -> PathBuf {
    package.dir().join(SNAPSHOT)
}

/// Builds the rustdoc JSON of `package`'s library, with its default features, and returns its path.
pub fn rustdoc_json(workspace: &Workspace, package: &Package) -> Result<PathBuf, Error> {
    let target_dir = workspace.target_dir.join("public-api");
    let mut command = Command::new(workspace::cargo());
    command
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["rustdoc", "--lib", "-p"])
        .arg(&package.name)
        .arg("--manifest-path")
        .arg(workspace.manifest())
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"]);
    workspace::output(&mut command)?;
    let lib = package
        .targets
        .iter()
        .find(|target| target.kind.iter().any(|kind| kind == "lib"))
        .map_or_else(|| package.name.clone(), |target| target.name.clone());
    Ok(target_dir
        .join("doc")
        .join(format!("{}.json", lib.replace('-', "_"))))
}

#[derive(Deserialize)]
struct Header {
    format_version: u32,
}

/// The public API in `json` (a rustdoc JSON file), one item per line.
pub fn render(json: &Path) -> Result<Vec<String>, Error> {
    let text = fs::read(json).map_err(|source| Error::Io {
        path: json.to_owned(),
        source,
    })?;
    let header: Header = serde_json::from_slice(&text).map_err(|source| Error::Json {
        what: json.display().to_string(),
        source,
    })?;
    if header.format_version != FORMAT_VERSION {
        return Err(Error::Format {
            path: json.to_owned(),
            found: header.format_version,
            expected: FORMAT_VERSION,
        });
    }
    let build = |omit_derived: bool| {
        public_api::Builder::from_rustdoc_json(json)
            .omit_blanket_impls(true)
            .omit_auto_derived_impls(omit_derived)
            .build()
            .map_err(|source| Error::PublicApi {
                path: json.to_owned(),
                source,
            })
    };
    let all = build(false)?;
    let without_derived = build(true)?;
    let mut kept: HashMap<String, usize> = HashMap::new();
    for item in without_derived.items() {
        *kept.entry(item.to_string()).or_default() += 1;
    }
    Ok(all
        .items()
        .map(ToString::to_string)
        .filter(|line| take(&mut kept, line) || line.starts_with("impl"))
        .collect())
}

fn take(counts: &mut HashMap<String, usize>, line: &str) -> bool {
    match counts.get_mut(line) {
        Some(count) if *count > 0 => {
            *count -= 1;
            true
        }
        _ => false,
    }
}

/// The snapshot file's text for `items` of `package`.
pub fn snapshot_text(package: &str, items: &[String]) -> String {
    let mut text = format!(
        "# The public API of {package}, one item per line (docs/releasing.md).\n\
         # Written by `cargo run -p aito-release -- api --write -p {package}`; CI fails when it differs.\n"
    );
    for item in items {
        text.push_str(item);
        text.push('\n');
    }
    text
}

/// The items of a snapshot file's text (its `#` comment lines left out).
pub fn snapshot_items(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// How the API differs from the snapshot: the items only in the snapshot (removed or changed)
/// and the items only in the API (added or changed), each in its list's order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Difference {
    /// In the snapshot, not in the API.
    pub removed: Vec<String>,
    /// In the API, not in the snapshot.
    pub added: Vec<String>,
}

impl Difference {
    /// Whether the API is the snapshot's.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

/// The difference between `snapshot` and `current`, as multisets of lines.
pub fn difference(snapshot: &[String], current: &[String]) -> Difference {
    let only_in = |left: &[String], right: &[String]| {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for line in right {
            *counts.entry(line.as_str()).or_default() += 1;
        }
        left.iter()
            .filter(|line| match counts.get_mut(line.as_str()) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    false
                }
                _ => true,
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    Difference {
        removed: only_in(snapshot, current),
        added: only_in(current, snapshot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn a_snapshot_reads_back_its_items() {
        let items = lines(&["pub mod x", "pub fn x::f(u8) -> u8"]);
        let text = snapshot_text("x", &items);
        assert!(text.starts_with("# The public API of x"), "{text}");
        assert_eq!(snapshot_items(&text), items);
    }

    #[test]
    fn a_changed_signature_is_one_removal_and_one_addition() {
        let snapshot = lines(&["pub mod x", "pub fn x::f(u8) -> u8", "pub struct x::S"]);
        let current = lines(&["pub mod x", "pub fn x::f(u16) -> u8", "pub struct x::S"]);
        assert_eq!(
            difference(&snapshot, &current),
            Difference {
                removed: lines(&["pub fn x::f(u8) -> u8"]),
                added: lines(&["pub fn x::f(u16) -> u8"]),
            }
        );
        assert!(difference(&snapshot, &snapshot).is_empty());
    }

    #[test]
    fn repeated_lines_count() {
        let snapshot = lines(&["impl Send for x::S", "impl Send for x::S"]);
        let current = lines(&["impl Send for x::S"]);
        assert_eq!(
            difference(&snapshot, &current).removed,
            lines(&["impl Send for x::S"])
        );
    }
}
