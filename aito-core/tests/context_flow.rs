//! What a company hands its context provider and what it does with the answer: the query built
//! from the trigger, the budget, the passages in the prompt, and the things it observes.

mod common;

use std::sync::{Arc, Mutex};

use aito_core::context::{ContextError, ContextProvider, ContextQuery, Knowledge, Passage};
use aito_core::decision::DecisionStatus;
use aito_core::prompt::CONTEXT_HEADER;
use aito_core::{MessageType, Priority, Role};
use async_trait::async_trait;
use common::{Harness, answer, quiet_agents, settle};
use serde_json::json;

/// A provider that answers with fixed passages (ignoring the budget, as a careless provider
/// would) and records what it was asked and told.
struct Recorder {
    passages: Vec<Passage>,
    queries: Mutex<Vec<ContextQuery>>,
    observed: Mutex<Vec<Knowledge>>,
}

impl Recorder {
    fn new(passages: Vec<Passage>) -> Arc<Self> {
        Arc::new(Self {
            passages,
            queries: Mutex::new(Vec::new()),
            observed: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl ContextProvider for Recorder {
    async fn context(&self, query: &ContextQuery) -> Result<Vec<Passage>, ContextError> {
        self.queries.lock().expect("queries").push(query.clone());
        Ok(self.passages.clone())
    }

    async fn observe(&self, knowledge: &Knowledge) -> Result<(), ContextError> {
        self.observed
            .lock()
            .expect("observed")
            .push(knowledge.clone());
        Ok(())
    }
}

/// The context section of a prompt, up to the next section's heading.
fn context_section(prompt: &str) -> Option<&str> {
    let start = prompt.find(CONTEXT_HEADER)?;
    let rest = &prompt[start..];
    let end = rest[CONTEXT_HEADER.len()..]
        .find("\n# ")
        .map_or(rest.len(), |at| at + CONTEXT_HEADER.len() + 1);
    Some(&rest[..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passages_go_into_the_prompt_within_the_context_share_and_a_cut_is_marked() {
    let harness = Harness::new(vec![answer(
        Role::Cfo,
        "token burn schedule",
        json!({"summary": "Reviewed the burn schedule", "actions": []}),
    )]);
    let passages: Vec<Passage> = (0..20)
        .map(|n| Passage {
            source: format!("knowledge/doc-{n}.md"),
            text: format!("passage {n}: {}", "burn ".repeat(100)),
            score: 20.0 - n as f32,
        })
        .collect();
    let recorder = Recorder::new(passages);
    let company = harness
        .builder(quiet_agents(&[Role::Ceo, Role::Cfo]))
        .context(recorder.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    company
        .send(
            "cfo",
            MessageType::Task,
            json!({"title": "Review the token burn schedule", "content": "Is the Q3 burn on track?"}),
            Priority::Normal,
        )
        .await
        .expect("send");
    settle(&company).await;
    company.shutdown().await;

    let settings = &harness.settings;
    let share = (settings.prompt_budget as f64 * settings.context_share) as usize;
    let queries = recorder.queries.lock().unwrap().clone();
    assert_eq!(queries.len(), 1, "{queries:?}");
    let query = &queries[0];
    assert_eq!(query.role, Role::Cfo);
    assert_eq!(query.agent, harness.id("cfo"));
    assert!(
        query.text.contains("Review the token burn schedule")
            && query.text.contains("Is the Q3 burn on track?"),
        "the query is built from the trigger: {:?}",
        query.text
    );
    assert_eq!(query.budget_chars, share - CONTEXT_HEADER.chars().count());

    let requests = harness.llm.requests();
    assert_eq!(requests.len(), 1);
    let section = context_section(&requests[0].prompt).expect("a context section");
    assert!(
        section.chars().count() <= share,
        "{} characters over a share of {share}",
        section.chars().count()
    );
    assert!(
        section.contains("[knowledge/doc-0.md]\npassage 0:"),
        "best first"
    );
    assert!(
        section.contains("more passages omitted to fit the context budget"),
        "the cut is marked: {section}"
    );
    assert!(!section.contains("doc-19.md"), "the worst passages are cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_reaching_an_outcome_and_session_summaries_are_observed() {
    let harness = Harness::new(vec![
        answer(
            Role::Cmo,
            "Plan the hackathon",
            json!({
                "summary": "Proposed sponsoring the hackathon",
                "actions": [{"type": "propose_decision", "data": {"tier": "minor", "title": "Sponsor the Lisbon hackathon", "description": "$400 for prizes"}}]
            }),
        ),
        answer(
            Role::Ceo,
            "Sponsor the Lisbon hackathon",
            json!({
                "summary": "Vetoed the sponsorship",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "veto", "reason": "the events budget is spent until January"}}]
            }),
        ),
    ]);
    let recorder = Recorder::new(Vec::new());
    let company = harness
        .builder(quiet_agents(&[Role::Ceo, Role::Cmo]))
        .context(recorder.clone())
        .build()
        .expect("company")
        .start()
        .expect("start");
    common::task(&company, "cmo", "Plan the hackathon").await;
    settle(&company).await;
    company.shutdown().await;

    let observed = recorder.observed.lock().unwrap().clone();
    let decisions: Vec<_> = observed
        .iter()
        .filter_map(|knowledge| match knowledge {
            Knowledge::Decision { decision } => Some(decision),
            _ => None,
        })
        .collect();
    assert!(
        decisions
            .iter()
            .all(|d| d.status != DecisionStatus::Pending),
        "a decision is offered once it has an outcome, not while it waits"
    );
    let vetoed = decisions
        .iter()
        .find(|decision| decision.status == DecisionStatus::Revising)
        .expect("the vetoed decision was observed");
    assert_eq!(vetoed.title, "Sponsor the Lisbon hackathon");
    assert!(
        vetoed
            .votes
            .iter()
            .any(|vote| vote.reason == "the events budget is spent until January"),
        "with the veto's reason: {:?}",
        vetoed.votes
    );
    let summaries: Vec<_> = observed
        .iter()
        .filter_map(|knowledge| match knowledge {
            Knowledge::SessionSummary { role, summary, .. } => {
                Some((role.clone(), summary.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(
        summaries.contains(&(Role::Cmo, "Proposed sponsoring the hackathon".to_owned()))
            && summaries.contains(&(Role::Ceo, "Vetoed the sponsorship".to_owned())),
        "{summaries:?}"
    );
}
