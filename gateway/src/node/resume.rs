//! Resume (issue 16), the node's part: the key tokens are signed with, the node's watermarks (how
//! far it has read each shard's fan-out, which every token is built on), and the retention check
//! a resuming START needs before its ACK.
//!
//! A node's watermark of shard k is the highest journal position of k it has read from its
//! delivery stream, in a fan-out or in a hub's watermark entry: every event of k up to it that
//! matched a session here has been handed to that session. The smallest over all shards is the
//! base every token starts from.

use super::Node;
use crate::error::GatewayError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;
use twinwire_common::bus::{
    journal_watermark, parse_stream_id, scripts, writes, Delivery, JournalPos, Keys,
    ResumePosition, TokenKey,
};
use twinwire_common::clock::now_ms;
use twinwire_common::redis_connection::RedisConnection;

/// The node's resume state shared by its tasks and sessions.
#[derive(Default)]
pub struct NodeResume {
    /// The key tokens are signed with; unset until it is loaded (tokens are then left out).
    key: OnceLock<TokenKey>,
    /// When the inbox last read a watermark (ms since the epoch).
    last_watermark_ms: AtomicU64,
}

impl NodeResume {
    pub fn key(&self) -> Option<&TokenKey> {
        self.key.get()
    }

    /// The inbox read a watermark.
    pub fn watermark_read(&self) {
        self.last_watermark_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Sets the key from `resume.secret`, or else from the secret the first gateway stored in
    /// Redis (`SET NX` of a random one): every node then signs with the same key, and nothing
    /// needs configuring. Retries until Redis answers.
    pub async fn load(&self, configured: &str, keys: &Keys, mut conn: RedisConnection) {
        if !configured.is_empty() {
            let _ = self.key.set(TokenKey::new(configured.as_bytes()));
            return;
        }
        let candidate = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        loop {
            let stored: Result<String, _> = async {
                let _: Option<String> = redis::cmd("SET")
                    .arg(keys.resume_secret())
                    .arg(&candidate)
                    .arg("NX")
                    .query_async(&mut conn)
                    .await?;
                redis::cmd("GET")
                    .arg(keys.resume_secret())
                    .query_async(&mut conn)
                    .await
            }
            .await;
            match stored {
                Ok(secret) => {
                    let _ = self.key.set(TokenKey::new(secret.as_bytes()));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "loading the resume secret failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// How often the node looks whether it needs watermarks of its own.
const REFRESH: Duration = Duration::from_millis(500);
/// Without a hub's watermark for this long, a node with subscriptions reads its own.
const STALE_MS: u64 = 1000;

/// Keeps the node's watermarks young when no hub sends any: at start (before any session), and
/// while this node has subscriptions the hubs do not know of yet. It reads every shard's journal
/// state and appends a watermark to this node's own delivery stream, so the inbox takes it after
/// every delivery written before it, like a hub's.
pub async fn refresh_watermarks(node: Arc<Node>, mut conn: RedisConnection) {
    if !node.config.resume.enabled {
        return;
    }
    let mut first = true;
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let stale = now_ms().saturating_sub(node.resume.last_watermark_ms.load(Ordering::Relaxed))
            > STALE_MS;
        if !(first || stale && node.sessions.has_subscriptions()) {
            continue;
        }
        match own_watermarks(&node, &mut conn).await {
            Ok(()) => first = false,
            Err(e) => tracing::debug!(error = %e, "reading journal watermarks failed"),
        }
    }
}

async fn own_watermarks(node: &Node, conn: &mut RedisConnection) -> Result<(), GatewayError> {
    let marks = journal_marks(conn, &node.keys, node.config.shards.count).await?;
    let marks: Vec<JournalPos> = marks
        .into_iter()
        .enumerate()
        .map(|(k, (ms, seq))| JournalPos {
            shard: k as u32,
            ms,
            seq,
        })
        .collect();
    let mut pipe = redis::pipe();
    writes::add_delivery(
        &mut pipe,
        &node.keys,
        &node.id,
        &Delivery::Watermark { marks },
    );
    pipe.query_async::<()>(conn).await?;
    Ok(())
}

/// How far each shard's journal is fanned out now ([`journal_watermark`]), one round trip. Read
/// before a fresh subscription is written, it is where the session starts: no event at or below
/// it can be owed to a subscription the hubs do not know yet.
pub async fn journal_marks(
    conn: &mut RedisConnection,
    keys: &Keys,
    shards: u32,
) -> Result<Vec<(u64, u64)>, GatewayError> {
    let states: Vec<(String, String, String)> =
        per_shard(conn, scripts::JOURNAL_WATERMARK, shards, |k| {
            (vec![keys.fanned(k), keys.events(k)], vec!["0".into()])
        })
        .await?;
    Ok(states
        .iter()
        .map(|(fanned, tail, now)| {
            journal_watermark(
                parse_stream_id(fanned),
                parse_stream_id(tail),
                now.parse().unwrap_or(0),
            )
            .unwrap_or((0, 0))
        })
        .collect())
}

/// Runs `script` once per shard in one pipeline (`EVALSHA`; when Redis does not know the script,
/// as after a restart, the pipeline is sent again with `EVAL`, which also loads it: on a Redis
/// Cluster each primary learns it from the shards it serves, where a keyless `SCRIPT LOAD` would
/// reach one). Each script's keys are one shard's (hash tag `{k}`), so one slot. `args` gives each
/// shard's keys and arguments.
async fn per_shard<T: redis::FromRedisValue>(
    conn: &mut RedisConnection,
    script: &str,
    shards: u32,
    args: impl Fn(u32) -> (Vec<String>, Vec<String>),
) -> Result<Vec<T>, GatewayError> {
    let hash = redis::Script::new(script).get_hash().to_owned();
    let pipeline = |command: &str, body: &str| {
        let mut pipe = redis::pipe();
        for k in 0..shards {
            let (keys, argv) = args(k);
            pipe.cmd(command)
                .arg(body)
                .arg(keys.len())
                .arg(keys)
                .arg(argv);
        }
        pipe
    };
    match pipeline("EVALSHA", &hash).query_async(conn).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            Ok(pipeline("EVAL", script).query_async(conn).await?)
        }
        other => Ok(other?),
    }
}

/// How far this node has read each shard's fan-out.
pub struct NodeWatermarks {
    marks: Vec<(u64, u64)>,
}

impl NodeWatermarks {
    pub fn new(shards: u32) -> NodeWatermarks {
        NodeWatermarks {
            marks: vec![(0, 0); shards as usize],
        }
    }

    pub fn advance(&mut self, pos: JournalPos) {
        if let Some(m) = self.marks.get_mut(pos.shard as usize) {
            *m = (*m).max(pos.id());
        }
    }

    /// The smallest watermark: every shard is read at least this far.
    pub fn base(&self) -> (u64, u64) {
        self.marks.iter().copied().min().unwrap_or((0, 0))
    }
}

/// True when some shard's journal no longer holds everything after the position (Redis 7's
/// `max-deleted-entry-id`): a replay from there would be partial.
pub async fn expired(
    mut conn: RedisConnection,
    keys: &Keys,
    shards: u32,
    pos: &ResumePosition,
) -> Result<bool, GatewayError> {
    let trimmed: Vec<String> = per_shard(&mut conn, scripts::JOURNAL_TRIMMED, shards, |k| {
        (vec![keys.events(k)], Vec::new())
    })
    .await?;
    Ok(trimmed
        .iter()
        .enumerate()
        .any(|(k, id)| parse_stream_id(id).is_some_and(|d| d > pos.of(k as u32))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_the_least_read_shard() {
        let mut w = NodeWatermarks::new(3);
        assert_eq!(w.base(), (0, 0));
        for (shard, ms) in [(0, 5), (1, 7), (2, 6), (0, 4)] {
            w.advance(JournalPos { shard, ms, seq: 0 });
        }
        assert_eq!(w.base(), (5, 0));
        w.advance(JournalPos {
            shard: 99,
            ms: 1,
            seq: 0,
        });
        assert_eq!(w.base(), (5, 0));
    }
}
