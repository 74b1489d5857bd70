//! What every published crate's manifest and package must hold: the metadata a registry page
//! and docs.rs show, versions on the dependencies between workspace crates, the license files,
//! and nothing of the tests.

use std::fmt;
use std::process::Command;

use serde_json::Value;

use crate::error::Error;
use crate::workspace::{self, Package, Workspace};

/// Top-level directories a package must not carry: tests and their fixtures, benches,
/// examples and their recordings are for the repository, not for the crate's users.
pub const UNPACKAGED_DIRS: [&str; 3] = ["tests", "benches", "examples"];

/// Something a published crate lacks or carries that it should not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The package.
    pub package: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.package, self.message)
    }
}

fn problem(package: &Package, message: impl Into<String>) -> Problem {
    Problem {
        package: package.name.clone(),
        message: message.into(),
    }
}

/// Members that are neither published nor listed as unpublished, and list entries that do
/// not hold: every crate says on purpose whether its users get it.
pub fn publication_problems(workspace: &Workspace) -> Vec<Problem> {
    let mut problems = Vec::new();
    for package in &workspace.members {
        let listed = workspace.unpublished.contains(&package.name);
        if !package.is_published() && !listed {
            problems.push(problem(
                package,
                "is neither published (`publish = true` and the metadata of docs/releasing.md, \
                 \"Adding a crate to the release\") nor listed in the root manifest's \
                 [workspace.metadata.release] unpublished",
            ));
        } else if package.is_published() && listed {
            problems.push(problem(
                package,
                "is published but listed in [workspace.metadata.release] unpublished",
            ));
        }
    }
    for name in &workspace.unpublished {
        if !workspace
            .members
            .iter()
            .any(|package| &package.name == name)
        {
            problems.push(Problem {
                package: name.clone(),
                message: "is listed in [workspace.metadata.release] unpublished but is not a \
                          member of the workspace"
                    .to_owned(),
            });
        }
    }
    problems
}

/// The manifest problems of every published member of `workspace`.
pub fn manifest_problems(workspace: &Workspace) -> Vec<Problem> {
    let published: Vec<&Package> = workspace.published().collect();
    let mut problems = publication_problems(workspace);
    for package in &published {
        problems.extend(package_problems(package));
        problems.extend(dependency_problems(package, workspace));
    }
    for field in ["license", "repository", "homepage"] {
        let values: Vec<(&str, Option<&str>)> = published
            .iter()
            .map(|package| (package.name.as_str(), shared_field(package, field)))
            .collect();
        if let Some((first, value)) = values.first()
            && let Some((other, differs)) = values.iter().find(|(_, other)| other != value)
        {
            problems.push(Problem {
                package: (*other).to_owned(),
                message: format!(
                    "`{field}` is {differs:?} but {first}'s is {value:?}: the crates share one \
                     (`{field}.workspace = true`)"
                ),
            });
        }
    }
    problems
}

fn shared_field<'a>(package: &'a Package, field: &str) -> Option<&'a str> {
    match field {
        "license" => package.license.as_deref(),
        "repository" => package.repository.as_deref(),
        _ => package.homepage.as_deref(),
    }
}

fn package_problems(package: &Package) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut require = |field: &str, value: Option<&str>| {
        if value.is_none_or(|value| value.trim().is_empty()) {
            problems.push(problem(package, format!("no `{field}` in [package]")));
        }
    };
    require("description", package.description.as_deref());
    require("license", package.license.as_deref());
    require("repository", package.repository.as_deref());
    require("homepage", package.homepage.as_deref());
    require("documentation", package.documentation.as_deref());

    if let Some(documentation) = &package.documentation {
        let expected = format!("https://docs.rs/{}", package.name);
        if documentation.trim_end_matches('/') != expected {
            problems.push(problem(
                package,
                format!("`documentation` is {documentation:?}, expected {expected:?}"),
            ));
        }
    }
    match &package.readme {
        None => problems.push(problem(package, "no `readme` in [package]")),
        Some(readme) if !package.dir().join(readme).is_file() => problems.push(problem(
            package,
            format!("`readme` names {}, which does not exist", readme.display()),
        )),
        Some(_) => {}
    }
    if package.keywords.is_empty() || package.keywords.len() > 5 {
        problems.push(problem(
            package,
            format!(
                "{} keywords: a registry takes 1 to 5",
                package.keywords.len()
            ),
        ));
    }
    for keyword in &package.keywords {
        if !valid_keyword(keyword) {
            problems.push(problem(
                package,
                format!(
                    "keyword {keyword:?}: at most 20 characters, a letter first, then letters, \
                     digits, `_`, `-` or `+`"
                ),
            ));
        }
    }
    if package.categories.is_empty() || package.categories.len() > 5 {
        problems.push(problem(
            package,
            format!(
                "{} categories: a registry takes 1 to 5",
                package.categories.len()
            ),
        ));
    }
    problems.extend(docs_rs_problems(package));
    problems
}

fn valid_keyword(keyword: &str) -> bool {
    let mut chars = keyword.chars();
    keyword.len() <= 20
        && chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
}

fn docs_rs_problems(package: &Package) -> Vec<Problem> {
    let docs_rs = package.metadata.get("docs").and_then(|docs| docs.get("rs"));
    let Some(docs_rs) = docs_rs else {
        return vec![problem(
            package,
            "no [package.metadata.docs.rs]: docs.rs would document the default features only",
        )];
    };
    let mut problems = Vec::new();
    if docs_rs.get("all-features") != Some(&Value::Bool(true)) {
        problems.push(problem(
            package,
            "[package.metadata.docs.rs] lacks `all-features = true`",
        ));
    }
    let args: Vec<&str> = docs_rs
        .get("rustdoc-args")
        .and_then(Value::as_array)
        .map(|args| args.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !args.windows(2).any(|pair| pair == ["--cfg", "docsrs"]) {
        problems.push(problem(
            package,
            "[package.metadata.docs.rs] lacks `rustdoc-args = [\"--cfg\", \"docsrs\"]`",
        ));
    }
    problems
}

fn dependency_problems(package: &Package, workspace: &Workspace) -> Vec<Problem> {
    let mut problems = Vec::new();
    for dependency in &package.dependencies {
        let Some(path) = &dependency.path else {
            continue;
        };
        let target = workspace.member_at(path);
        if dependency.kind.as_deref() == Some("dev") {
            // A dev-dependency by path alone is dropped from the published manifest; one with
            // a version stays, and the registry refuses a crate it does not have.
            if let Some(target) = target
                && !target.is_published()
                && dependency.req != "*"
            {
                problems.push(problem(
                    package,
                    format!(
                        "dev-depends on {} with a version, but {} is not published: give it no \
                         version in the root [workspace.dependencies] (cargo then leaves it out \
                         of the published manifest)",
                        target.name, target.name
                    ),
                ));
            }
            continue;
        }
        if dependency.req == "*" {
            problems.push(problem(
                package,
                format!(
                    "depends on {} by path without a version: give it one in the root \
                     [workspace.dependencies]",
                    dependency.name
                ),
            ));
        }
        if let Some(target) = target
            && !target.is_published()
        {
            problems.push(problem(
                package,
                format!(
                    "depends on {}, which is not published (`publish = false`)",
                    target.name
                ),
            ));
        }
    }
    problems
}

/// The problems of `package`'s contents as `cargo package --list` gives them: missing license
/// and readme files, test and example files it should not carry.
pub fn content_problems(package: &Package, files: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let has = |name: &str| files.iter().any(|file| file == name);
    for file in license_files(package.license.as_deref().unwrap_or_default()) {
        if !has(&file) {
            problems.push(problem(
                package,
                format!(
                    "the package lacks {file}: link it into the crate (`ln -s ../{file}`) and \
                     list it in `include`"
                ),
            ));
        }
    }
    if let Some(readme) = &package.readme {
        let readme = readme.to_string_lossy().replace('\\', "/");
        if !has(&readme) {
            problems.push(problem(
                package,
                format!("the package lacks its readme {readme}: list it in `include`"),
            ));
        }
    }
    let carried: Vec<&String> = files
        .iter()
        .filter(|file| {
            let top = file.split('/').next().unwrap_or_default();
            file.contains('/') && UNPACKAGED_DIRS.contains(&top)
        })
        .collect();
    if !carried.is_empty() {
        problems.push(problem(
            package,
            format!(
                "the package carries {} file(s) its users do not need ({}{}): narrow `include`",
                carried.len(),
                carried
                    .iter()
                    .take(3)
                    .map(|file| file.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if carried.len() > 3 { ", ..." } else { "" }
            ),
        ));
    }
    problems
}

/// The license files a license expression asks for: `LICENSE-MIT` for MIT, `LICENSE-APACHE`
/// for Apache-2.0, `LICENSE-<ID>` for any other.
pub fn license_files(expression: &str) -> Vec<String> {
    expression
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '/')
        .filter(|token| !token.is_empty() && !matches!(*token, "OR" | "AND" | "WITH"))
        .map(|id| match id {
            "MIT" => "LICENSE-MIT".to_owned(),
            id if id.starts_with("Apache-") => "LICENSE-APACHE".to_owned(),
            id => format!("LICENSE-{id}"),
        })
        .collect()
}

/// The files `cargo package` puts in `package`'s crate.
pub fn package_files(workspace: &Workspace, package: &Package) -> Result<Vec<String>, Error> {
    let mut command = Command::new(workspace::cargo());
    command
        .args(["package", "--list", "--allow-dirty", "--quiet", "-p"])
        .arg(&package.name)
        .arg("--manifest-path")
        .arg(workspace.manifest());
    let output = workspace::output(&mut command)?;
    Ok(String::from_utf8_lossy(&output)
        .lines()
        .map(|line| line.replace('\\', "/"))
        .collect())
}

/// Every problem of every published member: manifests, then each package's contents.
pub fn all_problems(workspace: &Workspace) -> Result<Vec<Problem>, Error> {
    let mut problems = manifest_problems(workspace);
    for package in workspace.published() {
        let files = package_files(workspace, package)?;
        problems.extend(content_problems(package, &files));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;
    use crate::workspace::Dependency;

    fn complete(name: &str, dir: &Path) -> Package {
        std::fs::write(dir.join("README.md"), "# readme\n").expect("readme");
        Package {
            id: name.to_owned(),
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            manifest_path: dir.join("Cargo.toml"),
            publish: None,
            description: Some("a crate".to_owned()),
            license: Some("MIT OR Apache-2.0".to_owned()),
            repository: Some("https://github.com/aito-rs/aito".to_owned()),
            homepage: Some("https://github.com/aito-rs/aito".to_owned()),
            documentation: Some(format!("https://docs.rs/{name}")),
            readme: Some(PathBuf::from("README.md")),
            keywords: vec!["agents".to_owned()],
            categories: vec!["asynchronous".to_owned()],
            metadata: json!({"docs": {"rs": {"all-features": true, "rustdoc-args": ["--cfg", "docsrs"]}}}),
            dependencies: Vec::new(),
            targets: Vec::new(),
        }
    }

    fn workspace(members: Vec<Package>) -> Workspace {
        let unpublished = members
            .iter()
            .filter(|package| !package.is_published())
            .map(|package| package.name.clone())
            .collect();
        Workspace {
            root: PathBuf::from("/w"),
            target_dir: PathBuf::from("/w/target"),
            members,
            unpublished,
        }
    }

    fn messages(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_complete_manifest_has_no_problem() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = workspace(vec![complete("aito-x", dir.path())]);
        assert_eq!(messages(&manifest_problems(&ws)), Vec::<String>::new());
    }

    #[test]
    fn each_missing_field_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let mut package = complete("aito-x", dir.path());
        package.description = None;
        package.repository = Some(" ".to_owned());
        package.documentation = Some("https://docs.rs/other".to_owned());
        package.readme = Some(PathBuf::from("MISSING.md"));
        package.keywords = vec!["1st".to_owned(), "ok".to_owned()];
        package.categories = Vec::new();
        package.metadata = json!({"docs": {"rs": {"all-features": false}}});
        let problems = messages(&manifest_problems(&workspace(vec![package])));
        for expected in [
            "aito-x: no `description` in [package]",
            "aito-x: no `repository` in [package]",
            "aito-x: `documentation` is \"https://docs.rs/other\", expected \"https://docs.rs/aito-x\"",
            "aito-x: `readme` names MISSING.md, which does not exist",
            "aito-x: keyword \"1st\"",
            "aito-x: 0 categories",
            "aito-x: [package.metadata.docs.rs] lacks `all-features = true`",
            "aito-x: [package.metadata.docs.rs] lacks `rustdoc-args",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected:?} not in {problems:#?}"
            );
        }
    }

    #[test]
    fn unpublished_crates_are_not_checked_but_may_not_be_depended_on() {
        let dir = tempfile::tempdir().expect("dir");
        let mut mock = Package {
            name: "aito-mock".to_owned(),
            manifest_path: PathBuf::from("/w/aito-mock/Cargo.toml"),
            publish: Some(Vec::new()),
            ..Package::default()
        };
        let mut lib = complete("aito-x", dir.path());
        lib.dependencies = vec![
            Dependency {
                name: "aito-mock".to_owned(),
                req: "^0.1.0".to_owned(),
                kind: None,
                path: Some(PathBuf::from("/w/aito-mock")),
            },
            Dependency {
                name: "aito-core".to_owned(),
                req: "*".to_owned(),
                kind: Some("build".to_owned()),
                path: Some(PathBuf::from("/w/aito-core")),
            },
            Dependency {
                name: "aito-mock".to_owned(),
                req: "*".to_owned(),
                kind: Some("dev".to_owned()),
                path: Some(PathBuf::from("/w/aito-mock")),
            },
            Dependency {
                name: "aito-mock".to_owned(),
                req: "^0.1.0".to_owned(),
                kind: Some("dev".to_owned()),
                path: Some(PathBuf::from("/w/aito-mock")),
            },
        ];
        mock.description = None;
        let problems = messages(&manifest_problems(&workspace(vec![lib, mock])));
        assert_eq!(
            problems,
            [
                "aito-x: depends on aito-mock, which is not published (`publish = false`)",
                "aito-x: depends on aito-core by path without a version: give it one in the root [workspace.dependencies]",
                "aito-x: dev-depends on aito-mock with a version, but aito-mock is not published: give it no version in the root [workspace.dependencies] (cargo then leaves it out of the published manifest)",
            ]
        );
    }

    #[test]
    fn every_member_is_published_or_listed_as_unpublished() {
        let dir = tempfile::tempdir().expect("dir");
        let new_crate = Package {
            name: "aito-new".to_owned(),
            publish: Some(Vec::new()),
            ..Package::default()
        };
        let mut ws = workspace(vec![complete("aito-x", dir.path())]);
        ws.members.push(new_crate);
        ws.unpublished = vec!["aito-x".to_owned(), "aito-gone".to_owned()];
        let problems = messages(&manifest_problems(&ws));
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].starts_with("aito-x: is published but listed"),
            "{problems:#?}"
        );
        assert!(
            problems[1].starts_with("aito-new: is neither published"),
            "{problems:#?}"
        );
        assert!(
            problems[2].starts_with("aito-gone: is listed"),
            "{problems:#?}"
        );
    }

    #[test]
    fn crates_share_license_and_repository() {
        let (a, b) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let mut other = complete("aito-b", b.path());
        other.repository = Some("https://example.invalid/fork".to_owned());
        let problems = messages(&manifest_problems(&workspace(vec![
            complete("aito-a", a.path()),
            other,
        ])));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].starts_with("aito-b: `repository` is"),
            "{problems:#?}"
        );
    }

    #[test]
    fn contents_need_both_licenses_and_the_readme_and_no_tests() {
        let dir = tempfile::tempdir().expect("dir");
        let package = complete("aito-x", dir.path());
        let files: Vec<String> = [
            "Cargo.toml",
            "LICENSE-MIT",
            "src/lib.rs",
            "src/tests.rs",
            "tests/fixtures/a.json",
            "examples/scenarios/demo.recording.jsonl",
        ]
        .map(str::to_owned)
        .to_vec();
        let problems = messages(&content_problems(&package, &files));
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].contains("lacks LICENSE-APACHE"),
            "{problems:#?}"
        );
        assert!(
            problems[1].contains("lacks its readme README.md"),
            "{problems:#?}"
        );
        assert!(
            problems[2].contains("carries 2 file(s)")
                && problems[2].contains("tests/fixtures/a.json"),
            "{problems:#?}"
        );
    }

    #[test]
    fn license_files_follow_the_expression() {
        assert_eq!(
            license_files("MIT OR Apache-2.0"),
            ["LICENSE-MIT", "LICENSE-APACHE"]
        );
        assert_eq!(license_files("(MIT)"), ["LICENSE-MIT"]);
        assert_eq!(license_files("MPL-2.0"), ["LICENSE-MPL-2.0"]);
    }
}
