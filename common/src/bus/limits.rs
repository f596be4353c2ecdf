//! The bounds and names both binaries must agree on for the bus streams: how long each stream is
//! kept (approximate `MAXLEN ~`, so Redis trims whole nodes cheaply) and the consumer group of
//! the command streams. One definition each; a second copy would drift.

/// The consumer group every hub uses on the shard command streams `tw:{k}:cmd`.
pub const HUB_GROUP: &str = "hubs";

/// Approximate bound of a gateway node's delivery stream `tw:node:<n>`, written by hubs (fan-out,
/// responses) and by gateways (reply forwarders). A node that stopped reading loses the oldest
/// entries rather than filling Redis (its sessions are gone anyway once it is reaped).
pub const NODE_STREAM_MAXLEN: usize = 200_000;

/// Approximate bound of the subscription-change stream `tw:subs`, in entries (`MAXLEN ~` keeps
/// at least this many of the newest). Hubs load the hashes on start, so the stream only has to
/// cover the time a running hub may lag behind; its bound in bytes is this times the largest
/// entry, which the gateway's `ws.subscription_limits` bound (a record is at most its filter,
/// extraFields and namespaces plus the subjects). Under START/STOP churn the stream is trimmed by
/// count; when it is quiet, by age ([`SUBS_STREAM_RETENTION_MS`]), so it shrinks back to nearly
/// nothing.
///
/// Trimming can overtake a hub that stopped reading (paused, or more changes within one of its
/// rounds than this bound). Hubs therefore do not trust the tail to be complete: a hub that finds
/// at least this many changes waiting, and the stream's oldest entry newer than its position, or
/// that has not read for half the retention, reloads the hashes instead of tailing. A small bound
/// then costs a reload in a rare case rather than gigabytes of Redis memory in a common one.
pub const SUBS_STREAM_MAXLEN: usize = 10_000;

/// Subscription changes older than this are trimmed (`MINID ~`), however few there are: far
/// longer than any hub round, so only a hub paused for longer misses them, and that hub reloads.
pub const SUBS_STREAM_RETENTION_MS: u64 = 10 * 60 * 1000;

/// Approximate bound of the policy-update stream `tw:policy-updates`.
pub const POLICY_UPDATES_MAXLEN: usize = 100_000;
