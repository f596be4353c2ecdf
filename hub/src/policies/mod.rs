//! Policies in the hub: the cache of compiled enforcers (`cache`) and the policies command group
//! (`command`).

pub mod cache;
pub mod command;

pub use cache::{CachedPolicy, PolicyCache, StoredPolicy};
