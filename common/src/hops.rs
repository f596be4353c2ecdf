//! `twinwire_hop_seconds{hop}`: where a signal's time goes, one histogram series per hop of its
//! path (issue 13; DESIGN.md "Where the time goes"). Gateways and hubs both export it, each with
//! the hops it sees; the definition lives here so both agree on the name, the help and the buckets,
//! and the hop names are listed once (`GATEWAY_HOPS`, `HUB_HOPS`).

use crate::bus::parse_stream_id;
use prometheus::{exponential_buckets, Histogram, HistogramOpts, HistogramVec, Registry};
use std::time::Instant;

pub const NAME: &str = "twinwire_hop_seconds";

/// The gateway's hops, in the order of a signal's path.
pub const GATEWAY_HOPS: [&str; 4] = ["publish", "node_stream", "inbox", "socket_write"];
/// The hub's hops, in the order of a signal's path.
pub const HUB_HOPS: [&str; 4] = ["command_wait", "round", "commit", "deliver"];

const HELP: &str = "Time spent on each hop of a signal's path, by hop. command_wait and node_stream \
    cross processes and compare wall clocks in whole milliseconds: on several machines they include \
    clock skew";

/// 0.1 ms to 2.5 s, each bucket 1.5 times the last: fine enough to tell a 1 ms hop from a 2 ms one,
/// wide enough for a hop stalled behind a Redis fsync or a failover.
pub fn buckets() -> Vec<f64> {
    // Constant arguments: start > 0, factor > 1, count > 0.
    exponential_buckets(0.0001, 1.5, 26).expect("valid buckets")
}

/// Registers the histogram in `r` and returns one handle per hop, in the order given: resolving a
/// label costs a hash and a lock, too much to pay per observation on the hot paths.
pub fn register<const N: usize>(r: &Registry, hops: [&str; N]) -> [Histogram; N] {
    // The definition is constant; registering it into a process's fresh registry cannot fail.
    let vec = HistogramVec::new(HistogramOpts::new(NAME, HELP).buckets(buckets()), &["hop"])
        .expect("valid metric");
    r.register(Box::new(vec.clone())).expect("unique metric");
    hops.map(|h| vec.with_label_values(&[h]))
}

/// Observes the time since `since`, within this process.
pub fn observe_since(h: &Histogram, since: Instant) {
    h.observe(since.elapsed().as_secs_f64());
}

/// Seconds from a wall-clock millisecond time another process wrote (`then_ms`) to `now_ms`, both
/// whole milliseconds, so the error is under a millisecond either way; a clock behind gives 0.
pub fn seconds_between_ms(then_ms: u64, now_ms: u64) -> f64 {
    now_ms.saturating_sub(then_ms) as f64 / 1000.0
}

/// Observes the time from when Redis added the stream entry `id` (its `ms-seq` id's milliseconds)
/// to `now_ms`; an id that is not `ms-seq` is not observed.
pub fn observe_since_entry(h: &Histogram, id: &str, now_ms: u64) {
    if let Some((ms, _)) = parse_stream_id(id) {
        h.observe(seconds_between_ms(ms, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_span_a_tenth_of_a_millisecond_to_two_seconds() {
        let b = buckets();
        assert_eq!(b.first(), Some(&0.0001));
        assert!(b.last().is_some_and(|l| *l > 2.0 && *l < 3.0), "{b:?}");
    }

    #[test]
    fn entry_times_come_from_the_stream_id_and_a_clock_behind_reads_zero() {
        let r = Registry::new();
        let [h] = register(&r, ["x"]);
        observe_since_entry(&h, "1000-7", 1250);
        observe_since_entry(&h, "2000-0", 1250);
        observe_since_entry(&h, "not-an-id", 1250);
        assert_eq!(h.get_sample_count(), 2);
        assert_eq!(h.get_sample_sum(), 0.25);
    }
}
