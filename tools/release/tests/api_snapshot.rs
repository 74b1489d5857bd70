//! The public-API check, end to end on a small crate of its own: a snapshot is written, a
//! changed signature fails the check with the difference, and a rewritten snapshot passes.

use std::path::Path;
use std::process::{Command, Output};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write fixture");
}

fn api(manifest: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aito-release"))
        .arg("api")
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .expect("run aito-release")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_changed_public_api_fails_until_the_snapshot_is_rewritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("Cargo.toml");
    write(
        &manifest,
        "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    );
    std::fs::create_dir(dir.path().join("src")).expect("src");
    let lib = dir.path().join("src/lib.rs");
    write(
        &lib,
        "//! A fixture.\n\n/// Doubles.\npub fn double(x: u8) -> u8 {\n    x * 2\n}\n",
    );

    let nothing = api(&manifest, &[]);
    assert_eq!(nothing.status.code(), Some(1), "{}", text(&nothing));
    assert!(
        text(&nothing).contains("nothing was checked"),
        "{}",
        text(&nothing)
    );

    let written = api(&manifest, &["--write", "-p", "fixture"]);
    assert!(written.status.success(), "{}", text(&written));
    let snapshot = std::fs::read_to_string(dir.path().join("public-api.txt")).expect("snapshot");
    assert!(
        snapshot.contains("pub fn fixture::double(u8) -> u8"),
        "{snapshot}"
    );

    let unchanged = api(&manifest, &[]);
    assert!(unchanged.status.success(), "{}", text(&unchanged));
    assert!(
        text(&unchanged).contains("fixture matches"),
        "{}",
        text(&unchanged)
    );

    write(
        &lib,
        "//! A fixture.\n\n/// Doubles.\npub fn double(x: u16) -> u16 {\n    x * 2\n}\n",
    );
    let changed = api(&manifest, &[]);
    assert_eq!(changed.status.code(), Some(1), "{}", text(&changed));
    let report = text(&changed);
    assert!(
        report.contains("-pub fn fixture::double(u8) -> u8"),
        "{report}"
    );
    assert!(
        report.contains("+pub fn fixture::double(u16) -> u16"),
        "{report}"
    );
    assert!(report.contains("api --write -p fixture"), "{report}");

    let rewritten = api(&manifest, &["--write"]);
    assert!(rewritten.status.success(), "{}", text(&rewritten));
    assert!(api(&manifest, &[]).status.success());
}
