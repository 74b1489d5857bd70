//! A company of `aito agent` daemons on a private `redis-server` (append-only file on, so a
//! restart keeps its data), thinking on the local API server of the tests (aito-mock-api)
//! through the model router: the processes, the model's answers and the store, as the fault
//! suite and the soak drive and inspect them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aito_core::store::{DeadLetter, HistoryEntry};
use aito_core::{
    AgentId, Bus, Channel, Envelope, MessageId, MessageType, Priority, Sender, StateStore,
};
use aito_mock_api::openai::ChatRequest;
use aito_mock_api::{MockServer, Recorded};
use aito_redis::testing::{Options, RedisServer};
use aito_redis::{RedisBus, RedisConfig, RedisStateStore};
use serde_json::{Value, json};

use super::{Running, aito, output, texts};

/// The company's name in the configuration (it seeds the agents' ids).
pub const COMPANY: &str = "acme";

/// The seven roles.
pub const ROLES: [&str; 7] = ["ceo", "dao", "cmo", "cto", "cfo", "coo", "cco"];

/// USD per million input tokens and per million output tokens of the test model.
pub const PRICES: (f64, f64) = (1.0, 2.0);

/// `aito status --json --redis URL`, parsed.
pub fn status(dir: &Path, url: &str) -> Value {
    let run = output(aito(dir, &["status", "--json", "--redis", url]));
    let (stdout, stderr) = texts(&run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}):\n{stdout}"))
}

/// One agent's entry of a status report.
pub fn agent<'a>(status: &'a Value, role: &str) -> &'a Value {
    status["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|agent| agent["role"] == role))
        .unwrap_or_else(|| panic!("no {role} in {status}"))
}

/// The number in `"job": N` of the trigger a model call is about: the tests put it in the
/// payload of the messages they send, which the prompt shows as JSON.
pub fn job_of(request: &Recorded) -> Option<u64> {
    let call = ChatRequest::parse(request)?;
    let text = call.user_texts().join("\n");
    let at = text.find("\"job\": ")?;
    text[at + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The configuration: the seven roles, woken by messages only, with budgets no test reaches,
/// thinking on the provider at `api` (an OpenAI-compatible server) with no retries of its own
/// and a one-second idle timeout.
pub fn config(api: &str) -> String {
    let mut text = format!(
        "[company]\nname = \"{COMPANY}\"\nbudget = {{ usd_per_day = 100000.0 }}\n\n[llm]\nprovider = \"router\"\nsession_timeout_secs = 60\n\n[llm.providers.mock]\ntype = \"openai\"\nbase_url = \"{api}/v1\"\nmodel = \"fleet-model\"\nretries = 0\nidle_timeout_secs = 1\n\n[llm.providers.mock.prices.fleet-model]\ninput = {}\noutput = {}\n",
        PRICES.0, PRICES.1
    );
    for role in ROLES {
        text.push_str(&format!(
            "\n[[agents]]\nrole = \"{role}\"\nschedules = []\nbudget = {{ sessions_per_hour = 1000000, usd_per_day = 100000.0 }}\n"
        ));
    }
    text
}

/// The company: its directory, Redis, the model's API server, the daemons, and a client of
/// the bus and store for the test.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub redis: RedisServer,
    pub api: MockServer,
    pub daemons: BTreeMap<String, Running>,
    runtime: tokio::runtime::Runtime,
    bus: RedisBus,
    store: RedisStateStore,
}

impl Fleet {
    /// Redis with its append-only file, the API server (answer with
    /// [`MockServer::respond_with`]) and the configuration; no daemon yet.
    pub fn new() -> Self {
        let redis = RedisServer::start_with(Options {
            appendonly: true,
            ..Options::default()
        });
        let api = MockServer::start().expect("a mock API server");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("aito.toml"), config(&api.url())).expect("config");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let client = RedisConfig::new(redis.url())
            .with_prefix("aito:")
            .with_reconnect(Duration::from_millis(50), Duration::from_millis(500));
        let (bus, store) = runtime.block_on(async {
            (
                RedisBus::connect(client.clone()).await.expect("bus"),
                RedisStateStore::connect(client).await.expect("store"),
            )
        });
        Self {
            dir,
            redis,
            api,
            daemons: BTreeMap::new(),
            runtime,
            bus,
            store,
        }
    }

    /// The Redis URL.
    pub fn url(&self) -> String {
        self.redis.url()
    }

    /// The daemon of `roles` (one process), started and serving.
    pub fn start(&mut self, roles: &[&str]) {
        self.start_as(&roles.join("+"), roles, "serving");
    }

    /// Sets `[company] lease_ttl_secs` for the daemons started from now on.
    pub fn lease_ttl(&self, secs: u64) {
        let path = self.dir.path().join("aito.toml");
        let text = std::fs::read_to_string(&path).expect("config");
        let text = text.replacen(
            "[company]\n",
            &format!("[company]\nlease_ttl_secs = {secs}\n"),
            1,
        );
        std::fs::write(&path, text).expect("config");
    }

    /// Sets the company's daily money limit (`[company] budget.usd_per_day`).
    pub fn company_budget(&self, usd_per_day: f64) {
        let path = self.dir.path().join("aito.toml");
        let text = std::fs::read_to_string(&path).expect("config");
        let text = text.replacen(
            "budget = { usd_per_day = 100000.0 }\n",
            &format!("budget = {{ usd_per_day = {usd_per_day:?} }}\n"),
            1,
        );
        std::fs::write(&path, text).expect("config");
    }

    /// A daemon of `roles` known as `key` (so that two may serve one role), started and
    /// logging a line with `ready` (a daemon that stands by for a live lease logs no
    /// `serving` until it holds it).
    pub fn start_as(&mut self, key: &str, roles: &[&str], ready: &str) {
        let url = self.url();
        let mut args = vec!["agent", "--redis", &url, "--health-bind", "127.0.0.1:0"];
        for role in roles {
            args.extend(["--role", role]);
        }
        let mut command = aito(self.dir.path(), &args);
        command.env("RUST_LOG", "aito_core=info,aito_bin=info,aito_redis=warn");
        let mut daemon = Running::start(command);
        daemon.wait_for_line(ready, Duration::from_secs(60));
        self.daemons.insert(key.to_owned(), daemon);
    }

    /// Sends `signal` (`STOP`, `CONT`) to the daemon known as `key`.
    pub fn signal(&mut self, key: &str, signal: &str) {
        let pid = self.daemon_as(key).child.id().to_string();
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The daemon known as `key`.
    pub fn daemon_as(&mut self, key: &str) -> &mut Running {
        self.daemons
            .get_mut(key)
            .unwrap_or_else(|| panic!("no daemon {key}"))
    }

    /// Kills the daemon of `roles` with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self, roles: &[&str]) {
        let mut daemon = self
            .daemons
            .remove(&roles.join("+"))
            .unwrap_or_else(|| panic!("no daemon of {roles:?}"));
        daemon.child.kill().expect("kill -9");
        daemon.child.wait().expect("wait");
    }

    /// The daemon of `roles`.
    pub fn daemon(&mut self, roles: &[&str]) -> &mut Running {
        self.daemons
            .get_mut(&roles.join("+"))
            .unwrap_or_else(|| panic!("no daemon of {roles:?}"))
    }

    /// The id of `role`'s agent.
    pub fn id(role: &str) -> AgentId {
        AgentId::derived(COMPANY, role)
    }

    /// A task for `role` with `"job": job` in its payload, as `aito send` publishes it;
    /// retried until Redis takes it (the same envelope, so a copy is recognised).
    pub fn send(&self, role: &str, job: u64, title: &str) -> MessageId {
        let envelope = Envelope::new(
            MessageType::Task,
            Sender::Human,
            json!({"title": title, "job": job}),
        )
        .with_priority(Priority::Normal);
        let id = envelope.id;
        self.runtime.block_on(async {
            let mut tries = 0;
            while let Err(err) = self
                .bus
                .publish(Channel::Agent(Self::id(role)), envelope.clone())
                .await
            {
                tries += 1;
                assert!(tries < 600, "could not publish for a minute: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        id
    }

    /// Triggers `role`'s agent has finished (handled or dead-lettered) and those it handled,
    /// from its state; `None` while the store does not answer.
    pub fn finished(&self, role: &str) -> Option<(u64, u64)> {
        self.runtime.block_on(async {
            let state = self.store.load_state(Self::id(role)).await.ok()?;
            let state = state.value;
            Some((state.loop_count + state.error_count, state.success_count))
        })
    }

    /// Whether the handled mark of `message` is set for `role`'s agent.
    pub fn handled(&self, role: &str, message: MessageId) -> bool {
        let key = format!("handled:{}:{message}", Self::id(role));
        self.runtime
            .block_on(self.store.is_marked(&key))
            .expect("is_marked")
    }

    /// Every dead letter of `role`'s agent.
    pub fn dead_letters(&self, role: &str) -> Vec<DeadLetter> {
        self.runtime
            .block_on(self.store.dead_letters(Some(Self::id(role)), 100_000))
            .expect("dead letters")
    }

    /// `role`'s history, oldest first (the store keeps the newest 200 entries).
    pub fn history(&self, role: &str) -> Vec<HistoryEntry> {
        self.runtime
            .block_on(self.store.history(Self::id(role), 1000))
            .expect("history")
    }

    /// `role`'s workspace.
    pub fn workspace(&self, role: &str) -> PathBuf {
        self.dir.path().join("aito-data/workspaces").join(role)
    }

    /// `aito status --json` of this company.
    pub fn status(&self) -> Value {
        status(self.dir.path(), &self.url())
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}
