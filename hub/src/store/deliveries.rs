//! What a batch writes once it is committed (or once a takeover replays its journal), in one
//! pipeline: the deliveries to gateway nodes (responses first, in command order), the `fanned`
//! marker, policy-update announcements, and the acknowledgement and trimming of the shard's
//! command entries.

use super::policy_updates::UPDATES_MAXLEN;
use super::Store;
use redis::aio::ConnectionManager;
use std::future::Future;
use twinwire_common::bus::{Delivery, Keys, HUB_GROUP};

/// Approximate bound of a gateway node's delivery stream; a node that stopped reading loses the
/// oldest entries rather than filling Redis (its sessions are gone anyway once it is reaped).
const NODE_STREAM_MAXLEN: usize = 200_000;

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
            let c = self
                .pipe
                .cmd("XADD")
                .arg(self.keys.node(node))
                .arg("MAXLEN")
                .arg("~")
                .arg(NODE_STREAM_MAXLEN)
                .arg("*");
            for (k, v) in d.to_fields() {
                c.arg(k).arg(v);
            }
            c.ignore();
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
        self.pipe
            .cmd("XADD")
            .arg(self.keys.policy_updates())
            .arg("MAXLEN")
            .arg("~")
            .arg(UPDATES_MAXLEN)
            .arg("*")
            .arg("id")
            .arg(id)
            .arg("rev")
            .arg(revision)
            .ignore();
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
