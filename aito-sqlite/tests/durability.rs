//! What the file keeps: across reopening, across processes (two opens of one file stand in
//! for two processes), and what it refuses to open.

use std::time::Duration;

use aito_core::store::StateStore;
use aito_core::{AgentId, Bus, Channel, Deliveries, Envelope, MessageType, Sender, Subscription};
use aito_sqlite::{DATABASE_FILE, Embedded, Error};
use serde_json::json;

fn task(n: u64) -> Envelope {
    Envelope::new(MessageType::Task, Sender::Human, json!({ "n": n }))
}

async fn inbox(bus: &dyn Bus, agent: AgentId) -> Deliveries {
    bus.subscribe(Subscription::new(
        agent.to_string(),
        "daemon",
        [Channel::Agent(agent)],
    ))
    .await
    .expect("subscribe")
}

async fn next(deliveries: &mut Deliveries, within: Duration) -> aito_core::Delivery {
    tokio::time::timeout(within, deliveries.next())
        .await
        .expect("a delivery in time")
        .expect("the subscription ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_unhandled_messages_survive_closing_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentId::random();
    {
        let embedded = Embedded::open(dir.path()).await.unwrap();
        let mut state = embedded.store.load_state(agent).await.unwrap().value;
        state.loop_count = 41;
        embedded.store.save_state(agent, &state, 0).await.unwrap();
        for n in 0..3 {
            embedded
                .bus
                .publish(Channel::Agent(agent), task(n))
                .await
                .unwrap();
        }
        let mut deliveries = inbox(&embedded.bus, agent).await;
        next(&mut deliveries, Duration::from_secs(5))
            .await
            .ack()
            .await
            .unwrap();
        // The second is taken and never acknowledged.
        let _taken = next(&mut deliveries, Duration::from_secs(5)).await;
    }
    let embedded = Embedded::open(dir.path()).await.unwrap();
    let state = embedded.store.load_state(agent).await.unwrap();
    assert_eq!((state.version, state.value.loop_count), (1, 41));
    let mut deliveries = inbox(&embedded.bus, agent).await;
    let again = next(&mut deliveries, Duration::from_secs(5)).await;
    assert_eq!(again.envelope().payload["n"], 1);
    assert!(again.is_redelivery(), "handed out before: flagged");
    again.ack().await.unwrap();
    let last = next(&mut deliveries, Duration::from_secs(5)).await;
    // (Read ahead into the first subscription's buffer, so it may be flagged as well.)
    assert_eq!(last.envelope().payload["n"], 2);
    last.ack().await.unwrap();
    // A copy taken while the file is open is a complete database.
    let copy_dir = dir.path().join("backup");
    std::fs::create_dir_all(&copy_dir).unwrap();
    embedded
        .db
        .backup_to(copy_dir.join(DATABASE_FILE))
        .await
        .unwrap();
    let copy = Embedded::open(&copy_dir).await.unwrap();
    assert_eq!(
        copy.store.load_state(agent).await.unwrap().value.loop_count,
        41
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_takes_back_at_once_what_a_killed_one_held() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentId::random();
    let first = Embedded::open(dir.path()).await.unwrap();
    first
        .bus
        .publish(Channel::Agent(agent), task(7))
        .await
        .unwrap();
    let mut deliveries = inbox(&first.bus, agent).await;
    let held = next(&mut deliveries, Duration::from_secs(5)).await;
    // A killed process hands nothing over: its subscription and delivery never end.
    let _killed = std::mem::ManuallyDrop::new((held, deliveries));

    let second = Embedded::open(dir.path()).await.unwrap();
    let mut deliveries = inbox(&second.bus, agent).await;
    let again = next(&mut deliveries, Duration::from_secs(5)).await;
    assert_eq!(again.envelope().payload["n"], 7);
    assert!(again.is_redelivery());
    again.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_by_another_process_wakes_a_waiting_subscriber_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentId::random();
    let company = Embedded::open(dir.path()).await.unwrap();
    let mut deliveries = inbox(&company.bus, agent).await;
    // Let the subscriber settle into its wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let operator = Embedded::open(dir.path()).await.unwrap();
    for n in 0..3 {
        let sent = std::time::Instant::now();
        operator
            .bus
            .publish(Channel::Agent(agent), task(n))
            .await
            .unwrap();
        let delivery = next(&mut deliveries, Duration::from_secs(1)).await;
        assert_eq!(delivery.envelope().payload["n"], n);
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "{:?}",
            sent.elapsed()
        );
        delivery.ack().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the other way round: the operator's decision is seen by the company's store.
    operator
        .store
        .set_value("paused", &json!({ "paused": true }), None)
        .await
        .unwrap();
    assert_eq!(
        company.store.get_value("paused").await.unwrap(),
        Some(json!({ "paused": true }))
    );
}

#[tokio::test]
async fn acknowledged_messages_and_expired_records_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentId::random();
    let embedded = Embedded::open(dir.path()).await.unwrap();
    for n in 0..10 {
        embedded
            .bus
            .publish(Channel::Agent(agent), task(n))
            .await
            .unwrap();
    }
    let mut deliveries = inbox(&embedded.bus, agent).await;
    for _ in 0..10 {
        next(&mut deliveries, Duration::from_secs(5))
            .await
            .ack()
            .await
            .unwrap();
    }
    for n in 0..5 {
        let key = format!("mark:{n}");
        assert!(
            embedded
                .store
                .first_time(&key, Duration::from_millis(10))
                .await
                .unwrap()
        );
        embedded
            .store
            .add_to_counter(&format!("c:{n}"), 1.0, Duration::from_millis(10))
            .await
            .unwrap();
    }
    embedded
        .store
        .first_time("kept", Duration::from_secs(3600))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cleaned = embedded.db.clean().await.unwrap();
    assert_eq!((cleaned.marks, cleaned.counters), (5, 5));
    let path = embedded.db.path().to_path_buf();
    // Read through a connection of its own, as another process would.
    let rows = tokio::task::spawn_blocking(move || count_rows(&path))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rows,
        (0, 1, 0),
        "messages (all acknowledged), marks, counters"
    );
}

/// Rows of messages, marks and counters.
fn count_rows(path: &std::path::Path) -> rusqlite::Result<(i64, i64, i64)> {
    let conn = rusqlite::Connection::open(path)?;
    let count = |table: &str| {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
    };
    Ok((count("messages")?, count("marks")?, count("counters")?))
}

#[tokio::test]
async fn a_damaged_file_is_refused_with_a_clear_error() {
    // Not a database at all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(DATABASE_FILE),
        b"these are my notes, not a database\n",
    )
    .unwrap();
    let err = Embedded::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not a usable aito database"),
        "{err}"
    );

    // A real file, cut in half.
    let dir = tempfile::tempdir().unwrap();
    {
        let embedded = Embedded::open(dir.path()).await.unwrap();
        let agent = AgentId::random();
        for n in 0..400 {
            embedded
                .store
                .append_history(agent, &entry(n), 1000)
                .await
                .unwrap();
        }
        embedded.db.checkpoint().await.unwrap();
    }
    let path = dir.path().join(DATABASE_FILE);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 8192,
        "a file of several pages: {}",
        bytes.len()
    );
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Embedded::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");

    // Another program's SQLite file.
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.execute_batch("CREATE TABLE recipes (name TEXT)")
            .unwrap();
    }
    let err = Embedded::open(dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("another program"), "{err}");
}

fn entry(n: usize) -> aito_core::store::HistoryEntry {
    aito_core::store::HistoryEntry {
        at: chrono::Utc::now(),
        trigger_id: format!("t{n}"),
        trigger: format!("trigger {n} {}", "x".repeat(200)),
        outcome: aito_core::store::Outcome::Handled,
        summary: "did it".into(),
        actions: vec![],
        cost_usd: 0.0,
        tokens: 0,
        duration_ms: 0,
        provider: None,
    }
}

/// A decision document that does not decode (a hand edit, a bug) is left out of listings, so
/// the others, and the deadline checks that list them, carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_undecodable_decision_does_not_hide_the_others() {
    use aito_core::decision::{Decision, DecisionStatus, Tier};
    let pending = |title: &str| Decision {
        id: aito_core::DecisionId::random(),
        proposer: AgentId::random(),
        proposer_role: aito_core::Role::Cto,
        title: title.into(),
        description: "x".into(),
        options: vec![],
        tier: Tier::Minor,
        status: DecisionStatus::Pending,
        round: 1,
        reviewers: vec![aito_core::Role::Ceo],
        votes: vec![],
        history: vec![],
        created_at: chrono::Utc::now(),
        deadline: Some(chrono::Utc::now()),
        escalation: None,
        human: None,
        version: 0,
        outbox: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let embedded = Embedded::open(dir.path()).await.unwrap();
    let (good, bad) = (pending("Rename the repo"), pending("Broken"));
    embedded.store.create_decision(&good).await.unwrap();
    embedded.store.create_decision(&bad).await.unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    raw.busy_timeout(Duration::from_secs(5)).unwrap();
    raw.execute(
        "UPDATE decisions SET doc = '{not json' WHERE id = ?1",
        [bad.id.to_string()],
    )
    .unwrap();
    let listed = embedded
        .store
        .decisions(Some(DecisionStatus::Pending))
        .await
        .expect("the listing works");
    let ids: Vec<_> = listed.iter().map(|decision| decision.id).collect();
    assert_eq!(ids, vec![good.id]);
}
