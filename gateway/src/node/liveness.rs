//! Keeps `tw:node:<n>:alive` fresh so hubs know this node exists, and notices when Redis has
//! forgotten us (restart without our data, or hubs declared us dead): then the node rewrites its
//! whole subscription hash (DESIGN.md §3). It does the same when a write removing subscriptions
//! failed, so the records of sessions that ended do not stay in Redis and in every hub.

use super::publisher::BusWrite;
use super::Node;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::redis_connection::RedisConnection;

/// How often the key is refreshed.
pub const REFRESH: Duration = Duration::from_secs(3);
/// How long the key lives; three missed refreshes make a node dead to the hubs.
pub const TTL: Duration = Duration::from_secs(10);

pub async fn run(node: Arc<Node>, mut conn: RedisConnection) {
    let key = node.keys.node_alive(&node.id);
    let mut registered = false;
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if node.draining.load(Ordering::Relaxed) && node.sessions.session_count() == 0 {
            return;
        }
        let previous: Result<Option<String>, _> = redis::cmd("SET")
            .arg(&key)
            .arg(chrono::Utc::now().timestamp_millis())
            .arg("PX")
            .arg(TTL.as_millis() as u64)
            .arg("GET")
            .query_async(&mut conn)
            .await;
        match previous {
            Ok(previous) => {
                let was_ok = node.redis_ok.swap(true, Ordering::Relaxed);
                if previous.is_none() && registered {
                    tracing::warn!(node = %node.id, "Redis had forgotten this node; re-registering its subscriptions");
                    reregister(&node).await;
                } else if !was_ok && registered {
                    // Redis came back and still knew us; rewrite anyway, since subscription writes
                    // may have failed while it was away.
                    node.publisher.take_stale_subscriptions();
                    reregister(&node).await;
                } else if node.publisher.take_stale_subscriptions() && registered {
                    tracing::info!("a subscription removal failed; rewriting this node's hash");
                    reregister(&node).await;
                }
                registered = true;
            }
            Err(e) => {
                if node.redis_ok.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "Redis is unreachable");
                }
                node.metrics
                    .redis_errors
                    .with_label_values(&["liveness"])
                    .inc();
            }
        }
    }
}

async fn reregister(node: &Node) {
    node.metrics.redis_reconnects.inc();
    let subs = node.sessions.all_subscriptions();
    let n = subs.len();
    match node
        .publisher
        .write_confirmed(BusWrite::Reregister { subs })
        .await
    {
        Ok(()) => tracing::info!(subscriptions = n, "subscriptions re-registered"),
        Err(e) => {
            node.redis_ok.store(false, Ordering::Relaxed);
            tracing::warn!(error = %e, "re-registering subscriptions failed; will retry");
        }
    }
}
