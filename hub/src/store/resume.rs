//! The Redis calls of resume (issue 16): how far a shard journal is fanned out (and its trimming
//! by age), what the journal no longer holds, and the watermark deliveries to gateway nodes.

use super::Store;
use crate::error::HubError;
use twinwire_common::bus::{parse_stream_id, scripts, writes, Delivery};

/// What [`Store::journal_watermark`] found of one shard.
pub struct JournalState {
    pub fanned: Option<(u64, u64)>,
    pub tail: Option<(u64, u64)>,
    /// Redis's clock, ms.
    pub now_ms: u64,
}

impl Store {
    /// Trims `shard`'s journal to `retention_ms` and reads how far it is fanned out.
    pub async fn journal_watermark(
        &self,
        shard: u32,
        retention_ms: u64,
    ) -> Result<JournalState, HubError> {
        let (fanned, tail, now): (String, String, String) =
            redis::Script::new(scripts::JOURNAL_WATERMARK)
                .key(self.keys.fanned(shard))
                .key(self.keys.events(shard))
                .arg(retention_ms)
                .invoke_async(&mut self.conn())
                .await?;
        Ok(JournalState {
            fanned: parse_stream_id(&fanned),
            tail: parse_stream_id(&tail),
            now_ms: now.parse().unwrap_or(0),
        })
    }

    /// The newest id trimmed from `shard`'s journal ((0, 0) when nothing was): a replay after an
    /// older position would miss entries.
    pub async fn journal_trimmed_up_to(&self, shard: u32) -> Result<(u64, u64), HubError> {
        let id: String = redis::Script::new(scripts::JOURNAL_TRIMMED)
            .key(self.keys.events(shard))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(parse_stream_id(&id).unwrap_or((0, 0)))
    }

    /// The id of `shard`'s newest journal entry (None: the journal is empty): where a replay
    /// first handled now ends, since everything later is fanned out live.
    pub async fn journal_tail(&self, shard: u32) -> Result<Option<(u64, u64)>, HubError> {
        let last: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(self.keys.events(shard))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn())
            .await?;
        Ok(last.ids.first().and_then(|e| parse_stream_id(&e.id)))
    }

    /// Sends `d` to each of `nodes` (one entry per node).
    pub async fn send_to_nodes(&self, nodes: &[String], d: &Delivery) -> Result<(), HubError> {
        let mut pipe = redis::pipe();
        for n in nodes {
            writes::add_delivery(&mut pipe, &self.keys, n, d);
        }
        pipe.query_async::<()>(&mut self.conn()).await?;
        Ok(())
    }
}
