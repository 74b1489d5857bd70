//! Bounded lists of JSON entries, oldest first: agent history (`history:<agent>`), named logs
//! (`log:<name>`) and the dead-letter list (`deadletters`). Appends trim in the same script
//! (`lua/list_push.lua`; dead letters by `lua/dead_letter_push.lua`).

use aito_core::AgentId;
use aito_core::store::DeadLetter;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{RedisStateStore, decode, encode};
use crate::error::Error;

/// How many dead letters the store keeps, newest last (as the in-memory store).
pub(crate) const DEAD_LETTER_LIMIT: usize = 1000;

impl RedisStateStore {
    /// Appends `entry` to the list `key`, keeping the newest `keep`.
    pub(super) async fn push_bounded<T: Serialize + ?Sized>(
        &self,
        key: &str,
        entry: &T,
        keep: usize,
    ) -> Result<(), Error> {
        let text = encode(key, entry)?;
        let _: i64 = self
            .scripts
            .list_push
            .key(key)
            .arg(keep)
            .arg(text)
            .invoke_async(&mut self.connection())
            .await?;
        Ok(())
    }

    /// The newest `limit` entries of the list `key`, oldest first.
    pub(super) async fn read_newest<T: DeserializeOwned>(
        &self,
        key: &str,
        limit: usize,
    ) -> Result<Vec<T>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let from = -i64::try_from(limit).unwrap_or(i64::MAX);
        let texts: Vec<String> = redis::cmd("LRANGE")
            .arg(key)
            .arg(from)
            .arg(-1)
            .query_async(&mut self.connection())
            .await?;
        texts.iter().map(|text| decode(key, text)).collect()
    }

    /// Puts `letter` on the list; with `once`, only if no letter of its agent and trigger is
    /// kept already.
    pub(super) async fn push_dead_letter_inner(
        &self,
        letter: &DeadLetter,
        once: bool,
    ) -> Result<(), Error> {
        let key = self.keys.dead_letters();
        let text = encode(&key, letter)?;
        let id = if once {
            format!("{}/{}", letter.agent, letter.trigger.id)
        } else {
            String::new()
        };
        let _: i64 = self
            .scripts
            .dead_letter_push
            .key(&key)
            .key(self.keys.dead_letter_ids())
            .arg(DEAD_LETTER_LIMIT)
            .arg(text)
            .arg(id)
            .invoke_async(&mut self.connection())
            .await?;
        Ok(())
    }

    pub(super) async fn dead_letters_inner(
        &self,
        agent: Option<AgentId>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, Error> {
        let key = self.keys.dead_letters();
        let all: Vec<DeadLetter> = self.read_newest(&key, DEAD_LETTER_LIMIT).await?;
        let matching: Vec<DeadLetter> = all
            .into_iter()
            .filter(|letter| agent.is_none_or(|agent| letter.agent == agent))
            .collect();
        let skip = matching.len().saturating_sub(limit);
        Ok(matching.into_iter().skip(skip).collect())
    }
}
