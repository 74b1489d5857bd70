//! A decision document that does not decode is left out of listings, so the others (and the
//! deadline checks that list them) carry on.

mod common;

use aito_core::decision::{Decision, DecisionStatus, Tier};
use aito_core::{AgentId, DecisionId, Role, StateStore};
use aito_redis::RedisStateStore;
use chrono::Utc;
use common::{RedisServer, init_tracing};

fn pending(title: &str) -> Decision {
    Decision {
        id: DecisionId::random(),
        proposer: AgentId::random(),
        proposer_role: Role::Cto,
        title: title.into(),
        description: "x".into(),
        options: vec![],
        tier: Tier::Minor,
        status: DecisionStatus::Pending,
        round: 1,
        reviewers: vec![Role::Ceo],
        votes: vec![],
        history: vec![],
        created_at: Utc::now(),
        deadline: Some(Utc::now()),
        escalation: None,
        human: None,
        version: 0,
        outbox: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_undecodable_decision_does_not_hide_the_others() {
    init_tracing();
    let server = RedisServer::start();
    let config = server.config();
    let store = RedisStateStore::connect(config.clone())
        .await
        .expect("connect");
    let (good, bad) = (pending("Rename the repo"), pending("Broken"));
    store.create_decision(&good).await.unwrap();
    store.create_decision(&bad).await.unwrap();
    server.cli(&[
        "HSET",
        // The key layout's company hash tag is the prefix without its colon.
        &format!(
            "{}{{{}}}:decision:{}",
            config.prefix,
            config.prefix.trim_end_matches(':'),
            bad.id
        ),
        "doc",
        "{not json",
    ]);
    let listed = store
        .decisions(Some(DecisionStatus::Pending))
        .await
        .expect("the listing works");
    let ids: Vec<_> = listed.iter().map(|decision| decision.id).collect();
    assert_eq!(ids, vec![good.id]);
    assert!(
        store.decision(bad.id).await.is_err(),
        "the bad one is reported"
    );
}
