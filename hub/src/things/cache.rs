//! The twins of the shards this hub owns, kept in memory beside the policy cache
//! (`policies::cache`): this hub is the only writer of an owned shard, so a cached twin (or a
//! cached absence) is the truth until the shard changes hands. Bounded crudely: when the total
//! would pass `hub.max_cached_twins`, the shard being loaded starts afresh.

use super::twin::Twin;
use crate::error::HubError;
use crate::metrics::Metrics;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;

pub struct TwinCache {
    /// Per shard; `None` records a known absence.
    shards: HashMap<u32, HashMap<String, Option<Arc<Twin>>>>,
    max: usize,
}

impl TwinCache {
    pub fn new(max: usize) -> TwinCache {
        TwinCache {
            shards: HashMap::new(),
            max,
        }
    }

    /// The cached twin of `id` in `shard`: `None` when not cached, `Some(None)` when known absent.
    pub fn lookup(&self, shard: u32, id: &str) -> Option<Option<Arc<Twin>>> {
        self.shards.get(&shard).and_then(|c| c.get(id)).cloned()
    }

    /// The twin of `id` in `shard`, if cached and present.
    pub fn get(&self, shard: u32, id: &str) -> Option<Arc<Twin>> {
        self.lookup(shard, id).flatten()
    }

    /// Records the twin `id` of `shard` as a command left it (`None`: deleted).
    pub fn put(&mut self, shard: u32, id: String, twin: Option<Arc<Twin>>) {
        self.shards.entry(shard).or_default().insert(id, twin);
    }

    /// Forgets everything of `shard` (it changed hands or must be read again from Redis).
    pub fn forget_shard(&mut self, shard: u32) {
        self.shards.remove(&shard);
    }

    /// Caches the twins of `ids` in `shard` that are not cached yet, in one round trip.
    pub async fn prefetch(
        &mut self,
        store: &Store,
        metrics: &Metrics,
        shard: u32,
        ids: &[String],
    ) -> Result<(), HubError> {
        let cache = self.shards.entry(shard).or_default();
        let mut missing: Vec<String> = ids
            .iter()
            .filter(|id| !cache.contains_key(*id))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let loaded = load(store, shard, &missing).await?;
        if self.len() + missing.len() > self.max {
            // Crude but bounded: start this shard's cache afresh.
            self.shards.insert(shard, HashMap::new());
        }
        let cache = self.shards.entry(shard).or_default();
        for (id, t) in missing.into_iter().zip(loaded) {
            cache.insert(id, t);
        }
        metrics.cached_twins.set(self.len() as i64);
        Ok(())
    }

    fn len(&self) -> usize {
        self.shards.values().map(HashMap::len).sum()
    }
}

/// Reads the twins of `ids` in `shard` from Redis, bypassing the cache.
pub async fn load(
    store: &Store,
    shard: u32,
    ids: &[String],
) -> Result<Vec<Option<Arc<Twin>>>, HubError> {
    let keys: Vec<String> = ids.iter().map(|id| store.keys.thing(shard, id)).collect();
    let values = store.get_many(&keys).await?;
    values
        .into_iter()
        .zip(ids)
        .map(|(v, id)| match v {
            Some(s) => Twin::from_stored(&s)
                .map(|t| Some(Arc::new(t)))
                .map_err(|e| HubError::Corrupt(format!("thing {id}: {e}"))),
            None => Ok(None),
        })
        .collect()
}
