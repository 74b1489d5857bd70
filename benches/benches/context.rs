//! The built-in context provider on an index of 10,000 passages, in memory and on disk:
//! - a prompt's query (nothing pending);
//! - indexing one new session summary as `observe` does (the commit is batched);
//! - the same until it is committed and searchable (commit and reader reload; on disk, the
//!   files synced), the cost a search pays first when something was observed since the last
//!   commit, or the committer thread pays in the background.
//!
//! The passages are session summaries, worker results and decisions of seven agents, written
//! from a vocabulary of company words with a skewed (Zipf-like) word frequency, as real text
//! has. `AITO_BENCH_PASSAGES` changes the count (default 10000).
//!
//! Run: `cargo bench -p aito-benches --bench context`

#![allow(missing_docs)]

use std::time::Duration;

use aito_context::TantivyContext;
use aito_core::context::{ContextQuery, Knowledge};
use aito_core::{AgentId, Role};
use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion};

/// Words companies write about, most frequent first; rarer synthetic words follow.
const WORDS: &str = "the treasury token burn schedule budget decision vote veto approve \
    proposal community campaign launch release audit contract multisig wallet stablecoin reserve \
    runway report monthly quarterly weekly team hiring meeting partner exchange listing volume \
    liquidity price fee ledger invoice payment marketing social post thread telegram discord \
    ambassador event hackathon conference booth travel security key incident bug bounty deploy \
    indexer cluster migration bridge mainnet base gas governance snapshot quorum proposal dao \
    ceo cto cfo cmo coo cco legal compliance kyc terms vendor hosting cloud region backup \
    monitoring alert latency uptime dashboard metric growth user merchant onboarding support \
    ticket roadmap milestone sprint review plan strategy risk forecast revenue cost expense";

struct Words {
    words: Vec<String>,
    state: u64,
}

impl Words {
    fn new() -> Self {
        let mut words: Vec<String> = WORDS.split_whitespace().map(str::to_owned).collect();
        words.extend((0..4_000).map(|n| format!("term{n}")));
        Self {
            words,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, so every run indexes the same text.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A word, Zipf-like: the first words are far more frequent than the last.
    fn word(&mut self) -> &str {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let rank = ((self.words.len() as f64).powf(unit) - 1.0) as usize;
        &self.words[rank.min(self.words.len() - 1)]
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| self.word().to_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

const ROLES: [Role; 7] = [
    Role::Ceo,
    Role::Dao,
    Role::Cmo,
    Role::Cto,
    Role::Cfo,
    Role::Coo,
    Role::Cco,
];

fn agent(role: &Role) -> AgentId {
    AgentId::derived("bench", role.as_str())
}

/// `count` summaries and worker results of the seven agents over the last 90 days.
fn history(count: usize, now: DateTime<Utc>) -> Vec<(Knowledge, DateTime<Utc>)> {
    let mut words = Words::new();
    (0..count)
        .map(|n| {
            let role = ROLES[n % ROLES.len()].clone();
            let at = now - chrono::Duration::minutes((n as i64 * 13) % (90 * 24 * 60));
            let knowledge = if n % 4 == 3 {
                Knowledge::WorkerResult {
                    agent: agent(&role),
                    role,
                    task: words.sentence(8),
                    result: words.sentence(70),
                }
            } else {
                Knowledge::SessionSummary {
                    agent: agent(&role),
                    role,
                    trigger: format!("task from ceo: {}", words.sentence(6)),
                    summary: words.sentence(45),
                }
            };
            (knowledge, at)
        })
        .collect()
}

fn filled(context: TantivyContext, count: usize, now: DateTime<Utc>) -> TantivyContext {
    let items = history(count, now);
    context
        .index_all(items.iter().map(|(knowledge, at)| (knowledge, *at)))
        .expect("index");
    assert_eq!(context.passages(), count as u64);
    context
}

fn main() {
    let count: usize = std::env::var("AITO_BENCH_PASSAGES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().expect("time");
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();

    let memory = filled(TantivyContext::in_memory().expect("index"), count, now);
    let query = |role: Role| ContextQuery {
        agent: agent(&role),
        role,
        text: "Review the token burn schedule for the quarterly report: check the treasury \
               multisig wallet, the fee ledger and the stablecoin reserve before the vote"
            .to_owned(),
        budget_chars: 5_958,
    };
    let found = memory.search(&query(Role::Cfo), now).expect("search");
    assert!(!found.is_empty(), "the query finds passages");
    eprintln!(
        "context bench: {} passages indexed; the CFO's query returns {} passages",
        memory.passages(),
        found.len()
    );
    criterion.bench_function("context/query_10k/cfo_with_visibility_filter", |b| {
        b.iter(|| memory.search(&query(Role::Cfo), now).expect("search"))
    });
    criterion.bench_function("context/query_10k/ceo_sees_all", |b| {
        b.iter(|| memory.search(&query(Role::Ceo), now).expect("search"))
    });

    let mut words = Words::new();
    let mut summary = || Knowledge::SessionSummary {
        agent: agent(&Role::Cfo),
        role: Role::Cfo,
        trigger: format!("task from ceo: {}", words.sentence(6)),
        summary: words.sentence(45),
    };
    criterion.bench_function("context/index_summary_10k/memory", |b| {
        b.iter_batched(
            &mut summary,
            |knowledge| memory.index(&knowledge, now).expect("index"),
            BatchSize::SmallInput,
        )
    });
    criterion.bench_function("context/index_summary_10k/memory_until_searchable", |b| {
        b.iter_batched(
            &mut summary,
            |knowledge| {
                memory.index(&knowledge, now).expect("index");
                memory.commit().expect("commit");
            },
            BatchSize::SmallInput,
        )
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let disk = filled(TantivyContext::open(dir.path()).expect("open"), count, now);
    criterion.bench_function("context/query_10k/cfo_on_disk", |b| {
        b.iter(|| disk.search(&query(Role::Cfo), now).expect("search"))
    });
    criterion.bench_function("context/index_summary_10k/disk", |b| {
        b.iter_batched(
            &mut summary,
            |knowledge| disk.index(&knowledge, now).expect("index"),
            BatchSize::SmallInput,
        )
    });
    criterion.bench_function("context/index_summary_10k/disk_until_committed", |b| {
        b.iter_batched(
            &mut summary,
            |knowledge| {
                disk.index(&knowledge, now).expect("index");
                disk.commit().expect("commit");
            },
            BatchSize::SmallInput,
        )
    });
    criterion.final_summary();
}
