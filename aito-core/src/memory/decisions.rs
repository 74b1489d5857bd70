//! The memory store's decisions: a table in creation order and, per status, the positions of
//! that status's decisions with who took part in each. Closed decisions pile up for as long as
//! a company runs, so every read the daemon makes before a session touches only what it
//! returns: a listing by status reads that status's positions, and a window of the newest of a
//! status reads a contiguous run of the index without opening the decisions it leaves out.

use std::collections::HashMap;

use crate::decision::{Decision, DecisionStatus};
use crate::id::{AgentId, DecisionId};
use crate::role::Role;
use crate::store::StoreError;

/// Every decision, with its status index.
#[derive(Default)]
pub(super) struct Decisions {
    // Positions are creation order (decisions are never removed), so listings are oldest
    // first even when two decisions share a timestamp (a paused clock ticks in milliseconds).
    all: Vec<Decision>,
    by_id: HashMap<DecisionId, usize>,
    // Sorted by position. A decision that changes status shifts the entries after it in the
    // new status's vector: paid once per transition, where a prompt reads the window often.
    by_status: HashMap<DecisionStatus, Vec<(usize, Parties)>>,
}

impl Decisions {
    /// Stores a new decision at version 1; a conflict when its id exists.
    pub(super) fn create(&mut self, decision: &Decision) -> Result<(), StoreError> {
        if self.by_id.contains_key(&decision.id) {
            return Err(StoreError::Conflict {
                key: format!("decision:{}", decision.id),
                expected: 0,
                found: 1,
            });
        }
        let position = self.all.len();
        let mut stored = decision.clone();
        stored.version = 1;
        self.by_id.insert(decision.id, position);
        // The newest decision goes last: its status's index stays sorted.
        self.by_status
            .entry(stored.status)
            .or_default()
            .push((position, Parties::of(&stored)));
        self.all.push(stored);
        Ok(())
    }

    /// One decision.
    pub(super) fn get(&self, id: DecisionId) -> Option<&Decision> {
        self.by_id
            .get(&id)
            .and_then(|&position| self.all.get(position))
    }

    /// Writes `decision` if the stored version is still `decision.version`; the new version.
    pub(super) fn update(&mut self, decision: &Decision) -> Result<u64, StoreError> {
        let not_found = || StoreError::NotFound(format!("decision:{}", decision.id));
        let position = *self.by_id.get(&decision.id).ok_or_else(not_found)?;
        let stored = self.all.get_mut(position).ok_or_else(not_found)?;
        if stored.version != decision.version {
            return Err(StoreError::Conflict {
                key: format!("decision:{}", decision.id),
                expected: decision.version,
                found: stored.version,
            });
        }
        let before = stored.status;
        *stored = Decision {
            version: decision.version + 1,
            ..decision.clone()
        };
        let parties = Parties::of(decision);
        if before != decision.status
            && let Some(index) = self.by_status.get_mut(&before)
            && let Ok(at) = index.binary_search_by_key(&position, |(at, _)| *at)
        {
            index.remove(at);
        }
        let index = self.by_status.entry(decision.status).or_default();
        match index.binary_search_by_key(&position, |(at, _)| *at) {
            Ok(at) => index[at].1 = parties,
            Err(at) => index.insert(at, (position, parties)),
        }
        Ok(decision.version + 1)
    }

    /// Decisions with `status` (all when `None`), oldest first.
    pub(super) fn list(&self, status: Option<DecisionStatus>) -> Vec<Decision> {
        match status {
            None => self.all.clone(),
            Some(status) => self
                .of_status(status)
                .iter()
                .map(|(position, _)| self.all[*position].clone())
                .collect(),
        }
    }

    /// The newest `limit` with `status`, oldest first.
    pub(super) fn recent(&self, status: DecisionStatus, limit: usize) -> Vec<Decision> {
        self.window(status, limit)
            .iter()
            .map(|(position, _)| self.all[*position].clone())
            .collect()
    }

    /// Of [`recent`](Self::recent)'s window, the decisions taken without `agent` and `role`
    /// ([`Decision::is_without`]); only those are read and copied.
    pub(super) fn recent_without(
        &self,
        status: DecisionStatus,
        limit: usize,
        agent: AgentId,
        role: &Role,
    ) -> Vec<Decision> {
        let bit = builtin_bit(role);
        self.window(status, limit)
            .iter()
            .filter(|(_, parties)| parties.without(agent, role, bit))
            .map(|(position, _)| self.all[*position].clone())
            .collect()
    }

    fn of_status(&self, status: DecisionStatus) -> &[(usize, Parties)] {
        self.by_status.get(&status).map_or(&[], Vec::as_slice)
    }

    fn window(&self, status: DecisionStatus, limit: usize) -> &[(usize, Parties)] {
        let index = self.of_status(status);
        &index[index.len().saturating_sub(limit)..]
    }
}

/// Who took part in a decision: what [`Decision::is_without`] looks at. The reviewers of the
/// built-in roles are bits, so a look over a window reads no memory beyond the index itself.
struct Parties {
    proposer: AgentId,
    builtin: u8,
    custom: Box<[Role]>,
}

impl Parties {
    fn of(decision: &Decision) -> Self {
        let mut builtin = 0;
        let mut custom = Vec::new();
        for reviewer in &decision.reviewers {
            match builtin_bit(reviewer) {
                Some(bit) => builtin |= bit,
                None => custom.push(reviewer.clone()),
            }
        }
        Self {
            proposer: decision.proposer,
            builtin,
            custom: custom.into_boxed_slice(),
        }
    }

    /// [`Decision::is_without`] on what is kept here; `bit` is `builtin_bit(role)`, looked up
    /// once for a whole window.
    fn without(&self, agent: AgentId, role: &Role, bit: Option<u8>) -> bool {
        let reviewed = match bit {
            Some(bit) => self.builtin & bit != 0,
            None => self.custom.contains(role),
        };
        self.proposer != agent && !reviewed
    }
}

/// The bit of a built-in role in [`Parties::builtin`]; `None` for a custom role.
fn builtin_bit(role: &Role) -> Option<u8> {
    let index = match role {
        Role::Ceo => 0,
        Role::Dao => 1,
        Role::Cmo => 2,
        Role::Cto => 3,
        Role::Cfo => 4,
        Role::Coo => 5,
        Role::Cco => 6,
        Role::Custom(_) => return None,
    };
    Some(1 << index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::store_contract::decision;

    #[test]
    fn a_decision_moved_between_statuses_keeps_its_creation_order_in_each() {
        let mut decisions = Decisions::default();
        let created: Vec<Decision> = (0..6).map(|_| decision(DecisionStatus::Pending)).collect();
        for one in &created {
            decisions.create(one).expect("create");
        }
        // Executed out of creation order: 4, then 1, then 2.
        for n in [4, 1, 2] {
            let mut next = decisions.get(created[n].id).expect("stored").clone();
            next.status = DecisionStatus::Executed;
            decisions.update(&next).expect("update");
        }
        let ids = |listed: Vec<Decision>| listed.iter().map(|d| d.id).collect::<Vec<_>>();
        let executed = ids(decisions.list(Some(DecisionStatus::Executed)));
        assert_eq!(executed, [1, 2, 4].map(|n| created[n].id));
        let pending = ids(decisions.list(Some(DecisionStatus::Pending)));
        assert_eq!(pending, [0, 3, 5].map(|n| created[n].id));
        let newest = ids(decisions.recent(DecisionStatus::Executed, 2));
        assert_eq!(newest, [2, 4].map(|n| created[n].id));
        // A stale version is refused and changes nothing.
        assert!(decisions.update(&created[0]).is_err());
        assert_eq!(
            decisions.get(created[4].id).map(|d| d.version),
            Some(2),
            "created at 1, updated once"
        );
        assert_eq!(ids(decisions.list(None)), ids(created.clone()));
    }
}
