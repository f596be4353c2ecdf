//! How far behind the command streams of this hub's shards are, for the
//! `twinwire_hub_stream_{lag,pending}_entries` gauges: one pipelined `XINFO GROUPS` per lease tick.

use super::Store;
use crate::error::HubError;
use redis::streams::StreamInfoGroupsReply;
use twinwire_common::bus::HUB_GROUP;

/// Entries not yet read by the hubs' group, and entries read but not yet acknowledged, summed
/// over `shards`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub lag: u64,
    pub pending: u64,
}

impl Store {
    pub async fn backlog(&self, shards: &[u32]) -> Result<Backlog, HubError> {
        if shards.is_empty() {
            return Ok(Backlog::default());
        }
        let mut pipe = redis::pipe();
        for &s in shards {
            pipe.cmd("XINFO").arg("GROUPS").arg(self.keys.cmd(s));
        }
        let replies: Vec<StreamInfoGroupsReply> = pipe.query_async(&mut self.conn()).await?;
        let mut total = Backlog::default();
        for group in replies.iter().flat_map(|r| &r.groups) {
            if group.name == HUB_GROUP {
                // Redis cannot always tell the lag (entries deleted past the group's position);
                // those streams count as caught up rather than hiding the others.
                total.lag += group.lag.unwrap_or(0) as u64;
                total.pending += group.pending as u64;
            }
        }
        Ok(total)
    }
}
