//! What a committed shard batch sends: each command's response and then its live deliveries and
//! event fan-out, in command order, each response carrying its event's journal position.

use super::prepare::ShardBatch;
use crate::events::EventFanout;
use crate::metrics::Metrics;
use twinwire_common::bus::{Delivery, JournalPos};
use twinwire_common::clock::now_ms;

/// The deliveries of a committed batch (`journal_ids`: the ids of its events, in order).
pub fn deliveries_of(
    batch: &ShardBatch,
    journal_ids: &[String],
    events: &EventFanout,
    metrics: &Metrics,
) -> Vec<(String, Delivery)> {
    let mut outputs: Vec<(String, Delivery)> = batch.redispatched.clone();
    let mut jids = journal_ids.iter();
    let written_ms = now_ms();
    for it in &batch.effects {
        let pos = if it.event.is_some() {
            jids.next().and_then(|id| JournalPos::at(batch.shard, id))
        } else {
            None
        };
        if let Some(r) = &it.response {
            outputs.push((
                it.origin.node.clone(),
                Delivery::Response {
                    session: it.origin.session,
                    frame: r.clone(),
                    pos,
                    // A refused live signal settles the sender's pending request.
                    live: it.live_signal,
                },
            ));
            metrics
                .command_latency
                .observe(written_ms.saturating_sub(it.accepted_ms) as f64 / 1000.0);
        }
        outputs.extend(it.live.iter().cloned());
        if let Some((ev, twin, policy)) = &it.event {
            outputs.extend(events.deliveries(
                ev,
                &it.origin,
                twin.as_deref(),
                policy.as_deref(),
                pos,
            ));
        }
    }
    outputs
}
