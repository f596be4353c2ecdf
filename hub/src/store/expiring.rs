//! The shards' subject-expiry schedules (`tw:{k}:expiring`): which policies are due (the sweeper
//! reads them), and putting the sweeper's commands on the shards' command streams. Commits write
//! the schedules themselves (`Write::Schedule`).

use super::Store;
use crate::error::HubError;
use twinwire_common::bus::{writes, BusCommand};

impl Store {
    /// Policies of `shards` due at `now_ms`: (shard, policy id, due time), at most `per_shard`
    /// per shard, one round trip.
    pub async fn due_policies(
        &self,
        shards: &[u32],
        now_ms: u64,
        per_shard: usize,
    ) -> Result<Vec<(u32, String, u64)>, HubError> {
        let mut pipe = redis::pipe();
        for s in shards {
            pipe.cmd("ZRANGE")
                .arg(self.keys.expiring(*s))
                .arg("-inf")
                .arg(now_ms)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(per_shard)
                .arg("WITHSCORES");
        }
        let mut conn = self.conn();
        let due: Vec<Vec<(String, f64)>> = self.bounded(pipe.query_async(&mut conn)).await?;
        Ok(shards
            .iter()
            .zip(due)
            .flat_map(|(s, members)| {
                members
                    .into_iter()
                    .map(move |(id, score)| (*s, id, score as u64))
            })
            .collect())
    }

    /// Puts commands on their shards' command streams.
    pub async fn enqueue_commands(&self, commands: &[(u32, BusCommand)]) -> Result<(), HubError> {
        if commands.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (shard, c) in commands {
            writes::add_command(&mut pipe, &self.keys, *shard, &c.encode());
        }
        let mut conn = self.conn();
        self.bounded(pipe.query_async::<()>(&mut conn)).await
    }
}
