//! Budget counters (`counter:<key>`): `INCRBYFLOAT`, with the time to live set when the counter
//! is created (`lua/counter_add.lua`).

use std::time::Duration;

use super::{RedisStateStore, millis};
use crate::error::Error;

fn parse(key: &str, text: &str) -> Result<f64, Error> {
    text.trim().parse().map_err(|_| Error::Corrupt {
        key: key.to_owned(),
        reason: format!("expected a number, found {text:?}"),
    })
}

impl RedisStateStore {
    pub(super) async fn add_to_counter_inner(
        &self,
        key: &str,
        amount: f64,
        ttl: Duration,
    ) -> Result<f64, Error> {
        let key = self.keys.counter(key);
        let value: String = self
            .scripts
            .counter_add
            .key(&key)
            .arg(amount.to_string())
            .arg(millis(ttl))
            .invoke_async(&mut self.connection())
            .await?;
        parse(&key, &value)
    }

    pub(super) async fn counter_inner(&self, key: &str) -> Result<f64, Error> {
        let key = self.keys.counter(key);
        let value: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut self.connection())
            .await?;
        value.map_or(Ok(0.0), |value| parse(&key, &value))
    }
}
