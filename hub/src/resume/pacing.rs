//! Replay pacing (issue 16): a resuming session's replay is read a page per round, so a large
//! backlog does not hold up the round (every other shard's commands and events wait for it).
//!
//! A replay request stays pending in the shard's command group (not acknowledged) until its
//! replay is done: a hub that takes the shard over, or this hub recovering it, claims the request
//! and replays from the start again, and the session drops what it already has by journal
//! position, so the replay stays exact across a failover mid-way. The trim of the command stream
//! after each commit keeps the oldest unfinished request for the same reason.
//!
//! Each replay ends at the journal's tail when it was first handled, in the round that had caught
//! up on the session's subscription: everything after that is fanned out live to the session
//! (which holds it until the replay is done), so the replay never chases new writes.

use std::collections::BTreeMap;
use twinwire_common::bus::{parse_stream_id, ReplayRequest};

/// A replay under way: its request and how far it has read.
pub struct Paced {
    /// The request's command-stream entry, acknowledged once the replay is done.
    pub entry: String,
    pub request: ReplayRequest,
    /// The last journal id read (the request's position at first).
    pub from: String,
    /// The journal's tail when the replay was first handled (`None` until then).
    pub until: Option<(u64, u64)>,
    /// Events sent so far.
    pub sent: usize,
}

/// The unfinished replays of this hub's shards.
#[derive(Default)]
pub struct Replays {
    by_shard: BTreeMap<u32, Vec<Paced>>,
}

impl Replays {
    pub fn is_empty(&self) -> bool {
        self.by_shard.is_empty()
    }

    /// Adds `shard`'s new requests; returns the ids of malformed ones (to acknowledge and drop).
    pub fn queue(
        &mut self,
        shard: u32,
        requests: Vec<(String, Option<ReplayRequest>)>,
    ) -> Vec<String> {
        let mut malformed = Vec::new();
        for (entry, request) in requests {
            match request {
                Some(request) => self.by_shard.entry(shard).or_default().push(Paced {
                    entry,
                    from: request.after.clone(),
                    request,
                    until: None,
                    sent: 0,
                }),
                None => {
                    tracing::warn!(shard, id = %entry, "dropping malformed replay request");
                    malformed.push(entry);
                }
            }
        }
        malformed
    }

    /// The shards with replays under way.
    pub fn shards(&self) -> Vec<u32> {
        self.by_shard.keys().copied().collect()
    }

    /// Takes `shard`'s replays out (to run a page of each; unfinished ones are put back).
    pub fn take(&mut self, shard: u32) -> Vec<Paced> {
        self.by_shard.remove(&shard).unwrap_or_default()
    }

    /// Puts back replays that are not done.
    pub fn put_back(&mut self, shard: u32, replays: Vec<Paced>) {
        if !replays.is_empty() {
            self.by_shard.entry(shard).or_default().extend(replays);
        }
    }

    /// Forgets `shard`'s replays: its requests stay pending, and whoever takes the shard (this
    /// hub recovering it too) claims them and replays again from their start.
    pub fn forget(&mut self, shard: u32) {
        self.by_shard.remove(&shard);
    }

    /// Where the trim after `shard`'s commit (up to `applied`) may go: never past an unfinished
    /// replay's request, which must stay claimable.
    pub fn trim_to(&self, shard: u32, applied: Option<&str>) -> Option<String> {
        let oldest = self
            .by_shard
            .get(&shard)
            .into_iter()
            .flatten()
            .filter_map(|p| parse_stream_id(&p.entry).map(|id| (id, &p.entry)))
            .min();
        match (applied, oldest) {
            (Some(a), Some((id, entry))) if parse_stream_id(a).is_some_and(|a| a > id) => {
                Some(entry.clone())
            }
            (a, _) => a.map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinwire_common::bus::Origin;

    fn request(after: &str) -> Option<ReplayRequest> {
        Some(ReplayRequest {
            session: Origin {
                node: "n1".into(),
                session: 1,
            },
            after: after.into(),
        })
    }

    #[test]
    fn the_trim_keeps_unfinished_replay_requests() {
        let mut r = Replays::default();
        assert_eq!(r.trim_to(3, Some("10-0")), Some("10-0".into()));
        assert!(
            r.queue(
                3,
                vec![("5-1".into(), request("1-0")), ("7-0".into(), None)]
            ) == ["7-0"]
        );
        assert_eq!(r.trim_to(3, Some("10-0")), Some("5-1".into()));
        assert_eq!(r.trim_to(3, Some("4-0")), Some("4-0".into()));
        assert_eq!(r.trim_to(3, None), None);
        assert_eq!(r.trim_to(2, Some("10-0")), Some("10-0".into()));
        assert_eq!(r.shards(), vec![3]);
        r.forget(3);
        assert!(r.is_empty());
        assert_eq!(r.trim_to(3, Some("10-0")), Some("10-0".into()));
    }
}
