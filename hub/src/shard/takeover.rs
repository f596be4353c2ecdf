//! Takeover (DESIGN.md "Sharding, failover, liveness"): making this hub the working owner of a
//! shard. It re-sends what the journal holds after `fanned`, claims the shard's pending entries
//! and skips those at or below `applied`, so no acknowledged command is lost or applied twice.
//! It is also how the hub recovers its own shard after a failed round or commit.

use super::state::ShardStates;
use crate::error::HubError;
use crate::events::EventFanout;
use crate::metrics::Metrics;
use crate::policies::PolicyCache;
use crate::registry::SubscriptionRegistry;
use crate::store::Store;
use crate::things::cache::{self, TwinCache};
use std::collections::VecDeque;
use twinwire_common::bus::{parse_stream_id, Delivery, JournalPos};

/// Journal entries replayed per round trip.
const REPLAY_PAGE: usize = 500;

/// What a takeover reads and changes.
pub struct Takeover<'a> {
    pub store: &'a Store,
    pub hub_id: &'a str,
    pub metrics: &'a Metrics,
    pub registry: &'a SubscriptionRegistry,
    pub shards: &'a mut ShardStates,
    pub twins: &'a mut TwinCache,
    pub policies: &'a mut PolicyCache,
}

impl Takeover<'_> {
    /// Finishes what the journal of `shard` holds beyond `fanned`, then queues the shard's
    /// pending entries (to be skipped if already applied).
    pub async fn take_over(mut self, shard: u32) -> Result<(), HubError> {
        self.store.ensure_command_group(shard).await?;
        self.twins.forget_shard(shard);
        let (applied, fanned) = self.store.markers(shard).await?;
        self.shards.set_applied(
            shard,
            applied
                .as_deref()
                .and_then(parse_stream_id)
                .unwrap_or((0, 0)),
        );
        let replayed = self.replay_journal(shard, fanned).await?;
        // Claim everything pending in the shard's group, whoever held it.
        let claimed: VecDeque<_> = self.store.claim_pending(shard, self.hub_id).await?.into();
        if replayed > 0 || !claimed.is_empty() {
            self.metrics.takeovers.inc();
            tracing::info!(shard, replayed, pending = claimed.len(), "shard taken over");
        }
        if !claimed.is_empty() {
            self.shards.queue_claimed(shard, claimed);
        }
        Ok(())
    }

    /// Re-sends responses and fan-out of journal entries after `fanned`.
    async fn replay_journal(
        &mut self,
        shard: u32,
        fanned: Option<String>,
    ) -> Result<usize, HubError> {
        let mut after = fanned;
        let mut total = 0;
        loop {
            let page = self
                .store
                .journal_after(shard, after.as_deref(), REPLAY_PAGE)
                .await?;
            let Some(last) = page.last().map(|(id, _)| id.clone()) else {
                break;
            };
            let mut entries = Vec::new();
            for (id, entry) in page {
                match entry {
                    Ok(j) => entries.push((id, j)),
                    Err(error) => {
                        tracing::warn!(shard, id = %id, %error, "skipping malformed journal entry")
                    }
                }
            }
            let policy_ids: Vec<String> =
                entries.iter().map(|(_, j)| j.policy_id.clone()).collect();
            self.policies.prefetch(self.store, &policy_ids).await?;
            let thing_ids: Vec<String> = entries
                .iter()
                .map(|(_, j)| j.event.thing_id.clone())
                .collect();
            let twins = cache::load(self.store, shard, &thing_ids).await?;
            let events = EventFanout {
                registry: self.registry,
                metrics: self.metrics,
            };
            let mut outputs: Vec<(String, Delivery)> = Vec::new();
            for ((id, j), twin) in entries.iter().zip(twins) {
                let pos = JournalPos::at(shard, id);
                if let (Some(r), Some(pos)) = (&j.response, pos) {
                    outputs.push((
                        j.origin.node.clone(),
                        Delivery::Response {
                            session: j.origin.session,
                            frame: r.clone(),
                            pos: Some(pos),
                            live: false,
                        },
                    ));
                }
                let policy = self.policies.get(&j.policy_id);
                outputs.extend(events.deliveries(
                    &j.event,
                    &j.origin,
                    twin.as_deref(),
                    policy.as_deref(),
                    pos,
                ));
            }
            total += entries.len();
            self.metrics.replayed_entries.inc_by(entries.len() as u64);
            if total == entries.len() {
                // Answers go out only once the replicas are there (see `Store::commit`).
                self.store.wait_for_replicas(shard).await?;
            }
            let mut batch = self.store.delivery_batch();
            batch.deliveries(&outputs);
            batch.fanned(shard, &last);
            batch.send().await?;
            after = Some(last);
        }
        Ok(total)
    }
}
