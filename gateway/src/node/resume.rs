//! Resume (issue 16), the node's part: the key tokens are signed with, the node's watermarks (how
//! far it has read each shard's fan-out, which every token is built on), and the retention check
//! a resuming START needs before its ACK.
//!
//! A node's watermark of shard k is the highest journal position of k it has read from its
//! delivery stream, in a fan-out or in a hub's watermark entry: every event of k up to it that
//! matched a session here has been handed to that session. The smallest over all shards is the
//! base every token starts from.

use crate::error::GatewayError;
use redis::aio::ConnectionManager;
use std::sync::OnceLock;
use std::time::Duration;
use twinwire_common::bus::{parse_stream_id, scripts, JournalPos, Keys, ResumePosition, TokenKey};

/// The key resume tokens are signed with; unset until it is loaded (tokens are then left out).
#[derive(Default)]
pub struct ResumeKey(OnceLock<TokenKey>);

impl ResumeKey {
    pub fn get(&self) -> Option<&TokenKey> {
        self.0.get()
    }

    /// Sets the key from `resume.secret`, or else from the secret the first gateway stored in
    /// Redis (`SET NX` of a random one): every node then signs with the same key, and nothing
    /// needs configuring. Retries until Redis answers.
    pub async fn load(&self, configured: &str, keys: &Keys, mut conn: ConnectionManager) {
        if !configured.is_empty() {
            let _ = self.0.set(TokenKey::new(configured.as_bytes()));
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
                    let _ = self.0.set(TokenKey::new(secret.as_bytes()));
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
    mut conn: ConnectionManager,
    keys: &Keys,
    shards: u32,
    pos: &ResumePosition,
) -> Result<bool, GatewayError> {
    // Plain EVAL: it runs once per resume, and needs no script loaded first.
    let mut pipe = redis::pipe();
    for k in 0..shards {
        pipe.cmd("EVAL")
            .arg(scripts::JOURNAL_TRIMMED)
            .arg(1)
            .arg(keys.events(k));
    }
    let trimmed: Vec<String> = pipe.query_async(&mut conn).await?;
    Ok(trimmed.iter().enumerate().any(|(k, id)| {
        parse_stream_id(id).is_some_and(|d| d > pos.of(k as u32))
    }))
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
        w.advance(JournalPos { shard: 99, ms: 1, seq: 0 });
        assert_eq!(w.base(), (5, 0));
    }
}
