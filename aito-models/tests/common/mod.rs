//! Shared helpers of the aito-models tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use aito_core::{AgentId, LlmRequest, Role, SessionKind};
use aito_models::{ApiConfig, Price};

/// A request of `timeout` with a fixed system prompt.
pub fn request(prompt: &str, timeout: Duration) -> LlmRequest {
    LlmRequest {
        agent: AgentId::random(),
        role: Role::Cto,
        system_prompt: "You are the CTO of a small company. Answer in JSON.".into(),
        prompt: prompt.into(),
        resume_session: None,
        keep_session: false,
        model: None,
        max_turns: None,
        timeout,
        working_dir: None,
        kind: SessionKind::Message,
        tier: None,
    }
}

/// A provider at `base_url` that retries quickly.
pub fn config(name: &str, base_url: &str, model: &str) -> ApiConfig {
    ApiConfig::new(name, base_url, model)
        .api_key("sk-test-secret")
        .retries(2, Duration::from_secs(5))
        .backoff(Duration::from_millis(20))
        .idle_timeout(Duration::from_secs(5))
        .price(
            model,
            Price {
                input: 3.0,
                output: 15.0,
                cache_read: Some(0.3),
                cache_write: Some(3.75),
            },
        )
}

/// An answer the daemon can read.
pub const ANSWER: &str = r#"{"summary": "planned the week", "actions": []}"#;

/// The test MCP server of aito-claude (`test-mcp-server`), built when missing.
pub fn test_mcp_server() -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("the test binary");
    // target/<profile>/deps/<test> → target/<profile>/test-mcp-server
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the profile directory");
    let path = dir.join("test-mcp-server");
    BUILT.call_once(|| {
        if !path.exists() {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "-p", "aito-claude", "--bin", "test-mcp-server"])
                .status()
                .expect("cargo runs");
            assert!(status.success(), "could not build test-mcp-server");
        }
    });
    assert!(path.exists(), "no test-mcp-server at {}", path.display());
    path
}

/// Whether a process whose command line holds `needle` is still running.
pub fn process_with(needle: &str) -> bool {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .any(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
}
