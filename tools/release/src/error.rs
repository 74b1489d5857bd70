//! Why a check could not run (as opposed to a check that ran and found problems).

use std::path::PathBuf;
use std::process::ExitStatus;

/// A check that could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A command exited with a failure.
    #[error("`{command}` failed ({status}){}", stderr_tail(.stderr))]
    Command {
        /// The command line.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on stderr, when captured.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// JSON that did not have the expected shape.
    #[error("cannot read {what}: {source}")]
    Json {
        /// What was read (`cargo metadata`'s output, a rustdoc JSON file).
        what: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// rustdoc wrote a JSON format that the pinned `public-api` does not read.
    #[error(
        "{}: rustdoc JSON format {found}, but public-api reads format {expected}. The toolchain \
         changed: pin the public-api release that reads format {found} in the root Cargo.toml \
         (docs/releasing.md, \"The public-API snapshot\"), then rewrite the snapshots",
        .path.display()
    )]
    Format {
        /// The rustdoc JSON file.
        path: PathBuf,
        /// Its format version.
        found: u32,
        /// The version this build of the tool reads.
        expected: u32,
    },
    /// public-api could not make sense of the rustdoc JSON.
    #[error("cannot list the public API from {}: {source}", .path.display())]
    PublicApi {
        /// The rustdoc JSON file.
        path: PathBuf,
        /// Why.
        #[source]
        source: public_api::Error,
    },
    /// A package named on the command line is not in the workspace.
    #[error("no package `{0}` in the workspace")]
    NoPackage(String),
    /// A file lacks the marker a check looks for.
    #[error("{}: {what}", .path.display())]
    Marker {
        /// The file.
        path: PathBuf,
        /// What is missing or malformed.
        what: String,
    },
}

fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(20)..];
    format!(":\n{}", tail.join("\n"))
}
