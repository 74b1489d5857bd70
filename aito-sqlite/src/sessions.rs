//! Session records in the `sessions` table: one row per agent and trigger, the newest of each
//! agent kept.

use aito_core::session::SessionRecord;
use aito_core::{AgentId, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::queries as q;
use crate::store::{SqliteStore, decode, encode, limit};

impl SqliteStore {
    pub(crate) async fn put_session_inner(
        &self,
        record: &SessionRecord,
        keep: usize,
    ) -> Result<(), StoreError> {
        let text = encode(&format!("sessions:{}", record.agent), record)?;
        let (agent, trigger) = (record.agent.to_string(), record.trigger_id.clone());
        self.db
            .write(move |conn| {
                conn.prepare_cached(q::SESSION_PUT)?
                    .execute(params![agent, trigger, text])?;
                conn.prepare_cached(q::SESSIONS_TRIM)?
                    .execute(params![agent, limit(keep)])?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    pub(crate) async fn sessions_inner(
        &self,
        agent: AgentId,
        limit_to: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let key = agent.to_string();
        let rows: Vec<String> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::SESSIONS_READ)?
                    .query_map(params![key, limit(limit_to)], |row| row.get(0))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let name = format!("sessions:{agent}");
        rows.iter()
            .rev()
            .map(|text| decode(&name, text).map_err(StoreError::from))
            .collect()
    }

    pub(crate) async fn session_inner(
        &self,
        agent: AgentId,
        trigger_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (key, trigger) = (agent.to_string(), trigger_id.to_owned());
        let row: Option<String> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::SESSION_GET)?
                    .query_row(params![key, trigger], |row| row.get(0))
                    .optional()?)
            })
            .await?;
        row.map(|text| decode(&format!("sessions:{agent}"), &text).map_err(StoreError::from))
            .transpose()
    }
}
