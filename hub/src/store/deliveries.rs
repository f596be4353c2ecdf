//! What a batch writes once it is committed (or once a takeover replays its journal), in one
//! pipeline (two round trips on a Redis Cluster, markers last): the deliveries to gateway nodes
//! (responses first, in command order), the `fanned` marker, policy-update announcements, and the
//! acknowledgement and trimming of the shard's command entries.

use super::Store;
use std::future::Future;
use twinwire_common::bus::{writes, Delivery, Keys, PolicyUpdate, HUB_GROUP};
use twinwire_common::redis_connection::RedisConnection;

/// Post-commit writes, sent with [`DeliveryBatch::send`]: the deliveries, then the markers.
pub struct DeliveryBatch {
    pipe: redis::Pipeline,
    /// `fanned`, policy updates and acknowledgements: they must land after the deliveries (a
    /// hub that dies in between re-sends from `fanned`), which one pipeline on one server
    /// ensures and a cluster, whose per-slot parts run concurrently, does not.
    markers: redis::Pipeline,
    keys: Keys,
    conn: RedisConnection,
}

impl Store {
    pub fn delivery_batch(&self) -> DeliveryBatch {
        DeliveryBatch {
            pipe: redis::pipe(),
            markers: redis::pipe(),
            keys: self.keys.clone(),
            conn: self.conn(),
        }
    }
}

impl DeliveryBatch {
    /// Appends each delivery to its node's stream.
    pub fn deliveries(&mut self, outputs: &[(String, Delivery)]) {
        for (node, d) in outputs {
            writes::add_delivery(&mut self.pipe, &self.keys, node, d);
        }
    }

    /// Records that `shard`'s journal is delivered up to `journal_id`.
    pub fn fanned(&mut self, shard: u32, journal_id: &str) {
        self.markers
            .cmd("SET")
            .arg(self.keys.fanned(shard))
            .arg(journal_id)
            .ignore();
    }

    /// Announces a policy's new revision (`-1`: deleted) to every hub.
    pub fn policy_update(&mut self, id: &str, revision: i64) {
        let update = PolicyUpdate {
            id: id.to_owned(),
            revision,
        };
        writes::add_policy_update(&mut self.markers, &self.keys, &update);
    }

    /// Acknowledges the command entries `ids` of `shard`; with `applied`, trims the stream below
    /// it (entries below the applied one are done; the stream keeps only what may be pending).
    pub fn acknowledge(&mut self, shard: u32, ids: &[String], applied: Option<&str>) {
        let cmd_key = self.keys.cmd(shard);
        self.markers
            .cmd("XACK")
            .arg(&cmd_key)
            .arg(HUB_GROUP)
            .arg(ids)
            .ignore();
        if let Some(last) = applied {
            self.markers
                .cmd("XTRIM")
                .arg(&cmd_key)
                .arg("MINID")
                .arg(last)
                .ignore();
        }
    }

    /// Sends the pipeline; the future owns everything it needs, so it can be spawned.
    pub fn send(self) -> impl Future<Output = redis::RedisResult<()>> + Send + 'static {
        let DeliveryBatch {
            pipe,
            markers,
            mut conn,
            ..
        } = self;
        async move { conn.send_in_order(vec![pipe, markers]).await }
    }
}
