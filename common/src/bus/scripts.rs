//! The Lua scripts of the bus, one file each under `scripts/`, so they read (and diff) as Lua.
//! A script is what makes a multi-key step atomic in Redis: the fenced commit of a shard's batch,
//! the shard lease's epoch and fencing token, and the cluster-wide uniqueness of acknowledgement
//! labels. Each file's header says its KEYS and ARGV.

/// Commits one shard batch (twin writes, journal entries, search index entries, applied marker),
/// fenced by the lease.
pub const COMMIT: &str = concat!(
    include_str!("scripts/search_index.lua"),
    include_str!("scripts/commit.lua")
);
/// Indexes a shard's twins written before its search index existed, fenced by the lease.
pub const SEARCH_BACKFILL: &str = concat!(
    include_str!("scripts/search_index.lua"),
    include_str!("scripts/search_backfill.lua")
);
/// How [`COMMIT`] refuses a batch whose shard lease this hub no longer holds: the start of its
/// error reply.
pub const FENCED: &str = "FENCED";
/// Trims a shard journal by age and tells how far it is fanned out (resume watermarks).
pub const JOURNAL_WATERMARK: &str = include_str!("scripts/journal_watermark.lua");
/// The newest id trimmed from a shard journal: resume positions below it are gone.
pub const JOURNAL_TRIMMED: &str = include_str!("scripts/journal_trimmed.lua");
/// Takes a free shard lease with a new epoch: the fencing token is `<hub>:<epoch>`.
pub const LEASE_ACQUIRE: &str = include_str!("scripts/lease_acquire.lua");
/// Extends a shard lease this hub still holds.
pub const LEASE_RENEW: &str = include_str!("scripts/lease_renew.lua");
/// Gives a shard lease back if this hub still holds it.
pub const LEASE_RELEASE: &str = include_str!("scripts/lease_release.lua");
/// Takes all of a session's declared acknowledgement labels or none.
pub const ACQUIRE_LABELS: &str = include_str!("scripts/acquire_labels.lua");
/// Gives back the acknowledgement labels a session still holds.
pub const RELEASE_LABELS: &str = include_str!("scripts/release_labels.lua");
/// Drops every acknowledgement label held by a session of one node (the node left or died).
pub const RELEASE_NODE_LABELS: &str = include_str!("scripts/release_node_labels.lua");
