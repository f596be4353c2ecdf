//! Watermarks: how far this hub has fanned out each shard it owns, sent to every gateway node
//! with subscriptions a few times a second (one entry per node, never per session). A node's
//! resume tokens are built on them: a session has every matching event of shard k up to the
//! node's watermark of k. An idle shard's watermark follows Redis's clock (its next entry gets a
//! later id), so tokens stay young, and within the retention, while nothing happens.
//! The same pass trims the journals by age (`resume.retention_secs`).

use crate::error::HubError;
use crate::registry::SubscriptionRegistry;
use crate::store::Store;
use std::time::{Duration, Instant};
use twinwire_common::bus::{journal_watermark, Delivery, JournalPos};

/// How often watermarks go out.
const INTERVAL: Duration = Duration::from_millis(500);

pub struct Watermarks {
    retention_ms: u64,
    next: Instant,
}

impl Watermarks {
    pub fn new(retention_secs: u64) -> Watermarks {
        Watermarks {
            retention_ms: retention_secs.saturating_mul(1000),
            next: Instant::now(),
        }
    }

    /// Whether the next watermarks are due.
    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Sends the watermarks of `shards`. Runs between rounds, so no commit of this hub is in
    /// flight.
    pub async fn tick(
        &mut self,
        store: &Store,
        registry: &SubscriptionRegistry,
        shards: &[u32],
    ) -> Result<(), HubError> {
        self.next = Instant::now() + INTERVAL;
        // Every shard's script at once: the multiplexed connection pipelines them, so the pass
        // costs one round trip, not one per shard, between two rounds.
        let states = futures_util::future::try_join_all(
            shards
                .iter()
                .map(|shard| store.journal_watermark(*shard, self.retention_ms)),
        )
        .await?;
        let mut marks = Vec::with_capacity(shards.len());
        for (shard, s) in shards.iter().zip(states) {
            let Some(mark) = journal_watermark(s.fanned, s.tail, s.now_ms) else {
                continue;
            };
            marks.push(JournalPos {
                shard: *shard,
                ms: mark.0,
                seq: mark.1,
            });
        }
        let nodes: Vec<String> = registry.nodes().into_iter().collect();
        if marks.is_empty() || nodes.is_empty() {
            return Ok(());
        }
        tracing::trace!(shards = marks.len(), nodes = nodes.len(), least = ?marks.iter().map(|m| m.id()).min(), "watermarks");
        store
            .send_to_nodes(&nodes, &Delivery::Watermark { marks })
            .await
    }
}
