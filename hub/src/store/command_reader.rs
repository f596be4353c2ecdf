//! How a hub reads new entries of the command streams of the shards it owns (`tw:{k}:cmd`, group
//! `hubs`). On one server, one `XREADGROUP … BLOCK` names every owned shard's stream, and the
//! round's catch-up reads follow it in the same pipeline (`catch_up_pages`). A Redis Cluster
//! refuses that (the streams are in 64 slots), so in cluster mode a read is:
//!
//! 1. while busy (the last read found entries), a sweep: one non-blocking `XREADGROUP` per shard,
//!    pipelined (one round trip per primary, in parallel, through the cluster client, which
//!    follows `MOVED`/`ASK`); under load this finds entries and the round goes on at once;
//! 2. when the sweep finds nothing, or the hub is idle, one blocking `XREADGROUP` per shard, each on a connection of
//!    its own to the shard's primary; as soon as one returns entries, the others are ended with
//!    `CLIENT UNBLOCK <id> TIMEOUT`, which makes a blocked read return nil without taking any
//!    entry (a read that was already served returns its entries, which the round keeps). Every
//!    read is awaited, so no entry is ever read and then dropped.
//!
//! So latency stays one round trip when idle, and an idle hub costs one read per owned shard per
//! block time. A blocking read that meets a moved slot (`MOVED`/`ASK`) took nothing: its
//! connection is dropped and made again to the new primary next time; the sweep goes through the
//! cluster client meanwhile. Every blocking connection's response timeout outlasts the block.

use super::Store;
use crate::error::HubError;
use futures_util::stream::{FuturesUnordered, StreamExt};
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::Value;
use std::collections::HashMap;
use std::time::Duration;
use twinwire_common::bus::HUB_GROUP;
use twinwire_common::config::RedisMode;
use twinwire_common::redis_connection::{Redis, RedisConnection};

/// Reads the owned shards' new command entries; see the module header.
pub enum CommandReader {
    /// One server: one blocking read over every owned shard, on this connection.
    Shared(RedisConnection),
    /// A Redis Cluster: a sweep, then one blocking read per shard.
    PerShard(PerShard),
}

pub struct PerShard {
    redis: Redis,
    /// The last read found entries: sweep first. After an empty read the hub is idle, and the
    /// blocking reads alone find the next entry (a read returns at once when entries wait).
    busy: bool,
    /// Response timeout of a blocking connection: longer than any block.
    timeout: Duration,
    blocking: HashMap<u32, Blocking>,
}

/// A shard's blocking connection and its client id on its server (for `CLIENT UNBLOCK`).
#[derive(Clone)]
struct Blocking {
    conn: RedisConnection,
    client_id: i64,
}

impl CommandReader {
    /// A reader whose blocking reads may last up to `timeout` (the longest block plus the
    /// command timeout).
    pub fn new(redis: &Redis, timeout: Duration) -> Result<CommandReader, HubError> {
        Ok(match redis.mode() {
            RedisMode::Cluster => CommandReader::PerShard(PerShard {
                redis: redis.clone(),
                busy: true,
                timeout,
                blocking: HashMap::new(),
            }),
            _ => CommandReader::Shared(redis.connection(Some(timeout))?),
        })
    }

    /// New entries of `shards` for `consumer`, up to `count` per shard, waiting up to `block`.
    /// On one server the `catch_up` reads go in the same pipeline, after it, and their pages wait
    /// in `store` for the round's catch-up.
    pub async fn read(
        &mut self,
        store: &Store,
        shards: &[u32],
        consumer: &str,
        count: usize,
        block: Duration,
        catch_up: Vec<super::CatchUpRead>,
    ) -> Result<Vec<(u32, Vec<StreamId>)>, HubError> {
        match self {
            CommandReader::Shared(conn) => {
                read_shared(conn, store, shards, consumer, count, block, catch_up).await
            }
            CommandReader::PerShard(p) => p.read(store, shards, consumer, count, block).await,
        }
    }
}

fn options(consumer: &str, count: usize, block: Option<Duration>) -> StreamReadOptions {
    let opts = StreamReadOptions::default()
        .group(HUB_GROUP, consumer)
        .count(count);
    match block {
        Some(b) => opts.block(b.as_millis().max(1) as usize),
        None => opts,
    }
}

async fn read_shared(
    reader: &mut RedisConnection,
    store: &Store,
    shards: &[u32],
    consumer: &str,
    count: usize,
    block: Duration,
    catch_up: Vec<super::CatchUpRead>,
) -> Result<Vec<(u32, Vec<StreamId>)>, HubError> {
    let keys: Vec<String> = shards.iter().map(|s| store.keys.cmd(*s)).collect();
    let ids: Vec<&str> = shards.iter().map(|_| ">").collect();
    let opts = options(consumer, count, Some(block));
    let mut pipe = redis::pipe();
    pipe.cmd("XREADGROUP")
        .arg(&opts)
        .arg("STREAMS")
        .arg(&keys)
        .arg(&ids);
    // Redis runs them after the command read (a blocked read holds them back until it returns).
    for r in &catch_up {
        pipe.cmd("XREAD")
            .arg("COUNT")
            .arg(r.count)
            .arg("STREAMS")
            .arg(&r.key)
            .arg(&r.from);
    }
    let mut replies: Vec<Option<StreamReadReply>> = pipe.query_async(reader).await?;
    let pages = replies.split_off(1.min(replies.len()));
    let Some(reply) = replies.pop().flatten() else {
        store.set_catch_up_pages(Vec::new());
        return Ok(Vec::new());
    };
    store.set_catch_up_pages(
        catch_up
            .into_iter()
            .zip(pages.into_iter().map(entries_of))
            .collect(),
    );
    let by_key: HashMap<String, u32> = shards.iter().map(|s| (store.keys.cmd(*s), *s)).collect();
    Ok(reply
        .keys
        .into_iter()
        .filter_map(|k| by_key.get(&k.key).map(|s| (*s, k.ids)))
        .collect())
}

/// The entries of one shard's `XREADGROUP` reply.
fn entries_of(reply: Option<StreamReadReply>) -> Vec<StreamId> {
    reply
        .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
        .unwrap_or_default()
}

fn is_redirect(e: &redis::RedisError) -> bool {
    matches!(e.code(), Some("MOVED") | Some("ASK"))
}

impl PerShard {
    async fn read(
        &mut self,
        store: &Store,
        shards: &[u32],
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<(u32, Vec<StreamId>)>, HubError> {
        self.blocking.retain(|s, _| shards.contains(s));
        if self.busy {
            let swept = self.sweep(store, shards, consumer, count).await?;
            if !swept.is_empty() {
                return Ok(swept);
            }
        }
        // A shard without a blocking read this time (no connection, a moved slot) sets `busy`
        // again, so the next sweep covers it.
        self.busy = false;
        let found = self
            .block_on_each(store, shards, consumer, count, block)
            .await?;
        self.busy |= !found.is_empty();
        Ok(found)
    }

    /// One non-blocking read per shard, in one pipeline.
    async fn sweep(
        &self,
        store: &Store,
        shards: &[u32],
        consumer: &str,
        count: usize,
    ) -> Result<Vec<(u32, Vec<StreamId>)>, HubError> {
        let mut pipe = redis::pipe();
        let opts = options(consumer, count, None);
        for s in shards {
            pipe.xread_options(&[store.keys.cmd(*s)], &[">"], &opts);
        }
        let replies: Vec<Option<StreamReadReply>> = pipe.query_async(&mut store.conn()).await?;
        Ok(shards
            .iter()
            .zip(replies)
            .map(|(s, r)| (*s, entries_of(r)))
            .filter(|(_, e)| !e.is_empty())
            .collect())
    }

    async fn blocking_of(&mut self, store: &Store, shard: u32) -> Result<Blocking, HubError> {
        if let Some(b) = self.blocking.get(&shard) {
            return Ok(b.clone());
        }
        let key = store.keys.cmd(shard);
        let mut conn = self
            .redis
            .connection_to_primary_of(key.as_bytes(), Some(self.timeout))
            .await?;
        let client_id: i64 = conn
            .query_at(key.as_bytes(), redis::cmd("CLIENT").arg("ID"))
            .await?;
        let b = Blocking { conn, client_id };
        self.blocking.insert(shard, b.clone());
        Ok(b)
    }

    async fn block_on_each(
        &mut self,
        store: &Store,
        shards: &[u32],
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<(u32, Vec<StreamId>)>, HubError> {
        let opts = options(consumer, count, Some(block));
        let mut reads = FuturesUnordered::new();
        let mut waiting: HashMap<u32, i64> = HashMap::new();
        for s in shards {
            let b = match self.blocking_of(store, *s).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!(shard = s, error = %e, "no blocking connection for the shard now");
                    self.busy = true;
                    continue;
                }
            };
            waiting.insert(*s, b.client_id);
            let key = store.keys.cmd(*s);
            let opts = &opts;
            let mut conn = b.conn;
            reads.push(async move {
                let r: redis::RedisResult<Option<StreamReadReply>> =
                    redis::AsyncCommands::xread_options(&mut conn, &[&key], &[">"], opts).await;
                (*s, r)
            });
        }
        if reads.is_empty() {
            tokio::time::sleep(block).await;
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        let mut failed = None;
        let mut unblocked = false;
        while let Some((shard, r)) = reads.next().await {
            waiting.remove(&shard);
            match r {
                Ok(reply) => {
                    let entries = entries_of(reply);
                    if !entries.is_empty() {
                        found.push((shard, entries));
                    }
                }
                Err(e) => {
                    self.blocking.remove(&shard);
                    self.busy = true;
                    if !is_redirect(&e) {
                        failed.get_or_insert(e);
                    }
                }
            }
            if (!found.is_empty() || failed.is_some()) && !unblocked {
                unblocked = true;
                unblock(store, &waiting).await;
            }
        }
        match failed {
            // Entries the failed read may have taken are pending in our consumer: the round's
            // error puts the shards up for recovery.
            Some(e) => Err(e.into()),
            None => Ok(found),
        }
    }
}

/// Ends the blocked reads `waiting` (shard → client id) early. A failure only means the read
/// waits out its block.
async fn unblock(store: &Store, waiting: &HashMap<u32, i64>) {
    let sent = waiting.iter().map(|(shard, id)| {
        let key = store.keys.cmd(*shard);
        let mut conn = store.conn();
        async move {
            let r: redis::RedisResult<Value> = conn
                .query_at(
                    key.as_bytes(),
                    redis::cmd("CLIENT").arg("UNBLOCK").arg(*id).arg("TIMEOUT"),
                )
                .await;
            if let Err(e) = r {
                tracing::debug!(error = %e, "CLIENT UNBLOCK failed; the read waits out its block");
            }
        }
    });
    futures_util::future::join_all(sent).await;
}
