//! Finishing a trigger (`lua/trigger_finish.lua`): the agent's state, its history entry, the
//! handled mark and the removal of the journal in one script, all keys of one agent.
//!
//! A dead letter goes to the company-wide list (`deadletters`) just before the script, so it is
//! never lost, and at most once per agent and trigger (`lua/dead_letter_push.lua`), so a retry
//! after a lost reply does not list it twice.

use aito_core::StoreError;
use aito_core::store::{Finish, FinishedTrigger};

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
            self.push_dead_letter_inner(letter, true).await?;
        }
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
            .arg(millis(finished.mark_ttl))
            .arg(finished.expected_version)
            .arg(state)
            .arg(finished.history_keep)
            .arg(entry)
            .invoke_async(&mut self.connection())
            .await?;
        match outcome {
            1 => Ok(Finish::Written(version)),
            0 => Ok(Finish::AlreadyFinished),
            _ => Err(StoreError::Conflict {
                key: format!("state:{agent}"),
                expected: finished.expected_version,
                found: version,
            }),
        }
    }
}
