//! Two companies on one `redis-server`, told apart by their key prefix, as an operator runs
//! them: a plain `PUBLISH` of a pause on one company's broadcast channel pauses only that
//! company, and each dashboard lists only its own agents, events and worker logs.

mod binary;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aito_redis::testing::RedisServer;
use binary::{Running, aito, eventually, output, texts};
use serde_json::Value;

const SCRIPT: &str =
    r#"{"responses": [{"response": {"summary": "done", "actions": []}, "repeat": true}]}"#;

struct Company {
    dir: tempfile::TempDir,
    prefix: &'static str,
    name: &'static str,
    daemon: Running,
    dashboard: String,
}

fn with_company(
    mut command: std::process::Command,
    prefix: &str,
    name: &str,
) -> std::process::Command {
    command
        .env("AITO_REDIS_PREFIX", prefix)
        .env("AITO_COMPANY_NAME", name);
    command
}

fn start(url: &str, prefix: &'static str, name: &'static str) -> Company {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("script.json"), SCRIPT).expect("script");
    let mut daemon = Running::start(with_company(
        aito(
            dir.path(),
            &[
                "run",
                "--redis",
                url,
                "--llm",
                "replay:script.json",
                "--bind",
                "127.0.0.1:0",
            ],
        ),
        prefix,
        name,
    ));
    let line = daemon.wait_for_line("dashboard listening", Duration::from_secs(30));
    let dashboard = line
        .split("address=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Company {
        dir,
        prefix,
        name,
        daemon,
        dashboard,
    }
}

impl Company {
    fn status(&self, url: &str) -> Value {
        let run = output(with_company(
            aito(self.dir.path(), &["status", "--json", "--redis", url]),
            self.prefix,
            self.name,
        ));
        let (stdout, stderr) = texts(&run);
        assert_eq!(run.status.code(), Some(0), "{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}):\n{stdout}"))
    }

    fn get(&self, path: &str) -> Value {
        get(&self.dashboard, path)
    }
}

/// `GET path` from the dashboard at `address`, as JSON.
fn get(address: &str, path: &str) -> Value {
    let mut stream = TcpStream::connect(address).expect("connect to the dashboard");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no body in {response:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_owned()
    };
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item[field].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn ready(company: &Company, url: &str) {
    eventually("every agent idle", Duration::from_secs(30), || {
        let status = company.status(url);
        let agents = status["agents"].as_array()?;
        (agents.len() == 7 && agents.iter().all(|agent| agent["status"] == "idle")).then_some(())
    });
}

fn worker_log(worker: &str, line: &str) -> String {
    serde_json::json!({
        "type": "worker_log",
        "from": "system",
        "payload": {"workerId": worker, "line": line, "stream": "stdout"}
    })
    .to_string()
}

#[test]
fn a_plain_publish_pauses_only_its_company_and_each_dashboard_shows_its_own() {
    let server = RedisServer::start();
    let url = server.url();
    let alpha = start(&url, "alpha:", "alpha");
    let beta = start(&url, "beta:", "beta");
    ready(&alpha, &url);
    ready(&beta, &url);

    // The operator's pause, sent as documented for one company.
    let pause = r#"{"type":"system","payload":{"action":"pause"}}"#;
    server.cli(&["PUBLISH", "alpha:channel:broadcast", pause]);
    eventually("alpha paused", Duration::from_secs(30), || {
        (alpha.status(&url)["paused"] == true).then_some(())
    });
    // Give beta the same time to (wrongly) hear it.
    std::thread::sleep(Duration::from_secs(1));
    let beta_status = beta.status(&url);
    assert_eq!(
        beta_status["paused"], false,
        "beta was paused by alpha's pause"
    );
    assert!(
        beta_status["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .all(|agent| agent["status"] == "idle"),
        "{beta_status}"
    );

    // A worker log line on each company's channel.
    server.cli(&[
        "PUBLISH",
        "alpha:channel:worker:logs",
        &worker_log("alpha-worker", "alpha's line"),
    ]);
    server.cli(&[
        "PUBLISH",
        "beta:channel:worker:logs",
        &worker_log("beta-worker", "beta's line"),
    ]);
    for (company, own, other) in [(&alpha, "alpha", "beta"), (&beta, "beta", "alpha")] {
        let lines = eventually(
            &format!("{own}'s worker log on its dashboard"),
            Duration::from_secs(10),
            || {
                let logs = company.get("/api/logs");
                let text = logs["lines"].to_string();
                text.contains(&format!("{own}'s line")).then_some(text)
            },
        );
        assert!(
            !lines.contains(&format!("{other}'s line")),
            "{own}'s dashboard shows {other}'s worker log: {lines}"
        );

        let agents = company.get("/api/agents");
        let ids = names(&agents["agents"], "id");
        assert_eq!(ids.len(), 7, "{agents}");
        let theirs = company_agents(if own == "alpha" { &beta } else { &alpha }, &url);
        assert!(
            ids.iter().all(|id| !theirs.contains(id)),
            "{own}'s dashboard lists {other}'s agents: {agents}"
        );

        let events = company.get("/api/events")["events"].to_string();
        let paused = events.contains("pause");
        assert_eq!(
            paused,
            own == "alpha",
            "only alpha's dashboard shows the pause: {own}: {events}"
        );
    }
    drop(alpha.daemon);
    drop(beta.daemon);
}

fn company_agents(company: &Company, url: &str) -> Vec<String> {
    names(&company.status(url)["agents"], "id")
}
