//! Finishing a trigger (`lua/trigger_finish.lua`): the agent's state, its history entry, the
//! handled mark and the removal of the journal in one script, all keys of one agent.
//!
//! A dead letter goes to the company-wide list (`deadletters`) just before the script, so it is
//! never lost, and at most once per agent and trigger (`lua/dead_letter_push.lua`), so a retry
//! after a lost reply does not list it twice.

use aito_core::StoreError;
use aito_core::store::{Fence, Finish, FinishedTrigger};

use super::{RedisStateStore, encode, millis};

impl RedisStateStore {
    pub(super) async fn finish_trigger_inner(
        &self,
        finished: &FinishedTrigger,
    ) -> Result<Finish, StoreError> {
        let agent = finished.agent;
        let mark = self.keys.mark(&finished.handled_mark);
        if let Some(letter) = &finished.dead_letter
            && !self.is_marked_inner(&finished.handled_mark).await?
        {
            // The dead-letter list is the company's, outside the agent's slot: checked before,
            // so an ended term does not list one (the script below checks again, atomically).
            if let Some(fence) = &finished.fence
                && !self.fence_live(fence).await?
            {
                return Err(fence.refused());
            }
            self.push_dead_letter_inner(letter, true).await?;
        }
        // Unfenced writes name the agent's lease too (unread): the script's keys stay in one slot.
        let lease = finished
            .fence
            .as_ref()
            .map_or_else(|| format!("agent:{agent}"), |fence| fence.lease.clone());
        let (holder, token) = finished
            .fence
            .as_ref()
            .map_or(("", 0), |fence| (fence.holder.as_str(), fence.token));
        let state_key = self.keys.state(agent);
        let history_key = self.keys.history(agent);
        let state = encode(&state_key, &finished.state)?;
        let entry = encode(&history_key, &finished.history)?;
        let (outcome, version): (i64, u64) = self
            .scripts
            .trigger_finish
            .key(&mark)
            .key(&state_key)
            .key(&history_key)
            .key(self.keys.value(&finished.journal))
            .key(self.keys.lease(&lease))
            .key(self.keys.lease_term(&lease))
            .arg(millis(finished.mark_ttl))
            .arg(finished.expected_version)
            .arg(state)
            .arg(finished.history_keep)
            .arg(entry)
            .arg(holder)
            .arg(token)
            .invoke_async(&mut self.connection())
            .await?;
        match outcome {
            1 => Ok(Finish::Written(version)),
            0 => Ok(Finish::AlreadyFinished),
            3 => Err(finished.fence.as_ref().map_or_else(
                || StoreError::Fenced {
                    lease: lease.clone(),
                    token: 0,
                },
                Fence::refused,
            )),
            _ => Err(StoreError::Conflict {
                key: format!("state:{agent}"),
                expected: finished.expected_version,
                found: version,
            }),
        }
    }
}
