//! `aito-release`: the release checks of the aito workspace, run by `scripts/release-check.sh`
//! (and so by CI). docs/releasing.md says when to run which.
//!
//! - `packages`: the published crates, `NAME VERSION DIR` one a line, read from `cargo metadata`
//!   (a crate with `publish = false` is left out), for the packaging step.
//! - `check`: every member is either published or listed as never published
//!   (`[workspace.metadata.release] unpublished` in the root manifest); every published crate's
//!   manifest (description, license, repository, homepage,
//!   documentation, readme, keywords, categories, docs.rs metadata, versions on workspace
//!   dependencies) and its `cargo package --list` (both license files and the readme, nothing
//!   from `tests/`, `benches/` or `examples/`).
//! - `api`: the public-API snapshots (`public-api.txt` beside a crate's manifest); `--write`
//!   rewrites them.
//! - `readme`: the README's embedding example against the program that runs it; `--write`
//!   copies the program's text into the README.
//!
//! Modules: [`workspace`] (`cargo metadata`), [`manifest`] (`check`), [`api`] (`api`),
//! [`readme`] (`readme`), [`error`].
//!
//! Exit codes: 0 when all is well, 1 when a check found problems, 2 when a check could not run.

pub mod api;
pub mod error;
pub mod manifest;
pub mod readme;
pub mod workspace;
