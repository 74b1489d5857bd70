//! Response parsing: extracting and decoding a 10 KB fenced answer with prose around it,
//! beside `serde_json::from_str` on the same JSON without the prose.
//!
//! Run: `cargo bench -p aito-benches --bench parse`.

#![allow(missing_docs)]

use aito_core::parse_response;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

/// A realistic answer of about 10 KB: a few actions, messages, one long file.
fn answer_json() -> String {
    let plan = "Step: migrate one service, measure, then the next. ".repeat(170);
    let value = json!({
        "summary": "Planned the migration and asked for the budget",
        "actions": [
            {"type": "spawn_worker", "data": {"task": "Inventory the services and their owners", "servers": ["github"], "timeout": 60000}},
            {"type": "propose_decision", "data": {"tier": "major", "title": "Migrate to Rust", "description": "Six services over two quarters", "options": ["all at once", "one by one"]}},
            {"type": "operational", "data": {"title": "Plan", "files": [{"path": "docs/migration.md", "content": plan}], "commit": "Add the migration plan"}},
            {"type": "create_task", "data": {"assignTo": "cfo", "title": "Budget the migration", "description": "Two engineers for two quarters", "priority": "high"}}
        ],
        "messages": [
            {"to": "ceo", "content": "The plan is in docs/migration.md", "priority": "normal"},
            {"to": "clevel", "content": "Heads-up: migration starts next week", "type": "broadcast"}
        ],
        "stateUpdates": {"current_focus": "migration", "services_left": 6}
    });
    serde_json::to_string_pretty(&value).expect("json")
}

fn parse(c: &mut Criterion) {
    let json = answer_json();
    let prose_before = "I reviewed the state, the open decisions and the history. The migration is the most valuable thing I can start this week, so here is what I will do.\n\n";
    let prose_after = "\n\nI will report back once the inventory worker has finished.";
    let text = format!("{prose_before}```json\n{json}\n```{prose_after}");
    assert!(text.len() >= 10_000, "answer is {} bytes", text.len());
    let mut group = c.benchmark_group("parse_10kb");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_response_fenced_with_prose", |b| {
        b.iter(|| parse_response(std::hint::black_box(&text)).expect("parse"));
    });
    group.bench_function("serde_json_from_str_bare", |b| {
        b.iter(|| serde_json::from_str::<Value>(std::hint::black_box(&json)).expect("json"));
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
