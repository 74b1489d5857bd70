//! The README's embedding example, run as a user's program runs it: the seven default roles on
//! the embedded bus and store, a scripted model (`script.json`), and a task for the CEO, who
//! hands it to the CMO. The program checks that the work was done and exits non-zero if not.
//!
//! The code between the `readme-example` markers is the README's, line for line
//! (`cargo run -p aito-release -- readme` checks it; `--write` copies it into the README).

use std::error::Error;
use std::time::Duration;

use aito_core::{Role, RunningCompany};

/// The model's script, written where the README's example looks for it.
const SCRIPT: &str = include_str!("../script.json");

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The example reads `script.json` and keeps the agents' workspaces in the current
    // directory: give it a directory of its own.
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("script.json"), SCRIPT)?;
    std::env::set_current_dir(dir.path())?;

    let running = embed().await?;
    running.wait_idle(Duration::from_millis(300)).await;

    let store = &running.runtime().store;
    let ceo = store.load_state(running.id_of(&Role::Ceo)?).await?.value;
    let cmo = store.load_state(running.id_of(&Role::Cmo)?).await?.value;
    running.shutdown().await;

    if ceo.values.get("current_focus") != Some(&serde_json::json!("launch")) {
        return Err(format!("the CEO did not take up the task: {:?}", ceo.values).into());
    }
    if cmo.values.get("launch_plan") != Some(&serde_json::json!("drafted")) {
        return Err(format!("the CMO did not draft the plan: {:?}", cmo.values).into());
    }
    println!("readme-example: the CEO handed the launch plan to the CMO, who drafted it");
    Ok(())
}

async fn embed() -> Result<RunningCompany, Box<dyn Error>> {
    // readme-example: begin
    use std::sync::Arc;

    use aito_core::{AgentSpec, Company, MessageType, MockWorkers, Priority, ReplayLlm};
    use serde_json::json;

    let company = Company::builder("acme")
        .agents(AgentSpec::defaults()) // the seven roles
        .embedded() // MemoryBus + MemoryStore
        .llm(Arc::new(ReplayLlm::from_file("script.json")?))
        .workers(Arc::new(MockWorkers::new()))
        .build()?;
    let running = company.start()?;
    let task = json!({"title": "Plan the launch"});
    running
        .send("ceo", MessageType::Task, task, Priority::High)
        .await?;
    // readme-example: end
    Ok(running)
}
