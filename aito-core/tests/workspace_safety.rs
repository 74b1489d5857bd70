//! File writes from a model stay inside the agent's workspace: escapes are refused, reported
//! to the agent in its next prompt, and nothing is written outside.

mod common;

use std::fs;

use aito_core::Role;
use aito_core::store::StateStore;
use common::{Harness, answer, quiet_agents, settle};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_writes_are_refused_and_reported() {
    let outside = tempfile::tempdir().expect("outside");
    let absolute = outside.path().join("absolute.md");
    let harness = Harness::new(vec![
        answer(
            Role::Cto,
            "Write the docs",
            json!({
                "summary": "Wrote the docs",
                "actions": [{"type": "operational", "data": {"title": "Docs", "files": [
                    {"path": "docs/ok.md", "content": "fine"},
                    {"path": "../escaped.md", "content": "nope"},
                    {"path": absolute.display().to_string(), "content": "nope"},
                    {"path": "link/through.md", "content": "nope"},
                    {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\ntouch /tmp/pwned"}
                ], "commit": "Docs"}}]
            }),
        ),
        answer(
            Role::Cto,
            "Next task",
            json!({"summary": "ok", "actions": []}),
        ),
    ]);
    let workspace = harness.workspaces.path().join("cto");
    fs::create_dir_all(&workspace).unwrap();
    std::os::unix::fs::symlink(outside.path(), workspace.join("link")).unwrap();
    let company = harness
        .company(quiet_agents(&[Role::Cto]))
        .start()
        .expect("start");
    common::task(&company, "cto", "Write the docs").await;
    settle(&company).await;

    assert_eq!(
        fs::read_to_string(workspace.join("docs/ok.md")).unwrap(),
        "fine"
    );
    assert!(
        fs::read_dir(outside.path()).unwrap().next().is_none(),
        "something was written outside"
    );
    assert!(!harness.workspaces.path().join("escaped.md").exists());
    assert!(!workspace.join(".git/hooks/pre-commit").exists());

    let history = harness.history("cto").await;
    let record = &history[0].actions[0];
    assert!(!record.ok);
    for needle in [
        "\"..\" is not allowed",
        "absolute paths are not allowed",
        "symbolic link",
        ".git directory",
    ] {
        assert!(
            record.detail.contains(needle),
            "missing {needle:?} in {}",
            record.detail
        );
    }
    assert!(
        record.detail.contains("wrote 1 file(s)"),
        "{}",
        record.detail
    );

    // The agent hears about it in its next prompt.
    common::task(&company, "cto", "Next task").await;
    settle(&company).await;
    let prompts = harness.llm.requests();
    let second = &prompts[1].prompt;
    assert!(
        second.contains("# Notes from your last session"),
        "{second}"
    );
    assert!(second.contains("symbolic link"), "{second}");
    let state = harness
        .store
        .load_state(harness.id("cto"))
        .await
        .unwrap()
        .value;
    assert!(
        state.notes.is_empty(),
        "notes are shown once: {:?}",
        state.notes
    );
    company.shutdown().await;
}
