//! Policies in the hub: the cache of compiled enforcers (`cache`) and the policies command group
//! (`command`), permission checks (`check`), subject expiry with its announcements (`expiry`), and
//! the token-integration policy actions (`actions`).

pub mod actions;
pub mod cache;
pub mod check;
pub mod command;
pub mod expiry;

pub use cache::{CachedPolicy, PolicyCache, StoredPolicy};
