//! Test support: a `redis-server` of the test's own (see [`aito_redis::testing`]), and the
//! adapters paired with it.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::ops::Deref;

pub use aito_redis::testing::{Options, RedisServer};

/// An adapter together with the server it talks to; the adapter is dropped first.
pub struct Harness<T> {
    pub adapter: T,
    pub server: RedisServer,
}

impl<T> Deref for Harness<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.adapter
    }
}

/// Logs to the test's output (shown for failing tests); `RUST_LOG` filters.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("aito_redis=debug")),
        )
        .with_test_writer()
        .try_init();
}
