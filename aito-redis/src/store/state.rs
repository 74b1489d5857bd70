//! Agent state documents: a hash `{v, doc}` per agent, written by compare-and-set
//! (`lua/state_cas.lua`).

use aito_core::store::{AgentState, Versioned};
use aito_core::{AgentId, StoreError};

use super::{RedisStateStore, decode, encode};
use crate::error::Error;

impl RedisStateStore {
    pub(super) async fn load_state_inner(
        &self,
        agent: AgentId,
    ) -> Result<Versioned<AgentState>, Error> {
        let key = self.keys.state(agent);
        let (version, doc): (Option<u64>, Option<String>) = redis::cmd("HMGET")
            .arg(&key)
            .arg("v")
            .arg("doc")
            .query_async(&mut self.connection())
            .await?;
        match (version, doc) {
            (Some(version), Some(doc)) => Ok(Versioned {
                value: decode(&key, &doc)?,
                version,
            }),
            _ => Ok(Versioned {
                value: AgentState::default(),
                version: 0,
            }),
        }
    }

    pub(super) async fn save_state_inner(
        &self,
        agent: AgentId,
        state: &AgentState,
        expected: u64,
    ) -> Result<u64, StoreError> {
        let key = self.keys.state(agent);
        let doc = encode(&key, state)?;
        let (written, version): (i64, u64) = self
            .scripts
            .state_cas
            .key(&key)
            .arg(expected)
            .arg(doc)
            .invoke_async(&mut self.connection())
            .await?;
        if written == 1 {
            Ok(version)
        } else {
            Err(StoreError::Conflict {
                key: format!("state:{agent}"),
                expected,
                found: version,
            })
        }
    }
}
