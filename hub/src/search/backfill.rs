//! Twins a shard held before its search index existed (written by a hub of an earlier version)
//! are indexed when a hub takes the shard over and finds no `sx:built` marker: their keys are
//! scanned, their entries written by a fenced script in chunks, and the marker set last. Runs
//! inline in the lease tick, before the shard's next round, so no commit of this hub interleaves.

use super::{entries_of, IdsChange, IndexUpdate};
use crate::error::HubError;
use crate::store::Store;
use crate::things::twin::Twin;

/// Keys asked of each `SCAN` step (and twins indexed per script call, about).
const CHUNK: usize = 500;

/// Indexes `shard`'s twins unless its index is built; returns how many were indexed.
pub async fn ensure_built(store: &Store, shard: u32, token: &str) -> Result<usize, HubError> {
    if store.search_index_built(shard).await? {
        return Ok(0);
    }
    let mut cursor = 0;
    let mut indexed = 0;
    loop {
        let (next, ids) = store.scan_things(shard, cursor, CHUNK).await?;
        let keys: Vec<String> = ids.iter().map(|id| store.keys.thing(shard, id)).collect();
        let values = store.get_many(&keys).await?;
        let updates: Vec<IndexUpdate> = ids
            .into_iter()
            .zip(values)
            .filter_map(|(id, v)| {
                let twin = Twin::from_stored(&v?).ok()?;
                // Adding an entry the index holds already changes nothing, so a backfill cut
                // short is simply done again.
                Some(IndexUpdate {
                    added: entries_of(&twin.with_special_fields()),
                    ids: IdsChange::Add,
                    removed: Vec::new(),
                    thing_id: id,
                })
            })
            .collect();
        indexed += updates.len();
        store
            .search_backfill(shard, token, &updates, next == 0)
            .await?;
        if next == 0 {
            return Ok(indexed);
        }
        cursor = next;
    }
}
