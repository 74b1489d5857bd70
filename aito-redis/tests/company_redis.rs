//! Whole daemons on Redis: the company builder with RedisBus, RedisStateStore and the replay
//! model. A recipient that was stopped, two daemons for one agent, and Redis restarted under a
//! running company.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aito_core::mock::{Script, ScriptedResponse};
use aito_core::store::HistoryEntry;
use aito_core::{
    AgentId, AgentSpec, Budget, Bus, Channel, Company, Envelope, MessageType, MockWorkers,
    ReplayLlm, Role, Sender, Settings, StateStore,
};
use aito_redis::{RedisBus, RedisStateStore};
use common::{Options, RedisServer, init_tracing};
use serde_json::json;

const COMPANY: &str = "redisco";

/// One "process": its own connections, model and workspaces.
struct Node {
    bus: Arc<RedisBus>,
    store: Arc<RedisStateStore>,
    llm: Arc<ReplayLlm>,
    workspaces: tempfile::TempDir,
}

impl Node {
    async fn new(server: &RedisServer) -> Self {
        let config = server.config();
        Self {
            bus: Arc::new(RedisBus::connect(config.clone()).await.expect("bus")),
            store: Arc::new(RedisStateStore::connect(config).await.expect("store")),
            llm: Arc::new(ReplayLlm::new(Script {
                description: None,
                responses: vec![ScriptedResponse {
                    role: Some(Role::Cto),
                    when: None,
                    response: Some(json!({ "summary": "handled the task", "actions": [] })),
                    cost_usd: 0.01,
                    repeat: true,
                    ..ScriptedResponse::default()
                }],
                on_exhausted: Default::default(),
            })),
            workspaces: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn company(&self, roles: &[Role]) -> Company {
        let mut settings = Settings {
            company_budget: Budget::unlimited(),
            shutdown_grace: Duration::from_secs(2),
            lease_ttl: Duration::from_secs(2),
            ..Settings::default()
        };
        settings.retry.base_delay = Duration::from_millis(10);
        settings.retry.max_delay = Duration::from_millis(50);
        let agents: Vec<AgentSpec> = roles
            .iter()
            .cloned()
            .map(|role| {
                AgentSpec::new(role)
                    .without_schedules()
                    .budget(Budget::unlimited())
            })
            .collect();
        Company::builder(COMPANY)
            .agents(agents)
            .bus(self.bus.clone())
            .store(self.store.clone())
            .llm(self.llm.clone())
            .workers(Arc::new(MockWorkers::new()))
            .settings(settings)
            .workspace_root(self.workspaces.path())
            .build()
            .expect("company")
    }

    fn sessions(&self) -> usize {
        self.llm.requests().len()
    }
}

fn cto() -> AgentId {
    AgentId::derived(COMPANY, "cto")
}

fn task(title: &str) -> Envelope {
    Envelope::new(MessageType::Task, Sender::Human, json!({ "title": title }))
}

async fn history(store: &RedisStateStore) -> Vec<HistoryEntry> {
    store.history(cto(), 100).await.expect("history")
}

/// Waits until the CTO's history has `n` entries.
async fn handled(store: &RedisStateStore, n: usize, what: &str) -> Vec<HistoryEntry> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entries = history(store).await;
        if entries.len() >= n {
            return entries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {} of {n} handled",
            entries.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A task sent while the CTO's daemon is not running is handled once when it starts, and not
/// again when the daemon restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_the_recipient_is_stopped_is_handled_once_after_it_starts() {
    init_tracing();
    let server = RedisServer::start();
    let node = Node::new(&server).await;
    node.bus
        .publish(Channel::Agent(cto()), task("Ship the API"))
        .await
        .expect("publish");
    let running = node
        .company(&[Role::Ceo, Role::Cto])
        .start()
        .expect("start");
    let entries = handled(&node.store, 1, "the task sent while stopped").await;
    assert!(entries[0].trigger.contains("Ship the API"), "{entries:?}");
    running.shutdown().await;
    // A second run of the daemon: the task was acknowledged and does not come back.
    let again = node
        .company(&[Role::Ceo, Role::Cto])
        .start()
        .expect("restart");
    tokio::time::sleep(Duration::from_secs(2)).await;
    again.shutdown().await;
    assert_eq!(history(&node.store).await.len(), 1);
    assert_eq!(node.sessions(), 1, "the task ran more than once");
}

/// Two daemons of the same agent in two "processes": only the lease holder runs sessions; when
/// it stops, the other takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_for_one_agent_only_the_lease_holder_runs_sessions() {
    init_tracing();
    let server = RedisServer::start();
    let first = Node::new(&server).await;
    let second = Node::new(&server).await;
    let running_first = first.company(&[Role::Cto]).start().expect("first");
    let running_second = second.company(&[Role::Cto]).start().expect("second");
    for n in 0..3 {
        first
            .bus
            .publish(Channel::Agent(cto()), task(&format!("Task {n}")))
            .await
            .expect("publish");
    }
    handled(&first.store, 3, "three tasks").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a, b) = (first.sessions(), second.sessions());
    assert_eq!(a + b, 3, "each task ran once: {a} + {b}");
    assert!(a == 0 || b == 0, "both daemons ran sessions: {a} and {b}");
    let (holder, standby, running_holder, running_standby) = if a > 0 {
        (&first, &second, running_first, running_second)
    } else {
        (&second, &first, running_second, running_first)
    };
    running_holder.shutdown().await;
    holder
        .bus
        .publish(Channel::Agent(cto()), task("Task after the hand-over"))
        .await
        .expect("publish");
    handled(&holder.store, 4, "the task after the hand-over").await;
    assert_eq!(standby.sessions(), 1, "the standby took over");
    assert_eq!(holder.sessions(), 3);
    running_standby.shutdown().await;
}

/// Redis killed and restarted (append-only file on) under a running company: the daemons go
/// on by themselves and a task sent after the restart is handled; nothing handled is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_survives_a_redis_restart() {
    init_tracing();
    let mut server = RedisServer::start_with(Options {
        appendonly: true,
        ..Options::default()
    });
    let node = Node::new(&server).await;
    let running = node
        .company(&[Role::Ceo, Role::Cto])
        .start()
        .expect("start");
    node.bus
        .publish(Channel::Agent(cto()), task("Before the restart"))
        .await
        .expect("publish");
    handled(&node.store, 1, "the task before the restart").await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.restart();
    let mut attempts = 0;
    while node
        .bus
        .publish(Channel::Agent(cto()), task("After the restart"))
        .await
        .is_err()
    {
        attempts += 1;
        assert!(attempts < 100, "the bus never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let entries = handled(&node.store, 2, "the task after the restart").await;
    assert!(entries[0].trigger.contains("Before the restart"));
    assert!(entries[1].trigger.contains("After the restart"));
    running.shutdown().await;
    assert_eq!(node.sessions(), 2);
}
