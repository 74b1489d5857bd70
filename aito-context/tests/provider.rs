//! The provider on its own: visibility, ranking, updates, budget, storage and the operator's
//! search.

mod common;

use aito_context::{
    ContextConfig, IndexError, Ranking, Refresh, Storage, TantivyContext, Visibility, search_as,
};
use aito_core::context::{ContextQuery, Knowledge, Passage};
use aito_core::decision::{Decision, DecisionStatus, Tier, Transition, Vote, VoteChoice};
use aito_core::{AgentId, DecisionId, Role};
use chrono::{DateTime, Duration, Utc};
use common::{id, now};

fn query(role: Role, text: &str) -> ContextQuery {
    ContextQuery {
        agent: id(role.as_str()),
        role,
        text: text.to_owned(),
        budget_chars: 6_000,
    }
}

fn summary(role: Role, trigger: &str, text: &str) -> Knowledge {
    Knowledge::SessionSummary {
        agent: id(role.as_str()),
        role,
        trigger: trigger.to_owned(),
        summary: text.to_owned(),
    }
}

fn worker(role: Role, task: &str, result: &str) -> Knowledge {
    Knowledge::WorkerResult {
        agent: id(role.as_str()),
        role,
        task: task.to_owned(),
        result: result.to_owned(),
    }
}

fn texts(passages: &[Passage]) -> String {
    passages
        .iter()
        .map(|passage| format!("[{}] {}", passage.source, passage.text))
        .collect::<Vec<_>>()
        .join("\n")
}

fn search(context: &TantivyContext, role: Role, text: &str) -> Vec<Passage> {
    context.search(&query(role, text), now()).expect("search")
}

fn decision(title: &str, status: DecisionStatus, reason: &str, at: DateTime<Utc>) -> Decision {
    let mut decision = Decision {
        id: DecisionId::random(),
        proposer: id("cto"),
        proposer_role: Role::Cto,
        title: title.to_owned(),
        description: "Move the indexer to the new cluster.".to_owned(),
        options: Vec::new(),
        tier: Tier::Major,
        status: DecisionStatus::Pending,
        round: 1,
        reviewers: vec![Role::Ceo, Role::Dao],
        votes: Vec::new(),
        history: vec![Transition {
            at,
            from: None,
            to: DecisionStatus::Pending,
            round: 1,
            by: "cto".to_owned(),
            reason: "proposed as major".to_owned(),
        }],
        created_at: at,
        deadline: None,
        escalation: None,
        human: None,
        version: 1,
        outbox: Vec::new(),
    };
    let choice = if status == DecisionStatus::Revising {
        VoteChoice::Veto
    } else {
        VoteChoice::Approve
    };
    decision.votes.push(Vote {
        voter: id("ceo"),
        role: Role::Ceo,
        choice,
        reason: reason.to_owned(),
        at,
        round: 1,
    });
    decision.transition(status, at, "ceo", reason);
    decision
}

#[test]
fn summaries_and_worker_results_are_private_to_their_agent_and_the_overseers() {
    let context = TantivyContext::in_memory().expect("index");
    context
        .index(
            &summary(
                Role::Cto,
                "task: rotate the deployment keys",
                "Rotated the deployment keys after the audit",
            ),
            now(),
        )
        .expect("index");
    context
        .index(
            &worker(
                Role::Cto,
                "Scan the deployment keys",
                "Two deployment keys older than 90 days",
            ),
            now(),
        )
        .expect("index");
    let asked = "deployment keys";

    let cto = search(&context, Role::Cto, asked);
    assert!(
        cto.iter().any(|p| p.source.starts_with("summary:cto"))
            && cto.iter().any(|p| p.source.starts_with("worker:cto")),
        "the agent sees its own: {}",
        texts(&cto)
    );
    assert!(
        search(&context, Role::Cfo, asked).is_empty(),
        "another agent sees neither"
    );
    assert_eq!(
        search(&context, Role::Ceo, asked).len(),
        2,
        "the CEO oversees"
    );

    let strict = TantivyContext::in_memory()
        .expect("index")
        .with_visibility(Visibility::strict());
    strict
        .index(
            &summary(Role::Cto, "task: audit", "Rotated the deployment keys"),
            now(),
        )
        .expect("index");
    assert!(search(&strict, Role::Ceo, asked).is_empty());
    assert_eq!(search(&strict, Role::Cto, asked).len(), 1);

    // An impostor with the CTO's role but another id sees nothing private either.
    let impostor = ContextQuery {
        agent: AgentId::random(),
        ..query(Role::Cto, asked)
    };
    assert!(strict.search(&impostor, now()).expect("search").is_empty());
}

#[test]
fn knowledge_files_and_decisions_are_seen_by_every_agent() {
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(common::knowledge())
        .with_visibility(Visibility::strict());
    context
        .index(
            &Knowledge::Decision {
                decision: Box::new(decision(
                    "Migrate the indexer cluster",
                    DecisionStatus::Approved,
                    "worth it",
                    now(),
                )),
            },
            now(),
        )
        .expect("index");
    for role in [Role::Cfo, Role::Cmo, Role::Dao] {
        let passages = search(&context, role.clone(), "indexer cluster migration");
        assert!(
            passages.iter().any(|p| p.source.starts_with("decision:")),
            "{role}: {}",
            texts(&passages)
        );
        let passages = search(&context, role.clone(), "hardware security module keys");
        assert!(
            passages[0]
                .source
                .starts_with("knowledge/tech/security-policy.md"),
            "{role}: {}",
            texts(&passages)
        );
    }
}

#[test]
fn newer_entries_rank_above_older_ones_of_equal_relevance() {
    let context = TantivyContext::in_memory().expect("index");
    let old = now() - Duration::days(60);
    let recent = now() - Duration::days(1);
    let text = "Reconciled the stablecoin reserve against the custodian statements";
    context
        .index(
            &summary(Role::Cfo, "task: reserve check september", text),
            old,
        )
        .expect("index");
    context
        .index(
            &summary(Role::Cfo, "task: reserve check november", text),
            recent,
        )
        .expect("index");
    let passages = search(&context, Role::Cfo, "stablecoin reserve reconciliation");
    assert_eq!(passages.len(), 2, "{}", texts(&passages));
    let dated = |passage: &Passage| passage.source.split(' ').nth(1).map(str::to_owned);
    assert_eq!(
        dated(&passages[0]),
        Some(recent.format("%Y-%m-%d").to_string()),
        "{}",
        texts(&passages)
    );
    let ranking = Ranking::default();
    let expected = ranking.recency(Duration::days(60).num_seconds())
        / ranking.recency(Duration::days(1).num_seconds());
    let ratio = passages[1].score / passages[0].score;
    assert!(
        (ratio - expected).abs() < 1e-3,
        "BM25 ties; recency decides: {ratio} vs {expected}"
    );
    // Time is what the search is told, not the system clock: a year later they still tie on
    // relevance and the older one still ranks lower.
    let later = context
        .search(
            &query(Role::Cfo, "stablecoin reserve reconciliation"),
            now() + Duration::days(365),
        )
        .expect("search");
    assert!(later[0].score > later[1].score);
}

#[test]
fn a_passage_sharing_only_a_common_word_with_the_query_is_left_out() {
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(common::knowledge());
    let passages = search(&context, Role::Coo, "weekly meeting schedule for the team");
    assert!(
        passages[0]
            .source
            .starts_with("knowledge/ops/team-meetings.md"),
        "{}",
        texts(&passages)
    );
    assert!(
        !passages
            .iter()
            .any(|p| p.source.contains("token-burn-schedule.md")),
        "the burn schedule shares only \"schedule\": {}",
        texts(&passages)
    );
    assert!(
        search(&context, Role::Coo, "the and of with").is_empty(),
        "a query of common words finds nothing"
    );
}

#[test]
fn a_decision_is_replaced_by_its_latest_outcome() {
    let context = TantivyContext::in_memory().expect("index");
    let vetoed = decision(
        "Migrate the indexer cluster",
        DecisionStatus::Revising,
        "not before the audit",
        now() - Duration::days(2),
    );
    let mut approved = vetoed.clone();
    approved.round = 2;
    approved.votes.push(Vote {
        voter: id("ceo"),
        role: Role::Ceo,
        choice: VoteChoice::Approve,
        reason: "the audit passed".to_owned(),
        at: now(),
        round: 2,
    });
    approved.transition(
        DecisionStatus::Approved,
        now(),
        "ceo",
        "approved by ceo, dao",
    );
    for state in [&vetoed, &approved] {
        context
            .index(
                &Knowledge::Decision {
                    decision: Box::new(state.clone()),
                },
                now(),
            )
            .expect("index");
    }
    let passages = search(&context, Role::Cmo, "indexer cluster migration");
    assert_eq!(passages.len(), 1, "{}", texts(&passages));
    let text = &passages[0].text;
    assert!(text.contains("APPROVED (round 2)"), "{text}");
    assert!(
        text.contains("round 1: ceo VETOED: not before the audit")
            && text.contains("round 2: ceo approved: the audit passed"),
        "every round's votes and reasons: {text}"
    );
    assert_eq!(context.passages(), 1);
}

#[test]
fn passages_fit_the_budget_and_a_cut_is_marked() {
    let context = TantivyContext::in_memory().expect("index");
    for n in 0..10 {
        context
            .index(
                &worker(
                    Role::Cfo,
                    &format!("Fetch exchange volume, part {n}"),
                    &"Exchange volume was steady across the venues. ".repeat(20),
                ),
                now(),
            )
            .expect("index");
    }
    for budget in [300, 1_000, 2_500] {
        let query = ContextQuery {
            budget_chars: budget,
            ..query(Role::Cfo, "exchange volume")
        };
        let passages = context.search(&query, now()).expect("search");
        let used: usize = passages.iter().map(Passage::prompt_chars).sum();
        assert!(used <= budget, "{used} > {budget}");
        assert!(!passages.is_empty());
        assert!(
            passages.last().is_some_and(|p| p
                .text
                .contains("more passages omitted to fit the context budget")),
            "{}",
            texts(&passages)
        );
    }
}

#[test]
fn knowledge_folders_are_updated_incrementally() {
    let folder = common::knowledge_copy();
    let knowledge = folder.path().join("knowledge");
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(&knowledge);
    let first = context.refresh().expect("refresh");
    assert_eq!(
        first,
        Refresh {
            indexed: 31,
            removed: 0,
            unchanged: 0
        }
    );
    assert_eq!(
        context.refresh().expect("refresh").indexed,
        0,
        "nothing changed"
    );

    std::fs::write(
        knowledge.join("ops/travel-policy.md"),
        "# Travel policy\nTrains for trips under six hours; no flights.\n",
    )
    .expect("write");
    std::fs::remove_file(knowledge.join("ops/vendors.md")).expect("remove");
    std::fs::write(knowledge.join("ops/notes.bin"), "not indexed").expect("write");
    let second = context.refresh().expect("refresh");
    assert_eq!(
        second,
        Refresh {
            indexed: 1,
            removed: 1,
            unchanged: 29
        },
        "only the changed file is read again"
    );
    let travel = search(&context, Role::Coo, "travel policy flights trains");
    assert!(
        travel[0].text.contains("Trains for trips under six hours"),
        "{}",
        texts(&travel)
    );
    assert!(
        !texts(&travel).contains("Economy class"),
        "the old text is gone"
    );
    assert!(
        !texts(&search(
            &context,
            Role::Coo,
            "preferred vendors second quote"
        ))
        .contains("vendors.md"),
        "a removed file is forgotten"
    );
}

#[test]
fn a_file_too_large_to_index_is_left_out_with_its_old_passages() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("dump.md");
    std::fs::write(
        &file,
        "# Exchange volumes\nDaily exchange volumes, summarised.\n",
    )
    .expect("write");
    let context = TantivyContext::in_memory()
        .expect("index")
        .with_knowledge(folder.path());
    assert_eq!(context.refresh().expect("refresh").indexed, 1);
    std::fs::write(&file, "exchange volumes ".repeat(300_000)).expect("write");
    let refresh = context.refresh().expect("refresh");
    assert_eq!((refresh.indexed, refresh.removed), (0, 1), "{refresh:?}");
    assert!(search(&context, Role::Cfo, "exchange volumes daily").is_empty());
    assert_eq!(context.refresh().expect("refresh"), Refresh::default());
}

#[test]
fn an_index_on_disk_survives_a_restart_and_rereads_only_changed_files() {
    let data = tempfile::tempdir().expect("tempdir");
    let folder = common::knowledge_copy();
    let knowledge = folder.path().join("knowledge");
    let dir = data.path().join("context");
    {
        let context = TantivyContext::open(&dir)
            .expect("open")
            .with_knowledge(&knowledge);
        assert_eq!(context.refresh().expect("refresh").indexed, 31);
        context
            .index(
                &summary(
                    Role::Cfo,
                    "task: runway",
                    "Runway is 31 months at the current burn",
                ),
                now(),
            )
            .expect("index");
        context.commit().expect("commit");
        assert!(matches!(
            TantivyContext::open(&dir),
            Err(IndexError::Locked { .. })
        ));
        let reader = TantivyContext::open_read_only(&dir).expect("read-only");
        assert!(reader.is_read_only());
        assert!(
            !search(&reader, Role::Cfo, "runway months").is_empty(),
            "a read-only view sees what the writer committed"
        );
        assert!(matches!(
            reader.index(&summary(Role::Cfo, "x", "y"), now()),
            Err(IndexError::ReadOnly)
        ));
        // Not committed yet: dropping the provider commits it.
        context
            .index(
                &summary(
                    Role::Cfo,
                    "task: payroll",
                    "Payroll moves to the 25th from January",
                ),
                now(),
            )
            .expect("index");
    }
    std::fs::write(
        knowledge.join("company/mission.md"),
        "# Mission\nOpen payment rails for street vendors.\n",
    )
    .expect("write");
    let context = TantivyContext::open(&dir)
        .expect("reopen")
        .with_knowledge(&knowledge);
    assert_eq!(
        context.refresh().expect("refresh"),
        Refresh {
            indexed: 1,
            removed: 0,
            unchanged: 30
        }
    );
    let passages = search(&context, Role::Cfo, "runway months");
    assert!(
        passages[0].text.contains("Runway is 31 months"),
        "{}",
        texts(&passages)
    );
    let mission = search(&context, Role::Cfo, "mission payment rails");
    assert_eq!(
        mission
            .iter()
            .filter(|p| p.source.contains("mission.md"))
            .count(),
        1,
        "the changed file replaced its passages: {}",
        texts(&mission)
    );
    assert!(mission[0].text.contains("street vendors"));
    assert!(
        texts(&search(&context, Role::Cfo, "payroll date January")).contains("Payroll moves"),
        "what was written just before shutting down was kept"
    );
}

#[test]
fn writes_are_committed_in_the_background_within_a_moment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let context = TantivyContext::open(dir.path()).expect("open");
    context
        .index(
            &summary(
                Role::Cfo,
                "task: runway",
                "Runway is 31 months at the current burn",
            ),
            now(),
        )
        .expect("index");
    // Another process (the operator's search) sees only what is committed; nobody searches
    // this provider, so only the committer thread can commit it.
    let started = std::time::Instant::now();
    loop {
        let reader = TantivyContext::open_read_only(dir.path()).expect("read-only");
        if !search(&reader, Role::Cfo, "runway months").is_empty() {
            break;
        }
        assert!(
            started.elapsed() < aito_context::COMMIT_EVERY * 10,
            "not committed after {:?}",
            started.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn search_as_shows_what_an_agent_would_get() {
    let data = tempfile::tempdir().expect("tempdir");
    let config = ContextConfig {
        knowledge: vec!["knowledge".into()],
        storage: Storage::Disk,
        ..ContextConfig::default()
    };
    let base = common::knowledge()
        .parent()
        .expect("tests folder")
        .to_owned();
    let inspect = |role: Role| {
        search_as(
            &config,
            &base,
            data.path(),
            &query(role, "Check the token burn schedule"),
            now(),
        )
        .expect("search")
    };
    let cfo = inspect(Role::Cfo);
    assert!(!cfo.read_only);
    assert!(cfo.indexed >= 31);
    let shown = cfo.render();
    assert!(
        shown.starts_with("CFO would get ")
            && shown.contains("1. [knowledge/finance/token-burn-schedule.md § Token burn schedule")
            && shown.contains("score ")
            && shown.contains("   On the first business day"),
        "{shown}"
    );
    assert!(
        data.path().join("context").is_dir(),
        "the index is under the data directory"
    );

    // While a company holds the index, the operator still gets an answer, read-only.
    let running = config
        .build(&base, data.path(), aito_core::Clock::starting_at(now()))
        .expect("company's provider");
    running
        .index(
            &summary(
                Role::Cfo,
                "task: burn",
                "Burned 41,000 tokens from the fee ledger",
            ),
            now(),
        )
        .expect("index");
    running.commit().expect("commit");
    let held = inspect(Role::Cfo);
    assert!(held.read_only);
    assert!(held.render().contains("read-only"));
    assert!(texts(&held.passages).contains("Burned 41,000 tokens"));
    assert!(
        !texts(&inspect(Role::Cmo).passages).contains("Burned 41,000 tokens"),
        "searching as another agent applies its visibility"
    );
}

#[tokio::test]
async fn backfill_loads_what_the_store_remembers_once() {
    use aito_core::directory::{AgentEntry, Directory};
    use aito_core::store::{HistoryEntry, Outcome, StateStore};

    let store = aito_core::MemoryStore::new();
    let directory = Directory::new([Role::Ceo, Role::Cfo, Role::Cmo].map(|role| AgentEntry {
        id: id(role.as_str()),
        role,
    }));
    let entry = |trigger: &str, summary: &str, outcome: Outcome| HistoryEntry {
        at: now() - Duration::days(3),
        trigger_id: format!("t-{trigger}"),
        trigger: trigger.to_owned(),
        outcome,
        summary: summary.to_owned(),
        actions: Vec::new(),
        cost_usd: 0.0,
        tokens: 0,
        duration_ms: 0,
        provider: None,
    };
    store
        .append_history(
            id("cfo"),
            &entry(
                "task from ceo: runway",
                "Runway is 31 months at the current burn",
                Outcome::Handled,
            ),
            100,
        )
        .await
        .expect("history");
    store
        .append_history(
            id("cfo"),
            &entry(
                "task from ceo: payroll",
                "the model failed three times",
                Outcome::DeadLettered,
            ),
            100,
        )
        .await
        .expect("history");
    let vetoed = decision(
        "Migrate the indexer cluster",
        DecisionStatus::Revising,
        "not before the audit",
        now() - Duration::days(2),
    );
    store.create_decision(&vetoed).await.expect("decision");
    let pending = decision(
        "Open an office in Lisbon",
        DecisionStatus::Pending,
        "",
        now(),
    );
    store.create_decision(&pending).await.expect("decision");

    let context = TantivyContext::in_memory().expect("index");
    // Observed before the restart of an on-disk index, or by a running company: the same.
    context
        .index(
            &summary(
                Role::Cfo,
                "task from ceo: runway",
                "Runway is 31 months at the current burn",
            ),
            now() - Duration::days(3),
        )
        .expect("index");
    let report = context
        .backfill(&store, &directory, 100)
        .await
        .expect("backfill");
    assert_eq!(
        report,
        aito_context::Backfill {
            summaries: 1,
            decisions: 1
        },
        "handled sessions and decisions with an outcome"
    );
    assert_eq!(
        context.passages(),
        2,
        "the observed summary was not doubled"
    );
    context
        .backfill(&store, &directory, 100)
        .await
        .expect("backfill again");
    assert_eq!(context.passages(), 2, "a second backfill changes nothing");

    let cfo = search(&context, Role::Cfo, "runway months burn");
    assert!(
        texts(&cfo).contains("Runway is 31 months"),
        "{}",
        texts(&cfo)
    );
    assert!(
        search(&context, Role::Cmo, "runway months burn").is_empty(),
        "still private to the CFO"
    );
    assert!(
        texts(&search(&context, Role::Cmo, "indexer cluster migration")).contains("VETOED"),
        "decisions are company-wide"
    );
}
