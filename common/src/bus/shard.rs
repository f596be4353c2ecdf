//! Which shard an entity belongs to: CRC-32 of its id modulo the shard count. Stable across
//! processes and versions, which is all a shard function must be.

/// Default number of shards (DESIGN.md).
pub const DEFAULT_SHARDS: u32 = 64;

pub fn shard_of(entity_id: &str, shards: u32) -> u32 {
    crc32fast::hash(entity_id.as_bytes()) % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_is_stable_and_in_range() {
        assert_eq!(
            shard_of("org.example:demo", 64),
            shard_of("org.example:demo", 64)
        );
        for i in 0..1000 {
            assert!(shard_of(&format!("ns:thing-{i}"), 64) < 64);
        }
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn ids_spread_over_all_shards() {
        let mut seen = [0u32; 64];
        for i in 0..6400 {
            seen[shard_of(&format!("org.example:thing-{i}"), 64) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 50), "{seen:?}");
    }
}
