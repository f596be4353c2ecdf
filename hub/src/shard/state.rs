//! What this hub tracks of each shard it owns between rounds: the applied marker (entries at or
//! below it are skipped), the claimed entries waiting to be handled before new ones, and the
//! shards whose read entries may not have been handled and must go through takeover again.

use redis::streams::StreamId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

#[derive(Default)]
pub struct ShardStates {
    /// The applied marker of each owned shard, as a stream id.
    applied: HashMap<u32, (u64, u64)>,
    /// Claimed pending entries to process before new ones, per shard.
    backlog: BTreeMap<u32, VecDeque<StreamId>>,
    /// Owned shards whose read entries may not have been handled (a round failed after reading,
    /// or the lease looked stale): they go through the takeover path again before new reads.
    needs_recovery: BTreeSet<u32>,
}

impl ShardStates {
    /// Forgets the applied marker and claimed entries of `shard` (it is no longer this hub's, or
    /// is to be read again from Redis).
    pub fn forget(&mut self, shard: u32) {
        self.backlog.remove(&shard);
        self.applied.remove(&shard);
    }

    pub fn applied(&self, shard: u32) -> (u64, u64) {
        self.applied.get(&shard).copied().unwrap_or((0, 0))
    }

    pub fn set_applied(&mut self, shard: u32, id: (u64, u64)) {
        self.applied.insert(shard, id);
    }

    /// Queues entries claimed on takeover, to be handled before new ones.
    pub fn queue_claimed(&mut self, shard: u32, entries: VecDeque<StreamId>) {
        self.backlog.insert(shard, entries);
    }

    /// The claimed entries of one shard, taken off the queue (lowest shard first).
    pub fn take_claimed(&mut self) -> Option<(u32, Vec<StreamId>)> {
        let shard = self.backlog.keys().next().copied()?;
        let entries = self.backlog.remove(&shard).unwrap_or_default();
        Some((shard, entries.into_iter().collect()))
    }

    pub fn mark_for_recovery(&mut self, shards: impl IntoIterator<Item = u32>) {
        self.needs_recovery.extend(shards);
    }

    /// Shards marked for recovery, lowest first.
    pub fn needing_recovery(&self) -> Vec<u32> {
        self.needs_recovery.iter().copied().collect()
    }

    pub fn recovered(&mut self, shard: u32) {
        self.needs_recovery.remove(&shard);
    }

    /// Drops recovery marks of shards not in `owned` (they are the new owner's to recover).
    pub fn keep_recovery_of(&mut self, owned: &[u32]) {
        let owned: BTreeSet<u32> = owned.iter().copied().collect();
        self.needs_recovery.retain(|s| owned.contains(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> StreamId {
        StreamId {
            id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn claimed_entries_come_out_lowest_shard_first_and_once() {
        let mut s = ShardStates::default();
        s.queue_claimed(7, [entry("1-0")].into());
        s.queue_claimed(2, [entry("2-0"), entry("3-0")].into());
        let (shard, entries) = s.take_claimed().unwrap();
        assert_eq!(shard, 2);
        assert_eq!(
            entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["2-0", "3-0"]
        );
        assert_eq!(s.take_claimed().map(|(s, _)| s), Some(7));
        assert!(s.take_claimed().is_none());
    }

    #[test]
    fn forgetting_a_shard_drops_its_marker_and_claims_and_recovery_keeps_owned_shards() {
        let mut s = ShardStates::default();
        s.set_applied(3, (5, 1));
        s.queue_claimed(3, [entry("6-0")].into());
        s.forget(3);
        assert_eq!(s.applied(3), (0, 0));
        assert!(s.take_claimed().is_none());
        s.mark_for_recovery([1, 2, 3]);
        s.recovered(2);
        s.keep_recovery_of(&[3, 4]);
        assert_eq!(s.needing_recovery(), vec![3]);
    }
}
