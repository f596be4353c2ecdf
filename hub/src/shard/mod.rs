//! Shards: who owns which, and taking one over.

pub mod backlog;
pub mod lease;
