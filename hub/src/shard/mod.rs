//! Shards: who owns which (`lease`), what this hub tracks of the ones it owns (`state`), and
//! taking one over (`takeover`, which replays the shard's journal).

pub mod lease;
pub mod state;
pub mod takeover;
