//! The bounds and names both binaries must agree on for the bus streams: how long each stream is
//! kept (approximate `MAXLEN ~`, so Redis trims whole nodes cheaply) and the consumer group of
//! the command streams. One definition each; a second copy would drift.

/// The consumer group every hub uses on the shard command streams `tw:{k}:cmd`.
pub const HUB_GROUP: &str = "hubs";

/// Approximate bound of a gateway node's delivery stream `tw:node:<n>`, written by hubs (fan-out,
/// responses) and by gateways (reply forwarders). A node that stopped reading loses the oldest
/// entries rather than filling Redis (its sessions are gone anyway once it is reaped).
pub const NODE_STREAM_MAXLEN: usize = 200_000;

/// Approximate bound of the subscription-change stream `tw:subs`, in entries. Hubs load the
/// hashes on start, so the stream only has to cover the time a running hub may lag behind; its
/// bound in bytes is this times the largest entry, which the gateway's `ws.subscription_limits`
/// bound (a record is at most its filter, extraFields and namespaces plus the subjects). Under
/// START/STOP churn the stream is trimmed by count; when it is quiet, by age
/// ([`SUBS_STREAM_RETENTION_MS`]), so it shrinks back to nearly nothing.
///
/// Trimming can overtake a hub that stopped reading (paused, or more changes within one of its
/// rounds than the bound). Hubs therefore do not trust the tail to be complete: each remembers
/// how many entries the stream had taken when it last read (`entries-added`, Redis 7) and, when
/// more were added after its position than the stream still holds, reloads the hashes instead of
/// tailing ([`changes_were_trimmed`]). A small bound then costs a reload in a rare case rather
/// than gigabytes of Redis memory in a common one.
pub const SUBS_STREAM_MAXLEN: usize = 10_000;

/// Subscription changes older than this are trimmed (`MINID ~`), however few there are: far
/// longer than any hub round, so only a hub paused for longer misses them, and that hub reloads.
pub const SUBS_STREAM_RETENTION_MS: u64 = 10 * 60 * 1000;

/// Whether changes a reader has not read were trimmed from `tw:subs`: `seen` is the stream's
/// `entries-added` when the reader's position was its newest entry; `added` and `length` are
/// the stream's `entries-added` and `XLEN` now. The entries after the reader's position are
/// `added - seen`; if the stream holds fewer, some are gone. A stream that counts fewer than the
/// reader saw was deleted and recreated: everything may be gone.
pub fn changes_were_trimmed(seen: u64, added: u64, length: u64) -> bool {
    added < seen || added - seen > length
}

/// Approximate bound of the policy-update stream `tw:policy-updates`.
pub const POLICY_UPDATES_MAXLEN: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_missed_changes_when_more_were_added_after_it_than_the_stream_holds() {
        // Read everything: nothing after the position.
        assert!(!changes_were_trimmed(500, 500, 0));
        // Three added since, all still there (and older ones trimmed: no matter).
        assert!(!changes_were_trimmed(500, 503, 3));
        assert!(!changes_were_trimmed(500, 503, 10_000));
        // Five added since, the stream holds only four of them.
        assert!(changes_were_trimmed(500, 505, 4));
        // The stream was deleted and started again.
        assert!(changes_were_trimmed(500, 2, 2));
    }
}
