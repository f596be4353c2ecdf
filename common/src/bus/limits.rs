//! The bounds and names both binaries must agree on for the bus streams: how long each stream is
//! kept (approximate `MAXLEN ~`, so Redis trims whole nodes cheaply) and the consumer group of
//! the command streams. One definition each; a second copy would drift.

/// The consumer group every hub uses on the shard command streams `tw:{k}:cmd`.
pub const HUB_GROUP: &str = "hubs";

/// Approximate bound of a gateway node's delivery stream `tw:node:<n>`, written by hubs (fan-out,
/// responses) and by gateways (reply forwarders). A node that stopped reading loses the oldest
/// entries rather than filling Redis (its sessions are gone anyway once it is reaped).
pub const NODE_STREAM_MAXLEN: usize = 200_000;

/// Approximate bound of the subscription-change stream `tw:subs`. Hubs load the hashes on start,
/// so the stream only has to cover the time a running hub may lag behind.
pub const SUBS_STREAM_MAXLEN: usize = 1_000_000;

/// Approximate bound of the policy-update stream `tw:policy-updates`.
pub const POLICY_UPDATES_MAXLEN: usize = 100_000;
