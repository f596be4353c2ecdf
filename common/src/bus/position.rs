//! Positions on the bus: Redis stream ids (`ms-seq`) and journal positions (`<shard>/<ms>-<seq>`),
//! which deliveries carry so that a gateway can drop one it already wrote (replays after a shard
//! changes owner).

use std::fmt;

/// Parses a Redis stream id `ms-seq`.
pub fn parse_stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// A position in a shard's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JournalPos {
    pub shard: u32,
    /// The Redis stream id `ms-seq` of the journal entry.
    pub ms: u64,
    pub seq: u64,
}

impl JournalPos {
    /// The position of journal entry `id` (a stream id) of `shard`.
    pub fn at(shard: u32, id: &str) -> Option<JournalPos> {
        parse_stream_id(id).map(|(ms, seq)| JournalPos { shard, ms, seq })
    }

    pub fn parse(s: &str) -> Option<JournalPos> {
        let (shard, id) = s.split_once('/')?;
        JournalPos::at(shard.parse().ok()?, id)
    }

    /// The stream-id part, comparable with other ids of the same shard.
    pub fn id(&self) -> (u64, u64) {
        (self.ms, self.seq)
    }
}

impl fmt::Display for JournalPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}-{}", self.shard, self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn journal_positions_print_and_parse() {
        let p = JournalPos {
            shard: 3,
            ms: 10,
            seq: 2,
        };
        assert_eq!(p.to_string(), "3/10-2");
        assert_eq!(JournalPos::parse("3/10-2"), Some(p));
        assert_eq!(JournalPos::parse("3/10"), None);
        assert_eq!(JournalPos::at(3, "10-2"), Some(p));
        assert_eq!(parse_stream_id("1700000000000-3"), Some((1700000000000, 3)));
        assert_eq!(parse_stream_id("17"), None);
        assert!(
            JournalPos {
                shard: 3,
                ms: 10,
                seq: 3
            }
            .id()
                > p.id()
        );
    }

    proptest! {
        #[test]
        fn positions_round_trip(shard: u32, ms: u64, seq: u64) {
            let p = JournalPos { shard, ms, seq };
            prop_assert_eq!(JournalPos::parse(&p.to_string()), Some(p));
        }
    }
}
