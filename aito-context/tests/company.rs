//! The provider in a running company: what reaches the agents' prompts.

mod common;

use std::sync::Arc;

use aito_context::TantivyContext;
use aito_core::context::Knowledge;
use aito_core::decision::{Decision, DecisionStatus, Tier, Transition, Vote, VoteChoice};
use aito_core::{DecisionId, MessageType, Priority, Role};
use chrono::Duration;
use common::{Harness, answer, assign, context_section, id, now, settle, sources};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_about_the_token_burn_schedule_brings_its_document_into_the_cfo_prompt() {
    let harness = Harness::new(vec![answer(
        Role::Cfo,
        "token burn schedule",
        json!({"summary": "Confirmed the next burn", "actions": []}),
    )]);
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(common::knowledge())
        .with_clock(harness.clock);
    let company = harness.start(&[Role::Ceo, Role::Cfo], Arc::new(context));
    assign(
        &company,
        "cfo",
        json!({
            "title": "Check the token burn schedule",
            "content": "How much do we burn next month, and from which wallet?"
        }),
    )
    .await;
    company.shutdown().await;

    let prompts = harness.prompts_of(&Role::Cfo);
    assert_eq!(prompts.len(), 1);
    let section = context_section(&prompts[0]);
    let sources = sources(section);
    assert!(
        sources
            .first()
            .is_some_and(|source| source.starts_with("knowledge/finance/token-burn-schedule.md")),
        "the burn schedule comes first: {sources:?}"
    );
    assert!(
        section.contains("we burn 2% of the protocol fees"),
        "with its text: {section}"
    );
    for unrelated in [
        "team-meetings.md",
        "brand-guidelines.md",
        "deployments.md",
        "content-calendar.md",
        "telegram-moderation.md",
    ] {
        assert!(
            !section.contains(unrelated),
            "{unrelated} has nothing to do with burns: {sources:?}"
        );
    }
    assert!(section.chars().count() <= harness.context_share());
}

/// A minor decision the CMO proposed on `at`, vetoed by the CEO the same day with `reason`.
fn vetoed(
    title: &str,
    description: &str,
    reason: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Decision {
    let cmo = id("cmo");
    Decision {
        id: DecisionId::random(),
        proposer: cmo,
        proposer_role: Role::Cmo,
        title: title.to_owned(),
        description: description.to_owned(),
        options: Vec::new(),
        tier: Tier::Minor,
        status: DecisionStatus::Revising,
        round: 1,
        reviewers: vec![Role::Ceo],
        votes: vec![Vote {
            voter: id("ceo"),
            role: Role::Ceo,
            choice: VoteChoice::Veto,
            reason: reason.to_owned(),
            at: at + Duration::hours(1),
            round: 1,
        }],
        history: vec![
            Transition {
                at,
                from: None,
                to: DecisionStatus::Pending,
                round: 1,
                by: "cmo".to_owned(),
                reason: "proposed as minor".to_owned(),
            },
            Transition {
                at: at + Duration::hours(1),
                from: Some(DecisionStatus::Pending),
                to: DecisionStatus::Revising,
                round: 1,
                by: "ceo".to_owned(),
                reason: format!("vetoed: ceo: {reason}"),
            },
        ],
        created_at: at,
        deadline: None,
        escalation: None,
        human: None,
        version: 1,
        outbox: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_vetoed_last_week_shows_up_with_its_reason_when_a_similar_one_is_proposed() {
    let harness = Harness::new(vec![
        answer(
            Role::Cmo,
            "launch campaign",
            json!({
                "summary": "Proposed paying influencers in tokens",
                "actions": [{"type": "propose_decision", "data": {
                    "tier": "minor",
                    "title": "Pay crypto influencers in tokens for the launch campaign",
                    "description": "Ten influencers, 5,000 tokens each, for posts in launch week."
                }}]
            }),
        ),
        answer(
            Role::Ceo,
            "Pay crypto influencers in tokens",
            json!({
                "summary": "Vetoed again, as last week",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "veto", "reason": "same as last week"}}]
            }),
        ),
    ]);
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(common::knowledge())
        .with_clock(harness.clock);
    let week_ago = now() - Duration::days(7);
    let reason = "paying promoters in our own token makes them look like investors; pay in stablecoins against an invoice";
    context
        .index(
            &Knowledge::Decision {
                decision: Box::new(vetoed(
                    "Pay influencers with tokens",
                    "Pay twelve influencers with tokens for the October promotion.",
                    reason,
                    week_ago,
                )),
            },
            week_ago,
        )
        .expect("index the old decision");
    context
        .index(
            &Knowledge::Decision {
                decision: Box::new(vetoed(
                    "Rent a booth at the Lisbon conference",
                    "A 3x3 m booth for three days.",
                    "the events budget is spent until January",
                    week_ago - Duration::days(3),
                )),
            },
            week_ago,
        )
        .expect("index an unrelated decision");

    let company = harness.start(&[Role::Ceo, Role::Cmo], Arc::new(context));
    assign(
        &company,
        "cmo",
        json!({"title": "Prepare the launch campaign"}),
    )
    .await;
    company.shutdown().await;

    let prompts = harness.prompts_of(&Role::Ceo);
    let vote = prompts
        .iter()
        .find(|prompt| prompt.contains("Pay crypto influencers in tokens"))
        .expect("the CEO was asked to vote");
    let section = context_section(vote);
    assert!(
        section.contains("Decision \"Pay influencers with tokens\"")
            && section.contains("VETOED")
            && section.contains(reason),
        "the vetoed decision and its reason are in the reviewer's prompt: {section}"
    );
    assert!(
        section.contains(&format!(
            "proposed by cmo on {}",
            week_ago.format("%Y-%m-%d")
        )),
        "dated: {section}"
    );
    assert!(
        !section.contains("Lisbon"),
        "an unrelated veto stays out: {section}"
    );
    assert!(
        section.contains("influencers.md"),
        "the policy on influencers comes along: {:?}",
        sources(section)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_added_to_the_knowledge_folder_is_found_by_the_next_session_without_a_restart() {
    let harness = Harness::new(vec![
        idle(Role::Cto, "Zephyr bridge"),
        idle(Role::Cto, "Zephyr bridge"),
    ]);
    let folder = common::knowledge_copy();
    let knowledge = folder.path().join("knowledge");
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(&knowledge)
        .with_clock(harness.clock);
    let company = harness.start(&[Role::Ceo, Role::Cto], Arc::new(context));
    let ask = || {
        company.send(
            "cto",
            MessageType::Task,
            json!({"title": "Plan the Zephyr bridge migration"}),
            Priority::Normal,
        )
    };
    ask().await.expect("send");
    settle(&company).await;
    std::fs::write(
        knowledge.join("tech/zephyr-bridge.md"),
        "# Zephyr bridge\nThe Zephyr bridge moves tokens between mainnet and Base. Its migration \
         needs the guardian multisig and a 48-hour notice to the community.\n",
    )
    .expect("write");
    ask().await.expect("send");
    settle(&company).await;
    company.shutdown().await;

    let prompts = harness.prompts_of(&Role::Cto);
    assert_eq!(prompts.len(), 2);
    assert!(
        !context_section(&prompts[0]).contains("zephyr-bridge.md"),
        "not there before it was written"
    );
    let section = context_section(&prompts[1]);
    assert!(
        sources(section)
            .iter()
            .any(|source| source.starts_with("knowledge/tech/zephyr-bridge.md")),
        "found by the next session: {section}"
    );
    assert!(section.contains("48-hour notice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_section_never_exceeds_its_share_and_a_cut_is_marked() {
    let mut harness = Harness::new(vec![idle(Role::Cfo, "treasury")]);
    // A small prompt: the context share is 2,000 characters, less than the matching passages.
    harness.settings.prompt_budget = 8_000;
    let folder = common::knowledge_copy();
    let knowledge = folder.path().join("knowledge");
    for n in 0..12 {
        std::fs::write(
            knowledge.join(format!("finance/treasury-note-{n}.md")),
            format!(
                "# Treasury note {n}\n{}\n",
                "The treasury multisig signed the monthly treasury transfer. ".repeat(12)
            ),
        )
        .expect("write");
    }
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(&knowledge)
        .with_clock(harness.clock);
    let company = harness.start(&[Role::Ceo, Role::Cfo], Arc::new(context));
    assign(
        &company,
        "cfo",
        json!({"title": "Summarise the treasury multisig transfers"}),
    )
    .await;
    company.shutdown().await;

    let prompts = harness.prompts_of(&Role::Cfo);
    let section = context_section(&prompts[0]);
    let share = harness.context_share();
    assert_eq!(share, 2_000);
    assert!(
        section.chars().count() <= share,
        "{} characters over a share of {share}",
        section.chars().count()
    );
    assert!(sources(section).len() >= 2, "{section}");
    assert!(
        section.contains("cut: ") || section.contains("omitted to fit"),
        "the cut is marked: {section}"
    );
}

/// An answer that does nothing, for a trigger of `role` mentioning `when`.
fn idle(role: Role, when: &str) -> aito_core::mock::ScriptedResponse {
    answer(role, when, json!({"summary": "noted", "actions": []}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_veto_cast_in_the_company_is_remembered_when_a_similar_decision_comes_back() {
    let propose = |season: &str| {
        json!({
            "summary": format!("Proposed token payments for the {season} campaign"),
            "actions": [{"type": "propose_decision", "data": {
                "tier": "minor",
                "title": format!("Pay influencers with tokens for the {season} campaign"),
                "description": "Eight influencers, paid in tokens."
            }}]
        })
    };
    let harness = Harness::new(vec![
        answer(Role::Cmo, "Plan the spring campaign", propose("spring")),
        answer(
            Role::Ceo,
            "for the spring campaign",
            json!({
                "summary": "Vetoed token payments",
                "actions": [{"type": "vote", "data": {"decisionId": "{{trigger.decisionId}}", "vote": "veto", "reason": "promoters are paid in stablecoins against an invoice, never in tokens"}}]
            }),
        ),
        answer(Role::Cmo, "Plan the summer campaign", propose("summer")),
    ]);
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_clock(harness.clock);
    let company = harness.start(&[Role::Ceo, Role::Cmo], Arc::new(context));
    for season in ["spring", "summer"] {
        assign(
            &company,
            "cmo",
            json!({"title": format!("Plan the {season} campaign")}),
        )
        .await;
    }
    company.shutdown().await;

    let prompts = harness.prompts_of(&Role::Ceo);
    let spring = prompts
        .iter()
        .find(|prompt| prompt.contains("for the spring campaign"))
        .expect("the CEO voted on the spring decision");
    assert!(
        !context_section(spring).contains("VETOED"),
        "nothing was vetoed yet"
    );
    let summer = prompts
        .iter()
        .find(|prompt| prompt.contains("for the summer campaign"))
        .expect("the CEO was asked about the summer decision");
    let section = context_section(summer);
    assert!(
        section.contains("Decision \"Pay influencers with tokens for the spring campaign\"")
            && section.contains("VETOED")
            && section.contains("never in tokens"),
        "the CEO sees its own veto and why: {section}"
    );
}
