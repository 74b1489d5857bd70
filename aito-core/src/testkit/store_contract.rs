//! The [`StateStore`] contract, one public function per guarantee.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::channel::Channel;
use crate::decision::{Decision, DecisionStatus, Tier};
use crate::envelope::{Envelope, MessageType, Priority, Sender};
use crate::id::{AgentId, DecisionId, TaskId};
use crate::role::Role;
use crate::store::{
    Activity, AgentState, AgentStatus, DeadLetter, Fence, Finish, FinishedTrigger, HistoryEntry,
    Outcome, StateStore, StoreError,
};
use crate::task::{Task, TaskChange, TaskStatus};
use crate::trigger::{Trigger, TriggerKind};

fn unique(prefix: &str) -> String {
    format!("{prefix}:{}", AgentId::random())
}

/// Sleeps on tokio's clock, which for in-process stores is the clock TTLs follow and for
/// server stores is close enough to real time in a real-time test.
async fn pass(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// A new agent's state is the default at version 0; a write with a stale version is refused.
pub async fn state_starts_at_version_zero_and_cas_rejects_stale_writes(store: &dyn StateStore) {
    let agent = AgentId::random();
    let loaded = store.load_state(agent).await.expect("load");
    assert_eq!(loaded.version, 0);
    assert_eq!(loaded.value, AgentState::default());
    let mut state = loaded.value;
    state.loop_count = 1;
    state.values.insert("current_focus".into(), json!("launch"));
    let v1 = store
        .save_state(agent, &state, 0)
        .await
        .expect("first save");
    assert_eq!(v1, 1);
    let err = store
        .save_state(agent, &state, 0)
        .await
        .expect_err("stale write");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1,
                ..
            }
        ),
        "expected a conflict, got {err}"
    );
    let reloaded = store.load_state(agent).await.expect("reload");
    assert_eq!(reloaded.version, 1);
    assert_eq!(reloaded.value, state);
}

/// Many tasks incrementing the same state with compare-and-set and retries: no update is lost.
pub async fn concurrent_compare_and_set_loses_no_update(store: &dyn StateStore) {
    // Runs on the caller's task set: scoped concurrency without 'static bounds.
    let agent = AgentId::random();
    let tasks = 16;
    let per_task = 10;
    let work = (0..tasks).map(|_| async {
        for _ in 0..per_task {
            loop {
                let current = store.load_state(agent).await.expect("load");
                let mut state = current.value;
                state.loop_count += 1;
                match store.save_state(agent, &state, current.version).await {
                    Ok(_) => break,
                    Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                    Err(other) => panic!("save failed: {other}"),
                }
            }
        }
    });
    futures_join_all(work).await;
    let end = store.load_state(agent).await.expect("load");
    assert_eq!(
        end.value.loop_count,
        (tasks * per_task) as u64,
        "lost updates"
    );
    assert_eq!(end.version, (tasks * per_task) as u64);
}

/// Joins futures concurrently on the current task (no extra dependency).
async fn futures_join_all<F: Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|future| future.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

/// Runs futures concurrently on the current task and returns their outputs in order.
async fn futures_collect<T, F: Future<Output = T>>(futures: impl Iterator<Item = F>) -> Vec<T> {
    let mut set: Vec<(std::pin::Pin<Box<F>>, Option<T>)> =
        futures.map(|future| (Box::pin(future), None)).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in &mut set {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    set.into_iter().filter_map(|(_, output)| output).collect()
}

fn history_entry(n: usize) -> HistoryEntry {
    HistoryEntry {
        at: Utc::now(),
        trigger_id: format!("t{n}"),
        trigger: format!("trigger {n}"),
        outcome: Outcome::Handled,
        summary: format!("did {n}"),
        actions: vec![],
        cost_usd: 0.01,
        tokens: 10,
        duration_ms: 5,
        provider: None,
    }
}

/// History keeps the newest `keep` entries and returns them oldest first.
pub async fn history_is_bounded_and_ordered(store: &dyn StateStore) {
    let agent = AgentId::random();
    for n in 0..12 {
        store
            .append_history(agent, &history_entry(n), 10)
            .await
            .expect("append");
    }
    let all = store.history(agent, 100).await.expect("history");
    let ids: Vec<_> = all.iter().map(|entry| entry.trigger_id.as_str()).collect();
    assert_eq!(
        ids,
        ["t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10", "t11"]
    );
    let recent = store.history(agent, 3).await.expect("history");
    let ids: Vec<_> = recent
        .iter()
        .map(|entry| entry.trigger_id.as_str())
        .collect();
    assert_eq!(ids, ["t9", "t10", "t11"]);
    assert!(
        store
            .history(AgentId::random(), 5)
            .await
            .expect("empty")
            .is_empty()
    );
}

/// A major decision with `status`, reviewed by the CEO and the DAO, not yet stored.
pub(crate) fn decision(status: DecisionStatus) -> Decision {
    Decision {
        id: DecisionId::random(),
        proposer: AgentId::random(),
        proposer_role: Role::Cto,
        title: "Adopt Rust".into(),
        description: "All services in Rust".into(),
        options: vec![json!("yes"), json!("no")],
        tier: Tier::Major,
        status,
        round: 1,
        reviewers: vec![Role::Ceo, Role::Dao],
        votes: vec![],
        history: vec![],
        created_at: Utc::now(),
        deadline: Some(Utc::now() + chrono::Duration::hours(24)),
        escalation: None,
        human: None,
        version: 0,
        outbox: Vec::new(),
    }
}

/// Decisions are created at version 1, updated with compare-and-set, listed by status.
pub async fn decisions_are_versioned_and_listed_by_status(store: &dyn StateStore) {
    let mut first = decision(DecisionStatus::Pending);
    store.create_decision(&first).await.expect("create");
    assert!(
        store.create_decision(&first).await.is_err(),
        "duplicate create"
    );
    let stored = store
        .decision(first.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.title, first.title);
    first.version = 1;
    first.transition(DecisionStatus::Approved, Utc::now(), "ceo", "fine");
    let v2 = store.update_decision(&first).await.expect("update");
    assert_eq!(v2, 2);
    let stale = store
        .update_decision(&first)
        .await
        .expect_err("stale update");
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale}");
    let second = decision(DecisionStatus::Pending);
    store.create_decision(&second).await.expect("create");
    let pending = store
        .decisions(Some(DecisionStatus::Pending))
        .await
        .expect("list");
    assert!(pending.iter().any(|d| d.id == second.id));
    assert!(pending.iter().all(|d| d.status == DecisionStatus::Pending));
    let approved = store
        .decisions(Some(DecisionStatus::Approved))
        .await
        .expect("list");
    let found = approved.iter().find(|d| d.id == first.id).expect("listed");
    assert_eq!(found.history.len(), 1);
    assert!(
        store
            .decision(DecisionId::random())
            .await
            .expect("get")
            .is_none()
    );
    let all = store.decisions(None).await.expect("list");
    assert!(all.iter().any(|d| d.id == first.id) && all.iter().any(|d| d.id == second.id));
}

/// `recent_decisions` gives the newest decisions of one status, oldest first, and no more than
/// asked for; a decision that leaves the status leaves the listing.
pub async fn recent_decisions_are_the_newest_of_their_status(store: &dyn StateStore) {
    // Created after anything else in a shared store (and in order), so they are its newest.
    let base = Utc::now() + chrono::Duration::days(365 * 100);
    let mut created = Vec::new();
    for n in 0..5 {
        let mut withdrawn = decision(DecisionStatus::Withdrawn);
        withdrawn.created_at = base + chrono::Duration::seconds(n);
        withdrawn.title = format!("Withdrawn {n}");
        store.create_decision(&withdrawn).await.expect("create");
        created.push(withdrawn);
    }
    let other = decision(DecisionStatus::Rejected);
    store.create_decision(&other).await.expect("create");
    let ids = |decisions: &[Decision]| decisions.iter().map(|d| d.id).collect::<Vec<_>>();
    let recent = store
        .recent_decisions(DecisionStatus::Withdrawn, 3)
        .await
        .expect("recent");
    assert_eq!(
        ids(&recent),
        ids(&created[2..]),
        "the newest three, oldest first"
    );
    assert!(
        recent
            .iter()
            .all(|d| d.version == 1 && d.status == DecisionStatus::Withdrawn)
    );
    assert!(
        store
            .recent_decisions(DecisionStatus::Withdrawn, 0)
            .await
            .expect("recent")
            .is_empty()
    );
    // The newest leaves the status: the window reaches one further back.
    let mut newest = created[4].clone();
    newest.version = 1;
    newest.status = DecisionStatus::Pending;
    store.update_decision(&newest).await.expect("update");
    let recent = store
        .recent_decisions(DecisionStatus::Withdrawn, 3)
        .await
        .expect("recent");
    assert_eq!(ids(&recent), ids(&created[1..4]));
    let recent = store
        .recent_decisions(DecisionStatus::Rejected, usize::MAX)
        .await
        .expect("recent");
    assert!(recent.iter().any(|d| d.id == other.id));
}

/// `recent_decisions_without` gives, of the window of `recent_decisions`, the decisions the
/// agent did not propose and its role does not review, oldest first.
pub async fn recent_decisions_without_leave_out_the_agents_own(store: &dyn StateStore) {
    let base = Utc::now() + chrono::Duration::days(365 * 100);
    let agent = AgentId::random();
    let shapes: [(bool, Vec<Role>); 5] = [
        (false, vec![Role::Cto]),
        (true, vec![Role::Cto]),
        (false, vec![Role::Ceo, Role::Dao]),
        (false, vec![Role::Dao]),
        (false, vec![]),
    ];
    let mut created = Vec::new();
    for (n, (own, reviewers)) in shapes.into_iter().enumerate() {
        let mut escalated = decision(DecisionStatus::Escalated);
        escalated.created_at = base + chrono::Duration::seconds(n as i64);
        escalated.title = format!("Escalated {n}");
        if own {
            escalated.proposer = agent;
        }
        escalated.reviewers = reviewers;
        store.create_decision(&escalated).await.expect("create");
        created.push(escalated);
    }
    let ids = |decisions: &[Decision]| decisions.iter().map(|d| d.id).collect::<Vec<_>>();
    let window = store
        .recent_decisions_without(DecisionStatus::Escalated, 4, agent, &Role::Ceo)
        .await
        .expect("recent");
    assert_eq!(
        ids(&window),
        vec![created[3].id, created[4].id],
        "of the newest four, the two taken without the agent and its role, oldest first"
    );
    assert!(
        window
            .iter()
            .all(|d| d.version == 1 && d.title.starts_with("Escalated"))
    );
    let all = store
        .recent_decisions_without(DecisionStatus::Escalated, usize::MAX, agent, &Role::Ceo)
        .await
        .expect("recent");
    let mine: Vec<_> = ids(&all)
        .into_iter()
        .filter(|id| created.iter().any(|d| d.id == *id))
        .collect();
    assert_eq!(mine, vec![created[0].id, created[3].id, created[4].id]);
    // Another role sees another selection of the same window.
    let for_cto = store
        .recent_decisions_without(DecisionStatus::Escalated, 4, AgentId::random(), &Role::Cto)
        .await
        .expect("recent");
    assert_eq!(ids(&for_cto), ids(&created[2..]));
    // A decision that gains the role as a reviewer leaves its selection.
    let mut newest = created[4].clone();
    newest.version = 1;
    newest.reviewers.push(Role::Ceo);
    store.update_decision(&newest).await.expect("update");
    let window = store
        .recent_decisions_without(DecisionStatus::Escalated, 4, agent, &Role::Ceo)
        .await
        .expect("recent");
    assert_eq!(ids(&window), vec![created[3].id]);
    // A role of the user's own is told apart from the built-in ones and from other such roles.
    let legal: Role = "legal".parse().expect("a role");
    let finance: Role = "finance".parse().expect("a role");
    let mut by_legal = decision(DecisionStatus::Escalated);
    by_legal.created_at = base + chrono::Duration::seconds(10);
    by_legal.reviewers = vec![legal.clone(), Role::Cfo];
    store.create_decision(&by_legal).await.expect("create");
    for (role, told) in [
        (&legal, false),
        (&Role::Cfo, false),
        (&finance, true),
        (&Role::Ceo, true),
    ] {
        let newest = store
            .recent_decisions_without(DecisionStatus::Escalated, 1, AgentId::random(), role)
            .await
            .expect("recent");
        assert_eq!(
            ids(&newest) == vec![by_legal.id],
            told,
            "{role}: {newest:?}"
        );
    }
    assert!(
        store
            .recent_decisions_without(DecisionStatus::Escalated, 0, agent, &Role::Ceo)
            .await
            .expect("recent")
            .is_empty()
    );
}

/// `first_time` says yes once per key, and again after the mark expires.
pub async fn idempotency_marks_are_set_once_and_expire(store: &dyn StateStore) {
    let key = unique("mark");
    assert!(!store.is_marked(&key).await.expect("is_marked"));
    assert!(
        store
            .first_time(&key, Duration::from_secs(1))
            .await
            .expect("first")
    );
    assert!(
        !store
            .first_time(&key, Duration::from_secs(1))
            .await
            .expect("second")
    );
    assert!(store.is_marked(&key).await.expect("is_marked"));
    pass(Duration::from_millis(1500)).await;
    assert!(
        store
            .first_time(&key, Duration::from_secs(60))
            .await
            .expect("after expiry"),
        "an expired mark still blocked"
    );
}

/// A lease has one holder at a time, is renewed by its holder, released, and lapses; each term
/// has a fencing token greater than the last, and a renewal keeps its term's.
pub async fn leases_have_one_holder_and_lapse(store: &dyn StateStore) {
    let name = unique("lease");
    let ttl = Duration::from_secs(1);
    let first = store
        .acquire_lease(&name, "a", ttl)
        .await
        .expect("a takes")
        .expect("a holds it");
    assert_eq!(
        store.acquire_lease(&name, "b", ttl).await.expect("b asks"),
        None,
        "a held lease was given to another"
    );
    assert_eq!(
        store
            .acquire_lease(&name, "a", ttl)
            .await
            .expect("a renews"),
        Some(first),
        "a renewal changed the term's token"
    );
    store
        .release_lease(&name, "b")
        .await
        .expect("b cannot release");
    assert_eq!(
        store.acquire_lease(&name, "b", ttl).await.expect("b asks"),
        None,
        "a lease was released by one who did not hold it"
    );
    store.release_lease(&name, "a").await.expect("release");
    let second = store
        .acquire_lease(&name, "b", ttl)
        .await
        .expect("b takes")
        .expect("b holds it");
    assert!(
        second > first,
        "term tokens must grow: {first} then {second}"
    );
    pass(Duration::from_millis(1500)).await;
    let third = store
        .acquire_lease(&name, "b", ttl)
        .await
        .expect("b after lapse")
        .expect("b holds it again");
    assert!(
        third > second,
        "taking one's own lapsed lease starts a new term: {second} then {third}"
    );
    pass(Duration::from_millis(1500)).await;
    let fourth = store
        .acquire_lease(&name, "a", ttl)
        .await
        .expect("a after lapse")
        .expect("a lapsed lease was still held");
    assert!(
        fourth > third,
        "term tokens must grow: {third} then {fourth}"
    );
}

/// A fenced write is carried out only while its term is live: once the lease lapsed or was
/// taken over, marks, values and a trigger's finish under the old term write nothing.
pub async fn writes_of_an_ended_lease_term_are_refused(store: &dyn StateStore) {
    let agent = AgentId::random();
    // The agent's lease, named as the daemon names it: a clustered store keeps it in the
    // agent's slot, with the keys its fenced writes touch.
    let lease = format!("agent:{agent}");
    let ttl = Duration::from_secs(1);
    let token = store
        .acquire_lease(&lease, "old", ttl)
        .await
        .expect("take")
        .expect("held");
    let old = Fence {
        lease: lease.clone(),
        holder: "old".into(),
        token,
    };
    let mark = format!("action:{agent}:t1#0");
    let value = format!("action-done:{agent}:t1#0");
    assert!(
        store
            .first_time_fenced(&mark, Duration::from_secs(60), &old)
            .await
            .expect("a live term marks")
    );
    assert!(
        !store
            .first_time_fenced(&mark, Duration::from_secs(60), &old)
            .await
            .expect("a live term asks again"),
        "a fenced mark was set twice"
    );
    store
        .set_value_fenced(&value, &json!({ "ok": true }), None, &old)
        .await
        .expect("a live term writes");
    assert_eq!(
        store.get_value(&value).await.expect("read"),
        Some(json!({ "ok": true }))
    );
    // The term ends: the lease lapses and another holder takes it.
    pass(Duration::from_millis(1500)).await;
    let new_token = store
        .acquire_lease(&lease, "new", ttl)
        .await
        .expect("take over")
        .expect("the lapsed lease is free");
    let new = Fence {
        lease: lease.clone(),
        holder: "new".into(),
        token: new_token,
    };
    let other = format!("action:{agent}:t1#1");
    let refused = store
        .first_time_fenced(&other, Duration::from_secs(60), &old)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "a mark of an ended term: {refused:?}"
    );
    assert!(
        !store.is_marked(&other).await.expect("read"),
        "a refused mark was set"
    );
    let refused = store
        .set_value_fenced(&value, &json!({ "ok": false }), None, &old)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "a value of an ended term: {refused:?}"
    );
    assert_eq!(
        store.get_value(&value).await.expect("read"),
        Some(json!({ "ok": true })),
        "a refused write changed the value"
    );
    let finished = |fence: Fence| FinishedTrigger {
        agent,
        state: AgentState {
            loop_count: 1,
            ..AgentState::default()
        },
        expected_version: 0,
        history: HistoryEntry {
            at: Utc::now(),
            trigger_id: "t1".into(),
            trigger: "a task".into(),
            outcome: Outcome::Handled,
            summary: "done".into(),
            actions: Vec::new(),
            cost_usd: 0.0,
            tokens: 0,
            duration_ms: 1,
            provider: None,
        },
        history_keep: 10,
        dead_letter: None,
        handled_mark: format!("handled:{agent}:t1"),
        mark_ttl: Duration::from_secs(60),
        journal: format!("journal:{agent}:t1"),
        fence: Some(fence),
    };
    let refused = store.finish_trigger(&finished(old.clone())).await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "a finish of an ended term: {refused:?}"
    );
    assert_eq!(store.load_state(agent).await.expect("state").version, 0);
    assert!(store.history(agent, 10).await.expect("history").is_empty());
    assert!(
        !store
            .is_marked(&format!("handled:{agent}:t1"))
            .await
            .expect("read")
    );
    // The live term writes.
    assert!(
        store
            .first_time_fenced(&other, Duration::from_secs(60), &new)
            .await
            .expect("the new term marks")
    );
    assert_eq!(
        store
            .finish_trigger(&finished(new.clone()))
            .await
            .expect("the new term finishes"),
        Finish::Written(1)
    );
    // A holder refused by another's term is also refused by its own lapse.
    pass(Duration::from_millis(1500)).await;
    let refused = store
        .set_value_fenced(&value, &json!({ "late": true }), None, &new)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "a write after the lease lapsed: {refused:?}"
    );
}

/// Counters add up, read back, and reset after their TTL.
pub async fn counters_add_and_expire(store: &dyn StateStore) {
    let key = unique("counter");
    assert_eq!(store.counter(&key).await.expect("read"), 0.0);
    store
        .add_to_counter(&key, 0.25, Duration::from_secs(1))
        .await
        .expect("add");
    let total = store
        .add_to_counter(&key, 0.5, Duration::from_secs(1))
        .await
        .expect("add");
    assert!((total - 0.75).abs() < 1e-9, "total {total}");
    assert!((store.counter(&key).await.expect("read") - 0.75).abs() < 1e-9);
    pass(Duration::from_millis(1500)).await;
    assert_eq!(store.counter(&key).await.expect("read after ttl"), 0.0);
}

/// Free-form values are set, read, expire and are deleted.
pub async fn values_are_set_read_and_deleted(store: &dyn StateStore) {
    let key = unique("value");
    assert_eq!(store.get_value(&key).await.expect("get"), None);
    store
        .set_value(&key, &json!({ "paused": true }), None)
        .await
        .expect("set");
    assert_eq!(
        store.get_value(&key).await.expect("get"),
        Some(json!({ "paused": true }))
    );
    store.delete_value(&key).await.expect("delete");
    assert_eq!(store.get_value(&key).await.expect("get"), None);
    let short = unique("value");
    store
        .set_value(&short, &json!(1), Some(Duration::from_secs(1)))
        .await
        .expect("set");
    pass(Duration::from_millis(1500)).await;
    assert_eq!(store.get_value(&short).await.expect("get"), None);
}

/// Logs keep the newest entries, oldest first.
pub async fn logs_are_bounded_and_ordered(store: &dyn StateStore) {
    let name = unique("log");
    for n in 0..7 {
        store
            .append_log(&name, &json!({ "n": n }), 5)
            .await
            .expect("append");
    }
    let all = store.read_log(&name, 100).await.expect("read");
    let ns: Vec<_> = all
        .iter()
        .map(|entry| entry["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(ns, [2, 3, 4, 5, 6]);
    let last = store.read_log(&name, 2).await.expect("read");
    assert_eq!(last, [json!({ "n": 5 }), json!({ "n": 6 })]);
    assert!(
        store
            .read_log(&unique("log"), 5)
            .await
            .expect("read")
            .is_empty()
    );
}

/// Dead letters keep their trigger intact and can be listed per agent.
pub async fn dead_letters_are_kept_per_agent(store: &dyn StateStore) {
    let (a, b) = (AgentId::random(), AgentId::random());
    let envelope = Envelope::new(MessageType::Task, Sender::Human, json!({ "title": "x" }));
    let trigger = Trigger {
        id: envelope.id.to_string(),
        kind: TriggerKind::Message {
            envelope,
            channel: Channel::Agent(a),
        },
        priority: Priority::High,
        at: Utc::now(),
    };
    for agent in [a, b, a] {
        store
            .push_dead_letter(&DeadLetter {
                agent,
                trigger: trigger.clone(),
                reason: "unreadable twice".into(),
                attempts: 2,
                at: Utc::now(),
            })
            .await
            .expect("push");
    }
    let of_a = store.dead_letters(Some(a), 10).await.expect("list");
    assert_eq!(of_a.len(), 2);
    assert_eq!(of_a[0].trigger, trigger);
    assert_eq!(
        store.dead_letters(Some(b), 10).await.expect("list").len(),
        1
    );
    assert!(store.dead_letters(None, 10).await.expect("list").len() >= 3);
}

/// Each agent's newest status is listed.
pub async fn statuses_are_listed(store: &dyn StateStore) {
    let id = AgentId::random();
    let mut status = AgentStatus {
        id,
        role: Role::Cfo,
        activity: Activity::Idle,
        paused_reason: None,
        current_trigger: None,
        last_activity: None,
        queue_len: 0,
        spent_today_usd: 0.0,
        budget_usd_per_day: 5.0,
        sessions_this_hour: 0,
        budget_sessions_per_hour: 10,
        heartbeat: Utc::now(),
    };
    store.put_status(&status).await.expect("put");
    status.activity = Activity::Busy;
    status.queue_len = 3;
    store.put_status(&status).await.expect("put");
    let all = store.statuses().await.expect("list");
    let mine: Vec<_> = all.iter().filter(|s| s.id == id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0], &status);
}

/// Finishing a trigger writes its state, history entry, dead letter and handled mark and drops
/// its journal, all at once; a second finish of the same trigger (a retry after a lost reply)
/// writes nothing; a finish from a stale state version writes nothing either.
pub async fn finishing_a_trigger_is_atomic_and_idempotent(store: &dyn StateStore) {
    let agent = AgentId::random();
    let envelope = Envelope::new(MessageType::Task, Sender::Human, json!({ "title": "x" }));
    let trigger = Trigger {
        id: envelope.id.to_string(),
        kind: TriggerKind::Message {
            envelope,
            channel: Channel::Agent(agent),
        },
        priority: Priority::Normal,
        at: Utc::now(),
    };
    // Named as the daemon names them, `<word>:<agent>:<trigger>`: a clustered store keeps them
    // with the agent's state.
    let journal = format!("journal:{agent}:{}", trigger.id);
    store
        .set_value(&journal, &json!({ "text": "{}" }), None)
        .await
        .expect("journal");
    let state = AgentState {
        loop_count: 1,
        ..AgentState::default()
    };
    let finished = FinishedTrigger {
        agent,
        state: state.clone(),
        expected_version: 0,
        history: HistoryEntry {
            at: Utc::now(),
            trigger_id: trigger.id.clone(),
            trigger: "a task".into(),
            outcome: Outcome::DeadLettered,
            summary: "unreadable twice".into(),
            actions: Vec::new(),
            cost_usd: 0.25,
            tokens: 10,
            duration_ms: 5,
            provider: None,
        },
        history_keep: 10,
        dead_letter: Some(DeadLetter {
            agent,
            trigger: trigger.clone(),
            reason: "unreadable twice".into(),
            attempts: 2,
            at: Utc::now(),
        }),
        handled_mark: format!("handled:{agent}:{}", trigger.id),
        mark_ttl: Duration::from_secs(60),
        journal: journal.clone(),
        fence: None,
    };
    assert_eq!(
        store.finish_trigger(&finished).await.expect("finish"),
        Finish::Written(1)
    );
    let check = || async {
        let loaded = store.load_state(agent).await.expect("state");
        assert_eq!((loaded.version, &loaded.value), (1, &state));
        assert_eq!(store.history(agent, 10).await.expect("history").len(), 1);
        assert_eq!(
            store
                .dead_letters(Some(agent), 10)
                .await
                .expect("letters")
                .len(),
            1
        );
        assert!(
            store
                .is_marked(&finished.handled_mark)
                .await
                .expect("marked")
        );
        assert_eq!(store.get_value(&journal).await.expect("journal"), None);
    };
    check().await;
    assert_eq!(
        store.finish_trigger(&finished).await.expect("again"),
        Finish::AlreadyFinished
    );
    check().await;
    let stale = FinishedTrigger {
        handled_mark: format!("handled:{agent}:stale"),
        dead_letter: None,
        ..finished.clone()
    };
    let err = store.finish_trigger(&stale).await.expect_err("stale");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1,
                ..
            }
        ),
        "expected a conflict, got {err}"
    );
    assert!(!store.is_marked(&stale.handled_mark).await.expect("marked"));
    check().await;
}

fn new_task(assignee: AgentId, title: &str, created: chrono::DateTime<Utc>) -> Task {
    Task {
        id: TaskId::random(),
        title: title.to_owned(),
        description: format!("{title}, described"),
        creator: AgentId::random(),
        creator_role: Role::Ceo,
        assignee,
        assignee_role: Role::Cto,
        priority: Priority::High,
        deadline: Some(created + chrono::Duration::hours(2)),
        parent: None,
        status: TaskStatus::Open,
        note: String::new(),
        created_at: created,
        updated_at: created,
        history: vec![TaskChange {
            at: created,
            by: None,
            by_name: "ceo".into(),
            status: TaskStatus::Open,
            note: "created".into(),
        }],
        overdue_reminded_at: None,
        assignee_sessions_at_change: 0,
        version: 0,
    }
}

/// Tasks are stored at version 1, written with compare-and-set, kept intact, and a closed task
/// leaves its assignee's open tasks while it stays readable by id and in the company listing.
pub async fn tasks_are_versioned_and_closed_ones_leave_the_open_index(store: &dyn StateStore) {
    let (cto, cmo) = (AgentId::random(), AgentId::random());
    let now = Utc::now();
    let first = new_task(cto, "Ship the beta", now);
    let mut second = new_task(cto, "Fix the login", now + chrono::Duration::seconds(1));
    second.parent = Some(first.id);
    let other = new_task(cmo, "Write the post", now + chrono::Duration::seconds(2));
    for task in [&first, &second, &other] {
        store.create_task(task).await.expect("create task");
    }
    let err = store.create_task(&first).await.expect_err("duplicate id");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    let stored = store.task(first.id).await.expect("read").expect("exists");
    assert_eq!(stored.version, 1);
    assert_eq!(stored.title, first.title);
    assert_eq!(stored.history, first.history);
    assert_eq!(stored.deadline, first.deadline);
    assert!(store.task(TaskId::random()).await.expect("read").is_none());

    let open: Vec<TaskId> = store
        .open_tasks(cto)
        .await
        .expect("open")
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(open, [first.id, second.id], "oldest first, the CTO's only");

    let mut blocked = stored.clone();
    blocked.status = TaskStatus::Blocked;
    blocked.note = "waiting for the budget".into();
    let v2 = store.update_task(&blocked).await.expect("update");
    assert_eq!(v2, 2);
    let err = store.update_task(&blocked).await.expect_err("stale write");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let open = store.open_tasks(cto).await.expect("open");
    assert_eq!(open.len(), 2, "a blocked task is still open");
    assert_eq!(open[0].status, TaskStatus::Blocked);

    let mut done = store.task(first.id).await.expect("read").expect("exists");
    done.status = TaskStatus::Done;
    done.note = "shipped".into();
    assert_eq!(store.update_task(&done).await.expect("close"), 3);
    let open: Vec<TaskId> = store
        .open_tasks(cto)
        .await
        .expect("open")
        .iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(open, [second.id], "the done task left the open index");
    let closed = store.task(first.id).await.expect("read").expect("kept");
    assert_eq!(
        (closed.status, closed.note.as_str()),
        (TaskStatus::Done, "shipped")
    );

    let mut missing = new_task(cto, "never stored", now);
    missing.version = 1;
    let err = store.update_task(&missing).await.expect_err("missing");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    let listed: Vec<TaskId> = store
        .tasks(1000)
        .await
        .expect("list")
        .iter()
        .map(|task| task.id)
        .filter(|id| [first.id, second.id, other.id].contains(id))
        .collect();
    assert_eq!(listed, [first.id, second.id, other.id], "oldest first");
    let newest = store.tasks(1).await.expect("list newest");
    assert_eq!(newest.len(), 1);
}

/// Concurrent writers of one task with compare-and-set lose no change.
pub async fn concurrent_task_updates_lose_no_change(store: &dyn StateStore) {
    let assignee = AgentId::random();
    let task = new_task(assignee, "Count", Utc::now());
    store.create_task(&task).await.expect("create");
    let id = task.id;
    let writers = 8;
    let per_writer = 5;
    let work = (0..writers).map(|writer| async move {
        for n in 0..per_writer {
            loop {
                let mut current = store.task(id).await.expect("read").expect("exists");
                current.history.push(TaskChange {
                    at: Utc::now(),
                    by: None,
                    by_name: format!("w{writer}"),
                    status: TaskStatus::InProgress,
                    note: format!("{writer}/{n}"),
                });
                current.status = TaskStatus::InProgress;
                match store.update_task(&current).await {
                    Ok(_) => break,
                    Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                    Err(other) => panic!("update failed: {other}"),
                }
            }
        }
    });
    futures_join_all(work).await;
    let last = store.task(task.id).await.expect("read").expect("exists");
    assert_eq!(last.history.len(), 1 + writers * per_writer);
    assert_eq!(last.version, 1 + (writers * per_writer) as u64);
    assert_eq!(store.open_tasks(assignee).await.expect("open").len(), 1);
}

fn budget_names() -> (String, String) {
    let scope = AgentId::random();
    (
        format!("budget:{scope}:usd:20261124"),
        format!("budget:{scope}:held:20261124"),
    )
}

/// Holds taken together never pass a limit between them: of seven callers holding at once,
/// only as many as fit beside what was spent get a hold; a booking releases its hold, and a
/// lapsed hold no longer counts.
pub async fn budget_holds_are_atomic_and_lapse(store: &dyn StateStore) {
    use crate::reservation::{Booking, Reservation, ReservationLimit, Reserved};
    let (counter, holds) = budget_names();
    let now = Utc::now();
    let spent = Booking {
        id: unique("booking"),
        counters: vec![(counter.clone(), 0.2)],
        counter_ttl: Duration::from_secs(60),
        mark_ttl: Duration::from_secs(60),
        holds: vec![],
    };
    assert!(store.book(&spent).await.expect("book"));
    let reservation = |id: String, at: chrono::DateTime<Utc>| Reservation {
        id,
        amount: 0.3,
        now: at,
        expires_at: now + chrono::Duration::seconds(60),
        limits: vec![ReservationLimit {
            counter: counter.clone(),
            holds: holds.clone(),
            limit: 1.0,
        }],
    };
    let ids: Vec<String> = (0..7)
        .map(|i| format!("hold-{i}-{}", AgentId::random()))
        .collect();
    let outcomes = futures_collect(ids.iter().map(|id| {
        let reservation = reservation(id.clone(), now);
        async move { store.reserve(&reservation).await.expect("reserve") }
    }))
    .await;
    let held: Vec<&String> = ids
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| **outcome == Reserved::Held)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        held.len(),
        2,
        "0.2 spent + 2 × 0.3 fit in 1.0, a third does not: {outcomes:?}"
    );
    for outcome in &outcomes {
        if let Reserved::Refused { limit, spent, held } = outcome {
            assert_eq!(*limit, 0);
            assert!((spent - 0.2).abs() < 1e-9, "spent {spent}");
            assert!((held - 0.6).abs() < 1e-9, "held {held}");
        }
    }
    // Taking a hold again under its id replaces it, it does not count twice.
    let again = reservation(held[0].clone(), now);
    assert_eq!(store.reserve(&again).await.expect("again"), Reserved::Held);
    // The first booked at less than its estimate: its hold is gone, one more fits.
    let booked = Booking {
        id: held[0].clone(),
        counters: vec![(counter.clone(), 0.1)],
        counter_ttl: Duration::from_secs(60),
        mark_ttl: Duration::from_secs(60),
        holds: vec![holds.clone()],
    };
    assert!(store.book(&booked).await.expect("book"));
    assert!((store.counter(&counter).await.expect("counter") - 0.3).abs() < 1e-9);
    let next = reservation(unique("hold"), now);
    assert_eq!(store.reserve(&next).await.expect("next"), Reserved::Held);
    let full = reservation(unique("hold"), now);
    assert!(matches!(
        store.reserve(&full).await.expect("full"),
        Reserved::Refused { .. }
    ));
    // Once the holds lapse (their daemons died), they keep nothing.
    let later = reservation(unique("hold"), now + chrono::Duration::seconds(61));
    assert_eq!(store.reserve(&later).await.expect("later"), Reserved::Held);
}

/// A booking is made once per id, however often it is retried: the counters grow once and its
/// hold is released.
pub async fn bookings_are_made_once(store: &dyn StateStore) {
    use crate::reservation::{Booking, Reservation, ReservationLimit, Reserved};
    let (counter, holds) = budget_names();
    let tokens = counter.replace(":usd:", ":tokens:");
    let id = unique("booking");
    let now = Utc::now();
    let hold = Reservation {
        id: id.clone(),
        amount: 0.9,
        now,
        expires_at: now + chrono::Duration::seconds(60),
        limits: vec![ReservationLimit {
            counter: counter.clone(),
            holds: holds.clone(),
            limit: 1.0,
        }],
    };
    assert_eq!(store.reserve(&hold).await.expect("hold"), Reserved::Held);
    let booking = Booking {
        id: id.clone(),
        counters: vec![(counter.clone(), 0.4), (tokens.clone(), 1200.0)],
        counter_ttl: Duration::from_secs(60),
        mark_ttl: Duration::from_secs(60),
        holds: vec![holds.clone()],
    };
    assert!(store.book(&booking).await.expect("book"));
    assert!(!store.book(&booking).await.expect("book again"));
    assert!((store.counter(&counter).await.expect("usd") - 0.4).abs() < 1e-9);
    assert!((store.counter(&tokens).await.expect("tokens") - 1200.0).abs() < 1e-9);
    // The hold is gone: 0.4 spent and 0.6 more fit in 1.0.
    let other = Reservation {
        id: unique("hold"),
        amount: 0.6,
        ..hold
    };
    assert_eq!(store.reserve(&other).await.expect("other"), Reserved::Held);
}

/// The holder of a lease and its expiry can be read; a free lease has none.
pub async fn the_holder_of_a_lease_is_named(store: &dyn StateStore) {
    let name = unique("lease");
    assert_eq!(store.lease_holder(&name).await.expect("free"), None);
    let before = Utc::now();
    assert!(
        store
            .acquire_lease(&name, "daemon-a", Duration::from_secs(30))
            .await
            .expect("take")
            .is_some()
    );
    let holder = store
        .lease_holder(&name)
        .await
        .expect("read")
        .expect("held");
    assert_eq!(holder.holder, "daemon-a");
    let left = holder.expires_at - before;
    assert!(
        left > chrono::Duration::seconds(25) && left <= chrono::Duration::seconds(31),
        "{left}"
    );
    store
        .release_lease(&name, "daemon-a")
        .await
        .expect("release");
    assert_eq!(store.lease_holder(&name).await.expect("released"), None);
}

fn session_record(agent: AgentId, n: usize) -> crate::session::SessionRecord {
    let mut envelope = Envelope::new(
        MessageType::Task,
        Sender::Agent(AgentId::derived("contract", "ceo")),
        json!({"content": format!("task {n}")}),
    );
    envelope.correlation_id = Some("launch".into());
    let trigger = Trigger {
        id: format!("trigger-{n}"),
        kind: TriggerKind::Message {
            envelope,
            channel: Channel::Agent(agent),
        },
        priority: Priority::High,
        at: Utc::now(),
    };
    crate::session::SessionRecord {
        agent,
        role: Role::Cto,
        trigger_id: trigger.id.clone(),
        description: format!("task from ceo: task {n}"),
        correlation_id: Some("launch".into()),
        trigger,
        at: Utc::now(),
        outcome: Outcome::Handled,
        summary: format!("session {n}"),
        system_prompt: Some("You are the CTO.".into()),
        prompt: Some(format!("the prompt of session {n}")),
        answer: Some(format!(r#"{{"summary": "session {n}", "actions": []}}"#)),
        parsed: Some(crate::session::ParsedAnswer {
            summary: Some(format!("session {n}")),
            ..Default::default()
        }),
        actions: vec![crate::store::ActionRecord {
            id: format!("trigger-{n}#0"),
            kind: "message".into(),
            ok: true,
            detail: "sent to cmo".into(),
            at: None,
        }],
        cost_usd: 0.01,
        tokens: 900,
        duration_ms: 40,
        provider: None,
    }
}

/// Session records are kept per agent, the newest `keep`, oldest first; one is found by its
/// trigger id while kept; putting one again for the same trigger replaces it in its place.
pub async fn sessions_are_bounded_per_agent_and_found_by_trigger(store: &dyn StateStore) {
    let (agent, other) = (AgentId::random(), AgentId::random());
    for n in 0..5 {
        store
            .put_session(&session_record(agent, n), 3)
            .await
            .expect("put");
    }
    store
        .put_session(&session_record(other, 9), 3)
        .await
        .expect("put other");
    let kept = store.sessions(agent, 10).await.expect("list");
    let ids: Vec<&str> = kept
        .iter()
        .map(|record| record.trigger_id.as_str())
        .collect();
    assert_eq!(ids, ["trigger-2", "trigger-3", "trigger-4"]);
    assert_eq!(kept[2], session_record_at(&kept[2], agent, 4));
    let newest = store.sessions(agent, 1).await.expect("list newest");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].trigger_id, "trigger-4");
    assert!(
        store
            .session(agent, "trigger-0")
            .await
            .expect("get")
            .is_none(),
        "the oldest were dropped"
    );
    let found = store
        .session(agent, "trigger-3")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(found.prompt.as_deref(), Some("the prompt of session 3"));
    assert!(
        store
            .session(agent, "trigger-9")
            .await
            .expect("get")
            .is_none(),
        "another agent's record is not this one's"
    );
    let mut again = session_record(agent, 3);
    again.summary = "session 3, recorded again".into();
    store.put_session(&again, 3).await.expect("put again");
    let kept = store.sessions(agent, 10).await.expect("list");
    let ids: Vec<&str> = kept
        .iter()
        .map(|record| record.trigger_id.as_str())
        .collect();
    assert_eq!(ids, ["trigger-2", "trigger-3", "trigger-4"]);
    assert_eq!(kept[1].summary, "session 3, recorded again");
    assert_eq!(store.sessions(other, 10).await.expect("list").len(), 1);
    assert!(
        store
            .sessions(AgentId::random(), 10)
            .await
            .expect("none")
            .is_empty()
    );
}

/// The record `session_record(agent, n)` with the times of `stored` (times round-trip through
/// the store's encoding unchanged, but are made at different moments here).
fn session_record_at(
    stored: &crate::session::SessionRecord,
    agent: AgentId,
    n: usize,
) -> crate::session::SessionRecord {
    let mut record = session_record(agent, n);
    record.at = stored.at;
    record.trigger.at = stored.trigger.at;
    record.trigger.kind = stored.trigger.kind.clone();
    record
}
