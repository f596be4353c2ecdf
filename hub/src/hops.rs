//! The hub's hops of `twinwire_hop_seconds` (issue 13, "see where the time goes"; the metric's
//! definition is `twinwire_common::hops`). The round calls these at its instants, one line each;
//! what is observed when is decided here:
//!
//! - `command_wait`: a gateway's entry lands in `tw:{k}:cmd` (the entry id's milliseconds) → a
//!   read of the hub returns it (once per command entry);
//! - `round`: the read returns → the round's commits are sent (once per round that commits);
//! - `commit`: the commits are sent → all are answered, Redis's fsync included (once per round that
//!   commits; they go out pipelined together and the round waits for them together);
//! - `deliver`: the commits are answered → a shard's responses and fan-out are written to the node
//!   streams, their computation included (once per shard batch, one pipeline each).

use prometheus::{Histogram, Registry};
use redis::streams::StreamId;
use std::time::Instant;
use twinwire_common::clock::now_ms;
use twinwire_common::hops::{observe_since, observe_since_entry, register, HUB_HOPS};

pub struct Hops {
    command_wait: Histogram,
    round: Histogram,
    commit: Histogram,
    deliver: Histogram,
}

impl Hops {
    pub fn register(r: &Registry) -> Hops {
        let [command_wait, round, commit, deliver] = register(r, HUB_HOPS);
        Hops {
            command_wait,
            round,
            commit,
            deliver,
        }
    }

    /// A read of the command streams returned `batch` (shard, entries).
    pub fn read(&self, batch: &[(u32, Vec<StreamId>)]) {
        let now = now_ms();
        for (_, entries) in batch {
            for e in entries {
                observe_since_entry(&self.command_wait, &e.id, now);
            }
        }
    }

    /// The round read at `read` sends its commits now (`any`: it has some); the instant they leave.
    pub fn commits_sent(&self, read: Instant, any: bool) -> Instant {
        if any {
            observe_since(&self.round, read);
        }
        Instant::now()
    }

    /// The commits sent at `sent` are answered (`any`: there were some); the instant of the answer.
    pub fn commits_answered(&self, sent: Instant, any: bool) -> Instant {
        if any {
            observe_since(&self.commit, sent);
        }
        Instant::now()
    }

    /// The timer of a shard's deliveries, from its commit's answer at `committed`.
    pub fn deliveries(&self, committed: Instant) -> DeliveryTimer {
        DeliveryTimer {
            deliver: self.deliver.clone(),
            committed,
        }
    }
}

/// A shard's deliveries being written; moved into the task that writes them.
pub struct DeliveryTimer {
    deliver: Histogram,
    committed: Instant,
}

impl DeliveryTimer {
    /// The deliveries' pipeline is answered.
    pub fn written(self) {
        observe_since(&self.deliver, self.committed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_without_commits_observes_nothing_and_a_read_observes_each_entry() {
        let r = Registry::new();
        let hops = Hops::register(&r);
        let t = Instant::now();
        let sent = hops.commits_sent(t, false);
        hops.commits_answered(sent, false);
        assert_eq!(
            (
                hops.round.get_sample_count(),
                hops.commit.get_sample_count()
            ),
            (0, 0)
        );
        let sent = hops.commits_sent(t, true);
        let answered = hops.commits_answered(sent, true);
        hops.deliveries(answered).written();
        let entry = |id: &str| StreamId {
            id: id.to_owned(),
            ..Default::default()
        };
        hops.read(&[
            (1, vec![entry("1-0"), entry("2-0")]),
            (2, vec![entry("3-0")]),
        ]);
        assert_eq!(
            [&hops.command_wait, &hops.round, &hops.commit, &hops.deliver]
                .map(|h| h.get_sample_count()),
            [3, 1, 1, 1]
        );
    }
}
