//! Shard leases and the live-hub set (DESIGN.md "Sharding, failover, liveness"): `tw:{k}:lease`
//! holds `<hub>:<epoch>` with an expiry, `tw:{k}:epoch` counts acquisitions, and `tw:hubs` is a
//! sorted set of hubs scored by when they lapse. The policy (fair share, cooldown) is
//! `shard::lease`'s; this file only speaks Redis.

use super::Store;
use crate::error::HubError;
use twinwire_common::bus::scripts;

/// The lease scripts, loaded on first use.
pub(super) struct Scripts {
    acquire: redis::Script,
    renew: redis::Script,
    release: redis::Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            acquire: redis::Script::new(scripts::LEASE_ACQUIRE),
            renew: redis::Script::new(scripts::LEASE_RENEW),
            release: redis::Script::new(scripts::LEASE_RELEASE),
        }
    }
}

impl Store {
    /// Announces `hub_id` as live until `until_ms`, drops hubs that lapsed before `now_ms`, and
    /// returns how many hubs are live.
    pub async fn heartbeat(
        &self,
        hub_id: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<usize, HubError> {
        let hubs_key = self.keys.hubs();
        let (_, _, live): ((), (), usize) = redis::pipe()
            .cmd("ZADD")
            .arg(&hubs_key)
            .arg(until_ms)
            .arg(hub_id)
            .cmd("ZREMRANGEBYSCORE")
            .arg(&hubs_key)
            .arg("-inf")
            .arg(now_ms)
            .cmd("ZCARD")
            .arg(&hubs_key)
            .query_async(&mut self.conn())
            .await?;
        Ok(live)
    }

    /// Renews the leases `(shard, token)` in one pipeline; `true` for each one still held.
    pub async fn renew_leases(
        &self,
        leases: &[(u32, &str)],
        lease_ms: u64,
    ) -> Result<Vec<bool>, HubError> {
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        for (shard, token) in leases {
            let mut inv = self.leases.renew.prepare_invoke();
            inv.key(self.keys.lease(*shard)).arg(*token).arg(lease_ms);
            pipe.invoke_script(&inv);
        }
        // Scripts are loaded on first use; a pipeline of EVALSHA needs them loaded.
        self.leases
            .renew
            .prepare_invoke()
            .load_async(&mut conn)
            .await?;
        let results: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(results.into_iter().map(|ok| ok == 1).collect())
    }

    /// Takes `shard`'s lease if it is free; the new epoch, or `None` when another hub holds it.
    pub async fn acquire_lease(
        &self,
        shard: u32,
        hub_id: &str,
        lease_ms: u64,
    ) -> Result<Option<i64>, HubError> {
        let mut inv = self.leases.acquire.prepare_invoke();
        inv.key(self.keys.lease(shard))
            .key(self.keys.epoch(shard))
            .arg(hub_id)
            .arg(lease_ms);
        Ok(inv.invoke_async(&mut self.conn()).await?)
    }

    /// Gives `shard`'s lease back if it still carries `token`.
    pub async fn release_lease(&self, shard: u32, token: &str) -> Result<(), HubError> {
        let mut inv = self.leases.release.prepare_invoke();
        inv.key(self.keys.lease(shard)).arg(token);
        let _: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Takes `hub_id` out of the live-hub set (graceful shutdown).
    pub async fn leave_hubs(&self, hub_id: &str) -> Result<(), HubError> {
        let _: i64 = redis::cmd("ZREM")
            .arg(self.keys.hubs())
            .arg(hub_id)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }
}
