//! Decisions: a hash `{v, doc, status, score}` per decision, a sorted set of all decisions by
//! creation time and one per status. Creation and versioned updates are scripts
//! (`lua/decision_create.lua`, `lua/decision_update.lua`) that keep the indexes in step. All
//! of them are in the company's slot.

use aito_core::{Decision, DecisionId, DecisionStatus, StoreError};

use super::{RedisStateStore, decode, encode};
use crate::error::Error;

impl RedisStateStore {
    pub(super) async fn create_decision_inner(
        &self,
        decision: &Decision,
    ) -> Result<(), StoreError> {
        let key = self.keys.decision(decision.id);
        let mut stored = decision.clone();
        stored.version = 1;
        let doc = encode(&key, &stored)?;
        let created: i64 = self
            .scripts
            .decision_create
            .key(&key)
            .key(self.keys.decisions_all())
            .key(self.keys.decisions_by_status(decision.status))
            .arg(doc)
            .arg(decision.created_at.timestamp_micros())
            .arg(decision.id.to_string())
            .arg(decision.status.as_str())
            .invoke_async(&mut self.connection())
            .await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                key: format!("decision:{}", decision.id),
                expected: 0,
                found: 1,
            })
        }
    }

    pub(super) async fn decision_inner(&self, id: DecisionId) -> Result<Option<Decision>, Error> {
        let key = self.keys.decision(id);
        let doc: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("doc")
            .query_async(&mut self.connection())
            .await?;
        doc.map(|doc| decode(&key, &doc)).transpose()
    }

    pub(super) async fn update_decision_inner(
        &self,
        decision: &Decision,
    ) -> Result<u64, StoreError> {
        let key = self.keys.decision(decision.id);
        let mut next = decision.clone();
        next.version = decision.version + 1;
        let doc = encode(&key, &next)?;
        let mut call = self.scripts.decision_update.key(&key);
        let mut target = 0;
        for (index, status) in DecisionStatus::ALL.iter().enumerate() {
            call.key(self.keys.decisions_by_status(*status));
            if *status == decision.status {
                target = index + 2;
            }
        }
        call.arg(decision.version)
            .arg(doc)
            .arg(decision.status.as_str())
            .arg(decision.id.to_string())
            .arg(target);
        let (outcome, found): (i64, u64) = call.invoke_async(&mut self.connection()).await?;
        match outcome {
            1 => Ok(found),
            0 => Err(StoreError::Conflict {
                key: format!("decision:{}", decision.id),
                expected: decision.version,
                found,
            }),
            _ => Err(StoreError::NotFound(format!("decision:{}", decision.id))),
        }
    }

    pub(super) async fn decisions_inner(
        &self,
        status: Option<DecisionStatus>,
    ) -> Result<Vec<Decision>, Error> {
        let index = match status {
            Some(status) => self.keys.decisions_by_status(status),
            None => self.keys.decisions_all(),
        };
        self.decisions_in(index, 0).await
    }

    /// The newest `limit` decisions of the index of `status`: the tail of its sorted set.
    pub(super) async fn recent_decisions_inner(
        &self,
        status: DecisionStatus,
        limit: usize,
    ) -> Result<Vec<Decision>, Error> {
        let Ok(limit) = i64::try_from(limit) else {
            return self
                .decisions_in(self.keys.decisions_by_status(status), 0)
                .await;
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.decisions_in(self.keys.decisions_by_status(status), -limit)
            .await
    }

    /// The decisions of sorted set `index` from rank `start` (negative: from the end) to its
    /// end, in score order.
    async fn decisions_in(&self, index: String, start: i64) -> Result<Vec<Decision>, Error> {
        let mut connection = self.connection();
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&index)
            .arg(start)
            .arg(-1)
            .query_async(&mut connection)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Decisions are never deleted, so reading them after their index is consistent.
        let mut pipe = redis::pipe();
        let mut listed = 0;
        for id in &ids {
            match id.parse::<DecisionId>() {
                Ok(id) => {
                    pipe.cmd("HGET").arg(self.keys.decision(id)).arg("doc");
                    listed += 1;
                }
                Err(_) => {
                    tracing::error!(index = %index, id = %aito_core::envelope::preview(id, 80), "an index entry is not a decision id; left out");
                }
            }
        }
        if listed == 0 {
            return Ok(Vec::new());
        }
        let docs: Vec<Option<String>> = pipe.query_async(&mut connection).await?;
        // One document that does not decode must not hide the others (nor stop the deadline
        // checks that list them): it is left out and reported.
        Ok(docs
            .iter()
            .flatten()
            .filter_map(|doc| match decode::<Decision>(&index, doc) {
                Ok(decision) => Some(decision),
                Err(err) => {
                    tracing::error!(index = %index, error = %err, "a stored decision does not decode; left out");
                    None
                }
            })
            .collect())
    }
}
