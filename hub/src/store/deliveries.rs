//! What a batch writes once it is committed (or once a takeover replays its journal), in one
//! pipeline: the deliveries to gateway nodes (responses first, in command order), the `fanned`
//! marker, policy-update announcements, and the acknowledgement and trimming of the shard's
//! command entries.

use super::Store;
use redis::aio::ConnectionManager;
use std::future::Future;
use twinwire_common::bus::{writes, Delivery, Keys, PolicyUpdate, HUB_GROUP};

/// One pipeline of post-commit writes, sent with [`DeliveryBatch::send`].
pub struct DeliveryBatch {
    pipe: redis::Pipeline,
    keys: Keys,
    conn: ConnectionManager,
}

impl Store {
    pub fn delivery_batch(&self) -> DeliveryBatch {
        DeliveryBatch {
            pipe: redis::pipe(),
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
        self.pipe
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
        writes::add_policy_update(&mut self.pipe, &self.keys, &update);
    }

    /// Acknowledges the command entries `ids` of `shard`; with `applied`, trims the stream below
    /// it (entries below the applied one are done; the stream keeps only what may be pending).
    pub fn acknowledge(&mut self, shard: u32, ids: &[String], applied: Option<&str>) {
        let cmd_key = self.keys.cmd(shard);
        self.pipe
            .cmd("XACK")
            .arg(&cmd_key)
            .arg(HUB_GROUP)
            .arg(ids)
            .ignore();
        if let Some(last) = applied {
            self.pipe
                .cmd("XTRIM")
                .arg(&cmd_key)
                .arg("MINID")
                .arg(last)
                .ignore();
        }
    }

    /// Sends the pipeline; the future owns everything it needs, so it can be spawned.
    pub fn send(self) -> impl Future<Output = redis::RedisResult<()>> + Send + 'static {
        let DeliveryBatch { pipe, mut conn, .. } = self;
        async move { pipe.query_async::<()>(&mut conn).await }
    }
}
