//! The hub's main loop (DESIGN.md §1–§3): renew shard leases and take shards over, read command
//! entries of owned shards in batches, catch up on subscription and policy changes, apply each
//! shard's commands and commit them in one fenced atomic write, then send responses and fan-out in
//! one pipeline (response first), advance `fanned` and acknowledge.
//!
//! Takeover (`take_over`) is also how the hub recovers its own shard after a failed commit: it
//! re-sends what the journal holds after `fanned`, claims the shard's pending entries and skips
//! those at or below `applied`, so no acknowledged command is lost or applied twice.

use crate::config::HubConfig;
use crate::error::HubError;
use crate::fanout::{fan_out, Signal, Visibility};
use crate::metrics::Metrics;
use crate::policies::{CachedPolicy, PolicyCache, UPDATES_MAXLEN};
use crate::registry::Registry;
use crate::shard::lease::Leases;
use crate::store::{Store, Write};
use crate::things::apply::Limits;
use crate::things::command::{self, EventRecord};
use crate::things::twin::Twin;
use backon::{BackoffBuilder, ExponentialBuilder};
use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamRangeReply, StreamReadOptions,
    StreamReadReply,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use twinwire_common::bus::schema::parse_stream_id;
use twinwire_common::bus::{
    shard_of, BusCommand, Delivery, JournalPos, Keys, Origin, Reply, CMD_FIELD, HUB_GROUP,
};
use twinwire_common::clock::now_ms;
use twinwire_common::policy::{EventView, Permission};
use twinwire_common::protocol::{
    error_envelope, Action, Channel, Criterion, Envelope, Group, StreamingKind, Topic,
};
use twinwire_common::things::FieldSelector;
use twinwire_common::things::Pointer;
use twinwire_common::Error;

/// Approximate bound of a gateway node's delivery stream; a node that stopped reading loses the
/// oldest entries rather than filling Redis (its sessions are gone anyway once it is reaped).
const NODE_STREAM_MAXLEN: usize = 200_000;
/// Longest a blocking read waits, so lease renewal and shutdown stay timely.
const MAX_BLOCK: Duration = Duration::from_millis(500);
/// How often dead gateway nodes are looked for.
const REAP_INTERVAL: Duration = Duration::from_secs(5);

/// A journal entry: the event plus what is needed to answer its command again after a takeover.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    #[serde(rename = "o")]
    pub origin: Origin,
    /// The response frame, when the command wanted one.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(rename = "e")]
    pub event: EventRecord,
    /// The policy governing the thing when the event happened.
    #[serde(rename = "p", default)]
    pub policy_id: String,
}

const JOURNAL_FIELD: &str = "d";

/// One shard's batch, handled and waiting for its commit.
struct Prepared {
    shard: u32,
    started: Instant,
    /// The shard lease this hub held when it handled the batch; the commit is fenced by it.
    token: String,
    /// The batch's command-stream entry ids, acknowledged once its deliveries are written.
    ids: Vec<String>,
    /// The last entry applied by this batch (`None`: only already-applied entries).
    last_id: Option<String>,
    items: Vec<Item>,
    writes: Vec<Write>,
    journal: Vec<Vec<(String, String)>>,
    policy_updates: Vec<(String, i64)>,
}

/// A shard batch's deliveries being written (the pipeline of `finish_shard`).
type DeliveryWrite = tokio::task::JoinHandle<redis::RedisResult<()>>;

/// An event with the twin and policy it was produced under, for its fan-out.
type EventWithState = (EventRecord, Option<Arc<Twin>>, Option<Arc<CachedPolicy>>);

/// One processed command awaiting its commit.
struct Item {
    origin: Origin,
    response: Option<String>,
    accepted_ms: u64,
    event: Option<EventWithState>,
    /// Deliveries of a live signal (not journaled: at most once, as in Ditto).
    live: Vec<(String, Delivery)>,
    /// The command was a live signal, so its sender matches the answer against a pending request.
    live_signal: bool,
}

/// Ditto's timestamps are Java `Instant.toString()`: UTC, with 0, 3, 6 or 9 fraction digits
/// (as few as the value needs). RQL's `time:now` compares with them as strings, so the form matters.
pub fn now_iso() -> String {
    format_instant(chrono::Utc::now())
}

pub fn format_instant(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::SecondsFormat;
    let nanos = t.timestamp_subsec_nanos();
    let format = if nanos == 0 {
        SecondsFormat::Secs
    } else if nanos.is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else if nanos.is_multiple_of(1_000) {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Nanos
    };
    t.to_rfc3339_opts(format, true)
}

struct EventVisibility<'a> {
    policy: Option<&'a CachedPolicy>,
    path: &'a str,
    value: Option<&'a Value>,
}

impl Visibility for EventVisibility<'_> {
    fn view(&self, subjects: &[String]) -> EventView {
        match self.policy {
            Some(p) => p.enforcer.event_view(subjects, self.path, self.value),
            None => EventView::Hidden,
        }
    }
    fn readable(&self, subjects: &[String], path: &Pointer, value: &Value) -> Option<Value> {
        self.policy.and_then(|p| {
            p.enforcer
                .readable_view(subjects, "thing", &path.to_string(), value)
        })
    }
    fn v1_thing(&self, thing: Value) -> Value {
        crate::things::v1::to_v1_thing(&thing, self.policy.map(|p| &p.policy))
    }
}

pub struct Processor {
    cfg: HubConfig,
    hub_id: String,
    keys: Keys,
    metrics: Arc<Metrics>,
    store: Store,
    reader: ConnectionManager,
    leases: Leases,
    registry: Registry,
    policies: PolicyCache,
    /// Twins of owned shards; `None` records a known absence (this hub is the shard's only writer).
    twins: HashMap<u32, HashMap<String, Option<Arc<Twin>>>>,
    /// Things of any shard read for RetrieveThings in the current batch (committed state).
    foreign: HashMap<String, Option<Arc<Twin>>>,
    /// Claimed pending entries to process before new ones, per shard.
    backlog: BTreeMap<u32, VecDeque<StreamId>>,
    /// The applied marker of each owned shard, as a stream id.
    applied: HashMap<u32, (u64, u64)>,
    /// Owned shards whose read entries may not have been handled (a round failed after reading,
    /// or the lease looked stale): they go through the takeover path again before new reads.
    needs_recovery: std::collections::BTreeSet<u32>,
    ready: Arc<AtomicBool>,
    limits: Limits,
}

impl Processor {
    pub fn new(
        cfg: HubConfig,
        hub_id: String,
        metrics: Arc<Metrics>,
        store: Store,
        reader: ConnectionManager,
        ready: Arc<AtomicBool>,
    ) -> Processor {
        let keys = Keys::new(cfg.redis.prefix.clone());
        metrics.shards_configured.set(i64::from(cfg.shards.count));
        Processor {
            leases: Leases::new(
                hub_id.clone(),
                keys.clone(),
                cfg.shards.count,
                Duration::from_millis(cfg.hub.lease_ms),
            ),
            registry: Registry::new(keys.clone(), metrics.clone()),
            policies: PolicyCache::new(keys.clone(), cfg.shards.count),
            limits: Limits {
                thing_bytes: cfg.limits.thing_bytes,
            },
            keys,
            cfg,
            hub_id,
            metrics,
            store,
            reader,
            twins: HashMap::new(),
            foreign: HashMap::new(),
            backlog: BTreeMap::new(),
            applied: HashMap::new(),
            needs_recovery: Default::default(),
            ready,
        }
    }

    /// Runs until `shutdown` is cancelled, then gives back every lease. A round in progress is
    /// finished first; waits between rounds end as soon as shutdown is asked for.
    pub async fn run(mut self, shutdown: CancellationToken) {
        // Jittered, so hubs that lost Redis together do not come back in step.
        let retry = |max| {
            ExponentialBuilder::new()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(max)
                .with_jitter()
                .without_max_times()
        };
        let mut backoff = retry(Duration::from_secs(5)).build();
        loop {
            let started = async {
                let mut conn = self.store.conn().clone();
                self.registry.load(&mut conn).await?;
                self.policies.start(&mut conn).await
            };
            match started.await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load the subscription registry yet; retrying");
                    let wait = backoff.next().unwrap_or(Duration::from_secs(5));
                    if shutdown
                        .run_until_cancelled(tokio::time::sleep(wait))
                        .await
                        .is_none()
                    {
                        return;
                    }
                }
            }
        }
        self.ready.store(true, Ordering::Relaxed);
        let round_retry = retry(Duration::from_secs(2));
        let mut backoff = round_retry.build();
        let mut failing = false;
        let mut next_tick = Instant::now();
        let mut next_reap = Instant::now() + REAP_INTERVAL;
        while !shutdown.is_cancelled() {
            if Instant::now() >= next_tick {
                self.lease_tick().await;
                next_tick = Instant::now() + self.leases.tick_interval();
            }
            if Instant::now() >= next_reap {
                let mut conn = self.store.conn().clone();
                if let Err(e) = self.registry.reap_dead_nodes(&mut conn).await {
                    tracing::warn!(error = %e, "looking for dead gateway nodes failed");
                }
                next_reap = Instant::now() + REAP_INTERVAL;
            }
            self.recover().await;
            let block = next_tick
                .saturating_duration_since(Instant::now())
                .min(MAX_BLOCK);
            match self.round(block, &shutdown).await {
                Ok(()) => {
                    self.ready.store(true, Ordering::Relaxed);
                    if failing {
                        failing = false;
                        backoff = round_retry.build();
                        self.metrics.redis_reconnects.inc();
                        tracing::info!("Redis is reachable again");
                    }
                }
                Err(e) => {
                    self.metrics
                        .redis_errors
                        .with_label_values(&["round"])
                        .inc();
                    tracing::warn!(error = %e, "processing round failed; retrying");
                    // Entries this round read are now pending in our own consumer: recover them.
                    self.needs_recovery.extend(self.leases.owned());
                    self.ready.store(false, Ordering::Relaxed);
                    failing = true;
                    let wait = backoff.next().unwrap_or(Duration::from_secs(2));
                    shutdown.run_until_cancelled(tokio::time::sleep(wait)).await;
                }
            }
        }
        let mut conn = self.store.conn().clone();
        if let Err(e) = self.leases.release_all(&mut conn).await {
            tracing::warn!(error = %e, "releasing shard leases failed; they lapse on their own");
        }
        tracing::info!(hub = %self.hub_id, "hub stopped");
    }

    async fn lease_tick(&mut self) {
        let mut conn = self.store.conn().clone();
        match self.leases.tick(&mut conn, true).await {
            Ok(changes) => {
                for s in changes.lost.iter().chain(&changes.released) {
                    self.forget_shard(*s);
                }
                if !changes.lost.is_empty() {
                    self.metrics
                        .lease_changes
                        .with_label_values(&["lost"])
                        .inc_by(changes.lost.len() as u64);
                    tracing::warn!(shards = ?changes.lost, "shard leases lost");
                }
                if !changes.released.is_empty() {
                    self.metrics
                        .lease_changes
                        .with_label_values(&["released"])
                        .inc_by(changes.released.len() as u64);
                    tracing::info!(shards = ?changes.released, "shard leases released to other hubs");
                }
                if !changes.acquired.is_empty() {
                    self.metrics
                        .lease_changes
                        .with_label_values(&["acquired"])
                        .inc_by(changes.acquired.len() as u64);
                    tracing::info!(count = changes.acquired.len(), "shard leases acquired");
                }
                for s in changes.acquired {
                    if let Err(e) = self.take_over(s).await {
                        tracing::warn!(shard = s, error = %e, "taking over the shard failed; giving it up for now");
                        self.forget_shard(s);
                    }
                }
                let owned = self.leases.owned();
                self.metrics.shards_owned.set(owned.len() as i64);
                match crate::shard::backlog::measure(&mut conn, &self.keys, &owned).await {
                    Ok(b) => {
                        self.metrics
                            .stream_lag
                            .with_label_values(&[HUB_GROUP])
                            .set(b.lag as i64);
                        self.metrics
                            .stream_pending
                            .with_label_values(&[HUB_GROUP])
                            .set(b.pending as i64);
                    }
                    Err(e) => {
                        self.metrics
                            .redis_errors
                            .with_label_values(&["backlog"])
                            .inc();
                        tracing::debug!(error = %e, "measuring the command streams failed");
                    }
                }
            }
            Err(e) => {
                self.metrics
                    .redis_errors
                    .with_label_values(&["lease"])
                    .inc();
                tracing::warn!(error = %e, "renewing shard leases failed");
            }
        }
    }

    fn forget_shard(&mut self, shard: u32) {
        self.twins.remove(&shard);
        self.backlog.remove(&shard);
        self.applied.remove(&shard);
    }

    /// Runs the takeover path again for shards whose read entries may be unhandled.
    async fn recover(&mut self) {
        let shards: Vec<u32> = self
            .needs_recovery
            .iter()
            .copied()
            .filter(|s| self.leases.token(*s).is_some())
            .collect();
        for s in shards {
            match self.take_over(s).await {
                Ok(()) => {
                    self.needs_recovery.remove(&s);
                }
                Err(e) => {
                    tracing::warn!(shard = s, error = %e, "recovering the shard failed; retrying");
                    return;
                }
            }
        }
        // Shards that are no longer ours are the new owner's to recover.
        let owned: std::collections::BTreeSet<u32> = self.leases.owned().into_iter().collect();
        self.needs_recovery.retain(|s| owned.contains(s));
    }

    /// Makes this hub the working owner of `shard`: finishes what the journal holds beyond
    /// `fanned`, then queues the shard's pending entries (to be skipped if already applied).
    async fn take_over(&mut self, shard: u32) -> Result<(), HubError> {
        let mut conn = self.store.conn().clone();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.cmd(shard))
            .arg(HUB_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        if let Err(e) = created {
            if !e.to_string().contains("BUSYGROUP") {
                return Err(e.into());
            }
        }
        self.twins.remove(&shard);
        let (applied, fanned) = self.store.markers(shard).await?;
        self.applied.insert(
            shard,
            applied
                .as_deref()
                .and_then(parse_stream_id)
                .unwrap_or((0, 0)),
        );
        let replayed = self.replay_journal(shard, fanned).await?;
        // Claim everything pending in the shard's group, whoever held it.
        let mut claimed = VecDeque::new();
        let mut start = "0-0".to_string();
        loop {
            let reply: StreamAutoClaimReply = redis::AsyncCommands::xautoclaim_options(
                &mut conn,
                self.keys.cmd(shard),
                HUB_GROUP,
                &self.hub_id,
                0,
                &start,
                StreamAutoClaimOptions::default().count(1000),
            )
            .await?;
            claimed.extend(reply.claimed);
            if reply.next_stream_id == "0-0" {
                break;
            }
            start = reply.next_stream_id;
        }
        if replayed > 0 || !claimed.is_empty() {
            self.metrics.takeovers.inc();
            tracing::info!(shard, replayed, pending = claimed.len(), "shard taken over");
        }
        if !claimed.is_empty() {
            self.backlog.insert(shard, claimed);
        }
        Ok(())
    }

    /// Re-sends responses and fan-out of journal entries after `fanned`.
    async fn replay_journal(
        &mut self,
        shard: u32,
        fanned: Option<String>,
    ) -> Result<usize, HubError> {
        let mut conn = self.store.conn().clone();
        let mut from = match &fanned {
            Some(f) => format!("({f}"),
            None => "-".to_string(),
        };
        let mut total = 0;
        loop {
            let page: StreamRangeReply = redis::cmd("XRANGE")
                .arg(self.keys.events(shard))
                .arg(&from)
                .arg("+")
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if page.ids.is_empty() {
                break;
            }
            let mut outputs: Vec<(String, Delivery)> = Vec::new();
            let mut last = None;
            let mut entries = Vec::new();
            for e in &page.ids {
                last = Some(e.id.clone());
                let data: Option<String> = e.get(JOURNAL_FIELD);
                match data.and_then(|d| serde_json::from_str::<JournalEntry>(&d).ok()) {
                    Some(j) => entries.push((e.id.clone(), j)),
                    None => tracing::warn!(shard, id = %e.id, "skipping malformed journal entry"),
                }
            }
            let policy_ids: Vec<String> =
                entries.iter().map(|(_, j)| j.policy_id.clone()).collect();
            self.policies.prefetch(&mut self.store, &policy_ids).await?;
            let thing_ids: Vec<String> = entries
                .iter()
                .map(|(_, j)| j.event.thing_id.clone())
                .collect();
            let twins = self.load_twins_direct(shard, &thing_ids).await?;
            for ((id, j), twin) in entries.iter().zip(twins) {
                let pos = pos_of(shard, id);
                if let (Some(r), Some(pos)) = (&j.response, pos) {
                    outputs.push((
                        j.origin.node.clone(),
                        Delivery::Response {
                            session: j.origin.session,
                            frame: r.clone(),
                            pos: Some(pos),
                            live: false,
                        },
                    ));
                }
                let policy = self.policies.get(&j.policy_id);
                outputs.extend(self.fan_event(
                    &j.event,
                    &j.origin,
                    twin.as_deref(),
                    policy.as_deref(),
                    pos,
                ));
            }
            total += entries.len();
            self.metrics.replayed_entries.inc_by(entries.len() as u64);
            let Some(last) = last else { break };
            let mut pipe = redis::pipe();
            add_deliveries(&mut pipe, &self.keys, &outputs);
            pipe.cmd("SET")
                .arg(self.keys.fanned(shard))
                .arg(&last)
                .ignore();
            pipe.query_async::<()>(&mut conn).await?;
            from = format!("({last}");
        }
        Ok(total)
    }

    async fn load_twins_direct(
        &mut self,
        shard: u32,
        ids: &[String],
    ) -> Result<Vec<Option<Arc<Twin>>>, HubError> {
        let keys: Vec<String> = ids.iter().map(|id| self.keys.thing(shard, id)).collect();
        let values = self.store.get_many(&keys).await?;
        values
            .into_iter()
            .zip(ids)
            .map(|(v, id)| match v {
                Some(s) => Twin::from_stored(&s)
                    .map(|t| Some(Arc::new(t)))
                    .map_err(|e| HubError::Corrupt(format!("thing {id}: {e}"))),
                None => Ok(None),
            })
            .collect()
    }

    /// One round: read a batch, process it.
    async fn round(
        &mut self,
        block: Duration,
        shutdown: &CancellationToken,
    ) -> Result<(), HubError> {
        let batch = match self.backlog.keys().next().copied() {
            Some(shard) => {
                let q = self
                    .backlog
                    .get_mut(&shard)
                    .map(std::mem::take)
                    .unwrap_or_default();
                self.backlog.remove(&shard);
                vec![(shard, q.into_iter().collect::<Vec<_>>())]
            }
            None => self.read_new(block, shutdown).await?,
        };
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.store.conn().clone();
        // The causality rule: subscriptions written before these commands are in their fan-out.
        self.registry.catch_up(&mut conn).await?;
        self.policies.catch_up(&mut conn).await?;
        // A round handles every shard's batch, commits them all together, then writes every
        // shard's deliveries; all of those have landed before the round ends, so a shard's next
        // batch never overtakes them.
        let mut prepared = Vec::new();
        for (shard, entries) in batch {
            if entries.is_empty() {
                continue;
            }
            match self.prepare_shard(shard, entries).await {
                Ok(Some(p)) => prepared.push(p),
                Ok(None) => {}
                Err(e) => self.shard_failed(shard, e).await,
            }
        }
        // The shards' commits are independent (each fenced by its own lease), so they go out
        // together, pipelined on one connection: a round costs one commit round trip, not one
        // per shard.
        let store = &self.store;
        let commits = futures_util::future::join_all(prepared.iter().map(|p| async move {
            match &p.last_id {
                Some(last) => {
                    store
                        .commit(p.shard, &p.token, last, &p.writes, &p.journal)
                        .await
                }
                None => Ok(Vec::new()),
            }
        }))
        .await;
        let mut sending = Vec::new();
        for (p, committed) in prepared.into_iter().zip(commits) {
            let shard = p.shard;
            match committed {
                Ok(journal_ids) => sending.push((shard, self.finish_shard(p, journal_ids))),
                Err(e) => {
                    // The cache holds the policies as this batch left them, which Redis never
                    // got: read them again when next needed.
                    for (id, _) in &p.policy_updates {
                        self.policies.forget(id);
                    }
                    self.shard_failed(shard, e).await
                }
            }
        }
        for (shard, send) in sending {
            let failed = match send.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(HubError::from(e)),
                Err(e) => Some(HubError::from(e)),
            };
            if let Some(e) = failed {
                self.shard_failed(shard, e).await;
            }
        }
        Ok(())
    }

    /// A shard's batch failed somewhere between reading and delivering: forget what this hub
    /// believed of the shard and redo it from Redis (its pending entries and journal).
    async fn shard_failed(&mut self, shard: u32, e: HubError) {
        tracing::warn!(shard, error = %e, "shard batch failed; recovering the shard");
        self.forget_shard(shard);
        if self.leases.token(shard).is_some() {
            if let Err(e) = self.take_over(shard).await {
                tracing::warn!(shard, error = %e, "recovery failed; retrying next round");
            }
        }
        if matches!(e, HubError::Fenced(_)) {
            self.metrics
                .lease_changes
                .with_label_values(&["lost"])
                .inc();
        }
    }

    async fn read_new(
        &mut self,
        block: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Vec<(u32, Vec<StreamId>)>, HubError> {
        let shards: Vec<u32> = self
            .leases
            .owned()
            .into_iter()
            .filter(|s| self.leases.token(*s).is_some())
            .collect();
        if shards.is_empty() {
            shutdown
                .run_until_cancelled(tokio::time::sleep(block))
                .await;
            return Ok(Vec::new());
        }
        let keys: Vec<String> = shards.iter().map(|s| self.keys.cmd(*s)).collect();
        let ids: Vec<&str> = shards.iter().map(|_| ">").collect();
        let opts = StreamReadOptions::default()
            .group(HUB_GROUP, &self.hub_id)
            .count(self.cfg.hub.batch_size)
            .block(block.as_millis().max(1) as usize);
        let reply: Option<StreamReadReply> =
            redis::AsyncCommands::xread_options(&mut self.reader, &keys, &ids, &opts).await?;
        let Some(reply) = reply else {
            return Ok(Vec::new());
        };
        let by_key: HashMap<String, u32> = shards.iter().map(|s| (self.keys.cmd(*s), *s)).collect();
        Ok(reply
            .keys
            .into_iter()
            .filter_map(|k| by_key.get(&k.key).map(|s| (*s, k.ids)))
            .collect())
    }

    /// Twins of `ids` in `shard`, from the cache or Redis.
    async fn prefetch_twins(&mut self, shard: u32, ids: &[String]) -> Result<(), HubError> {
        let cache = self.twins.entry(shard).or_default();
        let mut missing: Vec<String> = ids
            .iter()
            .filter(|id| !cache.contains_key(*id))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let loaded = self.load_twins_direct(shard, &missing).await?;
        let total: usize = self.twins.values().map(HashMap::len).sum();
        if total + missing.len() > self.cfg.hub.max_cached_twins {
            // Crude but bounded: start this shard's cache afresh.
            self.twins.insert(shard, HashMap::new());
        }
        let cache = self.twins.entry(shard).or_default();
        for (id, t) in missing.into_iter().zip(loaded) {
            cache.insert(id, t);
        }
        self.metrics
            .cached_twins
            .set(self.twins.values().map(HashMap::len).sum::<usize>() as i64);
        Ok(())
    }

    /// Handles one shard's batch up to its commit (`None`: nothing to do, the shard is not this
    /// hub's now).
    async fn prepare_shard(
        &mut self,
        shard: u32,
        entries: Vec<StreamId>,
    ) -> Result<Option<Prepared>, HubError> {
        let started = Instant::now();
        let Some(token) = self.leases.token(shard).map(str::to_owned) else {
            // Not ours, or the lease is not fresh: the entries stay pending. A new owner claims
            // them; if it is still ours, recovery reads them again once the lease is renewed.
            self.needs_recovery.insert(shard);
            return Ok(None);
        };
        let applied = self.applied.get(&shard).copied().unwrap_or((0, 0));
        let mut ids = Vec::with_capacity(entries.len());
        let mut cmds: Vec<(String, BusCommand)> = Vec::with_capacity(entries.len());
        for e in entries {
            ids.push(e.id.clone());
            if parse_stream_id(&e.id).is_some_and(|id| id <= applied) {
                self.metrics.skipped_applied.inc();
                continue;
            }
            let raw: Option<String> = e.get(CMD_FIELD);
            match raw.and_then(|r| serde_json::from_str::<BusCommand>(&r).ok()) {
                Some(c) => cmds.push((e.id, c)),
                None => {
                    self.metrics
                        .commands
                        .with_label_values(&["malformed"])
                        .inc();
                    tracing::warn!(shard, id = %e.id, "dropping malformed command entry");
                }
            }
        }
        self.metrics.batch_size.observe(cmds.len() as f64);
        // Prefetch twins and their policies in two round trips.
        let topics: Vec<Option<Topic>> = cmds
            .iter()
            .map(|(_, c)| Topic::parse(&c.envelope.topic).ok())
            .collect();
        let thing_ids: Vec<String> = topics
            .iter()
            .flatten()
            .filter(|t| t.group == Group::Things && !t.is_wildcard_name())
            .map(Topic::entity_id)
            .collect();
        self.prefetch_twins(shard, &thing_ids).await?;
        let mut policy_ids: Vec<String> = thing_ids.clone();
        let cache = self.twins.get(&shard);
        for id in &thing_ids {
            if let Some(Some(t)) = cache.and_then(|c| c.get(id)) {
                if let Some(p) = t.policy_id() {
                    policy_ids.push(p.to_owned());
                }
            }
        }
        for (_, c) in &cmds {
            if let Some(p) = c
                .envelope
                .value
                .as_ref()
                .and_then(|v| v.get("policyId"))
                .and_then(Value::as_str)
            {
                policy_ids.push(p.to_owned());
            }
        }
        for t in topics
            .iter()
            .flatten()
            .filter(|t| t.group == Group::Policies)
        {
            policy_ids.push(t.entity_id());
        }
        // RetrieveThings reads things of any shard from their committed state.
        let wanted: Vec<String> = cmds
            .iter()
            .zip(&topics)
            .filter(|(_, t)| {
                t.as_ref()
                    .is_some_and(|t| t.group == Group::Things && t.is_wildcard_name())
            })
            .flat_map(|((_, c), _)| thing_ids_of(&c.envelope))
            .collect();
        self.foreign.clear();
        if !wanted.is_empty() {
            let keys: Vec<String> = wanted
                .iter()
                .map(|id| self.keys.thing(shard_of(id, self.cfg.shards.count), id))
                .collect();
            let values = self.store.get_many(&keys).await?;
            for (id, v) in wanted.into_iter().zip(values) {
                let t = v.and_then(|s| Twin::from_stored(&s).ok()).map(Arc::new);
                if let Some(p) = t.as_ref().and_then(|t| t.policy_id()) {
                    policy_ids.push(p.to_owned());
                }
                self.foreign.insert(id, t);
            }
        }
        policy_ids.sort();
        policy_ids.dedup();
        self.policies.prefetch(&mut self.store, &policy_ids).await?;

        let now = now_iso();
        let mut items: Vec<Item> = Vec::with_capacity(cmds.len());
        let mut writes: Vec<Write> = Vec::new();
        let mut policy_updates: Vec<(String, i64)> = Vec::new();
        let mut last_id = None;
        for ((id, cmd), topic) in cmds.iter().zip(topics) {
            last_id = Some(id.clone());
            let item = self.handle(shard, cmd, topic, &now, &mut writes, &mut policy_updates);
            items.push(item);
        }
        // Only the last write of each key in the batch matters.
        let mut seen = std::collections::HashSet::new();
        let mut final_writes: Vec<Write> = writes
            .into_iter()
            .rev()
            .filter(|w| seen.insert(w.key().to_owned()))
            .collect();
        final_writes.reverse();
        let journal: Vec<Vec<(String, String)>> = items
            .iter()
            .filter_map(|it| {
                it.event.as_ref().map(|(ev, _, policy)| {
                    let j = JournalEntry {
                        origin: it.origin.clone(),
                        response: it.response.clone(),
                        event: ev.clone(),
                        policy_id: policy.as_ref().map(|p| p.id.clone()).unwrap_or_default(),
                    };
                    // Plain data always serializes.
                    vec![(
                        JOURNAL_FIELD.to_owned(),
                        serde_json::to_string(&j).expect("journal entry serializes"),
                    )]
                })
            })
            .collect();
        Ok(Some(Prepared {
            shard,
            started,
            token,
            ids,
            last_id,
            items,
            writes: final_writes,
            journal,
            policy_updates,
        }))
    }

    /// After a shard's commit: starts writing its responses and fan-out; the returned task ends
    /// when they are written.
    fn finish_shard(&mut self, p: Prepared, journal_ids: Vec<String>) -> DeliveryWrite {
        let Prepared {
            shard,
            started,
            ids,
            last_id,
            items,
            policy_updates,
            ..
        } = p;
        if let Some(last) = last_id.as_deref().and_then(parse_stream_id) {
            self.applied.insert(shard, last);
        }

        // Responses and fan-out, in command order, response first.
        let mut outputs: Vec<(String, Delivery)> = Vec::new();
        let mut jids = journal_ids.iter();
        let written_ms = now_ms();
        for it in &items {
            let pos = if it.event.is_some() {
                jids.next().and_then(|id| pos_of(shard, id))
            } else {
                None
            };
            if let Some(r) = &it.response {
                outputs.push((
                    it.origin.node.clone(),
                    Delivery::Response {
                        session: it.origin.session,
                        frame: r.clone(),
                        pos,
                        // A refused live signal settles the sender's pending request.
                        live: it.live_signal,
                    },
                ));
                self.metrics
                    .command_latency
                    .observe(written_ms.saturating_sub(it.accepted_ms) as f64 / 1000.0);
            }
            outputs.extend(it.live.iter().cloned());
            if let Some((ev, twin, policy)) = &it.event {
                outputs.extend(self.fan_event(
                    ev,
                    &it.origin,
                    twin.as_deref(),
                    policy.as_deref(),
                    pos,
                ));
            }
        }
        tracing::debug!(
            shard,
            commands = items.len(),
            deliveries = outputs.len(),
            "batch applied"
        );
        let mut pipe = redis::pipe();
        add_deliveries(&mut pipe, &self.keys, &outputs);
        if let Some(last) = journal_ids.last() {
            pipe.cmd("SET")
                .arg(self.keys.fanned(shard))
                .arg(last)
                .ignore();
        }
        for (id, rev) in &policy_updates {
            pipe.cmd("XADD")
                .arg(self.keys.policy_updates())
                .arg("MAXLEN")
                .arg("~")
                .arg(UPDATES_MAXLEN)
                .arg("*")
                .arg("id")
                .arg(id)
                .arg("rev")
                .arg(rev)
                .ignore();
        }
        let cmd_key = self.keys.cmd(shard);
        pipe.cmd("XACK")
            .arg(&cmd_key)
            .arg(HUB_GROUP)
            .arg(&ids)
            .ignore();
        if let Some(last) = &last_id {
            // Entries below the applied one are done; the stream keeps only what may be pending.
            pipe.cmd("XTRIM")
                .arg(&cmd_key)
                .arg("MINID")
                .arg(last)
                .ignore();
        }
        let mut conn = self.store.conn().clone();
        let batch_duration = self.metrics.batch_duration.clone();
        tokio::spawn(async move {
            pipe.query_async::<()>(&mut conn).await?;
            batch_duration.observe(started.elapsed().as_secs_f64());
            Ok(())
        })
    }

    /// Handles one command; records the writes it makes and returns what to send.
    fn handle(
        &mut self,
        shard: u32,
        cmd: &BusCommand,
        topic: Option<Topic>,
        now: &str,
        writes: &mut Vec<Write>,
        policy_updates: &mut Vec<(String, i64)>,
    ) -> Item {
        let mut item = Item {
            origin: cmd.origin.clone(),
            response: None,
            accepted_ms: cmd.accepted_ms,
            event: None,
            live: Vec::new(),
            live_signal: false,
        };
        let respond = cmd.envelope.headers.response_required();
        let topic = match topic {
            Some(t) => t,
            None => {
                // Gateways validate topics; a bad one here is a bug, answered all the same.
                let e = Topic::parse(&cmd.envelope.topic)
                    .err()
                    .unwrap_or(Error::UnknownSignal {
                        topic: cmd.envelope.topic.clone(),
                    });
                if respond {
                    item.response = Some(
                        error_envelope(&e, None, cmd.envelope.headers.for_response())
                            .to_json_string(),
                    );
                }
                return item;
            }
        };
        let result = match (topic.group, topic.channel, topic.criterion) {
            (Group::Things, Some(Channel::Twin), Criterion::Commands)
                if topic.is_wildcard_name() =>
            {
                self.retrieve_things(cmd, &topic).map(Some)
            }
            (Group::Things, Some(Channel::Twin), Criterion::Commands) => self
                .handle_thing(shard, cmd, &topic, now, writes, policy_updates, &mut item)
                .map(Some),
            (
                Group::Things,
                Some(Channel::Live),
                Criterion::Messages | Criterion::Commands | Criterion::Events,
            ) => {
                // Answered by whoever receives it; only a refusal is answered here.
                item.live_signal = true;
                self.handle_live(shard, cmd, &topic).map(|deliveries| {
                    item.live = deliveries;
                    None
                })
            }
            (Group::Policies, _, Criterion::Commands) => self
                .handle_policy(shard, cmd, &topic, now, writes, policy_updates)
                .map(Some),
            _ => Err(Error::UnknownSignal {
                topic: cmd.envelope.topic.clone(),
            }),
        };
        match result {
            Ok(response) => {
                self.metrics.commands.with_label_values(&["ok"]).inc();
                if respond {
                    item.response = response;
                }
            }
            Err(e) => {
                self.metrics.commands.with_label_values(&["error"]).inc();
                if respond {
                    item.response = Some(
                        error_envelope(&e, Some(&topic), cmd.envelope.headers.for_response())
                            .to_json_string(),
                    );
                }
            }
        }
        item
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_thing(
        &mut self,
        shard: u32,
        cmd: &BusCommand,
        topic: &Topic,
        now: &str,
        writes: &mut Vec<Write>,
        policy_updates: &mut Vec<(String, i64)>,
        item: &mut Item,
    ) -> Result<String, Error> {
        let thing_id = topic.entity_id();
        let current = self
            .twins
            .get(&shard)
            .and_then(|c| c.get(&thing_id))
            .cloned()
            .flatten();
        let handled = command::decide(
            cmd,
            topic,
            current.as_deref(),
            &self.policies,
            now,
            &self.limits,
        )?;
        if let Some(change) = handled.change {
            let key = self.keys.thing(shard, &change.thing_id);
            let twin = change.twin.map(Arc::new);
            match &twin {
                Some(t) => writes.push(Write::Put {
                    key,
                    value: t.to_stored(),
                }),
                None => writes.push(Write::Delete { key }),
            }
            if let Some(p) = &change.new_policy {
                // Created along with the thing: same id, hence same shard and same commit.
                writes.push(Write::Put {
                    key: self.policies.key(&p.id),
                    value: serde_json::to_string(&p.stored).expect("policy serializes"),
                });
                policy_updates.push((p.id.clone(), p.stored.revision));
                let cached = CachedPolicy::new(&p.id, p.stored.clone())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                self.policies.put(cached);
            }
            self.twins
                .entry(shard)
                .or_default()
                .insert(change.thing_id.clone(), twin.clone());
            let policy = twin
                .as_ref()
                .or(current.as_ref())
                .and_then(|t| t.policy_id())
                .and_then(|p| self.policies.get(p));
            self.metrics.events.inc();
            item.event = Some((change.event, twin, policy));
        }
        Ok(handled.response.to_json_string())
    }

    /// A message, live command or live event: authorized against the thing's policy and fanned out.
    fn handle_live(
        &mut self,
        shard: u32,
        cmd: &BusCommand,
        topic: &Topic,
    ) -> Result<Vec<(String, Delivery)>, Error> {
        let thing_id = topic.entity_id();
        let twin = self
            .twins
            .get(&shard)
            .and_then(|c| c.get(&thing_id))
            .cloned()
            .flatten();
        let policy = twin
            .as_ref()
            .and_then(|t| t.policy_id())
            .and_then(|p| self.policies.get(p));
        let mut evaluations = 0;
        let out = crate::live::route(
            cmd,
            topic,
            twin.as_deref(),
            policy.as_deref(),
            &self.registry,
            self.cfg.limits.message_bytes,
            &mut evaluations,
        );
        self.metrics.filter_evaluations.inc_by(evaluations);
        if let Ok(d) = &out {
            let kind = match topic.criterion {
                Criterion::Messages => "message",
                Criterion::Commands => "live_command",
                _ => "live_event",
            };
            self.metrics
                .deliveries
                .with_label_values(&[kind])
                .inc_by(d.len() as u64);
        }
        out
    }

    /// A policies command; policies live in the shard of their own id.
    fn handle_policy(
        &mut self,
        shard: u32,
        cmd: &BusCommand,
        topic: &Topic,
        now: &str,
        writes: &mut Vec<Write>,
        policy_updates: &mut Vec<(String, i64)>,
    ) -> Result<String, Error> {
        let id = topic.entity_id();
        let current = self.policies.get(&id);
        let handled = crate::policies::command::decide(
            cmd,
            topic,
            current.as_ref(),
            now,
            self.cfg.limits.policy_bytes,
        )?;
        if let Some(change) = handled.change {
            let key = self.keys.policy(shard, &change.id);
            match change.policy {
                Some(p) => {
                    // Plain data always serializes.
                    writes.push(Write::Put {
                        key,
                        value: serde_json::to_string(&p.stored).expect("policy serializes"),
                    });
                    policy_updates.push((change.id, p.stored.revision));
                    self.policies.put_arc(p);
                }
                None => {
                    writes.push(Write::Delete { key });
                    // A revision no policy has: every hub drops its cached copy.
                    policy_updates.push((change.id.clone(), -1));
                    self.policies.forget(&change.id);
                }
            }
        }
        Ok(handled.response.to_json_string())
    }

    /// RetrieveThings (`<ns>/_/things/twin/commands/retrieve` with `{"thingIds": [...]}`): the
    /// readable view of each listed thing, in the order asked, leaving out missing and unreadable ones.
    fn retrieve_things(&self, cmd: &BusCommand, topic: &Topic) -> Result<String, Error> {
        let env = &cmd.envelope;
        if topic.action != Some(Action::Retrieve) {
            return Err(Error::UnknownTopicPath {
                topic: env.topic.clone(),
                description: "Check if the topic path is correct.".into(),
            });
        }
        let ids = env
            .value
            .as_ref()
            .and_then(|v| v.get("thingIds"))
            .and_then(Value::as_array)
            .ok_or(Error::ThingIdsMissing)?;
        if ids.is_empty() {
            return Err(Error::ThingIdsMissing);
        }
        // A concrete namespace in the topic must be every thing's namespace (Ditto RetrieveThings).
        if topic.namespace != "_" {
            let prefix = format!("{}:", topic.namespace);
            if ids
                .iter()
                .any(|id| !id.as_str().is_some_and(|s| s.starts_with(&prefix)))
            {
                return Err(Error::JsonFormatInvalid(
                    "The provided namespace must match the namespace of all things to retrieve."
                        .into(),
                ));
            }
        }
        let fields = env
            .fields
            .as_deref()
            .map(FieldSelector::parse)
            .transpose()?;
        let mut out = Vec::new();
        for id in ids.iter().filter_map(Value::as_str) {
            let twin = self
                .twins
                .get(&shard_of(id, self.cfg.shards.count))
                .and_then(|c| c.get(id))
                .cloned()
                .unwrap_or_else(|| self.foreign.get(id).cloned().flatten());
            let Some(twin) = twin else { continue };
            let Some(policy) = twin.policy_id().and_then(|p| self.policies.get(p)) else {
                continue;
            };
            let source = match &fields {
                Some(sel) => sel.apply(&twin.with_special_fields()),
                None => twin.thing.clone(),
            };
            // Ditto leaves out things the requester may not read at all.
            if policy
                .enforcer
                .has_partial(&cmd.subjects, "thing", "/", Permission::Read)
            {
                let view = policy
                    .enforcer
                    .retrieve_view(&cmd.subjects, "thing", "/", &source);
                // API 1 clients see the ACL in place of the policy id.
                out.push(if cmd.api_version == 1 {
                    crate::things::v1::to_v1_thing(&view, Some(&policy.policy))
                } else {
                    view
                });
            }
        }
        let mut headers = env.headers.for_response();
        headers.set(
            twinwire_common::protocol::headers::names::CONTENT_TYPE,
            "application/json",
        );
        Ok(Envelope {
            topic: env.topic.clone(),
            headers,
            path: env.path.clone(),
            value: Some(Value::Array(out)),
            status: Some(200),
            ..Default::default()
        }
        .to_json_string())
    }

    /// Fan-out deliveries for a thing event.
    fn fan_event(
        &self,
        ev: &EventRecord,
        origin: &Origin,
        twin: Option<&Twin>,
        policy: Option<&CachedPolicy>,
        pos: Option<JournalPos>,
    ) -> Vec<(String, Delivery)> {
        let Ok(topic) = Topic::parse(&ev.topic) else {
            return Vec::new();
        };
        let sig = Signal {
            kind: StreamingKind::Events,
            topic: &topic,
            thing_id: &ev.thing_id,
            path: &ev.path,
            value: ev.value.as_ref(),
            headers: &ev.headers,
            revision: Some(ev.revision),
            timestamp: Some(&ev.timestamp),
            origin,
            twin,
            pos,
            written_ms: now_ms(),
            // Sessions acknowledging custom labels answer straight to the sender.
            reply: (!ev.acks.is_empty()).then(|| Reply {
                origin: origin.clone(),
                correlation_id: ev
                    .headers
                    .correlation_id()
                    .map(|c| c.into_owned())
                    .unwrap_or_default(),
            }),
            acks: &ev.acks,
        };
        let vis = EventVisibility {
            policy,
            path: &ev.path,
            value: ev.value.as_ref(),
        };
        let mut evaluations = 0;
        let out = fan_out(&self.registry, &sig, &vis, &mut evaluations);
        self.metrics.filter_evaluations.inc_by(evaluations);
        self.metrics
            .deliveries
            .with_label_values(&["event"])
            .inc_by(out.len() as u64);
        out
    }
}

fn pos_of(shard: u32, id: &str) -> Option<JournalPos> {
    parse_stream_id(id).map(|(ms, seq)| JournalPos { shard, ms, seq })
}

fn add_deliveries(pipe: &mut redis::Pipeline, keys: &Keys, outputs: &[(String, Delivery)]) {
    for (node, d) in outputs {
        let c = pipe
            .cmd("XADD")
            .arg(keys.node(node))
            .arg("MAXLEN")
            .arg("~")
            .arg(NODE_STREAM_MAXLEN)
            .arg("*");
        for (k, v) in d.to_fields() {
            c.arg(k).arg(v);
        }
        c.ignore();
    }
}

fn thing_ids_of(env: &Envelope) -> Vec<String> {
    env.value
        .as_ref()
        .and_then(|v| v.get("thingIds"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_print_like_java_instants() {
        let base = chrono::Utc
            .with_ymd_and_hms(2024, 1, 17, 10, 30, 15)
            .unwrap();
        let table = [
            (0, "2024-01-17T10:30:15Z"),
            (123_000_000, "2024-01-17T10:30:15.123Z"),
            (123_456_000, "2024-01-17T10:30:15.123456Z"),
            (123_456_789, "2024-01-17T10:30:15.123456789Z"),
            (100_000_000, "2024-01-17T10:30:15.100Z"),
        ];
        for (nanos, expected) in table {
            assert_eq!(
                format_instant(base + chrono::Duration::nanoseconds(nanos)),
                expected
            );
        }
    }
}
