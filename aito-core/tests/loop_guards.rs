//! Guard rails against money burned in loops: the ping-pong breaker, the self-wake filter,
//! quota parking, daily budgets and the no-progress breaker, on tokio's paused clock.

mod common;

use std::time::Duration;

use aito_core::mock::ScriptedResponse;
use aito_core::store::StateStore;
use aito_core::{AgentSpec, Budget, Role};
use common::{Harness, answer, quiet_agents};
use serde_json::json;

fn forever(role: Role, response: serde_json::Value) -> ScriptedResponse {
    ScriptedResponse {
        role: Some(role),
        response: Some(response),
        repeat: true,
        cost_usd: 0.01,
        ..ScriptedResponse::default()
    }
}

async fn guard_events(harness: &Harness, guard: &str) -> Vec<serde_json::Value> {
    harness
        .store
        .read_log(aito_core::store::logs::EVENTS, 10_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|event| event["event"] == "guard_tripped" && event["guard"] == guard)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_ping_pong_breaker_stops_two_agents_and_spares_the_rest() {
    let mut harness = Harness::new(vec![
        answer(
            Role::Ceo,
            "Quarterly plan",
            json!({"summary": "Wrote the plan", "actions": [], "stateUpdates": {"plan": "q1"}}),
        ),
        forever(
            Role::Cto,
            json!({"summary": "answered", "messages": [{"to": "cmo", "content": "what do you think?"}]}),
        ),
        forever(
            Role::Cmo,
            json!({"summary": "answered", "messages": [{"to": "cto", "content": "what do YOU think?"}]}),
        ),
    ]);
    harness.settings.hop_limit = 100;
    harness.settings.loops.ping_pong_exchanges = 4;
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cto, Role::Cmo]))
        .start()
        .expect("start");
    common::task(&company, "cto", "Discuss the launch with the CMO").await;
    common::task(&company, "ceo", "Quarterly plan").await;
    tokio::time::sleep(Duration::from_secs(600)).await;

    // One session for the human's task, then four exchanges between the two.
    let exchanges = harness.sessions_of(&Role::Cto) + harness.sessions_of(&Role::Cmo) - 1;
    assert_eq!(exchanges, 4);
    let tripped = guard_events(&harness, "ping_pong").await;
    assert_eq!(tripped.len(), 1, "{tripped:?}");
    assert_eq!(tripped[0]["figures"]["exchanges"], 4.0);
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        1,
        "the CEO worked undisturbed"
    );
    let ceo = harness
        .store
        .load_state(harness.id("ceo"))
        .await
        .unwrap()
        .value;
    assert_eq!(ceo.values["plan"], "q1");
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_agent_is_not_woken_by_its_own_messages() {
    let harness = Harness::new(vec![answer(
        Role::Ceo,
        "All hands",
        json!({
            "summary": "Told everyone",
            "messages": [{"to": "all", "content": "All hands at noon"}, {"to": "head", "content": "Board prep"}],
            "actions": [{"type": "alert", "data": {"severity": "critical", "message": "Outage"}}]
        }),
    )]);
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Dao, Role::Cto]))
        .start()
        .expect("start");
    common::task(&company, "ceo", "All hands").await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        1,
        "no second session for the CEO"
    );
    // The DAO got the broadcast, the head message and the alert; the CTO the broadcast.
    assert_eq!(harness.sessions_of(&Role::Dao), 3);
    assert_eq!(harness.sessions_of(&Role::Cto), 1);
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_usage_limit_parks_the_agent_until_the_reset() {
    let limit = ScriptedResponse {
        role: Some(Role::Ceo),
        error: Some(aito_core::LlmError::RateLimited {
            quota: true,
            resets_at: Some("2026-11-24T10:01:30Z".parse().unwrap()),
            retry_after: None,
            message: "You've hit your session limit".into(),
        }),
        ..ScriptedResponse::default()
    };
    let harness = Harness::new(vec![
        limit,
        answer(
            Role::Ceo,
            "Plan",
            json!({"summary": "planned", "actions": []}),
        ),
    ]);
    let company = harness
        .company(quiet_agents(&[Role::Ceo]))
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan").await;
    // The clock starts at 10:00:00; the quota resets at 10:01:30 (plus at most 2 s of jitter).
    tokio::time::sleep(Duration::from_secs(89)).await;
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        1,
        "no session before the reset"
    );
    let parked = harness.store.statuses().await.unwrap();
    assert!(
        parked[0]
            .paused_reason
            .as_deref()
            .unwrap_or("")
            .contains("10:01:3"),
        "{parked:?}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        2,
        "one session right after the reset"
    );
    assert_eq!(harness.history("ceo").await[0].summary, "planned");
    let quota = guard_events(&harness, "quota").await;
    assert_eq!(quota.len(), 1);
    company.shutdown().await;
}

/// A CFO with $1 a day whose sessions cost $0.30, given five tasks.
async fn five_tasks_for_a_cfo_on_a_dollar_a_day() -> (Harness, aito_core::RunningCompany) {
    let mut work = forever(
        Role::Cfo,
        json!({"summary": "did the books", "actions": []}),
    );
    work.cost_usd = 0.30;
    let harness = Harness::new(vec![work]);
    let cfo = AgentSpec::new(Role::Cfo)
        .without_schedules()
        .budget(Budget {
            usd_per_day: Some(1.0),
            ..Budget::unlimited()
        });
    let company = harness.company(vec![cfo]).start().expect("start");
    for n in 0..5 {
        common::task(&company, "cfo", &format!("Books {n}")).await;
    }
    (harness, company)
}

#[tokio::test(start_paused = true)]
async fn a_daily_budget_stops_the_session_that_would_cross_it_until_tomorrow() {
    let (harness, company) = five_tasks_for_a_cfo_on_a_dollar_a_day().await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        harness.sessions_of(&Role::Cfo),
        3,
        "$0.90 spent; a fourth would cross $1"
    );
    let budget = guard_events(&harness, "budget").await;
    assert_eq!(budget[0]["figures"]["limit"], "usd_per_day");
    // The clock started at 10:00; midnight is 14 h later.
    tokio::time::sleep(Duration::from_secs(13 * 3600 - 60)).await;
    assert_eq!(harness.sessions_of(&Role::Cfo), 3, "still today");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        harness.sessions_of(&Role::Cfo),
        5,
        "the next day the rest run"
    );
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn idle_scheduled_sessions_back_the_schedule_off_until_a_message_comes() {
    let harness = Harness::new(vec![]);
    let coo = AgentSpec::new(Role::Coo)
        .schedules(["*/5 * * * *"])
        .expect("schedule")
        .budget(Budget::unlimited());
    let company = harness.company(vec![coo]).start().expect("start");
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let times: Vec<String> = harness
        .history("coo")
        .await
        .iter()
        .map(|entry| entry.at.format("%H:%M").to_string())
        .collect();
    // Three idle sessions, then the gap doubles: 10, 20, 40 minutes.
    assert_eq!(
        times,
        ["10:05", "10:10", "10:15", "10:25", "10:45", "11:25"]
    );
    assert_eq!(guard_events(&harness, "no_progress").await.len(), 1);
    common::task(&company, "coo", "Check the rota").await;
    tokio::time::sleep(Duration::from_secs(6 * 60)).await;
    let after: Vec<String> = harness.history("coo").await[6..]
        .iter()
        .map(|entry| entry.at.format("%H:%M").to_string())
        .collect();
    assert_eq!(after, ["12:00", "12:05"], "the message resets the backoff");
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_human_raising_the_budget_resumes_the_agent_at_once() {
    let (harness, company) = five_tasks_for_a_cfo_on_a_dollar_a_day().await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(harness.sessions_of(&Role::Cfo), 3);
    let scope = aito_core::budget::Scope::Agent(harness.id("cfo").to_string());
    aito_core::control::set_budget(
        harness.store.clone(),
        harness.bus.as_ref(),
        &scope,
        &Budget {
            usd_per_day: Some(2.0),
            ..Budget::unlimited()
        },
        "test",
    )
    .await
    .expect("raise");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        harness.sessions_of(&Role::Cfo),
        5,
        "the raised budget lets the rest run today"
    );
    let status = harness.store.statuses().await.unwrap();
    assert_eq!(status[0].budget_usd_per_day, 2.0);
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn settling_waits_for_an_agent_parked_on_a_rate_limit_and_names_a_longer_wait() {
    let limited = |retry_after: Duration, quota: bool| ScriptedResponse {
        role: Some(Role::Ceo),
        error: Some(aito_core::LlmError::RateLimited {
            quota,
            resets_at: None,
            retry_after: Some(retry_after),
            message: "API Error: Request rejected (429)".into(),
        }),
        ..ScriptedResponse::default()
    };
    let planned = || {
        answer(
            Role::Ceo,
            "Plan",
            json!({"summary": "planned", "actions": []}),
        )
    };

    // A short wait: the company is not settled until the agent has tried again.
    let harness = Harness::new(vec![limited(Duration::from_secs(30), false), planned()]);
    let company = harness
        .company(quiet_agents(&[Role::Ceo]))
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan").await;
    let waiting = company
        .wait_settled(Duration::from_secs(1), Duration::from_secs(600))
        .await;
    assert!(waiting.is_empty(), "{waiting:?}");
    assert_eq!(harness.sessions_of(&Role::Ceo), 2);
    assert_eq!(harness.history("ceo").await[0].summary, "planned");
    company.shutdown().await;

    // A wait past the patience: settling ends, naming the agent and when it tries again.
    let harness = Harness::new(vec![limited(Duration::from_secs(7200), true), planned()]);
    let company = harness
        .company(quiet_agents(&[Role::Ceo]))
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan").await;
    let waiting = company
        .wait_settled(Duration::from_secs(1), Duration::from_secs(600))
        .await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let (_, role, parked) = &waiting[0];
    assert_eq!(role, &Role::Ceo);
    assert!(parked.is_model_limit());
    assert!(parked.until - harness.clock.now() > chrono::Duration::minutes(100));
    assert_eq!(harness.sessions_of(&Role::Ceo), 1, "no second session yet");
    company.shutdown().await;
}

/// The CFO proposes a minor decision, the CEO approves it, and told to carry it out the CFO
/// proposes another, forever.
fn proposal_loop() -> Harness {
    let follow_up = json!({"summary": "Proposed a follow-up", "actions": [
        {"type": "propose_decision", "data": {"tier": "minor", "title": "Another follow-up spend", "description": "One more."}}]});
    Harness::new(vec![
        ScriptedResponse {
            role: Some(Role::Ceo),
            when: Some("Vote on this decision".to_owned()),
            response: Some(json!({"summary": "Approved", "actions": [
                {"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "approve", "reason": "fine"}}]})),
            repeat: true,
            cost_usd: 0.01,
            ..ScriptedResponse::default()
        },
        ScriptedResponse {
            role: Some(Role::Cfo),
            when: Some("carry it out".to_owned()),
            response: Some(follow_up.clone()),
            repeat: true,
            cost_usd: 0.01,
            ..ScriptedResponse::default()
        },
        answer(Role::Cfo, "Start the spending", follow_up),
    ])
}

fn loop_sessions(harness: &Harness) -> usize {
    harness.sessions_of(&Role::Ceo) + harness.sessions_of(&Role::Cfo)
}

#[tokio::test(start_paused = true)]
async fn a_loop_of_proposals_and_approvals_is_stopped_within_the_hop_limit() {
    let mut harness = proposal_loop();
    harness.settings.hop_limit = 6;
    harness.settings.loops.ping_pong_exchanges = 100;
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cfo]))
        .start()
        .expect("start");
    common::task(&company, "cfo", "Start the spending").await;
    tokio::time::sleep(Duration::from_secs(3600)).await;

    let tripped = guard_events(&harness, "hop_limit").await;
    assert_eq!(tripped.len(), 1, "the loop is stopped once: {tripped:?}");
    // The task has no hop; each session's proposal or vote adds one to the notice it causes,
    // so sessions stop once a notice has passed through more than 6.
    let sessions = loop_sessions(&harness);
    assert_eq!(sessions, 7, "the task's session and six hops");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(loop_sessions(&harness), sessions, "nothing more runs");
    company.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_ping_pong_breaker_counts_decision_notices() {
    let mut harness = proposal_loop();
    harness.settings.hop_limit = 100;
    harness.settings.loops.ping_pong_exchanges = 4;
    let company = harness
        .company(quiet_agents(&[Role::Ceo, Role::Cfo]))
        .start()
        .expect("start");
    common::task(&company, "cfo", "Start the spending").await;
    tokio::time::sleep(Duration::from_secs(3600)).await;

    let tripped = guard_events(&harness, "ping_pong").await;
    assert_eq!(tripped.len(), 1, "{tripped:?}");
    assert_eq!(tripped[0]["figures"]["exchanges"], 4.0);
    // The task's session and four exchanges.
    assert_eq!(loop_sessions(&harness), 5);
    company.shutdown().await;
}
