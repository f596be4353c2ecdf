//! Twins and the twin-channel thing commands: the twin itself (`twin`), the cache of owned
//! shards' twins (`cache`), deciding a command (`command`, applying it with `apply`), API 1's ACL
//! view (`v1`), RetrieveThings across shards (`retrieve`), and the conditional headers `condition`
//! (`condition`) and `if-equal` (`if_equal`).

pub mod apply;
pub mod cache;
pub mod command;
pub mod condition;
pub mod if_equal;
pub mod patch_conditions;
pub mod retrieve;
pub mod twin;
pub mod v1;
mod v1_commands;
mod validate;
