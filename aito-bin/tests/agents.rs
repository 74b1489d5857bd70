//! `aito agent` running several agents of a company in one process against Redis: repeated
//! `--role`, and `--all`.

mod binary;

use std::time::Duration;

use aito_redis::testing::RedisServer;
use binary::{Running, aito, eventually, output, texts};
use serde_json::Value;

const SCRIPT: &str =
    r#"{"responses": [{"response": {"summary": "Handled it", "actions": []}, "repeat": true}]}"#;

fn status(dir: &std::path::Path, url: &str) -> Value {
    let run = output(aito(dir, &["status", "--json", "--redis", url]));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}):\n{stdout}"))
}

fn role_status(status: &Value, role: &str) -> String {
    status["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|agent| agent["role"] == role))
        .map(|agent| agent["status"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("no {role} in {status}"))
}

fn health_url(daemon: &mut Running) -> String {
    let line = daemon.wait_for_line("health on http://", Duration::from_secs(30));
    line.split("health on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the health URL")
        .to_owned()
}

fn get(url: &str) -> Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').expect("a path"));
    let mut stream = std::net::TcpStream::connect(authority).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let body = response.split_once("\r\n\r\n").expect("a body").1;
    serde_json::from_str(body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"))
}

#[test]
fn one_process_runs_the_roles_it_is_given() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    let mut daemon = Running::start(aito(
        dir.path(),
        &[
            "agent",
            "--role",
            "ceo",
            "--role",
            "cto",
            "--redis",
            &url,
            "--llm",
            "replay:script.json",
            "--health-bind",
            "127.0.0.1:0",
        ],
    ));
    let health = health_url(&mut daemon);
    eventually("the CEO and CTO idle", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        (role_status(&status, "ceo") == "idle" && role_status(&status, "cto") == "idle")
            .then_some(())
    });
    let report = status(dir.path(), &url);
    assert_eq!(
        role_status(&report, "cfo"),
        "unknown",
        "only the two roles run here"
    );

    let healthz = get(&health);
    let roles: Vec<&str> = healthz["agents"]
        .as_array()
        .expect("one entry per agent")
        .iter()
        .map(|agent| agent["role"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(roles, ["ceo", "cto"], "{healthz}");

    for role in ["ceo", "cto"] {
        let send = output(aito(
            dir.path(),
            &[
                "send",
                "--redis",
                &url,
                "--to",
                role,
                "--payload",
                r#"{"title": "Plan"}"#,
            ],
        ));
        assert_eq!(send.status.code(), Some(0), "{}", texts(&send).1);
    }
    eventually("both handled their task", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        let agents = status["agents"].as_array()?.clone();
        agents
            .iter()
            .filter(|agent| agent["role"] == "ceo" || agent["role"] == "cto")
            .all(|agent| agent["sessions_total"] == 1)
            .then_some(())
    });
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    let report = status(dir.path(), &url);
    assert_eq!(role_status(&report, "ceo"), "stopped");
    assert_eq!(role_status(&report, "cto"), "stopped");
}

#[test]
fn all_runs_every_agent_of_the_company() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    let mut daemon = Running::start(aito(
        dir.path(),
        &[
            "agent",
            "--all",
            "--redis",
            &url,
            "--llm",
            "replay:script.json",
            "--health-bind",
            "127.0.0.1:0",
        ],
    ));
    let _ = health_url(&mut daemon);
    eventually("all seven idle", Duration::from_secs(30), || {
        let status = status(dir.path(), &url);
        let agents = status["agents"].as_array()?;
        (agents.len() == 7 && agents.iter().all(|agent| agent["status"] == "idle")).then_some(())
    });
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}
