//! Free-form JSON values (`value:<key>`, optional time to live) and agent statuses (one hash,
//! `status`, agent id to JSON).

use std::time::Duration;

use aito_core::store::AgentStatus;
use serde_json::Value;

use super::{RedisStateStore, decode, encode, millis};
use crate::error::Error;

impl RedisStateStore {
    pub(super) async fn get_value_inner(&self, key: &str) -> Result<Option<Value>, Error> {
        let key = self.keys.value(key);
        let text: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut self.connection())
            .await?;
        text.map(|text| decode(&key, &text)).transpose()
    }

    pub(super) async fn set_value_inner(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        let key = self.keys.value(key);
        let text = encode(&key, value)?;
        let mut command = redis::cmd("SET");
        command.arg(&key).arg(text);
        if let Some(ttl) = ttl {
            command.arg("PX").arg(millis(ttl));
        }
        let _: () = command.query_async(&mut self.connection()).await?;
        Ok(())
    }

    pub(super) async fn delete_value_inner(&self, key: &str) -> Result<(), Error> {
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.value(key))
            .query_async(&mut self.connection())
            .await?;
        Ok(())
    }

    pub(super) async fn put_status_inner(&self, status: &AgentStatus) -> Result<(), Error> {
        let key = self.keys.statuses();
        let text = encode(&key, status)?;
        let _: i64 = redis::cmd("HSET")
            .arg(&key)
            .arg(status.id.to_string())
            .arg(text)
            .query_async(&mut self.connection())
            .await?;
        Ok(())
    }

    pub(super) async fn statuses_inner(&self) -> Result<Vec<AgentStatus>, Error> {
        let key = self.keys.statuses();
        let all: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut self.connection())
            .await?;
        let mut statuses = all
            .iter()
            .map(|(_, text)| decode::<AgentStatus>(&key, text))
            .collect::<Result<Vec<_>, _>>()?;
        statuses.sort_by_key(|status| status.id);
        Ok(statuses)
    }
}
