//! The command line as an operator meets it: help, exit codes, bad configuration files
//! refused before anything starts, secrets masked, and clients that say when there is no
//! company to talk to.

mod binary;

use std::path::Path;

use binary::{aito, output, texts};

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).expect("write");
    name.to_owned()
}

/// Runs `aito run` on a bad configuration and checks that it is refused with exit 2, that the
/// message names the file, line and field, and that nothing started.
fn refused(text: &str, line: usize, field: &str, words: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "company.toml", text);
    let run = output(aito(
        dir.path(),
        &[
            "run",
            "--config",
            &file,
            "--exit-when-idle",
            "--bind",
            "127.0.0.1:0",
        ],
    ));
    let (stdout, stderr) = texts(&run);
    assert_eq!(
        run.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let place = format!("company.toml:{line}:");
    assert!(stderr.contains(&place), "{place:?} not in:\n{stderr}");
    assert!(stderr.contains(field), "{field:?} not in:\n{stderr}");
    assert!(stderr.contains(words), "{words:?} not in:\n{stderr}");
    assert!(
        stdout.is_empty(),
        "nothing ran, so there is no summary:\n{stdout}"
    );
    assert!(
        !dir.path().join("aito-data").exists(),
        "no agent started, so no workspace was created"
    );
    assert!(!stderr.contains("daemon starting"), "{stderr}");
}

#[test]
fn an_unknown_role_is_refused() {
    refused(
        "[[agents]]\nrole = \"ceo\"\n\n[[agents]]\nrole = \"cxo\"\n",
        5,
        "agents[1].role",
        "unknown role \"cxo\"",
    );
}

#[test]
fn a_bad_cron_expression_is_refused() {
    refused(
        "[[agents]]\nrole = \"ceo\"\nschedules = [\"*/15 * * *\"]\n",
        3,
        "agents[0].schedules[0]",
        "invalid cron expression \"*/15 * * *\"",
    );
}

#[test]
fn a_missing_profile_is_refused() {
    refused(
        "[[agents]]\nrole = \"ceo\"\n\n[[agents]]\nrole = \"cto\"\nprofile = \"profiles/cto-v2.md\"\n",
        6,
        "agents[1].profile",
        "cannot read the profile \"profiles/cto-v2.md\"",
    );
}

#[test]
fn a_duplicate_agent_id_is_refused() {
    refused(
        "[[agents]]\nrole = \"ceo\"\nid = \"0ce8853f-aabe-488c-bbc2-a05f10b1cdc3\"\n\n[[agents]]\nrole = \"cto\"\nid = \"0ce8853f-aabe-488c-bbc2-a05f10b1cdc3\"\n",
        7,
        "agents[1].id",
        "duplicate agent id 0ce8853f-aabe-488c-bbc2-a05f10b1cdc3",
    );
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    refused(
        "[company]\nname = \"acme\"\nbudgt = 3\n",
        3,
        "company.budgt",
        "unknown field `budgt`",
    );
}

#[test]
fn config_check_prints_the_resolved_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = aito(dir.path(), &["config", "check"]);
    command
        .env("AITO_REDIS_URL", "redis://:hunter2@cache.internal:6379/0")
        .env("AITO_DASHBOARD_TOKEN", "tok-7f3a")
        .env("AITO_AGENTS_CTO_MODEL", "opus");
    let check = output(command);
    let (stdout, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("resolved from the built-in configuration"),
        "{stdout}"
    );
    assert!(
        stdout.contains("url = \"redis://:***@cache.internal:6379/0\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("*** (from AITO_DASHBOARD_TOKEN)"),
        "{stdout}"
    );
    assert!(stdout.contains("model = \"opus\""), "{stdout}");
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("tok-7f3a"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("tok-7f3a"),
        "{stderr}"
    );

    let file = write(
        dir.path(),
        "aito.toml",
        "[dashboard]\ntoken = \"tok-7f3a\"\n",
    );
    let check = output(aito(dir.path(), &["config", "check", "--config", &file]));
    let (stdout, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(2), "{stdout}");
    assert!(
        stderr.contains("aito.toml:2:9: dashboard.token"),
        "{stderr}"
    );
    assert!(stderr.contains("set AITO_DASHBOARD_TOKEN"), "{stderr}");
    assert!(!stderr.contains("tok-7f3a"), "{stderr}");
}

#[test]
fn clients_where_no_company_ever_ran_say_there_is_no_company_and_create_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &[
            "send",
            "--to",
            "cto",
            "--type",
            "task",
            "--payload",
            "{\"title\": \"x\"}",
        ][..],
        &["status", "--json"][..],
        &[
            "decide",
            "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3",
            "approve",
            "--reason",
            "ok",
        ][..],
    ] {
        let run = output(aito(dir.path(), args));
        let (stdout, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("no company in ./aito-data: `aito run` keeps one there"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("--redis URL"), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    assert!(
        !dir.path().join("aito-data").exists(),
        "a client does not create a company"
    );
}

#[test]
fn usage_errors_exit_with_2_before_anything_is_contacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, words) in [
        (&["launch"][..], "unrecognized subcommand"),
        (
            &["run", "--llm", "gpt"][..],
            "expected claude, router, demo or replay:FILE",
        ),
        (
            &["send", "--to", "cto", "--payload", "not json"][..],
            "--payload is not JSON",
        ),
        (
            &["send", "--to", "cto", "--payload", "[1]"][..],
            "must be a JSON object",
        ),
        (
            &["send", "--to", "cxo", "--payload", "{}"][..],
            "--to: no agent with role cxo",
        ),
        (
            &["decide", "42", "approve", "--reason", "ok"][..],
            "is not a decision id",
        ),
        (
            &["agent", "--role", "cxo"][..],
            "no agent with role \"cxo\"",
        ),
        (
            &["agent", "--role", "cto", "--llm", "demo"][..],
            "needs their shared bus and store",
        ),
        (&["dashboard"][..], "needs their shared bus and store"),
        (
            &["run", "--llm", "replay:missing.json"][..],
            "cannot read the replay scenario missing.json",
        ),
    ] {
        let run = output(aito(dir.path(), args));
        let (stdout, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(words),
            "{args:?}: {words:?} not in {stderr}"
        );
    }
    assert!(!dir.path().join("aito-data").exists());
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    for command in [
        "run",
        "agent",
        "dashboard",
        "send",
        "status",
        "decide",
        "config",
        "health",
    ] {
        let help = output(aito(dir.path(), &[command, "--help"]));
        let (stdout, _) = texts(&help);
        assert_eq!(help.status.code(), Some(0), "{command} --help");
        assert!(stdout.contains("Usage: aito"), "{command}: {stdout}");
    }
    let help = output(aito(dir.path(), &["--help"]));
    let (stdout, _) = texts(&help);
    assert!(stdout.contains("Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error"));
}

#[test]
fn claude_missing_from_the_path_is_a_clear_runtime_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = output(aito(
        dir.path(),
        &[
            "run",
            "--llm",
            "claude",
            "--exit-when-idle",
            "--bind",
            "127.0.0.1:0",
        ],
    ));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("aito-test-claude-is-not-installed")
            && stderr.contains("is not on the PATH"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
}

/// A stand-in for the `claude` CLI: checks the headless flags, reads the prompt from stdin,
/// records its arguments and working directory, and answers with a result object.
const STAND_IN_CLAUDE: &str = r#"#!/bin/sh
set -e
record="$(dirname "$0")/calls.log"
case " $* " in *" -p "*) ;; *) echo "missing -p" >&2; exit 1;; esac
case " $* " in *" --output-format stream-json --verbose "*) ;; *) echo "missing --output-format stream-json --verbose" >&2; exit 1;; esac
prompt="$(cat)"
printf 'cwd=%s env=%s args=%s prompt_bytes=%s\n' "$(pwd)" "$AITO_STAND_IN" "$*" "${#prompt}" >> "$record"
printf '%s\n' '{"type":"result","subtype":"success","is_error":false,"result":"{\"summary\": \"Reviewed the company from the CLI\", \"actions\": []}","session_id":"s-1","total_cost_usd":0.02,"usage":{"input_tokens":120,"output_tokens":30},"num_turns":1,"duration_ms":12}'
"#;

#[test]
fn a_company_runs_on_the_claude_cli() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let claude = dir.path().join("claude");
    std::fs::write(&claude, STAND_IN_CLAUDE).expect("write");
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        dir.path().join("aito.toml"),
        "[company]\nname = \"cli-co\"\n\n[[agents]]\nrole = \"ceo\"\nschedules = []\nrun_on_startup = true\n\n\
         [claude]\nbinary = \"./claude\"\nmodel = \"haiku\"\nextra_args = [\"--permission-mode\", \"default\"]\n\
         [claude.env]\nAITO_STAND_IN = \"from-aito-toml\"\n",
    )
    .expect("config");
    let run = output({
        let mut command = aito(
            dir.path(),
            &[
                "run",
                "--llm",
                "claude",
                "--exit-when-idle",
                "--bind",
                "127.0.0.1:0",
            ],
        );
        // The program comes from [claude] binary, relative to aito.toml.
        command.env("AITO_LLM_CLAUDE_BINARY", "");
        command
    });
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("Reviewed the company from the CLI"),
        "{stdout}"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).expect("the CLI was called");
    assert_eq!(calls.matches("cwd=").count(), 1, "one session: {calls}");
    // A lean session, with what [claude] says.
    for flag in [
        "--system-prompt=",
        "--tools=",
        "--safe-mode",
        "--strict-mcp-config",
        "--no-session-persistence",
        "--model haiku",
        "--permission-mode default",
        "env=from-aito-toml",
    ] {
        assert!(calls.contains(flag), "{flag} missing: {calls}");
    }
    assert!(!calls.contains("--append-system-prompt"), "{calls}");
    let workspace =
        std::fs::canonicalize(dir.path().join("aito-data/workspaces/ceo")).expect("workspace");
    assert!(
        calls.contains(&format!("cwd={}", workspace.display())),
        "sessions run in the agent's workspace: {calls}"
    );
}

#[test]
fn the_health_probe_fails_when_nothing_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/healthz");
    let probe = output(aito(dir.path(), &["health", &url, "--timeout", "1"]));
    let (_, stderr) = texts(&probe);
    assert_eq!(probe.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

#[test]
fn context_search_shows_what_an_agent_would_get() {
    let dir = tempfile::tempdir().expect("tempdir");
    let knowledge = dir.path().join("knowledge");
    std::fs::create_dir(&knowledge).expect("folder");
    std::fs::write(
        knowledge.join("burn.md"),
        "# Token burn schedule\n\nThe treasury burns 2% of the circulating supply every quarter, on the first Monday after the quarter closes.\n",
    )
    .expect("write");
    std::fs::write(
        knowledge.join("brand.md"),
        "# Brand voice\n\nShort sentences. No hype.\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("aito.toml"),
        "[company]\nname = \"ctx-co\"\n\n[context]\nknowledge = [\"knowledge\"]\n",
    )
    .expect("config");
    let search = output(aito(
        dir.path(),
        &[
            "context",
            "search",
            "When is the next token burn?",
            "--agent",
            "cfo",
        ],
    ));
    let (stdout, stderr) = texts(&search);
    assert_eq!(search.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("CFO would get 1 passage(s)"), "{stdout}");
    assert!(
        stdout.contains("[knowledge/burn.md § Token burn schedule]"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Brand voice"),
        "an unrelated document: {stdout}"
    );

    let bad_role = output(aito(
        dir.path(),
        &["context", "search", "burn", "--agent", "nobody"],
    ));
    assert_eq!(bad_role.status.code(), Some(2));

    std::fs::write(
        dir.path().join("aito.toml"),
        "[company]\nname = \"ctx-co\"\n\n[context]\nknowledge = [\"missing\"]\n",
    )
    .expect("config");
    let check = output(aito(dir.path(), &["config", "check"]));
    let (_, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("context.knowledge") && stderr.contains("is not a folder"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("aito.toml"),
        "[company]\nname = \"ctx-co\"\n",
    )
    .expect("config");
    let none = output(aito(
        dir.path(),
        &["context", "search", "burn", "--agent", "cfo"],
    ));
    let (_, stderr) = texts(&none);
    assert_eq!(none.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no [context] section"), "{stderr}");
}

#[test]
fn config_check_masks_the_credentials_of_every_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "aito.toml",
        r#"[mcp.tracker]
type = "http"
url = "https://bot:hunter2@mcp.example.com/v1?api_key=k3y-9&team=core"

[mcp.db]
command = "db-mcp"
args = ["--dsn", "postgres://app:pgpass1@db.internal/app"]

[dashboard]
public_url = "https://ops:publicpw@aito.example.com/"
escalation_webhook = "https://hooks.example.com/T0/B0?token=hooktok"
"#,
    );
    let check = output(aito(dir.path(), &["config", "check", "--config", &file]));
    let (stdout, stderr) = texts(&check);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    for secret in ["hunter2", "k3y-9", "pgpass1", "publicpw", "hooktok"] {
        assert!(!stdout.contains(secret), "{secret} shown:\n{stdout}");
        assert!(!stderr.contains(secret), "{secret} shown:\n{stderr}");
    }
    assert!(
        stdout.contains("https://bot:***@mcp.example.com/v1?api_key=***&team=core"),
        "{stdout}"
    );
    assert!(
        stdout.contains("postgres://app:***@db.internal/app"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://ops:***@aito.example.com/"),
        "{stdout}"
    );
}

#[test]
fn config_check_refuses_a_schedule_that_never_fires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "company.toml",
        "[[agents]]\nrole = \"ceo\"\n\n[[agents]]\nrole = \"cfo\"\nschedules = [\"0 9 * * 1\", \"0 0 30 2 *\"]\n",
    );
    let check = output(aito(dir.path(), &["config", "check", "--config", &file]));
    let (stdout, stderr) = texts(&check);
    assert_eq!(
        check.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("company.toml:6:"), "{stderr}");
    assert!(stderr.contains("agents[1].schedules[1]"), "{stderr}");
    assert!(stderr.contains("never fires"), "{stderr}");
}
