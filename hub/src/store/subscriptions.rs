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
        let prefix = self.keys.subs_hash("");
        // Every primary's keys: in a cluster the nodes' hashes spread over the primaries.
        let keys = self
            .conn()
            .scan_match(&self.keys.subs_hash_pattern())
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect())
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
    /// delivery stream and its acknowledgement labels. Returns the deliveries the node never read
    /// (see [`Store::take_node_deliveries`]).
    pub async fn remove_dead_node(&self, node: &str) -> Result<Vec<Delivery>, HubError> {
        let unread = self.take_node_deliveries(node).await?;
        let mut pipe = redis::pipe();
        writes::forget_node(&mut pipe, &self.keys, node);
        pipe.query_async::<()>(&mut self.conn()).await?;
        Ok(unread)
    }

    /// Takes and deletes the delivery stream of a node that left: what is in it the node never
    /// read (it trims what it reads), and shared-subscription signals among it go to other
    /// members. One transaction on the one key, so when several hubs take it only one gets the
    /// entries, and it holds under Redis Cluster too.
    pub async fn take_node_deliveries(&self, node: &str) -> Result<Vec<Delivery>, HubError> {
        let mut take = redis::pipe();
        take.atomic();
        take.cmd("XRANGE")
            .arg(self.keys.node(node))
            .arg("-")
            .arg("+");
        take.cmd("DEL").arg(self.keys.node(node)).ignore();
        let (unread,): (redis::streams::StreamRangeReply,) =
            take.query_async(&mut self.conn()).await?;
        Ok(unread
            .ids
            .iter()
            .filter_map(|e| Delivery::decode(e).ok())
            .collect())
    }
}
