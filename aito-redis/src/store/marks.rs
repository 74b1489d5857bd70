//! Idempotency marks (`mark:<key>`, `SET NX PX`) and leases (`lease:<name>`, holder as value,
//! taken and renewed by `lua/lease_acquire.lua`, released by `lua/lease_release.lua`).

use std::time::Duration;

use super::{RedisStateStore, millis};
use crate::error::Error;

impl RedisStateStore {
    pub(super) async fn first_time_inner(&self, key: &str, ttl: Duration) -> Result<bool, Error> {
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.mark(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut self.connection())
            .await?;
        Ok(set.is_some())
    }

    pub(super) async fn is_marked_inner(&self, key: &str) -> Result<bool, Error> {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(self.keys.mark(key))
            .query_async(&mut self.connection())
            .await?;
        Ok(exists == 1)
    }

    pub(super) async fn acquire_lease_inner(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let held: i64 = self
            .scripts
            .lease_acquire
            .key(self.keys.lease(name))
            .arg(holder)
            .arg(millis(ttl))
            .invoke_async(&mut self.connection())
            .await?;
        Ok(held == 1)
    }

    pub(super) async fn release_lease_inner(&self, name: &str, holder: &str) -> Result<(), Error> {
        let _: i64 = self
            .scripts
            .lease_release
            .key(self.keys.lease(name))
            .arg(holder)
            .invoke_async(&mut self.connection())
            .await?;
        Ok(())
    }

    pub(super) async fn lease_holder_inner(
        &self,
        name: &str,
    ) -> Result<Option<aito_core::store::LeaseHolder>, Error> {
        let key = self.keys.lease(name);
        let (holder, left): (Option<String>, i64) = redis::pipe()
            .cmd("GET")
            .arg(&key)
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut self.connection())
            .await?;
        Ok(holder.map(|holder| aito_core::store::LeaseHolder {
            holder,
            expires_at: chrono::Utc::now() + chrono::Duration::milliseconds(left.max(0)),
        }))
    }
}
