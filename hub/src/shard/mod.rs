//! Shards: who owns which (`lease`), what this hub tracks of the ones it owns (`state`), their
//! journal entries (`journal`), and taking one over (`takeover`).

pub mod journal;
pub mod lease;
pub mod state;
pub mod takeover;
