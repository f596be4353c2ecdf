//! Shards: who owns which, and taking one over.

pub mod lease;
