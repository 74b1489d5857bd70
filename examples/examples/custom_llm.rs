//! Plugging in a model of your own.
//!
//! aito talks to a model through one trait, [`LlmSession`]: a request in (system prompt,
//! prompt, role, limits), the model's final text out, with cost and usage. This example
//! implements it with a few rules instead of a real model: the same shape an adapter for a
//! hosted API or a local model takes. The CFO is told spending is over plan, raises an alert,
//! and the alert reaches the CEO and the DAO.
//!
//! ```text
//! cargo run -p aito-examples --example custom_llm
//! ```

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aito_core::{
    AgentSpec, Company, LlmError, LlmRequest, LlmResponse, LlmSession, MessageType, MockWorkers,
    Priority, Role, TokenUsage,
};
use async_trait::async_trait;
use serde_json::json;

/// A "model" that follows fixed rules, and bills a made-up price per word.
#[derive(Default)]
struct RuleModel {
    words_in: AtomicU64,
}

impl RuleModel {
    const USD_PER_WORD: f64 = 0.000_002;

    fn think(&self, request: &LlmRequest) -> serde_json::Value {
        let prompt = request.prompt.as_str();
        match &request.role {
            Role::Cfo if prompt.contains("over plan") => json!({
                "summary": "Spending is over plan; alerted the head",
                "actions": [{
                    "type": "alert", "alertType": "budget", "severity": "high",
                    "message": "Cloud spend is 20% over plan this month"
                }]
            }),
            Role::Ceo | Role::Dao if prompt.contains("20% over plan") => json!({
                "summary": "Noted the overspend; watching cloud spend",
                "actions": [],
                "stateUpdates": {"watching": "cloud spend"}
            }),
            _ => json!({"summary": "nothing to do", "actions": []}),
        }
    }
}

#[async_trait]
impl LlmSession for RuleModel {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        let started = Instant::now();
        // A real adapter maps its provider's failures onto LlmError, so that the daemon knows
        // whether to back off (rate limits, timeouts) or give up (auth, refusals).
        if request.prompt.is_empty() {
            return Err(LlmError::Rejected {
                kind: "empty_prompt".to_owned(),
                message: "nothing to answer".to_owned(),
            });
        }
        let words = (request.system_prompt.split_whitespace().count()
            + request.prompt.split_whitespace().count()) as u64;
        self.words_in.fetch_add(words, Ordering::Relaxed);
        let answer = self.think(&request);
        // Models like to talk around their JSON; aito takes the last object that is an answer.
        let text = format!("Here is what I will do.\n```json\n{answer:#}\n```\n");
        let output = text.split_whitespace().count() as u64;
        Ok(LlmResponse {
            cost_usd: (words + output) as f64 * Self::USD_PER_WORD,
            usage: TokenUsage {
                input_tokens: words,
                output_tokens: output,
            },
            text,
            session_id: None,
            turns: 1,
            duration: started.elapsed(),
            provider: None,
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let model = Arc::new(RuleModel::default());
    let workspaces = tempfile::tempdir()?;
    let company = Company::builder("acme")
        .agents(
            [Role::Ceo, Role::Dao, Role::Cfo].map(|role| AgentSpec::new(role).without_schedules()),
        )
        .embedded()
        .llm(model.clone())
        .workers(Arc::new(MockWorkers::new()))
        .workspace_root(workspaces.path())
        .build()?;
    let running = company.start()?;
    running
        .send(
            "cfo",
            MessageType::Direct,
            json!({"content": "The cloud invoice came in: spending is over plan."}),
            Priority::Normal,
        )
        .await?;
    running.wait_idle(Duration::from_millis(200)).await;

    let store = &running.runtime().store;
    let mut watching = 0;
    for role in [Role::Cfo, Role::Ceo, Role::Dao] {
        let id = running.id_of(&role)?;
        for entry in store.history(id, 10).await? {
            println!(
                "{role}: {} -> {} (${:.6}, {} tokens)",
                entry.trigger, entry.summary, entry.cost_usd, entry.tokens
            );
        }
        if store
            .load_state(id)
            .await?
            .value
            .values
            .contains_key("watching")
        {
            watching += 1;
        }
    }
    println!(
        "{} words of prompt read in all",
        model.words_in.load(Ordering::Relaxed)
    );
    running.shutdown().await;
    if watching != 2 {
        return Err(format!("the alert reached {watching} of the CEO and the DAO").into());
    }
    Ok(())
}
