//! RedisBus and RedisStateStore on a real Redis Cluster that the test starts itself: three
//! masters with one replica each on free loopback ports. The whole bus and store contract kit
//! runs on it (a script whose keys crossed slots would fail here with `CROSSSLOT`, and before
//! that with `Error::CrossSlot`), and a master fails over during a burst of messages.
//!
//! One cluster serves all the contract checks of a test, each with a prefix of its own, to keep
//! the wall time modest.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aito_core::testkit::{bus_contract, store_contract, within};
use aito_core::{AgentId, Bus, Channel, Envelope, MessageType, Sender, StateStore, Subscription};
use aito_redis::testing::RedisCluster;
use aito_redis::{RedisBus, RedisConfig, RedisStateStore};
use common::init_tracing;
use serde_json::json;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn config(cluster: &RedisCluster) -> RedisConfig {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    cluster.config().with_prefix(format!("c{n}:"))
}

macro_rules! run_all {
    ($module:ident, $make:expr; $($name:ident),* $(,)?) => {
        $(
            tracing::info!(check = stringify!($name), "contract check");
            let adapter = $make.await;
            $module::$name(&adapter).await;
            drop(adapter);
        )*
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_kit_passes_on_a_three_master_cluster() {
    init_tracing();
    let cluster = RedisCluster::start();
    let store = || async {
        RedisStateStore::connect(config(&cluster))
            .await
            .expect("store")
    };
    run_all!(store_contract, store();
        state_starts_at_version_zero_and_cas_rejects_stale_writes,
        concurrent_compare_and_set_loses_no_update,
        history_is_bounded_and_ordered,
        decisions_are_versioned_and_listed_by_status,
        recent_decisions_are_the_newest_of_their_status,
        recent_decisions_without_leave_out_the_agents_own,
        idempotency_marks_are_set_once_and_expire,
        leases_have_one_holder_and_lapse,
        writes_of_an_ended_lease_term_are_refused,
        counters_add_and_expire,
        values_are_set_read_and_deleted,
        logs_are_bounded_and_ordered,
        dead_letters_are_kept_per_agent,
        statuses_are_listed,
        budget_holds_are_atomic_and_lapse,
        bookings_are_made_once,
    );
    let bus = || async { RedisBus::connect(config(&cluster)).await.expect("bus") };
    run_all!(bus_contract, bus();
        inbox_keeps_envelopes_until_a_subscriber_comes,
        acked_deliveries_are_not_redelivered,
        unacked_deliveries_are_redelivered_to_the_next_subscription,
        one_channel_keeps_publication_order,
        group_channels_give_each_group_one_copy,
        head_and_clevel_reach_their_subscribers,
        live_channels_reach_current_subscribers_only,
        envelopes_arrive_intact,
        a_thousand_envelopes_arrive_exactly_once,
    );
}

/// A burst of tasks to one agent while the master holding its inbox fails over to its replica
/// (`CLUSTER FAILOVER` on the replica, then the old master is killed): every task is handled
/// exactly once, as the daemon counts it (idempotency mark per envelope id, then ack).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_failover_during_a_burst_hands_every_message_once() {
    init_tracing();
    let mut cluster = RedisCluster::start();
    let config = config(&cluster).with_response_timeout(Duration::from_secs(2));
    let bus = RedisBus::connect(config.clone()).await.expect("bus");
    let store = RedisStateStore::connect(config.clone())
        .await
        .expect("store");
    let agent = AgentId::random();
    let mut inbox = bus
        .subscribe(Subscription::new(
            agent.to_string(),
            "d1",
            [Channel::Agent(agent)],
        ))
        .await
        .expect("subscribe");

    const TOTAL: usize = 300;
    let inbox_key = format!("{}stream:agent:{{{agent}}}", config.prefix);
    let master = cluster.master_of(&inbox_key);
    let replica = cluster.replica_of(master);
    // The failover runs while the burst is being sent and handled.
    let (start_failover, failover_go) = std::sync::mpsc::channel::<()>();
    let failover = tokio::task::spawn_blocking(move || {
        let _ = failover_go.recv();
        cluster.promote(replica, Duration::from_secs(30));
        cluster.fail_over(master);
        cluster
    });
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let mut retries = 0;
            for n in 0..TOTAL {
                if n == TOTAL / 3 {
                    let _ = start_failover.send(());
                }
                let envelope = Envelope::new(MessageType::Task, Sender::Human, json!({ "n": n }));
                // A publish that failed during the failover is sent again, with the same id.
                loop {
                    match bus.publish(Channel::Agent(agent), envelope.clone()).await {
                        Ok(()) => break,
                        Err(err) => {
                            retries += 1;
                            tracing::info!(error = %err, n, "publish failed; retrying");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            retries
        })
    };

    let mut handled: HashMap<usize, usize> = HashMap::new();
    while handled.len() < TOTAL {
        let delivery = within("the next task", inbox.next())
            .await
            .expect("a delivery");
        let id = delivery.envelope().id.to_string();
        let n = delivery.envelope().payload["n"].as_u64().expect("n") as usize;
        // As the daemon does: handle only what was not handled before, then acknowledge.
        loop {
            match store.first_time(&id, Duration::from_secs(600)).await {
                Ok(true) => {
                    *handled.entry(n).or_default() += 1;
                    break;
                }
                Ok(false) => break,
                Err(err) => {
                    tracing::info!(error = %err, "mark failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        if delivery.ack().await.is_err() {
            // Not acknowledged: it comes back, and the mark keeps it from being handled twice.
            tracing::info!(n, "ack failed during the failover");
        }
    }
    let retries = within("the publisher", publisher).await.expect("publisher");
    // The failover may still be promoting (it retries for up to 30 s) when the burst is done.
    let cluster = tokio::time::timeout(Duration::from_secs(60), failover)
        .await
        .expect("the failover ended within 60 s")
        .expect("failover");
    assert!(
        !cluster.nodes()[master].is_running(),
        "the old master is down"
    );
    tracing::info!(retries, "publishes retried during the failover");
    assert_eq!(handled.len(), TOTAL, "every task was handled");
    let twice: Vec<_> = handled.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
}

/// A company of all seven roles on the cluster: a task to the CTO is handled once and shows in
/// its history, the store exports what it holds on every master, and a broadcast reaches all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_runs_on_the_cluster() {
    use aito_core::mock::{Script, ScriptedResponse};
    use aito_core::{AgentSpec, Budget, Company, MockWorkers, ReplayLlm, Settings};
    use std::sync::Arc;

    init_tracing();
    let cluster = RedisCluster::start_with(3, 0);
    let config = config(&cluster);
    let bus = Arc::new(RedisBus::connect(config.clone()).await.expect("bus"));
    let store = Arc::new(RedisStateStore::connect(config).await.expect("store"));
    let llm = Arc::new(ReplayLlm::new(Script {
        description: None,
        responses: vec![ScriptedResponse {
            when: None,
            response: Some(json!({ "summary": "handled the task", "actions": [] })),
            repeat: true,
            ..ScriptedResponse::default()
        }],
        on_exhausted: Default::default(),
    }));
    let workspaces = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings {
        company_budget: Budget::unlimited(),
        shutdown_grace: Duration::from_secs(2),
        lease_ttl: Duration::from_secs(2),
        ..Settings::default()
    };
    settings.retry.base_delay = Duration::from_millis(10);
    let agents: Vec<AgentSpec> = AgentSpec::defaults()
        .into_iter()
        .map(|spec| spec.without_schedules().budget(Budget::unlimited()))
        .collect();
    let roles = agents.len();
    let running = Company::builder("clusterco")
        .agents(agents)
        .bus(bus.clone())
        .store(store.clone())
        .llm(llm.clone())
        .workers(Arc::new(MockWorkers::new()))
        .settings(settings)
        .workspace_root(workspaces.path())
        .build()
        .expect("company")
        .start()
        .expect("start");

    let cto = AgentId::derived("clusterco", "cto");
    let task = Envelope::new(
        MessageType::Task,
        Sender::Human,
        json!({"title": "Ship the API"}),
    );
    bus.publish(Channel::Agent(cto), task)
        .await
        .expect("publish");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let entries = loop {
        let entries = store.history(cto, 10).await.expect("history");
        if !entries.is_empty() {
            break entries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the CTO never handled the task"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(entries[0].trigger.contains("Ship the API"), "{entries:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.history(cto, 10).await.expect("history").len(),
        1,
        "handled once"
    );

    // Keys live on several masters; export walks every one of them.
    let others: Vec<AgentId> = (0..30).map(|_| AgentId::random()).collect();
    for agent in &others {
        store
            .save_state(*agent, &aito_core::store::AgentState::default(), 0)
            .await
            .expect("save");
    }
    let records = aito_core::export::Export::export(&*store)
        .await
        .expect("export");
    assert!(
        records.iter().any(|record| matches!(
            record,
            aito_core::export::Record::History { agent, .. } if *agent == cto
        )),
        "the CTO's history is exported"
    );
    let exported: std::collections::HashSet<AgentId> = records
        .iter()
        .filter_map(|record| match record {
            aito_core::export::Record::State { agent, .. } => Some(*agent),
            _ => None,
        })
        .collect();
    assert!(
        others.iter().all(|agent| exported.contains(agent)),
        "every state exported"
    );
    let masters: std::collections::HashSet<usize> = others
        .iter()
        .map(|agent| cluster.master_of(&format!("{}state:{{{agent}}}", store.config().prefix)))
        .collect();
    assert!(masters.len() > 1, "the states are spread over the masters");
    let statuses = store.statuses().await.expect("statuses");
    assert_eq!(statuses.len(), roles, "every agent reported");
    running.shutdown().await;
}

/// `rediss+cluster://`: a cluster that speaks TLS only (clients, cluster bus, replication) with
/// a certificate from a CA of the test's own. The bus and store contract kit passes through
/// TLS with that CA trusted, and a client that trusts only the system's roots is refused.
#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_kit_passes_on_a_tls_cluster() {
    use aito_redis::testing::{TlsFiles, redis_server_has_tls};
    init_tracing();
    assert!(
        redis_server_has_tls(),
        "this redis-server was built without TLS (--tls-port unknown)"
    );
    let certificates = tempfile::tempdir().expect("a directory for the certificates");
    let cluster = RedisCluster::start_tls(TlsFiles::generate(certificates.path()));
    assert!(
        cluster.url().starts_with("rediss+cluster://"),
        "{}",
        cluster.url()
    );
    let store = || async {
        RedisStateStore::connect(config(&cluster))
            .await
            .expect("store over TLS")
    };
    run_all!(store_contract, store();
        state_starts_at_version_zero_and_cas_rejects_stale_writes,
        history_is_bounded_and_ordered,
        decisions_are_versioned_and_listed_by_status,
        leases_have_one_holder_and_lapse,
        finishing_a_trigger_is_atomic_and_idempotent,
    );
    let bus = || async {
        RedisBus::connect(config(&cluster))
            .await
            .expect("bus over TLS")
    };
    run_all!(bus_contract, bus();
        envelopes_arrive_intact,
        inbox_keeps_envelopes_until_a_subscriber_comes,
        group_channels_give_each_group_one_copy,
        live_channels_reach_current_subscribers_only,
        unacked_deliveries_are_redelivered_to_the_next_subscription,
    );
    // Without the CA, the self-signed chain is not trusted: no connection.
    let mut untrusted = config(&cluster);
    untrusted.tls_ca = None;
    let refused =
        tokio::time::timeout(Duration::from_secs(30), RedisStateStore::connect(untrusted))
            .await
            .expect("the refusal within 30 s");
    assert!(
        refused.is_err(),
        "a client that does not trust the CA connected"
    );
}
