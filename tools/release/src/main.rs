//! `aito-release`: the release checks of the aito workspace (the library's docs list them).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use aito_release::error::Error;
use aito_release::manifest::{self, Problem};
use aito_release::workspace::Workspace;
use aito_release::{api, readme};

/// Release checks of the aito workspace (docs/releasing.md).
#[derive(Parser)]
#[command(name = "aito-release")]
struct Cli {
    /// The workspace's root manifest [default: the workspace of the current directory].
    #[arg(long, global = true, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the published crates, `NAME VERSION DIR` one a line (DIR from the workspace
    /// root), in workspace order.
    Packages,
    /// Check every published crate's manifest and package contents.
    Check,
    /// Check the public-API snapshots (every published library with a public-api.txt, or the
    /// crates named), or rewrite them.
    Api {
        /// Rewrite the snapshots instead of checking them.
        #[arg(long)]
        write: bool,
        /// Only this crate (repeatable); with --write, a crate without a snapshot gets one.
        #[arg(short = 'p', long = "package", value_name = "NAME")]
        packages: Vec<String>,
    },
    /// Check the README's embedding example against its program, or copy the program's text
    /// into the README.
    Readme {
        /// Copy the program's example into the README instead of checking.
        #[arg(long)]
        write: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            eprintln!("{} problem(s) found", problems.len());
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<Vec<Problem>, Error> {
    let workspace = Workspace::load(cli.manifest_path.as_deref())?;
    match cli.command {
        Cmd::Packages => {
            for package in workspace.published() {
                let dir = package.dir();
                let dir = dir.strip_prefix(&workspace.root).unwrap_or(dir);
                println!("{} {} {}", package.name, package.version, dir.display());
            }
            Ok(Vec::new())
        }
        Cmd::Check => {
            let problems = manifest::all_problems(&workspace)?;
            if problems.is_empty() {
                let names: Vec<&str> = workspace.published().map(|p| p.name.as_str()).collect();
                println!(
                    "check: {} published crate(s), manifests and packages complete: {}",
                    names.len(),
                    names.join(", ")
                );
            }
            Ok(problems)
        }
        Cmd::Api { write, packages } => api_command(&workspace, write, &packages),
        Cmd::Readme { write } => {
            let problems = readme::check(&workspace, write)?;
            if problems.is_empty() && !write {
                println!("readme: the embedding example is its program's text");
            }
            Ok(problems)
        }
    }
}

fn api_command(
    workspace: &Workspace,
    write: bool,
    names: &[String],
) -> Result<Vec<Problem>, Error> {
    let packages = if names.is_empty() {
        workspace
            .published()
            .filter(|package| package.has_lib() && api::snapshot_path(package).is_file())
            .collect::<Vec<_>>()
    } else {
        names
            .iter()
            .map(|name| workspace.member(name))
            .collect::<Result<Vec<_>, _>>()?
    };
    if packages.is_empty() {
        return Ok(vec![Problem {
            package: "api".to_owned(),
            message: format!(
                "no published library has a {} snapshot: nothing was checked",
                api::SNAPSHOT
            ),
        }]);
    }
    let mut problems = Vec::new();
    for package in packages {
        let json = api::rustdoc_json(workspace, package)?;
        let items = api::render(&json)?;
        let path = api::snapshot_path(package);
        if write {
            let text = api::snapshot_text(&package.name, &items);
            std::fs::write(&path, text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            println!("api: wrote {} ({} items)", path.display(), items.len());
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let difference = api::difference(&api::snapshot_items(&text), &items);
        if difference.is_empty() {
            println!(
                "api: {} matches {} ({} items)",
                package.name,
                path.display(),
                items.len()
            );
            continue;
        }
        eprintln!(
            "api: the public API of {} is not {}:",
            package.name,
            path.display()
        );
        for line in &difference.removed {
            eprintln!("-{line}");
        }
        for line in &difference.added {
            eprintln!("+{line}");
        }
        problems.push(Problem {
            package: package.name.clone(),
            message: format!(
                "the public API changed ({} item(s) gone or changed, {} new or changed). If that \
                 is intended, record it: `cargo run -p aito-release -- api --write -p {}`, and \
                 read docs/releasing.md on what makes a breaking change",
                difference.removed.len(),
                difference.added.len(),
                package.name
            ),
        });
    }
    Ok(problems)
}
