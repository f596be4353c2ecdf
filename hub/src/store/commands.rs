//! The shards' command streams (`tw:{k}:cmd`) as the hubs' consumer group reads them: creating
//! the group, claiming a shard's pending entries on takeover,
//! and decoding an entry into its command. Reading new entries is `command_reader`'s.

use super::Store;
use crate::error::HubError;
use redis::streams::{StreamAutoClaimOptions, StreamAutoClaimReply, StreamId};
use twinwire_common::bus::{BusCommand, ReturnedSignal, CMD_FIELD, HUB_GROUP, RETURNED_FIELD};

/// The command an entry carries; `None` when it is malformed.
pub fn command_of(entry: &StreamId) -> Option<BusCommand> {
    let raw: Option<String> = entry.get(CMD_FIELD);
    raw.and_then(|r| serde_json::from_str::<BusCommand>(&r).ok())
}

/// The shared-subscription signal a gateway gave back, if the entry is one (its field is `r`,
/// a command's `m`); `Some(Err)` when it is malformed.
pub fn returned_of(entry: &StreamId) -> Option<Result<ReturnedSignal, String>> {
    let raw: Option<String> = entry.get(RETURNED_FIELD);
    raw.map(|r| ReturnedSignal::decode(&r).map_err(|e| e.0))
}

impl Store {
    /// Creates the hubs' consumer group on `shard`'s command stream if it has none.
    pub async fn ensure_command_group(&self, shard: u32) -> Result<(), HubError> {
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.cmd(shard))
            .arg(HUB_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn())
            .await;
        match created {
            Err(e) if !e.to_string().contains("BUSYGROUP") => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Claims for `consumer` everything pending in `shard`'s group, whoever held it.
    pub async fn claim_pending(
        &self,
        shard: u32,
        consumer: &str,
    ) -> Result<Vec<StreamId>, HubError> {
        let mut conn = self.conn();
        let mut claimed = Vec::new();
        let mut start = "0-0".to_string();
        loop {
            let reply: StreamAutoClaimReply = redis::AsyncCommands::xautoclaim_options(
                &mut conn,
                self.keys.cmd(shard),
                HUB_GROUP,
                consumer,
                0,
                &start,
                StreamAutoClaimOptions::default().count(1000),
            )
            .await?;
            claimed.extend(reply.claimed);
            if reply.next_stream_id == "0-0" {
                return Ok(claimed);
            }
            start = reply.next_stream_id;
        }
    }
}
