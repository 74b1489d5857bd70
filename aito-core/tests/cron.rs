//! Cron schedules on tokio's paused clock.

mod common;

use std::time::Duration;

use aito_core::{AgentSpec, Budget, Role};
use common::Harness;

#[tokio::test(start_paused = true)]
async fn a_five_minute_schedule_fires_exactly_at_the_expected_minutes() {
    let mut harness = Harness::new(vec![]);
    // 10:01:30: the next ticks are 10:05, 10:10, 10:15.
    harness.clock = aito_core::Clock::starting_at("2026-11-24T10:01:30Z".parse().unwrap());
    let agent = AgentSpec::new(Role::Coo)
        .schedules(["*/5 * * * *"])
        .expect("schedule")
        .budget(Budget::unlimited());
    let company = harness.company(vec![agent]).start().expect("start");
    tokio::time::sleep(Duration::from_secs(16 * 60)).await;

    let history = harness.history("coo").await;
    let at: Vec<String> = history
        .iter()
        .map(|entry| entry.at.format("%H:%M:%S").to_string())
        .collect();
    assert_eq!(at, ["10:05:00", "10:10:00", "10:15:00"]);
    assert!(
        history[0]
            .trigger
            .starts_with("schedule */5 * * * * at 2026-11-24 10:05"),
        "{}",
        history[0].trigger
    );
    assert!(
        harness.llm.requests()[0]
            .prompt
            .contains("You were woken by: scheduled")
    );
    company.shutdown().await;
}
