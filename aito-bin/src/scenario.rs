//! Replay scenarios: a scripted model for the whole company, the messages that start it, and
//! the scripted workers' results. The demo scenario (examples/scenarios/demo.json) is compiled
//! in, so `aito run` shows the full flow on any machine, from any directory.
//!
//! A scenario file is a [`ReplayLlm`] script (`responses`, `on_exhausted`, `description`) with
//! two additions that `aito run` acts on: `kickoff`, messages sent from a human once every
//! agent is serving, and `workers`, what scripted workers answer (docs/scenarios.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aito_core::mock::{OnExhausted, Script, ScriptedResponse};
use aito_core::{MockWorkers, Priority, ReplayLlm, WorkerStatus};
use serde::Deserialize;
use serde_json::Value;

/// The demo scenario's text.
pub const DEMO: &str = include_str!("../defaults/demo.json");

/// A scenario that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read the replay scenario {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error("invalid replay scenario {name}: {reason}")]
    Invalid {
        /// The file, or `demo`.
        name: String,
        /// What is wrong, with line and column.
        reason: String,
    },
}

/// A message a scenario sends when the company is up.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kickoff {
    /// A role name, an agent uuid, `all`, `head` or `clevel`.
    pub to: String,
    /// The message type (default `task`).
    #[serde(rename = "type", default = "task")]
    pub kind: String,
    /// The priority (default `normal`).
    #[serde(default)]
    pub priority: Priority,
    /// The payload.
    pub payload: Value,
}

fn task() -> String {
    "task".to_owned()
}

/// What scripted workers answer to tasks containing `contains`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerRule {
    /// Text the worker's task contains.
    pub contains: String,
    /// How the worker ends (default `succeeded`).
    #[serde(default = "succeeded")]
    pub status: WorkerStatus,
    /// Its result text.
    pub result: String,
    /// Its cost.
    #[serde(default)]
    pub cost_usd: f64,
}

fn succeeded() -> WorkerStatus {
    WorkerStatus::Succeeded
}

/// A replay scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// What it shows.
    #[serde(default)]
    pub description: Option<String>,
    /// Messages from a human, sent once every agent is serving.
    #[serde(default)]
    pub kickoff: Vec<Kickoff>,
    /// Scripted worker results.
    #[serde(default)]
    pub workers: Vec<WorkerRule>,
    /// The model's answers, as [`ReplayLlm`] takes them.
    pub responses: Vec<ScriptedResponse>,
    /// What the model does when no answer matches.
    #[serde(default)]
    pub on_exhausted: OnExhausted,
}

impl Scenario {
    /// The built-in demo.
    pub fn demo() -> Result<Self, ScenarioError> {
        Self::parse(DEMO, "demo (built in)")
    }

    /// Reads a scenario file.
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a scenario named `name` (for messages).
    pub fn parse(text: &str, name: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Scenario =
            serde_json::from_str(text).map_err(|err| ScenarioError::Invalid {
                name: name.to_owned(),
                reason: err.to_string(),
            })?;
        if scenario.name.is_none() {
            scenario.name = Some(name.to_owned());
        }
        Ok(scenario)
    }

    /// The scripted model.
    pub fn llm(&self) -> Arc<ReplayLlm> {
        Arc::new(ReplayLlm::new(Script {
            description: self.description.clone(),
            responses: self.responses.clone(),
            on_exhausted: self.on_exhausted,
        }))
    }

    /// The scripted workers.
    pub fn workers(&self) -> Arc<MockWorkers> {
        let workers = self
            .workers
            .iter()
            .fold(MockWorkers::new(), |workers, rule| {
                workers.with_result(
                    rule.contains.clone(),
                    rule.status,
                    rule.result.clone(),
                    rule.cost_usd,
                )
            });
        Arc::new(workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aito_core::Role;

    #[test]
    fn the_demo_gives_every_role_a_part_and_starts_with_a_task_to_the_ceo() {
        let demo = Scenario::demo().expect("the demo parses");
        assert_eq!(demo.kickoff.len(), 1);
        assert_eq!(demo.kickoff[0].to, "ceo");
        assert_eq!(demo.kickoff[0].kind, "task");
        for role in Role::BUILT_IN {
            assert!(
                demo.responses
                    .iter()
                    .any(|response| response.role.as_ref() == Some(&role)),
                "{role} has no part in the demo"
            );
        }
    }

    #[test]
    fn errors_name_the_scenario_and_the_line() {
        let err = Scenario::parse("{\n  \"responses\": [],\n  \"kick\": []\n}", "x.json")
            .expect_err("unknown field");
        let text = err.to_string();
        assert!(text.contains("x.json") && text.contains("line 3"), "{text}");
    }
}
