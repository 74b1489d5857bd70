//! Hostile envelopes sent straight to Redis with a plain `PUBLISH`, against a company running
//! there: an envelope over the size cap and one with a huge field never reach the model, are
//! dead-lettered, no log line quotes them at length, and the agent goes on with its work.

mod binary;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aito_core::AgentId;
use aito_redis::testing::RedisServer;
use binary::{Running, aito, eventually, output, texts};
use serde_json::{Value, json};

const SCRIPT: &str = r#"{
  "responses": [
    {"role": "cto", "when": "HOSTILE", "cost_usd": 0.5,
     "response": {"summary": "The model saw a hostile envelope", "actions": []}},
    {"role": "cto", "when": "Write the changelog", "cost_usd": 0.05,
     "response": {"summary": "Wrote the changelog for 0.2", "actions": []}}
  ]
}"#;

/// The longest log line allowed.
const LOG_LINE_LIMIT: usize = 4 * 1024;

/// `PUBLISH channel message` over a raw connection: no command-line length limit applies.
fn publish(port: u16, channel: &str, message: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    let mut command = Vec::with_capacity(message.len() + 128);
    for part in ["PUBLISH", channel, message] {
        command.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        command.extend_from_slice(part.as_bytes());
        command.extend_from_slice(b"\r\n");
    }
    let mut framed = b"*3\r\n".to_vec();
    framed.extend_from_slice(&command);
    stream.write_all(&framed).expect("publish");
    let mut reply = [0u8; 64];
    let read = stream.read(&mut reply).expect("reply");
    assert!(
        reply[..read].starts_with(b":"),
        "PUBLISH answered {:?}",
        String::from_utf8_lossy(&reply[..read])
    );
}

fn status(dir: &std::path::Path, url: &str) -> Value {
    let run = output(aito(dir, &["status", "--json", "--redis", url]));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}):\n{stdout}"))
}

fn cto(status: &Value) -> Value {
    status["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|agent| agent["role"] == "cto"))
        .cloned()
        .unwrap_or_else(|| panic!("no cto in {status}"))
}

#[test]
fn oversize_envelopes_and_huge_fields_never_reach_the_model_nor_the_logs() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    let mut company = Running::start(aito(
        dir.path(),
        &[
            "run",
            "--redis",
            &url,
            "--llm",
            "replay:script.json",
            "--bind",
            "127.0.0.1:0",
        ],
    ));
    eventually("every agent idle", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        let agents = status["agents"].as_array()?;
        (agents.len() == 7 && agents.iter().all(|agent| agent["status"] == "idle")).then_some(())
    });

    let inbox = format!("channel:agent:{}", AgentId::derived("acme", "cto"));
    // A 10 MB task.
    let big = json!({"type": "task", "from": "human",
        "payload": {"title": format!("HOSTILE {}", "x".repeat(10 * 1024 * 1024))}});
    publish(server.port(), &inbox, &big.to_string());
    // A 1 MB priority: over the cap as well.
    let wide = json!({"type": "task", "from": "human", "priority": "p".repeat(1024 * 1024),
        "payload": {"title": "HOSTILE priority"}});
    publish(server.port(), &inbox, &wide.to_string());
    // A 200 KB priority, within the cap: malformed, and its error quotes only a preview.
    let long = json!({"type": "task", "from": "human", "priority": "q".repeat(200 * 1024),
        "payload": {"title": "HOSTILE within the cap"}});
    publish(server.port(), &inbox, &long.to_string());
    // A 200 KB sender, within the cap: malformed too.
    let sender = json!({"type": "task", "from": "s".repeat(200 * 1024),
        "payload": {"title": "HOSTILE sender"}});
    publish(server.port(), &inbox, &sender.to_string());

    // Both oversize envelopes are dead-lettered.
    eventually("two dead letters", Duration::from_secs(30), || {
        (status(dir.path(), &url)["dead_letters"] == 2).then_some(())
    });

    // The agent goes on with its work.
    let send = output(aito(
        dir.path(),
        &[
            "send",
            "--redis",
            &url,
            "--to",
            "cto",
            "--payload",
            r#"{"title": "Write the changelog"}"#,
        ],
    ));
    assert_eq!(send.status.code(), Some(0), "{}", texts(&send).1);
    let handled = eventually("the CTO handled the task", Duration::from_secs(30), || {
        let cto = cto(&status(dir.path(), &url));
        (cto["sessions_total"] == 1 && cto["status"] == "idle").then_some(cto)
    });
    // Exactly one session, the changelog's: no hostile envelope reached the model.
    assert_eq!(handled["last_summary"], "Wrote the changelog for 0.2");
    assert!(
        (handled["spent_today_usd"].as_f64().unwrap_or(0.0) - 0.05).abs() < 1e-9,
        "{handled}"
    );

    let lines = company.stderr_lines(Duration::from_millis(500));
    let refused: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("envelope refused"))
        .collect();
    assert_eq!(
        refused.len(),
        2,
        "one warning per refused envelope:\n{refused:?}"
    );
    assert!(
        refused.iter().all(|line| line.contains("over the cap")),
        "{refused:?}"
    );
    assert!(
        lines.iter().any(|line| line.contains("malformed envelope")),
        "the malformed ones are logged too"
    );
    for line in &lines {
        assert!(
            line.len() <= LOG_LINE_LIMIT,
            "a log line of {} bytes: {}…",
            line.len(),
            &line[..300]
        );
    }
    let (code, stdout) = company.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stdout}");
}

/// `[bus] max_envelope_bytes` in aito.toml is the cap of the company's bus: a 4 KB task, well
/// within the default cap, published straight to Redis is dead-lettered as over the configured
/// 2048 bytes, and `aito send` refuses one as well, while a small task still reaches the agent.
#[test]
fn a_configured_envelope_cap_is_the_cap_of_every_bus_of_the_company() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    std::fs::write(
        dir.path().join("aito.toml"),
        "[bus]\nmax_envelope_bytes = 2048\n",
    )
    .expect("aito.toml");
    let mut company = Running::start(aito(
        dir.path(),
        &[
            "run",
            "--redis",
            &url,
            "--llm",
            "replay:script.json",
            "--bind",
            "127.0.0.1:0",
        ],
    ));
    eventually("every agent idle", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        let agents = status["agents"].as_array()?;
        (agents.len() == 7 && agents.iter().all(|agent| agent["status"] == "idle")).then_some(())
    });

    let inbox = format!("channel:agent:{}", AgentId::derived("acme", "cto"));
    let task = json!({"type": "task", "from": "human",
        "payload": {"title": format!("HOSTILE {}", "x".repeat(4096))}});
    publish(server.port(), &inbox, &task.to_string());
    eventually("one dead letter", Duration::from_secs(30), || {
        (status(dir.path(), &url)["dead_letters"] == 1).then_some(())
    });

    let refused = output(aito(
        dir.path(),
        &[
            "send",
            "--redis",
            &url,
            "--to",
            "cto",
            "--payload",
            &json!({"title": "y".repeat(4096)}).to_string(),
        ],
    ));
    let (_, stderr) = texts(&refused);
    assert_ne!(
        refused.status.code(),
        Some(0),
        "a send over the cap is refused"
    );
    assert!(
        stderr.contains("2048"),
        "the refusal names the cap: {stderr}"
    );

    let send = output(aito(
        dir.path(),
        &[
            "send",
            "--redis",
            &url,
            "--to",
            "cto",
            "--payload",
            r#"{"title": "Write the changelog"}"#,
        ],
    ));
    assert_eq!(send.status.code(), Some(0), "{}", texts(&send).1);
    let handled = eventually("the CTO handled the task", Duration::from_secs(30), || {
        let cto = cto(&status(dir.path(), &url));
        (cto["sessions_total"] == 1 && cto["status"] == "idle").then_some(cto)
    });
    assert_eq!(handled["last_summary"], "Wrote the changelog for 0.2");

    let lines = company.stderr_lines(Duration::from_millis(500));
    assert!(
        lines
            .iter()
            .any(|line| line.contains("envelope refused")
                && line.contains("over the cap of 2048 bytes")),
        "the refusal names the configured cap:\n{lines:?}"
    );
    let (code, stdout) = company.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stdout}");
}
