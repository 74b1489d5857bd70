//! Spend under faults: a session's cost is booked once even when the store fails while it is
//! booked (an outage, a lost reply, a crash), and daemons starting together cannot spend past
//! the company's budget between them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aito_core::budget::{BudgetLedger, Scope};
use aito_core::llm::{LlmError, LlmRequest, LlmResponse, LlmSession};
use aito_core::mock::ScriptedResponse;
use aito_core::store::{Outcome, StateStore};
use aito_core::testkit::faults::{Fault, FaultyStore, StoreOp};
use aito_core::{AgentSpec, Budget, Role};
use async_trait::async_trait;
use common::{Harness, answer, eventually, quiet_agents};
use serde_json::json;

const COST: f64 = 0.30;

fn costly(role: Role, when: &str) -> ScriptedResponse {
    ScriptedResponse {
        cost_usd: COST,
        tokens: 1000,
        ..answer(role, when, json!({"summary": "Done", "actions": []}))
    }
}

async fn spent_today(store: Arc<dyn StateStore>, scope: Scope, harness: &Harness) -> f64 {
    BudgetLedger::new(store)
        .spend(&scope, harness.clock.now())
        .await
        .expect("spend")
        .usd_day
}

fn assert_booked_once(spent: f64, what: &str) {
    assert!(
        (spent - COST).abs() < 1e-9,
        "{what}: the session's ${COST} must be booked exactly once, found ${spent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_of_a_session_that_ended_during_a_store_outage_is_booked_when_it_is_back() {
    common::logs();
    let harness = Harness::new(vec![costly(Role::Ceo, "Plan the launch")]);
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    // The outage strikes the cost's write, whichever operation carries it.
    store.faults().always(StoreOp::Book, Fault::Fail);
    store.faults().always(StoreOp::AddToCounter, Fault::Fail);
    let company = harness
        .builder(quiet_agents(&[Role::Ceo]))
        .store(store.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan the launch").await;
    eventually("the session to end", Duration::from_secs(10), || async {
        (harness.llm.requests().len() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    store.faults().clear();
    let history = eventually(
        "the trigger to be finished after the outage",
        Duration::from_secs(20),
        || async {
            let history = harness.history("ceo").await;
            (!history.is_empty()).then_some(history)
        },
    )
    .await;
    company.shutdown().await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, Outcome::Handled);
    assert_eq!(harness.sessions_of(&Role::Ceo), 1, "no second session");
    let ceo = Scope::Agent(harness.id("ceo").to_string());
    assert_booked_once(
        spent_today(harness.store.clone(), Scope::Company, &harness).await,
        "company",
    );
    assert_booked_once(
        spent_today(harness.store.clone(), ceo, &harness).await,
        "agent",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_whose_reply_was_lost_is_not_booked_twice() {
    common::logs();
    let harness = Harness::new(vec![costly(Role::Ceo, "Plan the launch")]);
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    // The booking goes through; its caller hears it failed, and books again.
    store.faults().inject(StoreOp::Book, 1, Fault::FailAfter);
    store
        .faults()
        .inject(StoreOp::AddToCounter, 1, Fault::FailAfter);
    let company = harness
        .builder(quiet_agents(&[Role::Ceo]))
        .store(store.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "ceo", "Plan the launch").await;
    eventually(
        "the trigger to be finished",
        Duration::from_secs(20),
        || async { (!harness.history("ceo").await.is_empty()).then_some(()) },
    )
    .await;
    company.shutdown().await;
    assert_booked_once(
        spent_today(harness.store.clone(), Scope::Company, &harness).await,
        "company",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_kept_with_the_trigger_is_booked_by_the_next_daemon() {
    common::logs();
    let harness = Harness::new(vec![costly(Role::Ceo, "Plan the launch")]);
    let store = Arc::new(FaultyStore::new(harness.store.clone()));
    let build = || {
        harness
            .builder(quiet_agents(&[Role::Ceo]))
            .store(store.clone())
            .build()
            .expect("company")
    };
    // First life: the answer is kept with the trigger, its cost cannot be booked, and the
    // daemon stops before the store is back.
    store.faults().always(StoreOp::Book, Fault::Fail);
    store.faults().always(StoreOp::AddToCounter, Fault::Fail);
    let first = build().start().expect("start");
    common::task(&first, "ceo", "Plan the launch").await;
    eventually("the session to end", Duration::from_secs(10), || async {
        (harness.llm.requests().len() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.shutdown().await;
    assert!(harness.history("ceo").await.is_empty());
    // Second life: the trigger comes back with its journal; the cost is booked, once.
    store.faults().clear();
    let second = build().start().expect("restart");
    eventually(
        "the trigger to be finished",
        Duration::from_secs(20),
        || async { (!harness.history("ceo").await.is_empty()).then_some(()) },
    )
    .await;
    second.shutdown().await;
    assert_eq!(
        harness.sessions_of(&Role::Ceo),
        1,
        "the kept answer is re-used"
    );
    assert_booked_once(
        spent_today(harness.store.clone(), Scope::Company, &harness).await,
        "company",
    );
}

/// A model that takes a while, so sessions of several daemons overlap.
struct SlowLlm {
    inner: Arc<dyn LlmSession>,
    takes: Duration,
}

#[async_trait]
impl LlmSession for SlowLlm {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        tokio::time::sleep(self.takes).await;
        self.inner.run(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_agents_starting_together_do_not_spend_past_the_company_budget() {
    common::logs();
    let agents: Vec<AgentSpec> = AgentSpec::defaults()
        .into_iter()
        .map(|spec| spec.without_schedules().budget(Budget::unlimited()))
        .collect();
    assert_eq!(agents.len(), 7);
    let script = agents
        .iter()
        .map(|spec| costly(spec.role.clone(), "Work"))
        .collect();
    let mut harness = Harness::new(script);
    let limit = 1.0;
    harness.settings.company_budget = Budget {
        usd_per_day: Some(limit),
        ..Budget::unlimited()
    };
    harness.settings.session_reserve_usd = COST;
    let llm = Arc::new(SlowLlm {
        inner: harness.llm.clone(),
        takes: Duration::from_millis(500),
    });
    let roles: Vec<String> = agents.iter().map(|spec| spec.role.to_string()).collect();
    let company = harness
        .builder(agents)
        .llm(llm)
        .build()
        .expect("company")
        .start()
        .expect("start");
    for role in &roles {
        common::task(&company, role, "Work on the plan").await;
    }
    eventually(
        "the first sessions to end",
        Duration::from_secs(10),
        || async {
            let spent = spent_today(harness.store.clone(), Scope::Company, &harness).await;
            (spent > 0.0).then_some(())
        },
    )
    .await;
    // Long enough for every agent to try, and for the refused ones to ask again once the
    // holds of the first sessions were booked.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let spent = spent_today(harness.store.clone(), Scope::Company, &harness).await;
    let sessions = harness.llm.requests().len();
    company.shutdown().await;
    assert!(
        spent <= limit + 1e-9,
        "the company spent ${spent:.2} of its ${limit:.2} in {sessions} sessions"
    );
    assert_eq!(sessions, 3, "three sessions of ${COST} fit in ${limit}");
}
