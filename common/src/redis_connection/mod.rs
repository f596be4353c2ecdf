//! The one way both binaries talk to Redis, whatever `redis.mode` is: [`Redis`] opens
//! [`RedisConnection`]s, which every store, publisher and reader uses as a plain
//! `redis::aio::ConnectionLike`. One server (`standalone`), a Redis Cluster (`cluster`: commands
//! go to the primary of their key's slot, redirections and failovers are followed, and a pipeline
//! is split into one pipeline per slot because a cluster node refuses keys of other slots) or a
//! primary found through Sentinel (`sentinel`: asked again after a connection error or a
//! `READONLY`, which is what a failover looks like from here).
//!
//! Every connection reconnects by itself with bounded retries, so a Redis outage turns into
//! prompt errors rather than hung callers. A connection that makes blocking reads gets a response
//! timeout longer than its block time.

mod cluster;
mod sentinel;
pub mod slot;

use crate::config::{RedisConfig, RedisMode};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a (re)connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens connections to the Redis of `redis.mode`.
#[derive(Clone)]
pub struct Redis {
    mode: RedisMode,
    standalone: Option<redis::Client>,
    nodes: Vec<String>,
    sentinel: Option<Arc<sentinel::Sentinels>>,
    /// Cluster mode: a connection for topology questions (which node serves a slot).
    topology: Option<cluster::Lazy>,
    min_replicas_acked: Option<u32>,
}

impl Redis {
    /// Checks the addresses of `cfg`; connects nothing yet.
    pub fn open(cfg: &RedisConfig) -> RedisResult<Redis> {
        let mut redis = Redis {
            mode: cfg.mode,
            standalone: None,
            nodes: cfg.nodes.clone(),
            sentinel: None,
            topology: None,
            min_replicas_acked: cfg.min_replicas_acked,
        };
        match cfg.mode {
            RedisMode::Standalone => {
                redis.standalone = Some(redis::Client::open(cfg.url.as_str())?)
            }
            RedisMode::Cluster => {
                let timeout = Duration::from_millis(cfg.command_timeout_ms);
                redis.topology = Some(cluster::Lazy::new(cluster::client(
                    &cfg.nodes,
                    Some(timeout),
                )?));
            }
            RedisMode::Sentinel => {
                redis.sentinel = Some(Arc::new(sentinel::Sentinels::new(
                    &cfg.sentinels,
                    &cfg.master_name,
                )?))
            }
        }
        Ok(redis)
    }

    pub fn mode(&self) -> RedisMode {
        self.mode
    }

    /// A lazily connecting, self-reconnecting connection. `response_timeout` bounds each round
    /// trip; a connection for blocking reads passes one longer than its block time (`None` waits
    /// for ever, which only a caller with its own timeout may do).
    pub fn connection(&self, response_timeout: Option<Duration>) -> RedisResult<RedisConnection> {
        let inner = match self.mode {
            RedisMode::Standalone => {
                // Unwrap: `open` sets the client in standalone mode.
                let client = self.standalone.as_ref().expect("standalone client");
                Inner::Single(ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    manager_config(response_timeout),
                )?)
            }
            RedisMode::Cluster => Inner::Cluster(cluster::Lazy::new(cluster::client(
                &self.nodes,
                response_timeout,
            )?)),
            RedisMode::Sentinel => Inner::Sentinel(sentinel::Primary::new(
                // Unwrap: `open` sets the sentinels in sentinel mode.
                self.sentinel.clone().expect("sentinels"),
                manager_config(response_timeout),
            )),
        };
        Ok(RedisConnection { inner })
    }

    /// A connection of its own to the server that serves `key` now, for a blocking command on
    /// that key whose caller may interrupt it with `CLIENT UNBLOCK` (sent with
    /// [`RedisConnection::query_at`] on any connection). In cluster mode it is a plain connection
    /// to the slot's primary, which answers `MOVED`/`ASK` (an error) once the slot has moved:
    /// the caller then drops it and asks for a new one. Elsewhere it is [`Redis::connection`].
    pub async fn connection_to_primary_of(
        &self,
        key: &[u8],
        response_timeout: Option<Duration>,
    ) -> RedisResult<RedisConnection> {
        let Some(topology) = &self.topology else {
            return self.connection(response_timeout);
        };
        let (host, port) = topology.clone().primary_of(slot::slot_of(key)).await?;
        let client = redis::Client::open(format!("redis://{host}:{port}"))?;
        Ok(RedisConnection {
            inner: Inner::Single(ConnectionManager::new_lazy_with_config(
                client,
                manager_config(response_timeout),
            )?),
        })
    }

    /// How many replicas must acknowledge a commit: the configured number, or by default 0 in
    /// standalone mode and, in cluster and sentinel mode, 1 when the primary `conn` reaches has
    /// a replica now (0 when it has none, so a cluster without replicas still works).
    pub async fn min_replicas_acked(&self, conn: &mut RedisConnection) -> RedisResult<u32> {
        if let Some(n) = self.min_replicas_acked {
            return Ok(n);
        }
        if self.mode == RedisMode::Standalone {
            return Ok(0);
        }
        let info: String = conn
            .query_at(b"{0}", redis::cmd("INFO").arg("replication"))
            .await?;
        let replicas = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_slaves:"))
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap_or(0);
        Ok(replicas.min(1))
    }
}

fn manager_config(response_timeout: Option<Duration>) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(response_timeout)
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2))
}

/// A connection of any `redis.mode`; cheap to clone (clones share the underlying connections).
#[derive(Clone)]
pub struct RedisConnection {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(cluster::Lazy),
    Sentinel(sentinel::Primary),
}

impl RedisConnection {
    /// Runs a keyless command (`WAIT`, `CLIENT ID`, `CLIENT UNBLOCK`, `INFO`) on the primary that
    /// serves `key`, over the same node connection the key's commands use: `WAIT` counts the
    /// replicas of the writes made on that connection.
    pub async fn query_at<T: FromRedisValue>(&mut self, key: &[u8], cmd: &Cmd) -> RedisResult<T> {
        let value = match &mut self.inner {
            Inner::Single(c) => c.req_packed_command(cmd).await?,
            Inner::Cluster(c) => c.route_to_slot(slot::slot_of(key), cmd).await?,
            Inner::Sentinel(c) => c.req_packed_command(cmd).await?,
        };
        redis::from_redis_value(value).map_err(Into::into)
    }

    /// Whether a pipeline's writes land in the pipeline's order: true on one server; false in a
    /// cluster, where the pipeline's per-slot parts run concurrently. See [`Self::send_in_order`].
    pub fn keeps_pipeline_order(&self) -> bool {
        !matches!(self.inner, Inner::Cluster(_))
    }

    /// Sends `stages` so that every write of a stage has landed before any write of a later one:
    /// in one round trip where a pipeline keeps its order, else one round trip per stage.
    pub async fn send_in_order(&mut self, stages: Vec<Pipeline>) -> RedisResult<()> {
        if self.keeps_pipeline_order() {
            let mut all = redis::pipe();
            for stage in &stages {
                for cmd in stage.cmd_iter() {
                    all.add_command(cmd.clone());
                }
            }
            return all.query_async::<()>(self).await;
        }
        for stage in stages.iter().filter(|s| !s.is_empty()) {
            stage.query_async::<()>(self).await?;
        }
        Ok(())
    }

    /// Every key matching `pattern`, on every primary (a cluster's keys are spread over its
    /// primaries, and `SCAN` walks one node).
    pub async fn scan_match(&mut self, pattern: &str) -> RedisResult<Vec<String>> {
        match &mut self.inner {
            Inner::Cluster(c) => c.scan_match(pattern).await,
            Inner::Single(c) => scan_node(c, pattern).await,
            Inner::Sentinel(c) => scan_node(c, pattern).await,
        }
    }
}

/// `SCAN` over one server.
async fn scan_node(conn: &mut impl ConnectionLike, pattern: &str) -> RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            return Ok(keys);
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.inner {
            Inner::Single(c) => c.req_packed_command(cmd),
            Inner::Cluster(c) => c.req_packed_command(cmd),
            Inner::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.inner {
            Inner::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Single(c) => c.get_db(),
            Inner::Cluster(_) => 0,
            Inner::Sentinel(c) => c.get_db(),
        }
    }
}
