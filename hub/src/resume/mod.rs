//! Resume (issue 16), the hub's part: replaying a shard's journal to one resuming session, and
//! telling gateway nodes how far each shard is fanned out (the watermarks their tokens are built
//! on). A replay is asked for on the shard's command stream (`ReplayRequest`), so it is handled
//! by the shard's owner in a round, after the round caught up on subscriptions: every event after
//! the position is then either in the journal now (replayed) or fanned out live to the session.

mod watermark;

pub use watermark::Watermarks;

use crate::error::HubError;
use crate::events::EventFanout;
use crate::metrics::Metrics;
use crate::policies::PolicyCache;
use crate::registry::SubscriptionRegistry;
use crate::store::Store;
use crate::things::cache;
use redis::streams::StreamId;
use twinwire_common::bus::{
    parse_stream_id, Delivery, JournalPos, ReplayRequest, StreamEntry, REPLAY_FIELD,
};
use twinwire_common::protocol::StreamingKind;

/// Journal entries read per round trip of a replay.
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
    /// Handles `shard`'s replay requests and acknowledges them.
    pub async fn run(
        &mut self,
        shard: u32,
        requests: Vec<(String, Option<ReplayRequest>)>,
    ) -> Result<(), HubError> {
        let ids: Vec<String> = requests.iter().map(|(id, _)| id.clone()).collect();
        for (id, request) in requests {
            match request {
                Some(r) => self.replay(shard, &r).await?,
                None => tracing::warn!(shard, id = %id, "dropping malformed replay request"),
            }
        }
        let mut batch = self.store.delivery_batch();
        batch.acknowledge(shard, &ids, None);
        batch.send().await?;
        Ok(())
    }

    /// Sends the session every journal entry of `shard` after the request's position that its
    /// subscription sees, then marks the shard done. A position the journal no longer holds is
    /// marked expired instead: never a partial replay.
    async fn replay(&mut self, shard: u32, r: &ReplayRequest) -> Result<(), HubError> {
        let node = r.session.node.clone();
        let session = r.session.session;
        let after = parse_stream_id(&r.after).unwrap_or((0, 0));
        let done = |expired| Delivery::ReplayDone {
            session,
            shard,
            expired,
        };
        if self.store.journal_trimmed_up_to(shard).await? > after {
            return self.store.send_to_nodes(&[node], &done(true)).await;
        }
        let Some(group) = self
            .registry
            .group_of(&node, session, StreamingKind::Events)
        else {
            // The session ended (or stopped) before its replay: nothing to send.
            return self.store.send_to_nodes(&[node], &done(false)).await;
        };
        let events = EventFanout {
            registry: self.registry,
            metrics: self.metrics,
        };
        let mut from = r.after.clone();
        let mut sent = 0usize;
        loop {
            let page = self
                .store
                .journal_after(shard, Some(&from), REPLAY_PAGE)
                .await?;
            let Some(last) = page.last().map(|(id, _)| id.clone()) else {
                break;
            };
            let entries: Vec<_> = page
                .into_iter()
                .filter_map(|(id, e)| e.ok().map(|j| (id, j)))
                .collect();
            let policy_ids: Vec<String> =
                entries.iter().map(|(_, j)| j.policy_id.clone()).collect();
            self.policies.prefetch(self.store, &policy_ids).await?;
            let thing_ids: Vec<String> = entries
                .iter()
                .map(|(_, j)| j.event.thing_id.clone())
                .collect();
            let twins = cache::load(self.store, shard, &thing_ids).await?;
            let mut outputs = Vec::new();
            for ((id, j), twin) in entries.iter().zip(twins) {
                let (Some(pos), policy) =
                    (JournalPos::at(shard, id), self.policies.get(&j.policy_id))
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
            sent += outputs.len();
            if !outputs.is_empty() {
                let mut batch = self.store.delivery_batch();
                batch.deliveries(&outputs);
                batch.send().await?;
            }
            from = last;
        }
        tracing::debug!(shard, session, node = %node, after = %r.after, sent, "replayed to a resuming session");
        self.store.send_to_nodes(&[node], &done(false)).await
    }
}
