//! The subscription keys as the hub reads them (DESIGN.md §3): each gateway node's hash of
//! subscription records, the `tw:subs` change stream, and the nodes' liveness keys, by which the
//! hubs find dead nodes and remove what they left behind.

use super::Store;
use crate::error::HubError;
use std::collections::HashMap;
use twinwire_common::bus::{writes, DecodeError, Delivery, StreamEntry, SubChange};

impl Store {
    /// The id of the newest subscription change, to tail the change stream from.
    pub async fn sub_changes_tail(&self) -> Result<String, HubError> {
        self.stream_tail(&self.keys.subs_stream()).await
    }

    /// The id of the oldest subscription change the stream still holds, if any: trimming moves
    /// it forward, so when it is newer than a reader's position, changes may have been lost.
    pub async fn sub_changes_head(&self) -> Result<Option<String>, HubError> {
        let head: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.keys.subs_stream())
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn())
            .await?;
        Ok(head.ids.first().map(|e| e.id.clone()))
    }

    /// Up to `count` subscription changes after `from`: each entry's id and its string fields.
    pub async fn sub_changes_after(
        &self,
        from: &str,
        count: usize,
    ) -> Result<Vec<(String, Result<SubChange, DecodeError>)>, HubError> {
        let entries = self
            .read_after(&self.keys.subs_stream(), from, count)
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let change = SubChange::decode(&e);
                (e.id, change)
            })
            .collect())
    }

    /// The nodes that have a subscription hash.
    pub async fn subscribed_nodes(&self) -> Result<Vec<String>, HubError> {
        let mut conn = self.conn();
        let prefix = self.keys.subs_hash("");
        let mut nodes = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(self.keys.subs_hash_pattern())
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            nodes.extend(
                batch
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)),
            );
            cursor = next;
            if cursor == 0 {
                return Ok(nodes);
            }
        }
    }

    /// A node's subscription records, by field.
    pub async fn node_subscriptions(
        &self,
        node: &str,
    ) -> Result<HashMap<String, String>, HubError> {
        Ok(redis::cmd("HGETALL")
            .arg(self.keys.subs_hash(node))
            .query_async(&mut self.conn())
            .await?)
    }

    /// Whether each of `nodes` still has its liveness key.
    pub async fn nodes_alive(&self, nodes: &[String]) -> Result<Vec<bool>, HubError> {
        let mut pipe = redis::pipe();
        for n in nodes {
            pipe.cmd("EXISTS").arg(self.keys.node_alive(n));
        }
        Ok(pipe.query_async(&mut self.conn()).await?)
    }

    /// Announces that `node` is gone, so every hub drops it, then removes its subscriptions, its
    /// delivery stream and its acknowledgement labels.
    ///
    /// Returns the deliveries the node never read (it trims what it read), taken in the same
    /// transaction as the stream's removal, so when hubs reap a node together only one gets
    /// them: shared-subscription signals among them go to other members.
    pub async fn remove_dead_node(&self, node: &str) -> Result<Vec<Delivery>, HubError> {
        // One key per transaction, so it holds under Redis Cluster too.
        let mut take = redis::pipe();
        take.atomic();
        take.cmd("XRANGE")
            .arg(self.keys.node(node))
            .arg("-")
            .arg("+");
        take.cmd("DEL").arg(self.keys.node(node)).ignore();
        let (unread,): (redis::streams::StreamRangeReply,) =
            take.query_async(&mut self.conn()).await?;
        let mut pipe = redis::pipe();
        writes::forget_node(&mut pipe, &self.keys, node);
        pipe.query_async::<()>(&mut self.conn()).await?;
        Ok(unread
            .ids
            .iter()
            .filter_map(|e| Delivery::decode(e).ok())
            .collect())
    }
}
