//! ClaudeSession end to end, through the fake CLI.

mod common;

use std::time::{Duration, Instant};

use aito_claude::{ClaudeConfig, ClaudeSession};
use aito_core::{AgentId, LlmError, LlmRequest, LlmSession, Role, TokenUsage};
use chrono::{Timelike, Utc};
use common::{Fake, eventually, group_gone, huge_text, process_gone, processes};
use serde_json::json;

fn request(timeout: Duration) -> LlmRequest {
    LlmRequest {
        agent: AgentId::random(),
        role: Role::Cto,
        system_prompt: "-You are the CTO.".into(),
        prompt: "Plan the week.\nState: {\"focus\": \"launch\"}".into(),
        resume_session: None,
        keep_session: false,
        model: None,
        max_turns: None,
        timeout,
        working_dir: None,
        kind: Default::default(),
        tier: None,
    }
}

async fn run(
    config: ClaudeConfig,
    request: LlmRequest,
) -> Result<aito_core::LlmResponse, LlmError> {
    ClaudeSession::new(config).run(request).await
}

#[tokio::test]
async fn success_parses_text_cost_usage_turns_and_duration() {
    let fake = Fake::new();
    let workdir = tempfile::tempdir().unwrap();
    let config = fake
        .config(&[
            ("result", "the plan"),
            ("cost", "0.25"),
            ("turns", "3"),
            ("input_tokens", "100"),
            ("cache_read_tokens", "50"),
            ("cache_creation_tokens", "5"),
            ("output_tokens", "7"),
            ("duration_ms", "4321"),
        ])
        .working_dir(workdir.path())
        .model("haiku")
        // Set by a surrounding Claude Code session; the child must not see it.
        .env("CLAUDECODE", "1");
    let mut request = request(Duration::from_secs(20));
    request.max_turns = Some(5);
    request.resume_session = Some("0ce8853f-aabe-488c-bbc2-a05f10b1cdc3".into());
    let prompt = request.prompt.clone();

    let started = Instant::now();
    let response = run(config, request).await.unwrap();
    // The fake reads stdin to its end: had stdin stayed open, this would have hit the timeout.
    assert!(started.elapsed() < Duration::from_secs(10));

    assert_eq!(response.text, "the plan");
    assert_eq!(response.cost_usd, 0.25);
    assert_eq!(response.turns, 3);
    assert_eq!(
        response.usage,
        TokenUsage {
            input_tokens: 155,
            output_tokens: 7
        }
    );
    assert_eq!(response.duration, Duration::from_millis(4321));
    assert_eq!(
        response.session_id.as_deref(),
        Some("0ce8853f-aabe-488c-bbc2-a05f10b1cdc3")
    );

    let record = fake.record();
    assert_eq!(
        record["argv"],
        json!([
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--safe-mode",
            "--tools=",
            "--strict-mcp-config",
            "--model",
            "haiku",
            "--max-turns",
            "5",
            "--system-prompt=-You are the CTO.",
            "--resume=0ce8853f-aabe-488c-bbc2-a05f10b1cdc3"
        ])
    );
    assert_eq!(record["stdin"], json!(prompt));
    assert_eq!(record["env"]["CLAUDECODE"], json!(null));
    assert_eq!(record["env"]["CLAUDE_CODE_MAX_RETRIES"], json!("2"));
    assert_eq!(
        record["cwd"],
        json!(workdir.path().canonicalize().unwrap().display().to_string())
    );
    let procs = processes(&record);
    assert_eq!(
        procs.pid, procs.pgid,
        "the child leads its own process group"
    );
    assert_ne!(procs.pgid, rustix::process::getpgrp());
    assert!(group_gone(procs.pgid));
}

#[tokio::test]
async fn extra_environment_and_retry_setting_reach_the_child() {
    let fake = Fake::new();
    let config = fake
        .config(&[("record_env", "AITO_TEST_MARK")])
        .env("AITO_TEST_MARK", "yes")
        .max_retries(Some(0));
    run(config, request(Duration::from_secs(20))).await.unwrap();
    let record = fake.record();
    assert_eq!(record["env"]["AITO_TEST_MARK"], json!("yes"));
    assert_eq!(record["env"]["CLAUDE_CODE_MAX_RETRIES"], json!("0"));

    let fake = Fake::new();
    run(
        fake.config(&[]).max_retries(None),
        request(Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert_eq!(fake.record()["env"]["CLAUDE_CODE_MAX_RETRIES"], json!(null));
}

#[tokio::test]
async fn old_usage_limit_notice_is_a_quota_with_its_epoch() {
    let fake = Fake::new();
    let reset = Utc::now().timestamp() + 3600;
    let config = fake.config(&[("mode", "usage_limit"), ("reset_epoch", &reset.to_string())]);
    match run(config, request(Duration::from_secs(20))).await {
        Err(LlmError::RateLimited {
            quota: true,
            resets_at: Some(resets_at),
            retry_after: Some(retry_after),
            message,
        }) => {
            assert_eq!(resets_at.timestamp(), reset);
            assert!(
                retry_after > Duration::from_secs(3500) && retry_after <= Duration::from_secs(3600),
                "{retry_after:?}"
            );
            assert!(message.contains("usage limit reached"), "{message}");
        }
        other => panic!("expected a quota rate limit, got {other:?}"),
    }
}

#[tokio::test]
async fn session_limit_is_a_quota_resetting_at_the_named_local_time() {
    let fake = Fake::new();
    let config = fake.config(&[("mode", "session_limit")]);
    let before = Utc::now();
    match run(config, request(Duration::from_secs(20))).await {
        Err(error @ LlmError::RateLimited { .. }) => {
            assert!(
                !error.is_transient(),
                "a quota is not retried before it resets"
            );
            let LlmError::RateLimited {
                quota,
                resets_at,
                retry_after,
                message,
            } = error
            else {
                unreachable!()
            };
            assert!(quota);
            assert!(message.contains("hit your session limit"), "{message}");
            let resets_at = resets_at.expect("the reset time is parsed");
            assert!(resets_at > before && resets_at <= before + chrono::Duration::hours(25));
            let berlin = resets_at.with_timezone(&chrono_tz::Europe::Berlin);
            assert_eq!((berlin.hour(), berlin.minute()), (9, 0), "{berlin}");
            assert!(retry_after.is_some());
        }
        other => panic!("expected a quota rate limit, got {other:?}"),
    }
}

#[tokio::test]
async fn transient_429_and_529_are_retryable_rate_limits() {
    for mode in ["rate_limit", "overloaded"] {
        let fake = Fake::new();
        match run(
            fake.config(&[("mode", mode)]),
            request(Duration::from_secs(20)),
        )
        .await
        {
            Err(error @ LlmError::RateLimited { quota: false, .. }) => {
                assert!(error.is_transient(), "{mode}");
            }
            other => panic!("{mode}: expected a transient rate limit, got {other:?}"),
        }
    }
    let fake = Fake::new();
    let config = fake.config(&[
        ("mode", "rate_limit"),
        (
            "result",
            "API Error: 429 too many requests, retry-after: 17",
        ),
    ]);
    match run(config, request(Duration::from_secs(20))).await {
        Err(LlmError::RateLimited {
            quota: false,
            retry_after,
            ..
        }) => assert_eq!(retry_after, Some(Duration::from_secs(17))),
        other => panic!("expected a transient rate limit, got {other:?}"),
    }
}

#[tokio::test]
async fn auth_failures_are_not_retried() {
    for mode in ["auth", "not_logged_in"] {
        let fake = Fake::new();
        match run(
            fake.config(&[("mode", mode)]),
            request(Duration::from_secs(20)),
        )
        .await
        {
            Err(error @ LlmError::Auth { .. }) => assert!(!error.is_transient()),
            other => panic!("{mode}: expected an auth error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn max_turns_and_context_overflow_are_rejections_not_retried() {
    let fake = Fake::new();
    let mut req = request(Duration::from_secs(20));
    req.max_turns = Some(2);
    match run(fake.config(&[("turns", "3")]), req).await {
        Err(error @ LlmError::Rejected { .. }) => {
            assert!(!error.is_transient());
            assert!(error.to_string().contains("error_max_turns"), "{error}")
        }
        other => panic!("expected an error result, got {other:?}"),
    }
    let fake = Fake::new();
    match run(
        fake.config(&[("mode", "prompt_too_long")]),
        request(Duration::from_secs(20)),
    )
    .await
    {
        Err(error @ LlmError::Rejected { .. }) => {
            assert!(!error.is_transient());
            assert!(error.to_string().contains("prompt_too_long"), "{error}")
        }
        other => panic!("expected an error result, got {other:?}"),
    }
}

#[tokio::test]
async fn non_zero_exit_without_result_is_a_process_error_with_the_stderr_tail() {
    let fake = Fake::new();
    let config = fake.config(&[
        ("mode", "exit"),
        ("exit_code", "3"),
        ("stderr", "starting\nsomething broke: disk full"),
    ]);
    match run(config, request(Duration::from_secs(20))).await {
        Err(LlmError::Process { code, stderr_tail }) => {
            assert_eq!(code, Some(3));
            assert!(
                stderr_tail.ends_with("something broke: disk full"),
                "{stderr_tail}"
            );
        }
        other => panic!("expected a process error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cli_usage_error_is_a_process_error() {
    let fake = Fake::new();
    let config = fake.config(&[]).extra_arg("--no-such-flag");
    match run(config, request(Duration::from_secs(20))).await {
        Err(LlmError::Process { code, stderr_tail }) => {
            assert_eq!(code, Some(1));
            assert_eq!(stderr_tail, "error: unknown option '--no-such-flag'");
        }
        other => panic!("expected a process error, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_on_stdout_is_unreadable_with_a_preview() {
    let fake = Fake::new();
    match run(
        fake.config(&[("mode", "garbage")]),
        request(Duration::from_secs(20)),
    )
    .await
    {
        Err(LlmError::Unreadable { reason, preview }) => {
            assert!(reason.contains("not JSON"), "{reason}");
            assert!(
                preview.starts_with("<html><body>502 Bad Gateway"),
                "{preview}"
            );
        }
        other => panic!("expected unreadable output, got {other:?}"),
    }
}

#[tokio::test]
async fn a_5_mb_result_is_read_whole() {
    let fake = Fake::new();
    let bytes = 5 * 1024 * 1024;
    let config = fake.config(&[("mode", "huge"), ("bytes", &bytes.to_string())]);
    let response = run(config, request(Duration::from_secs(60))).await.unwrap();
    assert_eq!(response.text.len(), bytes);
    assert!(response.text == huge_text(bytes), "the text arrived intact");
}

#[tokio::test]
async fn output_past_the_limit_is_unreadable_and_nothing_is_left_running() {
    let fake = Fake::new();
    let config = fake
        .config(&[("mode", "huge"), ("bytes", "3000000")])
        .max_output_bytes(1024 * 1024);
    match run(config, request(Duration::from_secs(60))).await {
        Err(LlmError::Unreadable { reason, preview }) => {
            assert!(reason.contains("1048576"), "{reason}");
            assert!(preview.starts_with("{\"type\":"), "{preview}");
        }
        other => panic!("expected unreadable output, got {other:?}"),
    }
    assert!(group_gone(processes(&fake.record()).pgid));
}

#[tokio::test]
async fn a_hang_is_killed_at_the_timeout_with_its_whole_process_group() {
    let fake = Fake::new();
    let config = fake.config(&[("mode", "hang")]);
    let session = ClaudeSession::new(config);
    let started = Instant::now();
    let running = tokio::spawn(async move { session.run(request(Duration::from_secs(1))).await });

    // While it hangs: the fake and its child both live, in the fake's own group.
    let record = fake.wait_for_record().await;
    let procs = processes(&record);
    let child = procs.child.expect("the hang mode starts a child");
    assert_eq!(procs.pid, procs.pgid);
    assert_eq!(rustix::process::getpgid(Some(child)).unwrap(), procs.pgid);
    assert!(!group_gone(procs.pgid));

    let outcome = running.await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        outcome,
        Err(LlmError::Timeout {
            after: Duration::from_secs(1)
        })
    );
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    // Timeout, then 300 ms of grace for SIGTERM (ignored), then SIGKILL.
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert!(process_gone(procs.pid), "the fake is gone");
    assert!(process_gone(child), "its child is gone");
    assert!(group_gone(procs.pgid), "no process is left in the group");
}

#[tokio::test]
async fn children_left_behind_by_a_successful_run_are_killed() {
    let fake = Fake::new();
    let config = fake.config(&[("mode", "leave_child"), ("result", "done")]);
    let started = Instant::now();
    let response = run(config, request(Duration::from_secs(30))).await.unwrap();
    assert_eq!(response.text, "done");
    assert!(started.elapsed() < Duration::from_secs(10));
    let procs = processes(&fake.record());
    assert!(process_gone(procs.child.expect("a child was left")));
    assert!(group_gone(procs.pgid));
}

#[tokio::test]
async fn a_cancelled_session_leaves_no_process_behind() {
    let fake = Fake::new();
    let session = ClaudeSession::new(fake.config(&[("mode", "hang")]));
    let running = tokio::spawn(async move { session.run(request(Duration::from_secs(60))).await });
    let procs = processes(&fake.wait_for_record().await);
    assert!(!group_gone(procs.pgid));

    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    // SIGKILL is sent at once on drop; the leader is reaped by tokio in the background and the
    // child by init.
    assert!(
        eventually(Duration::from_secs(5), || group_gone(procs.pgid)).await,
        "the process group outlived the cancelled session"
    );
}

#[tokio::test]
async fn a_missing_binary_is_a_clear_error() {
    let config = ClaudeConfig::new("/nonexistent/bin/claude");
    match run(config, request(Duration::from_secs(5))).await {
        Err(LlmError::Other { message }) => {
            assert!(
                message.contains("could not start /nonexistent/bin/claude"),
                "{message}"
            )
        }
        other => panic!("expected a start error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_process_that_left_the_group_cannot_hold_the_run_open() {
    let fake = Fake::new();
    let config = fake.config(&[("mode", "escape_child"), ("result", "done")]);
    let started = Instant::now();
    let outcome = run(config, request(Duration::from_secs(30))).await;
    let elapsed = started.elapsed();
    let procs = processes(&fake.record());
    let escaped = procs.child.expect("a child escaped");
    // This test started it; it is outside any group the adapter may kill.
    let still_running = !process_gone(escaped);
    let _ = rustix::process::kill_process(escaped, rustix::process::Signal::KILL);
    assert!(
        still_running,
        "the escaped child outlives the run, as expected"
    );
    assert_eq!(outcome.unwrap().text, "done");
    // Grace (300 ms) plus the one-second drain, far from the 30 s timeout.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(group_gone(procs.pgid));
}

#[tokio::test]
async fn server_errors_lost_connections_and_api_timeouts_are_transient_unavailability() {
    for (mode, status) in [
        ("server_error", Some(500)),
        ("connection_refused", None),
        ("api_timeout", None),
    ] {
        let fake = Fake::new();
        match run(
            fake.config(&[("mode", mode)]),
            request(Duration::from_secs(20)),
        )
        .await
        {
            Err(error @ LlmError::Unavailable { .. }) => {
                assert!(error.is_transient(), "{mode}");
                assert!(
                    matches!(error, LlmError::Unavailable { status: s, .. } if s == status),
                    "{mode}: {error:?}"
                );
            }
            other => panic!("{mode}: expected the API to be unavailable, got {other:?}"),
        }
    }
    let fake = Fake::new();
    match run(
        fake.config(&[("mode", "low_credit")]),
        request(Duration::from_secs(20)),
    )
    .await
    {
        Err(error @ LlmError::Auth { .. }) => assert!(!error.is_transient()),
        other => panic!("expected low credit to be final, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_session_to_resume_runs_again_as_a_fresh_kept_session() {
    let fake = Fake::new();
    let script = fake.dir.path().join("script.json");
    std::fs::write(
        &script,
        r#"[{"mode": "unknown_resume"}, {"mode": "success", "result": "fresh"}]"#,
    )
    .unwrap();
    let config = fake
        .config(&[])
        .env("FAKE_CLAUDE_SCRIPT", script.display().to_string());
    let mut asked = request(Duration::from_secs(20));
    asked.resume_session = Some("0ce8853f-aabe-488c-bbc2-a05f10b1cdc3".into());
    let response = run(config, asked).await.unwrap();
    assert_eq!(response.text, "fresh");
    let records = fake.records();
    assert_eq!(records.len(), 2, "{records:?}");
    let argv = |record: &serde_json::Value| -> Vec<String> {
        record["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        argv(&records[0]).contains(&"--resume=0ce8853f-aabe-488c-bbc2-a05f10b1cdc3".to_owned())
    );
    let fresh = argv(&records[1]);
    assert!(
        !fresh.iter().any(|arg| arg.starts_with("--resume")),
        "{fresh:?}"
    );
    // Kept, so that it can be resumed in turn.
    assert!(
        !fresh.contains(&"--no-session-persistence".to_owned()),
        "{fresh:?}"
    );
}
