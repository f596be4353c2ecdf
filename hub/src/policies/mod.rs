//! Policies in the hub: the cache of compiled enforcers (`cache`) and the policies command group
//! (`command`), and permission checks (`check`).

pub mod cache;
pub mod check;
pub mod command;

pub use cache::{CachedPolicy, PolicyCache, StoredPolicy};
