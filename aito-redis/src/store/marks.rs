//! Idempotency marks (`mark:<key>`, `SET NX PX`; under a lease term `lua/fenced_mark.lua`),
//! leases (`lease:<name>`, holder as value, taken and renewed by `lua/lease_acquire.lua`,
//! released by `lua/lease_release.lua`) and their fencing tokens (`lease-term:<name>`).

use std::time::Duration;

use aito_core::StoreError;
use aito_core::store::Fence;
use serde_json::Value;

use super::{RedisStateStore, encode, millis};
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
    ) -> Result<Option<u64>, Error> {
        let token: u64 = self
            .scripts
            .lease_acquire
            .key(self.keys.lease(name))
            .key(self.keys.lease_term(name))
            .arg(holder)
            .arg(millis(ttl))
            .invoke_async(&mut self.connection())
            .await?;
        Ok((token > 0).then_some(token))
    }

    pub(super) async fn first_time_fenced_inner(
        &self,
        key: &str,
        ttl: Duration,
        fence: &Fence,
    ) -> Result<bool, StoreError> {
        let set: i64 = self
            .scripts
            .fenced_mark
            .key(self.keys.lease(&fence.lease))
            .key(self.keys.lease_term(&fence.lease))
            .key(self.keys.mark(key))
            .arg(&fence.holder)
            .arg(fence.token)
            .arg(millis(ttl))
            .invoke_async(&mut self.connection())
            .await?;
        match set {
            -1 => Err(fence.refused()),
            set => Ok(set == 1),
        }
    }

    pub(super) async fn set_value_fenced_inner(
        &self,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        let key = self.keys.value(key);
        let text = encode(&key, value)?;
        let written: i64 = self
            .scripts
            .fenced_set
            .key(self.keys.lease(&fence.lease))
            .key(self.keys.lease_term(&fence.lease))
            .key(&key)
            .arg(&fence.holder)
            .arg(fence.token)
            .arg(text)
            .arg(ttl.map_or(0, |ttl| millis(ttl).max(1)))
            .invoke_async(&mut self.connection())
            .await?;
        if written == -1 {
            return Err(fence.refused());
        }
        Ok(())
    }

    /// Whether `fence`'s term is live (a read, for the writes that cannot share its slot).
    pub(super) async fn fence_live(&self, fence: &Fence) -> Result<bool, Error> {
        let (holder, term): (Option<String>, Option<String>) = redis::pipe()
            .cmd("GET")
            .arg(self.keys.lease(&fence.lease))
            .cmd("GET")
            .arg(self.keys.lease_term(&fence.lease))
            .query_async(&mut self.connection())
            .await?;
        Ok(holder.as_deref() == Some(fence.holder.as_str())
            && term.as_deref() == Some(fence.token.to_string().as_str()))
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
