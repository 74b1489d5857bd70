//! The test kit: contract tests that every [`Bus`](crate::Bus) and
//! [`StateStore`](crate::StateStore) adapter must pass, written once.
//!
//! Run them from an adapter's tests with [`bus_contract_tests!`](crate::bus_contract_tests) and
//! [`store_contract_tests!`](crate::store_contract_tests), which expand to one `#[tokio::test]`
//! per guarantee, each on a fresh adapter from the factory you give:
//!
//! ```text
//! aito_core::bus_contract_tests!(async { my_adapter::connect_fresh().await });
//! aito_core::store_contract_tests!(async { my_adapter::fresh_store().await });
//! ```

pub mod bus_contract;
pub mod faults;
pub mod store_contract;

use std::future::Future;
use std::time::Duration;

/// How long a contract test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `future` for at most [`PATIENCE`], panicking with `what` when it takes longer.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}

/// Expands to one `#[tokio::test]` per bus guarantee. The argument is an expression that
/// evaluates to a future returning something that derefs to a `Bus` (e.g. `Arc<dyn Bus>`).
#[macro_export]
macro_rules! bus_contract_tests {
    ($make:expr) => {
        $crate::__contract_tests!(bus_contract, $make;
            inbox_keeps_envelopes_until_a_subscriber_comes,
            acked_deliveries_are_not_redelivered,
            unacked_deliveries_are_redelivered_to_the_next_subscription,
            one_channel_keeps_publication_order,
            group_channels_give_each_group_one_copy,
            head_and_clevel_reach_their_subscribers,
            live_channels_reach_current_subscribers_only,
            envelopes_arrive_intact,
            a_thousand_envelopes_arrive_exactly_once,
            a_new_group_gets_what_was_published_before_it_subscribed,
            envelopes_over_the_cap_are_refused,
        );
    };
}

/// Expands to one `#[tokio::test]` per store guarantee. The argument is an expression that
/// evaluates to a future returning something that derefs to a `StateStore`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::__contract_tests!(store_contract, $make;
            state_starts_at_version_zero_and_cas_rejects_stale_writes,
            concurrent_compare_and_set_loses_no_update,
            history_is_bounded_and_ordered,
            decisions_are_versioned_and_listed_by_status,
            recent_decisions_are_the_newest_of_their_status,
            recent_decisions_without_leave_out_the_agents_own,
            idempotency_marks_are_set_once_and_expire,
            leases_have_one_holder_and_lapse,
            writes_of_an_ended_lease_term_are_refused,
            counters_add_and_expire,
            values_are_set_read_and_deleted,
            logs_are_bounded_and_ordered,
            dead_letters_are_kept_per_agent,
            statuses_are_listed,
            finishing_a_trigger_is_atomic_and_idempotent,
            tasks_are_versioned_and_closed_ones_leave_the_open_index,
            concurrent_task_updates_lose_no_change,
            budget_holds_are_atomic_and_lapse,
            bookings_are_made_once,
            the_holder_of_a_lease_is_named,
            sessions_are_bounded_per_agent_and_found_by_trigger,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($module:ident, $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let adapter = $make.await;
                $crate::testkit::$module::$name(&*adapter).await;
            }
        )*
    };
}
