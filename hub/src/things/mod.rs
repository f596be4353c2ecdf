//! Twins and the twin-channel thing commands: the twin itself (`twin`), the cache of owned
//! shards' twins (`cache`), deciding a command (`command`, applying it with `apply`), API 1's ACL
//! view (`v1`), and RetrieveThings across shards (`retrieve`).

pub mod apply;
pub mod cache;
pub mod command;
pub mod retrieve;
pub mod twin;
pub mod v1;
