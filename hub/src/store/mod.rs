//! Every Redis call the hub makes goes through [`Store`], so the keys, fields and commands of the
//! wire contract (DESIGN.md's key table) are spelled in this folder only. This file holds the
//! connection, twins and policies by shard, and the fenced atomic commit of a batch (twin writes +
//! journal entries + applied marker, one Lua script); the files beside it hold one key family each:
//! `commands` (the shards' command streams), `journal` (the event journals), `deliveries` (what a
//! batch writes after its commit), `subscriptions` (the subscription registry's keys),
//! `policy_updates` (the policy-update stream), `leases` (shard leases and the live-hub set) and
//! `backlog` (how far behind the command streams are). The formats, stream bounds and Lua scripts
//! themselves are the bus contract's (`twinwire_common::bus`), shared with the gateways.

mod backlog;
mod commands;
mod deliveries;
mod journal;
mod leases;
mod policy_updates;
mod resume;
mod subscriptions;

pub use backlog::Backlog;
pub use commands::command_of;
pub use deliveries::DeliveryBatch;
pub use resume::JournalState;

use crate::error::HubError;
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use std::time::Duration;
use twinwire_common::bus::{entries, scripts, Keys};

/// One entity key change inside a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put { key: String, value: String },
    Delete { key: String },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Write::Put { key, .. } | Write::Delete { key } => key,
        }
    }
}

pub struct Store {
    conn: ConnectionManager,
    pub keys: Keys,
    commit: redis::Script,
    leases: leases::Scripts,
    timeout: Duration,
    journal_max_len: usize,
}

impl Store {
    pub fn new(
        conn: ConnectionManager,
        keys: Keys,
        timeout: Duration,
        journal_max_len: usize,
    ) -> Store {
        Store {
            conn,
            keys,
            commit: redis::Script::new(scripts::COMMIT),
            leases: leases::Scripts::new(),
            timeout,
            journal_max_len,
        }
    }

    /// A handle on the shared connection (cheap: the manager multiplexes one connection).
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The id of the newest entry of the stream `key` ("0-0" when it is empty), to tail it from.
    async fn stream_tail(&self, key: &str) -> Result<String, HubError> {
        let tail: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn())
            .await?;
        Ok(tail
            .ids
            .first()
            .map(|e| e.id.clone())
            .unwrap_or_else(|| "0-0".into()))
    }

    /// Up to `count` entries of the stream `key` after `from`.
    async fn read_after(
        &self,
        key: &str,
        from: &str,
        count: usize,
    ) -> Result<Vec<StreamId>, HubError> {
        let opts = StreamReadOptions::default().count(count);
        let reply: Option<StreamReadReply> =
            redis::AsyncCommands::xread_options(&mut self.conn(), &[key], &[from], &opts).await?;
        Ok(entries(reply))
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, HubError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(HubError::from),
            Err(_) => Err(HubError::Timeout(self.timeout.as_millis() as u64)),
        }
    }

    /// Reads several string keys at once (one round trip; keys may span shards).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, HubError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("GET").arg(k);
        }
        let mut conn = self.conn.clone();
        self.bounded(pipe.query_async::<Vec<Option<String>>>(&mut conn))
            .await
    }

    /// Commits a batch for `shard` if this hub still holds its lease (`token`).
    pub async fn commit(
        &self,
        shard: u32,
        token: &str,
        applied_id: &str,
        writes: &[Write],
        journal: &[Vec<(String, String)>],
    ) -> Result<Vec<String>, HubError> {
        let mut inv = self.commit.prepare_invoke();
        inv.key(self.keys.lease(shard))
            .key(self.keys.applied(shard))
            .key(self.keys.events(shard));
        for w in writes {
            inv.key(w.key());
        }
        inv.arg(token)
            .arg(applied_id)
            .arg(self.journal_max_len)
            .arg(writes.len());
        for w in writes {
            match w {
                Write::Put { value, .. } => inv.arg("S").arg(value),
                Write::Delete { .. } => inv.arg("D").arg(""),
            };
        }
        inv.arg(journal.len());
        for entry in journal {
            inv.arg(entry.len() * 2);
            for (k, v) in entry {
                inv.arg(k).arg(v);
            }
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, inv.invoke_async::<Vec<String>>(&mut conn)).await {
            Ok(Ok(ids)) => Ok(ids),
            Ok(Err(e)) if e.to_string().contains(scripts::FENCED) => Err(HubError::Fenced(shard)),
            Ok(Err(e)) => Err(HubError::Redis(e)),
            Err(_) => Err(HubError::Timeout(self.timeout.as_millis() as u64)),
        }
    }

    /// The applied and fanned markers of a shard.
    pub async fn markers(&self, shard: u32) -> Result<(Option<String>, Option<String>), HubError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(self.keys.applied(shard))
            .cmd("GET")
            .arg(self.keys.fanned(shard));
        let mut conn = self.conn.clone();
        self.bounded(pipe.query_async::<(Option<String>, Option<String>)>(&mut conn))
            .await
    }
}
