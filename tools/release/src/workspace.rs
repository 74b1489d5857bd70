//! The workspace as `cargo metadata` describes it: its packages, which of them are published,
//! and where it builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;

/// The workspace's members, in the order `cargo metadata` lists them.
#[derive(Debug)]
pub struct Workspace {
    /// The directory of the root manifest.
    pub root: PathBuf,
    /// The target directory.
    pub target_dir: PathBuf,
    /// The members.
    pub members: Vec<Package>,
    /// The members the root manifest says stay unpublished
    /// (`[workspace.metadata.release] unpublished`).
    pub unpublished: Vec<String>,
}

/// One member package, with the fields the release checks read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Package {
    /// The package's id, as `cargo metadata` spells it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The registries it may be published to: `None` is any, an empty list is none
    /// (`publish = false`).
    pub publish: Option<Vec<String>>,
    /// `description`.
    pub description: Option<String>,
    /// `license`.
    pub license: Option<String>,
    /// `repository`.
    pub repository: Option<String>,
    /// `homepage`.
    pub homepage: Option<String>,
    /// `documentation`.
    pub documentation: Option<String>,
    /// `readme`, as a path.
    pub readme: Option<PathBuf>,
    /// `keywords`.
    pub keywords: Vec<String>,
    /// `categories`.
    pub categories: Vec<String>,
    /// `[package.metadata]`.
    pub metadata: Value,
    /// Its dependencies.
    pub dependencies: Vec<Dependency>,
    /// Its targets (lib, bins, tests, ...).
    pub targets: Vec<Target>,
}

/// One dependency of a package.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Dependency {
    /// The package depended on.
    pub name: String,
    /// The version requirement (`*` when none was given).
    pub req: String,
    /// `None` for a normal dependency, else `dev` or `build`.
    pub kind: Option<String>,
    /// The directory of a path dependency.
    pub path: Option<PathBuf>,
}

/// One build target of a package.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Target {
    /// Its name.
    pub name: String,
    /// `lib`, `bin`, `test`, `example`, `bench`, ...
    pub kind: Vec<String>,
}

impl Package {
    /// Whether `cargo publish` would publish it.
    pub fn is_published(&self) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|registries| !registries.is_empty())
    }

    /// The directory of its manifest.
    pub fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }

    /// Whether it has a library target.
    pub fn has_lib(&self) -> bool {
        self.targets
            .iter()
            .any(|target| target.kind.iter().any(|kind| kind == "lib"))
    }
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
    #[serde(default)]
    metadata: Value,
}

impl Workspace {
    /// Reads the workspace of `manifest` (the current directory's when `None`).
    pub fn load(manifest: Option<&Path>) -> Result<Self, Error> {
        let mut command = Command::new(cargo());
        command.args(["metadata", "--format-version", "1", "--no-deps"]);
        if let Some(manifest) = manifest {
            command.arg("--manifest-path").arg(manifest);
        }
        let output = output(&mut command)?;
        let metadata: Metadata = serde_json::from_slice(&output).map_err(|source| Error::Json {
            what: "the output of `cargo metadata`".to_owned(),
            source,
        })?;
        Ok(Self::from_metadata(metadata))
    }

    fn from_metadata(metadata: Metadata) -> Self {
        let mut packages = metadata.packages;
        let members = metadata
            .workspace_members
            .iter()
            .filter_map(|id| {
                let at = packages.iter().position(|package| &package.id == id)?;
                Some(packages.swap_remove(at))
            })
            .collect();
        let unpublished = metadata
            .metadata
            .pointer("/release/unpublished")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            root: metadata.workspace_root,
            target_dir: metadata.target_directory,
            members,
            unpublished,
        }
    }

    /// The members that `cargo publish` publishes.
    pub fn published(&self) -> impl Iterator<Item = &Package> {
        self.members.iter().filter(|package| package.is_published())
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Result<&Package, Error> {
        self.members
            .iter()
            .find(|package| package.name == name)
            .ok_or_else(|| Error::NoPackage(name.to_owned()))
    }

    /// The member whose directory is `dir`, if any.
    pub fn member_at(&self, dir: &Path) -> Option<&Package> {
        self.members.iter().find(|package| package.dir() == dir)
    }

    /// The workspace's root manifest.
    pub fn manifest(&self) -> PathBuf {
        self.root.join("Cargo.toml")
    }
}

/// The cargo that runs this tool (`$CARGO` under `cargo run`), else `cargo`.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs `command` with stderr passed through and returns its stdout; a failure is an error.
pub fn output(command: &mut Command) -> Result<Vec<u8>, Error> {
    let line = describe(command);
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::Spawn {
            command: line.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: line,
            status: output.status,
            stderr: String::new(),
        });
    }
    Ok(output.stdout)
}

/// The command line of `command`, for messages.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_false_is_an_empty_list_and_absent_is_published() {
        let metadata: Metadata = serde_json::from_value(serde_json::json!({
            "packages": [
                {"id": "b", "name": "b", "publish": [], "manifest_path": "/w/b/Cargo.toml"},
                {"id": "a", "name": "a", "publish": null, "manifest_path": "/w/a/Cargo.toml"},
                {"id": "dep", "name": "dep", "publish": null, "manifest_path": "/r/dep/Cargo.toml"},
            ],
            "workspace_members": ["a", "b"],
            "workspace_root": "/w",
            "target_directory": "/w/target",
            "metadata": {"release": {"unpublished": ["b"]}},
        }))
        .expect("metadata");
        let workspace = Workspace::from_metadata(metadata);
        let names: Vec<&str> = workspace.members.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"], "members only, in workspace order");
        let published: Vec<&str> = workspace.published().map(|p| p.name.as_str()).collect();
        assert_eq!(published, ["a"]);
        assert_eq!(workspace.unpublished, ["b"]);
        assert_eq!(
            workspace
                .member_at(Path::new("/w/b"))
                .map(|p| p.name.as_str()),
            Some("b")
        );
    }
}
