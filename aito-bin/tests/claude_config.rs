//! `[claude]` through `aito config check`: printed as resolved, mistakes refused with their
//! line.

mod binary;

use binary::{aito, output, texts};

#[test]
fn config_check_prints_claude_resolved_and_refuses_its_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("aito.toml"),
        "[claude]\nmodel = \"sonnet\"\nmax_retries = 1\nextra_args = [\"--settings\", \"s.json\"]\n[claude.env]\nMCP_TIMEOUT = \"20000\"\n",
    )
    .expect("config");
    let mut command = aito(dir.path(), &["config", "check"]);
    command.env("AITO_LLM_CLAUDE_BINARY", "");
    let check = output(command);
    let (stdout, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    for line in [
        "[claude]",
        "binary = \"claude\"",
        "model = \"sonnet\"",
        "max_retries = 1",
        "extra_args = [\"--settings\", \"s.json\"]",
        "MCP_TIMEOUT = \"20000\"",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }

    std::fs::write(
        dir.path().join("bad.toml"),
        "[claude]\nextra_args = [\"--tools\", \"Bash\"]\nkill_grace_ms = -5\n[claude.env]\nANTHROPIC_API_KEY = \"sk-ant-literal\"\n",
    )
    .expect("config");
    let check = output(aito(
        dir.path(),
        &["config", "check", "--config", "bad.toml"],
    ));
    let (stdout, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("bad.toml:2:"), "{stderr}");
    assert!(
        stderr.contains("--tools is set by aito on every run"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.toml:3:") && stderr.contains("claude.kill_grace_ms"),
        "{stderr}"
    );
    assert!(stderr.contains("ANTHROPIC_API_KEY is a secret"), "{stderr}");
    assert!(!stderr.contains("sk-ant-literal"), "{stderr}");

    std::fs::write(dir.path().join("typo.toml"), "[claude]\nbinnary = \"x\"\n").expect("config");
    let check = output(aito(
        dir.path(),
        &["config", "check", "--config", "typo.toml"],
    ));
    let (_, stderr) = texts(&check);
    assert_ne!(check.status.code(), Some(0));
    assert!(stderr.contains("binnary"), "{stderr}");
}
