//! The gateway's hops of `twinwire_hop_seconds` (issue 13, "see where the time goes"; the metric's
//! definition is `twinwire_common::hops`). Each hop is observed where its second instant happens,
//! by a one-line hook there; what the hooks carry and when they observe is decided here:
//!
//! - `publish`: a session receives a command frame → the pipeline carrying its `tw:{k}:cmd` entry
//!   is answered (once per command, in the publisher);
//! - `node_stream`: a hub (or a reply forwarder) adds a delivery to `tw:node:<n>` (the entry id's
//!   milliseconds) → the inbox's read returns it (once per delivery entry, not per session);
//! - `inbox`: the read returns → the session actor takes its batch (once per session batch);
//! - `socket_write`: the session takes the batch → its frames are handed to the socket (once per
//!   session batch, or once for batches already waiting that join the first one's write).
//!
//! The last two are recorded on the worker thread and reach the metrics once per delivery pass
//! (`crate::worker_metrics`).

use prometheus::local::LocalHistogram;
use prometheus::{Histogram, Registry};
use std::time::Instant;
use twinwire_common::hops::{observe_since, observe_since_entry, register, GATEWAY_HOPS};

pub struct Hops {
    publish: Histogram,
    node_stream: Histogram,
    /// Observed through each worker's local copy (`crate::worker_metrics`).
    pub(crate) inbox: Histogram,
    pub(crate) socket_write: Histogram,
}

impl Hops {
    pub fn register(r: &Registry) -> Hops {
        let [publish, node_stream, inbox, socket_write] = register(r, GATEWAY_HOPS);
        Hops {
            publish,
            node_stream,
            inbox,
            socket_write,
        }
    }

    /// A pipeline of the publisher was answered: the commands in it, received at these instants,
    /// are in their shards' streams.
    pub fn published(&self, received: impl Iterator<Item = Instant>) {
        for t in received {
            observe_since(&self.publish, t);
        }
    }

    /// The inbox read the delivery entry `id` at `read_ms` (wall clock).
    pub fn read_from_node_stream(&self, id: &str, read_ms: u64) {
        observe_since_entry(&self.node_stream, id, read_ms);
    }
}

/// A session's clock for its delivered batches: when the oldest batch whose frames are not all
/// handed to the socket was taken. A session takes no mail while it writes (`ctx.wait`), so a
/// batch's frames are written out before the next batch is taken, and each drain ends one batch.
#[derive(Default)]
pub struct BatchClock {
    taken: Option<Instant>,
}

impl BatchClock {
    /// The session takes a batch the inbox read at `read` (`inbox`: the thread's local copy of
    /// the hop).
    pub fn taken(&mut self, inbox: &LocalHistogram, read: Instant) {
        let now = Instant::now();
        inbox.observe(now.saturating_duration_since(read).as_secs_f64());
        self.taken.get_or_insert(now);
    }

    /// Everything the session queued is handed to the socket (`socket_write`: the thread's
    /// local copy of the hop).
    pub fn drained(&mut self, socket_write: &LocalHistogram) {
        if let Some(t) = self.taken.take() {
            socket_write.observe(t.elapsed().as_secs_f64());
        }
    }

    /// A batch is taken and not yet all handed to the socket.
    pub fn is_open(&self) -> bool {
        self.taken.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_observed_once_when_taken_and_once_when_written_out() {
        let r = Registry::new();
        let hops = Hops::register(&r);
        let (inbox, socket_write) = (hops.inbox.local(), hops.socket_write.local());
        let mut clock = BatchClock::default();
        clock.drained(&socket_write);
        socket_write.flush();
        assert_eq!(hops.socket_write.get_sample_count(), 0, "no batch yet");
        clock.taken(&inbox, Instant::now());
        assert!(clock.is_open());
        clock.drained(&socket_write);
        clock.drained(&socket_write);
        assert!(!clock.is_open());
        inbox.flush();
        socket_write.flush();
        assert_eq!(
            (
                hops.inbox.get_sample_count(),
                hops.socket_write.get_sample_count()
            ),
            (1, 1)
        );
    }
}
