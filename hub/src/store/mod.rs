//! Every Redis call the hub makes goes through [`Store`], so the keys, fields and commands of the
//! wire contract (DESIGN.md's key table) are spelled in this folder only. This file holds the
//! connections, twins and policies by shard, and the fenced atomic commit of a batch (twin writes +
//! journal entries + history entries + search index entries + applied marker, one Lua script, then
//! `WAIT` for `redis.min_replicas_acked` replicas); the files beside it hold one key family each:
//! `commands` (the shards' command streams), `command_reader` (reading their new entries, per
//! `redis.mode`), `journal` (the event journals), `deliveries` (what a batch writes after its
//! commit), `subscriptions` (the subscription registry's keys), `policy_updates` (the policy-update
//! stream), `leases` (shard leases and the live-hub set), `resume` (journal watermarks, trimming by
//! age and what a journal lost), `backlog` (how far behind the command streams are), `history`
//! (twin history) and `search` (the search index's reads). The formats, stream bounds and Lua
//! scripts themselves are the bus contract's (`twinwire_common::bus`), shared with the gateways.

mod backlog;
mod catch_up_pages;
mod command_reader;
mod commands;
mod deliveries;
mod expiring;
mod history;
mod journal;
mod leases;
mod policy_updates;
mod resume;
mod search;
mod subscriptions;

pub use backlog::Backlog;
pub use catch_up_pages::CatchUpRead;
pub use command_reader::CommandReader;
pub use commands::{command_of, returned_of};
pub use deliveries::DeliveryBatch;
pub use history::{History, HistoryWrite};
pub use resume::JournalState;
pub use search::Candidates;

use crate::error::HubError;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use std::time::Duration;
use tokio::sync::OnceCell;
use twinwire_common::bus::{entries, scripts, Keys};
use twinwire_common::redis_connection::{Redis, RedisConnection};

/// One key change inside a commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    /// `member` of the sorted set `key` is due at `at_ms` (the subject expiry schedule).
    Schedule {
        key: String,
        member: String,
        at_ms: u64,
    },
    /// `member` leaves the sorted set `key`.
    Unschedule {
        key: String,
        member: String,
    },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Write::Put { key, .. }
            | Write::Delete { key }
            | Write::Schedule { key, .. }
            | Write::Unschedule { key, .. } => key,
        }
    }

    /// What a later write in the same batch replaces: the key, or the member of a sorted set.
    pub fn target(&self) -> (&str, &str) {
        match self {
            Write::Schedule { key, member, .. } | Write::Unschedule { key, member } => {
                (key, member)
            }
            other => (other.key(), ""),
        }
    }
}

/// What one shard's commit writes, all in one atomic script: the twin and policy writes, the
/// journal entries, the twins' history entries and their search index entries.
pub struct Commit<'a> {
    pub writes: &'a [Write],
    pub journal: &'a [Vec<(String, String)>],
    pub history: &'a [HistoryWrite],
    pub index: &'a [crate::search::IndexUpdate],
}

pub struct Store {
    redis: Redis,
    conn: RedisConnection,
    /// Commits and their `WAIT`, on a connection of their own: `WAIT` holds its connection until
    /// the replicas answer (up to the command timeout while they cannot), which must not stall
    /// lease renewals and reads; and it counts the writes made on the connection it is sent on.
    commits: RedisConnection,
    /// `redis.min_replicas_acked`, resolved at the first commit (see [`Redis::min_replicas_acked`]).
    replicas: OnceCell<u32>,
    pub keys: Keys,
    commit: redis::Script,
    leases: leases::Scripts,
    timeout: Duration,
    journal_max_len: usize,
    history: crate::config::HistoryConfig,
    /// Catch-up pages read with the last command read (issue 13).
    catch_up_pages: catch_up_pages::CatchUpPages,
}

impl Store {
    pub fn new(
        redis: Redis,
        keys: Keys,
        timeout: Duration,
        journal_max_len: usize,
        history: crate::config::HistoryConfig,
    ) -> Result<Store, HubError> {
        Ok(Store {
            conn: redis.connection(Some(timeout))?,
            // The script and the WAIT after it each get the command timeout.
            commits: redis.connection(Some(timeout * 2))?,
            replicas: OnceCell::new(),
            redis,
            keys,
            commit: redis::Script::new(scripts::COMMIT),
            leases: leases::Scripts::new(),
            timeout,
            journal_max_len,
            history,
            catch_up_pages: Default::default(),
        })
    }

    /// A handle on the shared connection (cheap: the manager multiplexes one connection).
    fn conn(&self) -> RedisConnection {
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

    /// Catch-up pages read with a command read, for the round's catch-up ([`CatchUpRead`]).
    fn set_catch_up_pages(&self, pages: Vec<(CatchUpRead, Vec<StreamId>)>) {
        self.catch_up_pages.set(pages);
    }

    /// Drops the catch-up pages left (after the round's catch-up: a later one reads afresh).
    pub fn clear_catch_up_pages(&self) {
        self.catch_up_pages.set(Vec::new());
    }

    /// Up to `count` entries of the stream `key` after `from` (a page read ahead with the
    /// round's command read, if one was read for exactly this).
    async fn read_after(
        &self,
        key: &str,
        from: &str,
        count: usize,
    ) -> Result<Vec<StreamId>, HubError> {
        let read = CatchUpRead {
            key: key.to_owned(),
            from: from.to_owned(),
            count,
        };
        if let Some(page) = self.catch_up_pages.take(&read) {
            return Ok(page);
        }
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

    /// Commits a batch for `shard` if this hub still holds its lease (`token`), with its twins'
    /// history entries and the search index entries of the twins it changed.
    pub async fn commit(
        &self,
        shard: u32,
        token: &str,
        applied_id: &str,
        batch: Commit<'_>,
    ) -> Result<Vec<String>, HubError> {
        let Commit {
            writes,
            journal,
            history,
            index,
        } = batch;
        let mut inv = self.commit.prepare_invoke();
        inv.key(self.keys.lease(shard))
            .key(self.keys.applied(shard))
            .key(self.keys.events(shard));
        for w in writes {
            inv.key(w.key());
        }
        let history = self.kept(history);
        for h in history {
            inv.key(&h.key);
        }
        inv.arg(token)
            .arg(applied_id)
            .arg(self.journal_max_len)
            .arg(writes.len());
        for w in writes {
            match w {
                Write::Put { value, .. } => inv.arg("S").arg(value),
                Write::Delete { .. } => inv.arg("D").arg(""),
                Write::Schedule { member, at_ms, .. } => {
                    inv.arg("Z").arg(format!("{at_ms}:{member}"))
                }
                Write::Unschedule { member, .. } => inv.arg("R").arg(member),
            };
        }
        inv.arg(journal.len());
        for entry in journal {
            inv.arg(entry.len() * 2);
            for (k, v) in entry {
                inv.arg(k).arg(v);
            }
        }
        self.history_args(&mut inv, history);
        search::index_args(&mut inv, &self.keys.search_index(shard), index);
        let mut conn = self.commits.clone();
        let ids =
            match tokio::time::timeout(self.timeout, inv.invoke_async::<Vec<String>>(&mut conn))
                .await
            {
                Ok(Ok(ids)) => ids,
                Ok(Err(e)) if e.to_string().contains(scripts::FENCED) => {
                    return Err(HubError::Fenced(shard))
                }
                Ok(Err(e)) => return Err(HubError::Redis(e)),
                Err(_) => return Err(HubError::Timeout(self.timeout.as_millis() as u64)),
            };
        self.wait_for_replicas(shard).await?;
        Ok(ids)
    }

    /// Waits until `redis.min_replicas_acked` replicas of `shard`'s primary have every write
    /// made on the commit connection (`WAIT`, on the shard's own primary), up to the command
    /// timeout. Fewer in time is [`HubError::Replicas`]: the batch is not answered, and the
    /// shard's recovery waits the same way before it re-sends the journal, so no command is
    /// answered before its commit reached the replicas (or, after a reconnection, before the
    /// replicas are caught up with the new primary).
    pub async fn wait_for_replicas(&self, shard: u32) -> Result<(), HubError> {
        let wanted = *self
            .replicas
            .get_or_try_init(|| async {
                let mut conn = self.commits.clone();
                self.bounded(self.redis.min_replicas_acked(&mut conn)).await
            })
            .await?;
        if wanted == 0 {
            return Ok(());
        }
        let mut conn = self.commits.clone();
        let key = self.keys.lease(shard);
        let mut wait = redis::cmd("WAIT");
        wait.arg(wanted).arg(self.timeout.as_millis() as u64);
        let acked: i64 = match tokio::time::timeout(
            self.timeout * 2,
            conn.query_at(key.as_bytes(), &wait),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Err(HubError::Timeout(self.timeout.as_millis() as u64 * 2)),
        };
        if acked < i64::from(wanted) {
            return Err(HubError::Replicas {
                shard,
                acked,
                wanted,
            });
        }
        Ok(())
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
