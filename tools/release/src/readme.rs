//! The README's embedding example and the program that compiles and runs it in CI.
//!
//! In README.md, the example is the ```` ```rust ```` block right after a marker line
//! `<!-- readme-example: PATH -->`, where PATH (from the workspace root) is the program. In the
//! program, the same code stands between a `// readme-example: begin` and a
//! `// readme-example: end` line, indented as the program needs. The two must be the same text
//! once the program's indentation is taken off; `--write` copies the program's into the README.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::Error;
use crate::manifest::Problem;
use crate::workspace::{self, Workspace};

/// The README, from the workspace root.
pub const README: &str = "README.md";
/// The start of the marker line before the README's block.
pub const MARKER: &str = "<!-- readme-example:";
/// The program's line before the example.
pub const BEGIN: &str = "// readme-example: begin";
/// The program's line after the example.
pub const END: &str = "// readme-example: end";

/// The README's example block.
#[derive(Debug, PartialEq, Eq)]
pub struct Block {
    /// The program, from the workspace root.
    pub program: PathBuf,
    /// The block's lines, without the fences.
    pub lines: Vec<String>,
    /// The index of the block's first line in the README.
    pub start: usize,
}

/// Finds the example block in the README's `text`.
pub fn readme_block(text: &str) -> Result<Block, String> {
    let lines: Vec<&str> = text.lines().collect();
    let marker = lines
        .iter()
        .position(|line| line.trim_start().starts_with(MARKER))
        .ok_or_else(|| format!("no `{MARKER} PATH -->` line"))?;
    let program = lines[marker]
        .trim()
        .trim_start_matches(MARKER)
        .trim_end_matches("-->")
        .trim();
    if program.is_empty() {
        return Err(format!("line {}: the marker names no program", marker + 1));
    }
    let fence = lines[marker + 1..]
        .iter()
        .position(|line| !line.trim().is_empty())
        .map(|offset| marker + 1 + offset)
        .filter(|&at| lines[at].trim() == "```rust")
        .ok_or_else(|| format!("line {}: no ```rust block after the marker", marker + 1))?;
    let start = fence + 1;
    let end = lines[start..]
        .iter()
        .position(|line| line.trim() == "```")
        .map(|offset| start + offset)
        .ok_or_else(|| format!("line {}: the ```rust block is not closed", fence + 1))?;
    Ok(Block {
        program: PathBuf::from(program),
        lines: lines[start..end]
            .iter()
            .map(|line| (*line).to_owned())
            .collect(),
        start,
    })
}

/// The example in the program's `text`, without its common indentation.
pub fn program_example(text: &str) -> Result<Vec<String>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let begin = lines
        .iter()
        .position(|line| line.trim() == BEGIN)
        .ok_or_else(|| format!("no `{BEGIN}` line"))?;
    let end = lines[begin..]
        .iter()
        .position(|line| line.trim() == END)
        .map(|offset| begin + offset)
        .ok_or_else(|| format!("no `{END}` line after `{BEGIN}`"))?;
    let body = &lines[begin + 1..end];
    let indent = body
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    Ok(body
        .iter()
        .map(|line| line.get(indent..).unwrap_or("").trim_end().to_owned())
        .collect())
}

/// The first line where the README's block and the program's example differ, described.
pub fn first_difference(readme: &[String], program: &[String]) -> Option<String> {
    let at = (0..readme.len().max(program.len()))
        .find(|&i| readme.get(i).map(|l| l.trim_end()) != program.get(i).map(String::as_str))?;
    let show =
        |line: Option<&String>| line.map_or_else(|| "(nothing)".to_owned(), |l| format!("{l:?}"));
    Some(format!(
        "line {} of the example: README has {}, the program has {}",
        at + 1,
        show(readme.get(at)),
        show(program.get(at))
    ))
}

/// `readme` with the block's lines replaced by `example`.
pub fn replace_block(readme: &str, block: &Block, example: &[String]) -> String {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out: Vec<&str> = lines[..block.start].to_vec();
    out.extend(example.iter().map(String::as_str));
    out.extend(&lines[block.start + block.lines.len()..]);
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

fn marker_error(path: &Path, what: String) -> Error {
    Error::Marker {
        path: path.to_owned(),
        what,
    }
}

/// Compares the README's example with its program, or with `write` copies the program's into
/// the README. Also checks that the program depends on the workspace's published crates at
/// their current versions.
pub fn check(workspace: &Workspace, write: bool) -> Result<Vec<Problem>, Error> {
    let readme_path = workspace.root.join(README);
    let readme = read(&readme_path)?;
    let block = readme_block(&readme).map_err(|what| marker_error(&readme_path, what))?;
    let program_path = workspace.root.join(&block.program);
    let example =
        program_example(&read(&program_path)?).map_err(|what| marker_error(&program_path, what))?;

    let mut problems = Vec::new();
    if let Some(difference) = first_difference(&block.lines, &example) {
        if write {
            let text = replace_block(&readme, &block, &example);
            fs::write(&readme_path, text).map_err(|source| Error::Io {
                path: readme_path.clone(),
                source,
            })?;
            println!(
                "readme: copied the example of {} into {README}",
                block.program.display()
            );
        } else {
            problems.push(Problem {
                package: README.to_owned(),
                message: format!(
                    "the embedding example differs from {}: {difference}. Edit the program, then \
                     `cargo run -p aito-release -- readme --write`",
                    block.program.display()
                ),
            });
        }
    }
    let manifest = program_manifest(&program_path)
        .ok_or_else(|| marker_error(&program_path, "no Cargo.toml above the program".to_owned()))?;
    problems.extend(version_problems(workspace, &manifest)?);
    Ok(problems)
}

fn program_manifest(program: &Path) -> Option<PathBuf> {
    program
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("Cargo.toml"))
        .find(|manifest| manifest.is_file())
}

#[derive(Deserialize)]
struct ProgramMetadata {
    packages: Vec<ProgramPackage>,
}

#[derive(Deserialize)]
struct ProgramPackage {
    name: String,
    dependencies: Vec<ProgramDependency>,
}

#[derive(Deserialize)]
struct ProgramDependency {
    name: String,
    req: String,
}

/// The program's dependencies on published workspace crates that do not ask for the
/// workspace's version: with an old version the example would build against the registry's
/// crates instead of the packaged ones.
fn version_problems(workspace: &Workspace, manifest: &Path) -> Result<Vec<Problem>, Error> {
    let mut command = Command::new(workspace::cargo());
    command
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest);
    let output = workspace::output(&mut command)?;
    let metadata: ProgramMetadata =
        serde_json::from_slice(&output).map_err(|source| Error::Json {
            what: format!("`cargo metadata` of {}", manifest.display()),
            source,
        })?;
    let mut problems = Vec::new();
    for package in &metadata.packages {
        for dependency in &package.dependencies {
            let Some(member) = workspace.published().find(|p| p.name == dependency.name) else {
                continue;
            };
            let wanted = [
                format!("^{}", member.version),
                format!("={}", member.version),
            ];
            if !wanted.contains(&dependency.req) {
                problems.push(Problem {
                    package: package.name.clone(),
                    message: format!(
                        "asks for {} {}, but the workspace builds {}: write \"{}\" in {}",
                        dependency.name,
                        dependency.req,
                        member.version,
                        member.version,
                        manifest.display()
                    ),
                });
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const README_TEXT: &str = "# x\n\nEmbedding it:\n\n<!-- readme-example: scripts/ex/src/main.rs -->\n```rust\nlet a = 1;\nlet b = a + 1;\n```\n\nMore.\n";

    const PROGRAM: &str = "fn main() {\n    // readme-example: begin\n    let a = 1;\n    let b = a + 1;\n    // readme-example: end\n    println!(\"{b}\");\n}\n";

    #[test]
    fn the_block_and_the_program_region_are_found() {
        let block = readme_block(README_TEXT).expect("block");
        assert_eq!(block.program, PathBuf::from("scripts/ex/src/main.rs"));
        assert_eq!(block.lines, ["let a = 1;", "let b = a + 1;"]);
        let example = program_example(PROGRAM).expect("example");
        assert_eq!(example, block.lines);
        assert_eq!(first_difference(&block.lines, &example), None);
    }

    #[test]
    fn an_edit_on_either_side_is_a_difference() {
        let block = readme_block(README_TEXT).expect("block");
        let edited = program_example(&PROGRAM.replace("a + 1", "a + 2")).expect("example");
        assert_eq!(
            first_difference(&block.lines, &edited).as_deref(),
            Some(
                "line 2 of the example: README has \"let b = a + 1;\", the program has \"let b = a + 2;\""
            )
        );
        let longer = program_example(&PROGRAM.replace("a + 1;\n", "a + 1;\n    let c = b;\n"))
            .expect("example");
        assert!(
            first_difference(&block.lines, &longer)
                .is_some_and(|text| text.contains("README has (nothing)")),
        );
    }

    #[test]
    fn write_puts_the_program_text_in_the_readme() {
        let block = readme_block(README_TEXT).expect("block");
        let example = program_example(&PROGRAM.replace("a + 1", "a * 3")).expect("example");
        let text = replace_block(README_TEXT, &block, &example);
        assert_eq!(text, README_TEXT.replace("a + 1", "a * 3"));
        let again = readme_block(&text).expect("block");
        assert_eq!(first_difference(&again.lines, &example), None);
    }

    #[test]
    fn missing_markers_are_named() {
        assert!(readme_block("# x\n```rust\n```\n").is_err_and(|e| e.contains("no `<!-- readme")));
        assert!(
            readme_block("<!-- readme-example: a.rs -->\n\nprose\n```rust\n```\n")
                .is_err_and(|e| e.contains("no ```rust block"))
        );
        assert!(program_example("fn main() {}\n").is_err_and(|e| e.contains(BEGIN)));
    }
}
