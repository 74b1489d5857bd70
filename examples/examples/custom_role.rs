//! A company with a role of your own.
//!
//! The CEO gets a task from a human and hands the research to a `researcher`, a role aito does
//! not ship. The researcher writes its findings to a file in its workspace and reports back.
//! The model is a script, so this runs anywhere with nothing installed:
//!
//! ```text
//! cargo run -p aito-examples --example custom_role
//! ```

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use aito_core::mock::{Script, ScriptedResponse};
use aito_core::{AgentSpec, Company, MessageType, MockWorkers, Priority, ReplayLlm, Role};
use serde_json::{Value, json};

const RESEARCHER_PROFILE: &str = "You are the researcher. You answer questions from the other \
    agents with short, sourced notes, and you keep each note in notes/ in your workspace.";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let researcher: Role = "researcher".parse()?;

    // What each agent's model answers; `when` picks a response by a phrase in the prompt.
    let answer = |role: &Role, when: &str, response: Value| ScriptedResponse {
        role: Some(role.clone()),
        when: Some(when.to_owned()),
        response: Some(response),
        ..ScriptedResponse::default()
    };
    let llm = Arc::new(ReplayLlm::new(Script {
        responses: vec![
            answer(
                &Role::Ceo,
                "Pick a database",
                json!({
                    "summary": "Asked the researcher to compare databases",
                    "messages": [{
                        "to": "researcher", "type": "task",
                        "content": "Compare Postgres and SQLite for the billing service"
                    }]
                }),
            ),
            answer(
                &researcher,
                "Compare Postgres and SQLite",
                json!({
                    "summary": "Wrote the comparison and told the CEO",
                    "actions": [{
                        "type": "operational",
                        "title": "Database comparison",
                        "files": [{
                            "path": "notes/databases.md",
                            "content": "# Postgres or SQLite\n\nPostgres: concurrent writers, replicas.\nSQLite: one file, no server.\n"
                        }]
                    }],
                    "messages": [{
                        "to": "ceo",
                        "content": "Postgres: billing has concurrent writers. Notes in notes/databases.md"
                    }]
                }),
            ),
            answer(
                &Role::Ceo,
                "Postgres: billing",
                json!({
                    "summary": "Chose Postgres",
                    "actions": [],
                    "stateUpdates": {"database": "postgres"}
                }),
            ),
        ],
        ..Script::default()
    }));

    let workspaces = tempfile::tempdir()?;
    let company = Company::builder("acme")
        .agent(AgentSpec::new(Role::Ceo).without_schedules())
        .agent(
            AgentSpec::new(researcher.clone())
                .profile(RESEARCHER_PROFILE)
                .without_schedules(),
        )
        .embedded()
        .llm(llm.clone())
        .workers(Arc::new(MockWorkers::new()))
        .workspace_root(workspaces.path())
        .build()?;
    let running = company.start()?;
    running
        .send(
            "ceo",
            MessageType::Task,
            json!({"title": "Pick a database for billing"}),
            Priority::High,
        )
        .await?;
    running.wait_idle(Duration::from_millis(200)).await;

    let store = &running.runtime().store;
    for role in [Role::Ceo, researcher.clone()] {
        let id = running.id_of(&role)?;
        println!("{role}:");
        for entry in store.history(id, 10).await? {
            println!("  {} -> {}", entry.trigger, entry.summary);
        }
    }
    let notes = std::fs::read_to_string(workspaces.path().join("researcher/notes/databases.md"))?;
    println!("researcher's notes:\n{notes}");
    let ceo = store.load_state(running.id_of(&Role::Ceo)?).await?.value;
    println!("the CEO's decision: {}", ceo.values["database"]);

    running.shutdown().await;
    if llm.remaining() != 0 {
        return Err(format!("{} scripted answers were never asked for", llm.remaining()).into());
    }
    Ok(())
}
