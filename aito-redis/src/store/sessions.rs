//! Session records of each agent: a hash `sessions:{<agent>}` of trigger id to record and a
//! list `sessions:order:{<agent>}` of the trigger ids, oldest first, both in the agent's slot
//! and written together by `lua/session_put.lua`, which also drops the oldest beyond the bound.

use aito_core::AgentId;
use aito_core::session::SessionRecord;

use super::{RedisStateStore, decode, encode};
use crate::error::Error;

impl RedisStateStore {
    pub(super) async fn put_session_inner(
        &self,
        record: &SessionRecord,
        keep: usize,
    ) -> Result<(), Error> {
        let key = self.keys.sessions(record.agent);
        let text = encode(&key, record)?;
        let _: i64 = self
            .scripts
            .session_put
            .key(&key)
            .key(self.keys.session_order(record.agent))
            .arg(keep)
            .arg(&record.trigger_id)
            .arg(text)
            .invoke_async(&mut self.connection())
            .await?;
        Ok(())
    }

    pub(super) async fn sessions_inner(
        &self,
        agent: AgentId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let from = -i64::try_from(limit).unwrap_or(i64::MAX);
        let ids: Vec<String> = redis::cmd("LRANGE")
            .arg(self.keys.session_order(agent))
            .arg(from)
            .arg(-1)
            .query_async(&mut self.connection())
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.keys.sessions(agent);
        let texts: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(&ids)
            .query_async(&mut self.connection())
            .await?;
        texts
            .iter()
            .flatten()
            .map(|text| decode(&key, text))
            .collect()
    }

    pub(super) async fn session_inner(
        &self,
        agent: AgentId,
        trigger_id: &str,
    ) -> Result<Option<SessionRecord>, Error> {
        let key = self.keys.sessions(agent);
        let text: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(trigger_id)
            .query_async(&mut self.connection())
            .await?;
        text.map(|text| decode(&key, &text)).transpose()
    }
}
