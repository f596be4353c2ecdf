//! Policies in the hub: the cache of compiled enforcers (`cache`) and the policies command group
//! (`command`), permission checks (`check`), and subject expiry with its announcements (`expiry`).

pub mod cache;
pub mod check;
pub mod command;
pub mod expiry;

pub use cache::{CachedPolicy, PolicyCache, StoredPolicy};
