//! The cluster mode's connection: the `redis` crate's cluster client (slot map, `MOVED`/`ASK`,
//! reconnection and slot refresh after a failover), connected at first use, plus what it lacks
//! for twinwire: a pipeline whose commands address several slots is sent as one pipeline per slot,
//! concurrently (a cluster node refuses keys of other slots, and the client refuses such a
//! pipeline), with the replies put back in the pipeline's order.

use super::slot::{key_of, slot_of};
use super::CONNECT_TIMEOUT;
use redis::aio::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Retries of a request after a connection error or while a slot has no reachable primary
/// (a failover in progress), with waits between 50 and 500 ms; the response timeout bounds the
/// whole.
const RETRIES: u32 = 6;

pub fn client(nodes: &[String], response_timeout: Option<Duration>) -> RedisResult<ClusterClient> {
    let mut b = ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(CONNECT_TIMEOUT)
        .retries(RETRIES)
        .min_retry_wait(50)
        .max_retry_wait(500);
    if let Some(t) = response_timeout {
        b = b.response_timeout(t);
    }
    b.build()
}

/// A cluster connection made at its first use (so a binary starts while Redis is down, as in
/// standalone mode); clones share it.
#[derive(Clone)]
pub struct Lazy {
    client: Arc<ClusterClient>,
    conn: Arc<OnceCell<ClusterConnection>>,
}

impl Lazy {
    pub fn new(client: ClusterClient) -> Lazy {
        Lazy {
            client: Arc::new(client),
            conn: Arc::new(OnceCell::new()),
        }
    }

    async fn get(&self) -> RedisResult<ClusterConnection> {
        self.conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }

    /// Runs `cmd` on the primary of `slot`.
    pub async fn route_to_slot(&mut self, slot: u16, cmd: &Cmd) -> RedisResult<Value> {
        let mut conn = self.get().await?;
        let route = redis::cluster_routing::Route::new(slot, SlotAddr::Master);
        conn.route_command(
            cmd.clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
        )
        .await
    }

    /// The address of the primary serving `slot` now.
    pub async fn primary_of(&mut self, slot: u16) -> RedisResult<(String, u16)> {
        let mut conn = self.get().await?;
        let slots = conn
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let ranges: Vec<Vec<Value>> = FromRedisValue::from_redis_value(slots)?;
        for range in ranges {
            let (Some(start), Some(end)) = (range.first(), range.get(1)) else {
                continue;
            };
            let start: u16 = FromRedisValue::from_redis_value(start.clone())?;
            let end: u16 = FromRedisValue::from_redis_value(end.clone())?;
            if (start..=end).contains(&slot) {
                if let Some(node) = range.get(2) {
                    return address(node.clone());
                }
            }
        }
        Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "no primary serves the slot",
            slot.to_string(),
        )))
    }

    /// `SCAN … MATCH pattern` on every primary.
    pub async fn scan_match(&mut self, pattern: &str) -> RedisResult<Vec<String>> {
        let mut conn = self.get().await?;
        let slots = conn
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let mut keys = Vec::new();
        for (host, port) in primaries(slots)? {
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000);
                let reply = conn
                    .route_command(
                        scan,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        }),
                    )
                    .await?;
                let (next, batch): (u64, Vec<String>) = FromRedisValue::from_redis_value(reply)?;
                keys.extend(batch);
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        // A slot migrating while we scan may show a key on both nodes.
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// The distinct primaries of a `CLUSTER SLOTS` reply.
fn primaries(slots: Value) -> RedisResult<Vec<(String, u16)>> {
    let ranges: Vec<Vec<Value>> = FromRedisValue::from_redis_value(slots)?;
    let mut out: Vec<(String, u16)> = Vec::new();
    for range in ranges {
        let Some(primary) = range.get(2) else {
            continue;
        };
        let node = address(primary.clone())?;
        if !out.contains(&node) {
            out.push(node);
        }
    }
    Ok(out)
}

/// A node's `[host, port, id, …]` of a `CLUSTER SLOTS` reply.
fn address(node: Value) -> RedisResult<(String, u16)> {
    let node: Vec<Value> = FromRedisValue::from_redis_value(node)?;
    match (node.first(), node.get(1)) {
        (Some(host), Some(port)) => Ok((
            FromRedisValue::from_redis_value(host.clone())?,
            FromRedisValue::from_redis_value(port.clone())?,
        )),
        _ => Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "a CLUSTER SLOTS node without an address",
        ))),
    }
}

impl ConnectionLike for Lazy {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.get().await?.req_packed_command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.get().await?;
            let by_slot = split_by_slot(pipeline);
            // A transaction (offset > 0) must stay whole: its keys share one slot by design.
            if pipeline.is_transaction() || by_slot.len() <= 1 {
                return conn.req_packed_commands(pipeline, offset, count).await;
            }
            let sent = by_slot.values().map(|(indices, part)| {
                let mut conn = conn.clone();
                async move {
                    let replies = conn.req_packed_commands(part, 0, indices.len()).await?;
                    Ok::<_, redis::RedisError>(indices.iter().copied().zip(replies))
                }
            });
            let mut replies = vec![Value::Nil; pipeline.len()];
            for part in futures_util::future::try_join_all(sent).await? {
                for (i, v) in part {
                    replies[i] = v;
                }
            }
            Ok(replies)
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The pipeline's commands grouped by slot, each group with the commands' positions. A keyless
/// command joins the first group.
fn split_by_slot(pipeline: &Pipeline) -> BTreeMap<u16, (Vec<usize>, Pipeline)> {
    let slots: Vec<Option<u16>> = pipeline
        .cmd_iter()
        .map(|c| key_of(c).map(|k| slot_of(&k)))
        .collect();
    let first = slots.iter().flatten().next().copied().unwrap_or(0);
    let mut by_slot: BTreeMap<u16, (Vec<usize>, Pipeline)> = BTreeMap::new();
    for (i, (cmd, slot)) in pipeline.cmd_iter().zip(slots).enumerate() {
        let (indices, part) = by_slot
            .entry(slot.unwrap_or(first))
            .or_insert_with(|| (Vec::new(), redis::pipe()));
        indices.push(i);
        part.add_command(cmd.clone());
    }
    by_slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_splits_into_one_pipeline_per_slot_in_order() {
        let mut p = redis::pipe();
        p.cmd("GET")
            .arg("tw:{1}:applied")
            .cmd("XADD")
            .arg("tw:node:n1")
            .arg("*")
            .arg("a")
            .arg("b")
            .cmd("GET")
            .arg("tw:{1}:fanned");
        let split = split_by_slot(&p);
        assert_eq!(split.len(), 2);
        let shard1 = &split[&slot_of(b"tw:{1}:x")];
        assert_eq!(shard1.0, vec![0, 2]);
        assert_eq!(shard1.1.len(), 2);
        assert_eq!(split[&slot_of(b"tw:node:n1")].0, vec![1]);
    }
}
