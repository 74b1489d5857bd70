//! The soak: seven `aito agent` daemons (one process per role) on a private `redis-server`
//! with its append-only file, 10,000 messages (`AITO_SOAK_MESSAGES` for another count), one in
//! twenty answered by the model with a failure (garbage, a hung call, a 500, a 429; in turn),
//! and Redis killed and started again halfway. It checks and prints: messages lost, messages
//! handled twice, dead letters and their reasons, the spend booked against the sum of the
//! sessions' costs, and each daemon's resident memory after warm-up and at the end.
//!
//! It takes minutes, so it is ignored by `cargo test`; run it with
//! `cargo test -p aito-bin --test soak -- --ignored --nocapture` (docs/reliability.md).

mod binary;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aito_mock_api::{ApiError, Message, Recorded, Reply, Usage};
use binary::eventually;
use binary::fleet::{Fleet, PRICES, ROLES, job_of};
use serde_json::json;

const INPUT_TOKENS: u64 = 1000;
const OUTPUT_TOKENS: u64 = 100;

/// What the model does with a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    Answer,
    Garbage,
    Hang,
    ServerError,
    RateLimit,
}

impl Fate {
    fn of(job: u64) -> Self {
        if job % 20 != 7 {
            return Fate::Answer;
        }
        match (job / 20) % 4 {
            0 => Fate::Garbage,
            1 => Fate::Hang,
            2 => Fate::ServerError,
            _ => Fate::RateLimit,
        }
    }

    /// What the reason of its dead letter says. A hung call and a 500 are retried with the
    /// daemon's backoff (the router's only provider is tried again, resting or not), so the
    /// reason says "failed 3 times" with the provider's last error.
    fn reason(self) -> &'static str {
        match self {
            Fate::Answer => "",
            Fate::Garbage => "the answer was unreadable twice",
            Fate::Hang => "model API unavailable: mock: the API sent nothing",
            Fate::ServerError => "model API unavailable (500)",
            Fate::RateLimit => "HTTP 429",
        }
    }
}

/// What the model stand-in served.
#[derive(Default)]
struct Served {
    /// Answers that carried token counts (and so a cost), all jobs.
    billed: u64,
    /// Readable answers per job.
    answers: HashMap<u64, u32>,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "minutes long: cargo test -p aito-bin --test soak -- --ignored --nocapture"]
fn ten_thousand_messages_through_seven_daemons_with_model_failures_and_a_redis_restart() {
    let total: u64 = std::env::var("AITO_SOAK_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let started = Instant::now();
    let mut fleet = Fleet::new();
    let served = Arc::new(Mutex::new(Served::default()));
    let log = Arc::clone(&served);
    fleet.api.respond_with(move |request: &Recorded| {
        let Some(job) = job_of(request) else {
            return Reply::Error(ApiError::new(400, "no job in the prompt"));
        };
        let usage = Usage {
            input_tokens: INPUT_TOKENS,
            output_tokens: OUTPUT_TOKENS,
            ..Usage::default()
        };
        let mut served = log.lock().expect("lock");
        match Fate::of(job) {
            Fate::Answer => {
                served.billed += 1;
                *served.answers.entry(job).or_insert(0) += 1;
                Reply::Message(
                    Message::text(
                        json!({"summary": format!("Finished order {job}"), "actions": []})
                            .to_string(),
                    )
                    .usage(usage),
                )
            }
            Fate::Garbage => {
                served.billed += 1;
                Reply::Message(
                    Message::text("<html><body>502 Bad Gateway</body></html> not json {{{")
                        .usage(usage),
                )
            }
            Fate::Hang => Reply::Hang,
            Fate::ServerError => Reply::Error(ApiError::new(500, "Internal server error")),
            Fate::RateLimit => {
                Reply::Error(ApiError::new(429, "rate limit exceeded").retry_after(1))
            }
        }
    });
    for role in ROLES {
        fleet.start(&[role]);
    }
    let pids: BTreeMap<&str, u32> = ROLES
        .iter()
        .map(|role| (*role, fleet.daemon(&[role]).child.id()))
        .collect();
    let finished = |fleet: &Fleet| -> Option<u64> {
        ROLES
            .iter()
            .map(|role| fleet.finished(role).map(|(done, _)| done))
            .sum()
    };

    // Fed as a steady load: at most fifty messages waiting per daemon.
    let mut sent: Vec<(u64, &str, aito_core::MessageId)> = Vec::new();
    let mut warm: Option<BTreeMap<&str, u64>> = None;
    let mut outage = None;
    for job in 0..total {
        let role = ROLES[usize::try_from(job).unwrap_or(0) % ROLES.len()];
        sent.push((
            job,
            role,
            fleet.send(role, job, &format!("Process order {job}")),
        ));
        if job % 70 == 69 {
            loop {
                let done = finished(&fleet).unwrap_or(0);
                if warm.is_none() && done >= total / 10 {
                    warm = Some(
                        pids.iter()
                            .map(|(role, pid)| (*role, rss_kib(*pid)))
                            .collect(),
                    );
                }
                if job + 1 - done.min(job + 1) <= 350 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if job % 1000 == 999 {
            eprintln!(
                "soak: {} messages sent, {} finished, {:.0} s",
                job + 1,
                finished(&fleet).unwrap_or(0),
                started.elapsed().as_secs_f64()
            );
        }
        if job == total / 2 {
            fleet.redis.kill();
            std::thread::sleep(Duration::from_secs(2));
            fleet.redis.restart();
            outage = Some(Instant::now());
            eprintln!(
                "soak: Redis killed and restarted after {} messages",
                job + 1
            );
        }
    }
    eventually(
        "every message to be finished",
        Duration::from_secs(3600),
        || (finished(&fleet) == Some(total)).then_some(()),
    );
    let warm = warm.unwrap_or_else(|| {
        pids.iter()
            .map(|(role, pid)| (*role, rss_kib(*pid)))
            .collect()
    });
    let end: BTreeMap<&str, u64> = pids
        .iter()
        .map(|(role, pid)| (*role, rss_kib(*pid)))
        .collect();
    let elapsed = started.elapsed();
    // Long enough for a copy to come, if one were coming.
    std::thread::sleep(Duration::from_secs(3));

    // Lost: no handled mark. Twice: more finished triggers than messages, or more than one
    // history entry for a message.
    let lost: Vec<u64> = sent
        .iter()
        .filter(|(_, role, message)| !fleet.handled(role, *message))
        .map(|(job, _, _)| *job)
        .collect();
    let expected_failures = (0..total)
        .filter(|job| Fate::of(*job) != Fate::Answer)
        .count() as u64;
    let mut successes = 0;
    let mut letters = Vec::new();
    for role in ROLES {
        let (_, ok) = fleet.finished(role).expect("state");
        successes += ok;
        letters.extend(fleet.dead_letters(role));
    }
    let finished_now = finished(&fleet).expect("state");
    let twice = finished_now.saturating_sub(total);
    let mut wrong_reasons = Vec::new();
    let mut by_fate: BTreeMap<String, u64> = BTreeMap::new();
    let mut dead_jobs = Vec::new();
    for letter in &letters {
        let job = letter
            .trigger
            .envelope()
            .and_then(|envelope| envelope.payload["job"].as_u64())
            .expect("a job in the dead letter's trigger");
        let fate = Fate::of(job);
        *by_fate.entry(format!("{fate:?}")).or_insert(0) += 1;
        dead_jobs.push(job);
        if fate == Fate::Answer || !letter.reason.contains(fate.reason()) {
            wrong_reasons.push(format!("job {job} ({fate:?}): {}", letter.reason));
        }
    }
    dead_jobs.sort_unstable();
    dead_jobs.dedup();
    let served = served.lock().expect("lock");
    let reasked = served.answers.values().filter(|n| **n > 1).count();
    let sessions_cost = served.billed as f64
        * (INPUT_TOKENS as f64 * PRICES.0 + OUTPUT_TOKENS as f64 * PRICES.1)
        / 1_000_000.0;
    let status = fleet.status();
    let booked = status["spend"]["today_usd"].as_f64().expect("spend");
    let growth: BTreeMap<&str, f64> = warm
        .iter()
        .map(|(role, before)| {
            let after = end[role];
            (
                *role,
                (after as f64 - *before as f64) / (*before).max(1) as f64,
            )
        })
        .collect();
    let worst = growth.values().copied().fold(f64::MIN, f64::max);

    println!(
        "soak: {total} messages through {} daemons in {:.0} s",
        ROLES.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "soak: Redis restarted after {} messages; the last message finished {:.0} s after it was back",
        total / 2 + 1,
        outage.map_or(0.0, |at| at.elapsed().as_secs_f64() - 3.0)
    );
    println!("soak: lost {}, handled twice {twice}", lost.len());
    println!(
        "soak: handled {successes}, dead-lettered {} of {expected_failures} injected failures ({by_fate:?}), wrong reasons {}",
        letters.len(),
        wrong_reasons.len()
    );
    println!("soak: readable answers asked for again after a restart: {reasked}");
    println!(
        "soak: spend booked ${booked:.4}, sum of session costs ${sessions_cost:.4} ({} billed answers)",
        served.billed
    );
    for (role, before) in &warm {
        println!(
            "soak: {role} RSS {before} KiB after warm-up, {} KiB at the end ({:+.1} %)",
            end[role],
            growth[role] * 100.0
        );
    }

    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(
        twice, 0,
        "finished {finished_now} triggers for {total} messages"
    );
    assert_eq!(successes + letters.len() as u64, total);
    assert_eq!(letters.len() as u64, expected_failures, "{by_fate:?}");
    assert_eq!(dead_jobs.len(), letters.len(), "a job dead-lettered twice");
    assert!(wrong_reasons.is_empty(), "{wrong_reasons:#?}");
    for role in ROLES {
        let mut seen = HashMap::new();
        for entry in fleet.history(role) {
            *seen.entry(entry.trigger_id).or_insert(0) += 1;
        }
        assert!(
            seen.values().all(|n| *n == 1),
            "{role}: a history entry twice"
        );
    }
    assert!(
        (booked - sessions_cost).abs() < 1e-6,
        "booked {booked}, sessions cost {sessions_cost}"
    );
    assert!(
        worst <= 0.2,
        "RSS grew by {:.1} % after warm-up",
        worst * 100.0
    );
}
