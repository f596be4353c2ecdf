//! The hub's durable state in Redis: twins and policies by shard, the fenced atomic commit of a
//! batch (twin writes + journal entries + applied marker, one Lua script), and the reads a
//! takeover needs (applied marker, fanned marker, journal tail).

use crate::error::HubError;
use redis::aio::ConnectionManager;
use std::time::Duration;
use twinwire_common::bus::{scripts, Keys};

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
            timeout,
            journal_max_len,
        }
    }

    pub fn conn(&mut self) -> &mut ConnectionManager {
        &mut self.conn
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
    pub async fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, HubError> {
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
    pub async fn markers(
        &mut self,
        shard: u32,
    ) -> Result<(Option<String>, Option<String>), HubError> {
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
