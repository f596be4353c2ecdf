//! Shard leases (DESIGN.md "Sharding, failover, liveness"): a hub owns shard k while it holds
//! `tw:{k}:lease` (`SET NX PX`, renewed at a third of the lease). Each acquisition takes a new
//! epoch from `tw:{k}:epoch`; the lease value `<hub>:<epoch>` is the fencing token every commit
//! checks, so a paused former owner can never overwrite a new owner's work. Hubs announce
//! themselves in a sorted set and take at most ceil(S / live hubs) shards each, so shards spread out
//! and move when a hub dies or joins.

use crate::error::HubError;
use crate::store::Store;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Lease {
    token: String,
    renewed: Instant,
}

/// What one tick changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub acquired: Vec<u32>,
    pub lost: Vec<u32>,
    pub released: Vec<u32>,
}

pub struct Leases {
    hub_id: String,
    shards: u32,
    lease: Duration,
    owned: BTreeMap<u32, Lease>,
    /// Shards this hub must not take again before the given instant (it just gave them away).
    cooldown: BTreeMap<u32, Instant>,
}

impl Leases {
    pub fn new(hub_id: String, shards: u32, lease: Duration) -> Leases {
        Leases {
            hub_id,
            shards,
            lease,
            owned: BTreeMap::new(),
            cooldown: BTreeMap::new(),
        }
    }

    /// How often `tick` should run.
    pub fn tick_interval(&self) -> Duration {
        self.lease / 3
    }

    /// The fencing token for `shard` while this hub may still act as its owner: held and renewed
    /// recently enough that it cannot have expired (a commit is fenced in Redis regardless).
    pub fn token(&self, shard: u32) -> Option<&str> {
        self.owned
            .get(&shard)
            .filter(|l| l.renewed.elapsed() < self.lease * 2 / 3)
            .map(|l| l.token.as_str())
    }

    pub fn owned(&self) -> Vec<u32> {
        self.owned.keys().copied().collect()
    }

    /// Renews owned leases, gives away shards beyond this hub's fair share, and takes free ones
    /// up to it.
    pub async fn tick(&mut self, store: &Store) -> Result<Changes, HubError> {
        let mut changes = Changes::default();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let lease_ms = self.lease.as_millis() as u64;
        let live = store
            .heartbeat(&self.hub_id, now_ms, now_ms + lease_ms as i64)
            .await?;

        let started = Instant::now();
        let held: Vec<(u32, &str)> = self
            .owned
            .iter()
            .map(|(s, l)| (*s, l.token.as_str()))
            .collect();
        if !held.is_empty() {
            let renewed = store.renew_leases(&held, lease_ms).await?;
            let shards: Vec<u32> = held.iter().map(|(s, _)| *s).collect();
            for (s, ok) in shards.iter().zip(renewed) {
                if ok {
                    if let Some(l) = self.owned.get_mut(s) {
                        l.renewed = started;
                    }
                } else {
                    self.owned.remove(s);
                    changes.lost.push(*s);
                }
            }
        }

        let target = (self.shards as usize).div_ceil(live.max(1));
        while self.owned.len() > target {
            // Give away the highest shards; the others keep their owner.
            let Some((&s, _)) = self.owned.iter().next_back() else {
                break;
            };
            self.release_one(store, s).await?;
            self.cooldown.insert(s, Instant::now() + self.lease);
            changes.released.push(s);
        }
        self.cooldown.retain(|_, until| *until > Instant::now());
        if self.owned.len() < target {
            // Start at an offset derived from the hub id so hubs do not all race for shard 0.
            let offset = crc32fast::hash(self.hub_id.as_bytes()) % self.shards;
            for i in 0..self.shards {
                if self.owned.len() >= target {
                    break;
                }
                let s = (offset + i) % self.shards;
                if self.owned.contains_key(&s) || self.cooldown.contains_key(&s) {
                    continue;
                }
                if let Some(e) = store.acquire_lease(s, &self.hub_id, lease_ms).await? {
                    self.owned.insert(
                        s,
                        Lease {
                            token: format!("{}:{e}", self.hub_id),
                            renewed: Instant::now(),
                        },
                    );
                    changes.acquired.push(s);
                }
            }
        }
        Ok(changes)
    }

    async fn release_one(&mut self, store: &Store, shard: u32) -> Result<(), HubError> {
        if let Some(l) = self.owned.remove(&shard) {
            store.release_lease(shard, &l.token).await?;
        }
        Ok(())
    }

    /// Gives every lease back (graceful shutdown) and leaves the live-hub set.
    pub async fn release_all(&mut self, store: &Store) -> Result<(), HubError> {
        let shards = self.owned();
        for s in shards {
            self.release_one(store, s).await?;
        }
        store.leave_hubs(&self.hub_id).await
    }
}
