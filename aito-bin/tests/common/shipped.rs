//! The shipped demo scenario (`aito run`'s built-in demo, `aito-bin/defaults/demo.json`) run in
//! process on the company of [`super::launch`]: the scenario's scripted model and workers, its
//! kickoff messages sent once every agent serves, until its critical decision is escalated to
//! a human and the company is idle. Nothing is seeded by hand: what the dashboard shows of it
//! is what the scenario made the agents do.
//!
//! The helpers below read what should come of it from the scenario itself (the tasks the CEO
//! creates, the task that is blocked first, the decision that escalates), so that the tests
//! follow the scenario when it changes.

use std::future::Future;
use std::time::Duration;

use aito_bin::scenario::Scenario;
use aito_core::decision::DecisionStatus;
use aito_core::mock::ScriptedResponse;
use aito_core::store::Activity;
use aito_core::{MessageType, Role};
use serde_json::Value;

use super::{Demo, DemoOptions, launch};

/// How long the whole demo may take to reach its escalation.
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// The shipped demo scenario.
pub fn scenario() -> Scenario {
    Scenario::demo().expect("the shipped demo scenario parses")
}

/// The shipped demo run with the test token, until its escalation and idle.
pub async fn shipped_demo() -> Demo {
    shipped_demo_with(DemoOptions::default()).await
}

/// The shipped demo run with `options`, until its critical decision is escalated and every
/// agent has been idle for half a second.
pub async fn shipped_demo_with(options: DemoOptions) -> Demo {
    let scenario = scenario();
    let demo = launch(options, scenario.llm(), scenario.workers()).await;
    // As `aito run` does: nothing is sent before every daemon listens.
    poll(&demo, "every agent to serve", |demo| async move {
        let statuses = demo.store_statuses().await;
        demo.state
            .runtime
            .directory
            .agents()
            .iter()
            .all(|entry| {
                statuses
                    .iter()
                    .any(|(id, activity)| *id == entry.id && *activity != Activity::Stopped)
            })
            .then_some(())
    })
    .await;
    for message in &scenario.kickoff {
        demo.company
            .send(
                &message.to,
                MessageType::from(message.kind.as_str()),
                message.payload.clone(),
                message.priority,
            )
            .await
            .expect("the kickoff message is sent");
    }
    let title = escalated(&scenario);
    poll(&demo, "the demo's critical decision to escalate", |demo| {
        let title = title.clone();
        async move {
            demo.decision(&title)
                .await
                .filter(|decision| decision.status == DecisionStatus::Escalated)
                .map(|_| ())
        }
    })
    .await;
    demo.company.wait_idle(Duration::from_millis(500)).await;
    demo
}

impl Demo {
    async fn store_statuses(&self) -> Vec<(aito_core::AgentId, Activity)> {
        use aito_core::store::StateStore;
        self.store
            .statuses()
            .await
            .expect("statuses")
            .into_iter()
            .map(|status| (status.id, status.activity))
            .collect()
    }
}

/// Polls `check` every 20 ms for up to [`DEMO_TIMEOUT`].
async fn poll<'a, F, Fut>(demo: &'a Demo, what: &str, check: F)
where
    F: Fn(&'a Demo) -> Fut,
    Fut: Future<Output = Option<()>>,
{
    let deadline = tokio::time::Instant::now() + DEMO_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if check(demo).await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every action the scenario's answers carry, with the answer that carries it.
pub fn actions(scenario: &Scenario) -> Vec<(&ScriptedResponse, &Value)> {
    scenario
        .responses
        .iter()
        .flat_map(|response| {
            response
                .response
                .as_ref()
                .and_then(|answer| answer["actions"].as_array())
                .into_iter()
                .flatten()
                .map(move |action| (response, action))
        })
        .collect()
}

/// The `data` of each action of type `kind`, with its answer.
fn actions_of<'a>(scenario: &'a Scenario, kind: &str) -> Vec<(&'a ScriptedResponse, &'a Value)> {
    actions(scenario)
        .into_iter()
        .filter(|(_, action)| action["type"] == kind)
        .map(|(response, action)| (response, &action["data"]))
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().expect("a text in the scenario").to_owned()
}

/// A task the scenario's agents create.
#[derive(Clone, Debug)]
pub struct ScenarioTask {
    /// Its title.
    pub title: String,
    /// What it asks.
    pub description: String,
    /// The role it is for.
    pub assignee: String,
    /// The role that creates it.
    pub creator: Role,
}

/// The tasks the scenario's agents create, in the scenario's order.
pub fn tasks(scenario: &Scenario) -> Vec<ScenarioTask> {
    actions_of(scenario, "create_task")
        .into_iter()
        .map(|(response, data)| ScenarioTask {
            title: text(&data["title"]),
            description: text(&data["description"]),
            assignee: text(&data["assignTo"]),
            creator: response.role.clone().expect("the creator's role"),
        })
        .collect()
}

/// The answer of `role` to the message about `task`: the first of its answers whose `when` the
/// task's title contains.
pub fn answer_to<'a>(scenario: &'a Scenario, role: &str, task: &str) -> &'a ScriptedResponse {
    scenario
        .responses
        .iter()
        .find(|response| {
            response.role.as_ref().map(Role::as_str) == Some(role)
                && response
                    .when
                    .as_deref()
                    .is_some_and(|when| task.to_lowercase().contains(&when.to_lowercase()))
        })
        .unwrap_or_else(|| panic!("no answer of {role} to {task:?} in the scenario"))
}

/// The task whose assignee first marks it `blocked`, and the note it gives.
pub fn blocked(scenario: &Scenario) -> (ScenarioTask, String) {
    let (response, data) = actions_of(scenario, "update_task")
        .into_iter()
        .find(|(_, data)| data["status"] == "blocked")
        .expect("a task of the scenario is blocked");
    let when = response
        .when
        .as_deref()
        .expect("the blocking answer's trigger")
        .to_lowercase();
    let task = tasks(scenario)
        .into_iter()
        .find(|task| task.title.to_lowercase().contains(&when))
        .expect("the blocked task is one the scenario creates");
    (task, text(&data["note"]))
}

/// The title of the critical decision, the one escalated to a human.
pub fn escalated(scenario: &Scenario) -> String {
    actions_of(scenario, "propose_decision")
        .into_iter()
        .find(|(_, data)| data["tier"] == "critical")
        .map(|(_, data)| text(&data["title"]))
        .expect("the scenario proposes a critical decision")
}

/// The reasons of the votes cast on the decision titled `title`.
pub fn votes_on(scenario: &Scenario, title: &str) -> Vec<String> {
    actions_of(scenario, "vote")
        .into_iter()
        .filter(|(response, _)| {
            response
                .when
                .as_deref()
                .is_some_and(|when| title.contains(when))
        })
        .map(|(_, data)| text(&data["reason"]))
        .collect()
}
