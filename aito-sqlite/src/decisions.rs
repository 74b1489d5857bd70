//! Listings of decisions in the `decisions` table: by status, and windows of the newest.

use aito_core::decision::{Decision, DecisionStatus};
use aito_core::{AgentId, Role, StoreError};
use rusqlite::params;

use crate::queries as q;
use crate::store::{SqliteStore, decode};

impl SqliteStore {
    pub(crate) async fn decisions_inner(
        &self,
        status: Option<DecisionStatus>,
    ) -> Result<Vec<Decision>, StoreError> {
        let status = status.map(|status| status.as_str().to_owned());
        let rows: Vec<(i64, String)> = self
            .db
            .read(move |conn| {
                let map = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?));
                Ok(match status {
                    Some(status) => conn
                        .prepare_cached(q::DECISIONS_BY_STATUS)?
                        .query_map([status], map)?
                        .collect::<Result<Vec<_>, _>>()?,
                    None => conn
                        .prepare_cached(q::DECISIONS_ALL)?
                        .query_map([], map)?
                        .collect::<Result<Vec<_>, _>>()?,
                })
            })
            .await?;
        Ok(decisions_of(&rows))
    }

    pub(crate) async fn recent_decisions_inner(
        &self,
        status: DecisionStatus,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError> {
        let status = status.as_str().to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String)> = self
            .db
            .read(move |conn| {
                let map = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?));
                Ok(conn
                    .prepare_cached(q::DECISIONS_RECENT)?
                    .query_map(rusqlite::params![status, limit], map)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(decisions_of(&rows))
    }

    pub(crate) async fn recent_decisions_without_inner(
        &self,
        status: DecisionStatus,
        limit: usize,
        agent: AgentId,
        role: &Role,
    ) -> Result<Vec<Decision>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let status = status.as_str().to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // As the reviewers column holds it: a JSON string.
        let role = serde_json::Value::from(role.as_str()).to_string();
        let agent = agent.to_string();
        let rows: Vec<(i64, String)> = self
            .db
            .read(move |conn| {
                let map = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?));
                Ok(conn
                    .prepare_cached(q::DECISIONS_RECENT_WITHOUT)?
                    .query_map(params![status, limit, agent, role], map)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(decisions_of(&rows))
    }
}

/// Decodes `(version, doc)` rows of the decisions table. One document that does not decode must
/// not hide the others (nor stop the deadline checks that list them): it is left out and
/// reported.
fn decisions_of(rows: &[(i64, String)]) -> Vec<Decision> {
    rows.iter()
        .filter_map(|(version, doc)| match decode::<Decision>("decision", doc) {
            Ok(mut decision) => {
                decision.version = *version as u64;
                Some(decision)
            }
            Err(err) => {
                tracing::error!(error = %err, "a stored decision does not decode; left out");
                None
            }
        })
        .collect()
}
