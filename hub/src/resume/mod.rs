//! Resume (issue 16), the hub's part: replaying a shard's journal to one resuming session, and
//! telling gateway nodes how far each shard is fanned out (the watermarks their tokens are built
//! on). A replay is asked for on the shard's command stream (`ReplayRequest`), so it is handled
//! by the shard's owner in a round, after the round caught up on subscriptions: every event after
//! the position is then either in the journal now (replayed) or fanned out live to the session.
//! Replays are paced a page per round (`pacing`), so other sessions' work keeps flowing.

mod pacing;
mod watermark;

pub use pacing::Replays;
pub use watermark::Watermarks;

use crate::error::HubError;
use crate::events::EventFanout;
use crate::metrics::Metrics;
use crate::policies::PolicyCache;
use crate::registry::SubscriptionRegistry;
use crate::store::Store;
use crate::things::cache;
use pacing::Paced;
use redis::streams::StreamId;
use twinwire_common::bus::{
    parse_stream_id, Delivery, JournalPos, ReplayRequest, StreamEntry, REPLAY_FIELD,
};
use twinwire_common::protocol::StreamingKind;

/// Journal entries read per round trip of a replay: a resuming session's share of one round.
const REPLAY_PAGE: usize = 500;

/// Takes the replay requests out of a shard's command entries: `(entry id, request)`, malformed
/// ones included as `None` (acknowledged and dropped).
pub fn take_requests(entries: &mut Vec<StreamId>) -> Vec<(String, Option<ReplayRequest>)> {
    if !entries.iter().any(|e| e.map.contains_key(REPLAY_FIELD)) {
        return Vec::new();
    }
    let (requests, commands): (Vec<StreamId>, Vec<StreamId>) = std::mem::take(entries)
        .into_iter()
        .partition(|e| e.map.contains_key(REPLAY_FIELD));
    *entries = commands;
    requests
        .into_iter()
        .map(|e| {
            let r = ReplayRequest::decode(&e).ok();
            (e.id, r)
        })
        .collect()
}

/// What a replay reads.
pub struct Replay<'a> {
    pub store: &'a Store,
    pub registry: &'a SubscriptionRegistry,
    pub policies: &'a mut PolicyCache,
    pub metrics: &'a Metrics,
}

impl Replay<'_> {
    /// One page of every replay of `shards` under way (a round's share of them); finished ones
    /// are marked done on their node and acknowledged. Returns the shards that failed (their
    /// replays are dropped here; their requests stay pending for the shard's recovery).
    pub async fn step(&mut self, replays: &mut Replays, shards: &[u32]) -> Vec<(u32, HubError)> {
        let mut failed = Vec::new();
        for &shard in shards {
            let mut under_way = replays.take(shard);
            let mut finished = Vec::new();
            let mut error = None;
            for mut p in std::mem::take(&mut under_way) {
                if error.is_some() {
                    continue;
                }
                match self.page(shard, &mut p).await {
                    Ok(true) => finished.push(p.entry),
                    Ok(false) => under_way.push(p),
                    Err(e) => error = Some(e),
                }
            }
            if error.is_none() && !finished.is_empty() {
                let mut batch = self.store.delivery_batch();
                batch.acknowledge(shard, &finished, None);
                if let Err(e) = batch.send().await {
                    error = Some(e.into());
                }
            }
            match error {
                Some(e) => failed.push((shard, e)),
                None => replays.put_back(shard, under_way),
            }
        }
        failed
    }

    /// Sends the session the next page of `shard`'s journal after `p.from` that its subscription
    /// sees, up to where the replay ends; true when it is done (and marked so). A position the
    /// journal no longer holds is marked expired instead: never a partial replay.
    async fn page(&mut self, shard: u32, p: &mut Paced) -> Result<bool, HubError> {
        let node = p.request.session.node.clone();
        let session = p.request.session.session;
        let done = |expired| Delivery::ReplayDone {
            session,
            shard,
            expired,
        };
        let from = parse_stream_id(&p.from).unwrap_or((0, 0));
        if self.store.journal_trimmed_up_to(shard).await? > from {
            self.store.send_to_nodes(&[node], &done(true)).await?;
            return Ok(true);
        }
        let Some(group) = self
            .registry
            .group_of(&node, session, StreamingKind::Events)
        else {
            // The session ended (or stopped) before its replay: nothing to send.
            self.store.send_to_nodes(&[node], &done(false)).await?;
            return Ok(true);
        };
        let until = match p.until {
            Some(u) => u,
            None => {
                let tail = self.store.journal_tail(shard).await?.unwrap_or((0, 0));
                p.until = Some(tail);
                tail
            }
        };
        let page = if from < until {
            self.store
                .journal_after(shard, Some(&p.from), REPLAY_PAGE)
                .await?
        } else {
            Vec::new()
        };
        // The end: the journal's (a short page), or the replay's own (`until`, in or before
        // this page).
        let whole = page.len() == REPLAY_PAGE;
        let entries: Vec<_> = page
            .into_iter()
            .filter(|(id, _)| parse_stream_id(id).is_some_and(|id| id <= until))
            .collect();
        let reached_end = !whole
            || entries.len() < REPLAY_PAGE
            || entries.last().and_then(|(id, _)| parse_stream_id(id)) == Some(until);
        if let Some((last, _)) = entries.last() {
            p.from = last.clone();
        }
        let entries: Vec<_> = entries
            .into_iter()
            .filter_map(|(id, e)| e.ok().map(|j| (id, j)))
            .collect();
        let events = EventFanout {
            registry: self.registry,
            metrics: self.metrics,
        };
        let policy_ids: Vec<String> = entries.iter().map(|(_, j)| j.policy_id.clone()).collect();
        self.policies.prefetch(self.store, &policy_ids).await?;
        let thing_ids: Vec<String> = entries
            .iter()
            .map(|(_, j)| j.event.thing_id.clone())
            .collect();
        let twins = cache::load(self.store, shard, &thing_ids).await?;
        let mut outputs = Vec::new();
        for ((id, j), twin) in entries.iter().zip(twins) {
            let (Some(pos), policy) = (JournalPos::at(shard, id), self.policies.get(&j.policy_id))
            else {
                continue;
            };
            if let Some(frame) = events.replayed_frame(
                &j.event,
                &j.origin,
                twin.as_deref(),
                policy.as_deref(),
                group,
            ) {
                outputs.push((
                    node.clone(),
                    Delivery::Replayed {
                        session,
                        pos,
                        frame,
                    },
                ));
            }
        }
        p.sent += outputs.len();
        if !outputs.is_empty() {
            let mut batch = self.store.delivery_batch();
            batch.deliveries(&outputs);
            batch.send().await?;
        }
        if !reached_end {
            return Ok(false);
        }
        tracing::debug!(shard, session, node = %node, after = %p.request.after, sent = p.sent, "replayed to a resuming session");
        self.store.send_to_nodes(&[node], &done(false)).await?;
        Ok(true)
    }
}
