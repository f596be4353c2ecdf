//! The round (DESIGN.md §1–§3): read a batch of command entries of owned shards, catch up on
//! subscription and policy changes, prepare each shard's batch (load what it reads, dispatch its
//! commands), commit every shard's batch in one fenced atomic write each, then send responses and
//! fan-out in one pipeline per shard (response first), advance `fanned` and acknowledge. A light
//! round ends when those have landed ([`Worker::settle`]); a round under load lets them land while
//! the next one reads and prepares, whose commits wait for them: either way a shard's events stay
//! in order. A shard whose batch fails anywhere on the way is forgotten and taken over again from
//! Redis.
//!
//! [`Worker`] owns what rounds and takeovers work with: the store, the subscription registry, the
//! policy and twin caches, and what it tracks of each owned shard.

mod finish;
mod prepare;

use crate::config::HubConfig;
use crate::dispatch::Effects;
use crate::dispatch::{CommandLimits, Dispatch};
use crate::error::HubError;
use crate::events::EventFanout;
use crate::instant::now_iso;
use crate::metrics::Metrics;
use crate::policies::PolicyCache;
use crate::registry::SubscriptionRegistry;
use crate::resume::{Replay, Replays, Watermarks};
use crate::search::SearchBatch;
use crate::shard::lease::Leases;
use crate::shard::state::ShardStates;
use crate::shard::takeover::Takeover;
use crate::store::{CommandReader, Commit, Store};
use crate::things::apply::Limits;
use crate::things::cache::TwinCache;
use crate::things::retrieve::CommittedThings;
use prepare::ShardBatch;
use redis::streams::StreamId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use twinwire_common::bus::parse_stream_id;

/// Rounds of at least this many commands do not wait for their deliveries before the next
/// round's read (issue 13; see the end of [`Worker::round`]).
const OVERLAP_FROM_COMMANDS: usize = 16;

/// A shard batch's deliveries being written (the pipeline of `finish_shard`).
type DeliveryWrite = tokio::task::JoinHandle<redis::RedisResult<()>>;

pub struct Worker {
    hub_id: String,
    metrics: Arc<Metrics>,
    store: Store,
    /// The blocking reads of new command entries (their own connections).
    reader: CommandReader,
    batch_size: usize,
    shard_count: u32,
    /// `search.max_candidates`: a search's cost bound per shard.
    search_max_candidates: usize,
    limits: CommandLimits,
    registry: SubscriptionRegistry,
    policies: PolicyCache,
    twins: TwinCache,
    committed: CommittedThings,
    shards: ShardStates,
    /// Resume: how far shards are fanned out, sent to gateway nodes (issue 16).
    watermarks: Watermarks,
    /// Resume: replays under way, a page per round each (issue 16).
    replays: Replays,
    /// Policy announcements waiting for acknowledgements (`policies::expiry`).
    pending_acks: crate::policies::expiry::PendingAcks,
    /// The delivery writes being sent; [`Worker::settle`] awaits them (at the end of a light
    /// round, before the next round's commits, and before anything else that must follow them).
    writing: Vec<(u32, DeliveryWrite)>,
}

impl Worker {
    pub fn new(
        cfg: &HubConfig,
        hub_id: String,
        metrics: Arc<Metrics>,
        store: Store,
        reader: CommandReader,
    ) -> Worker {
        Worker {
            registry: SubscriptionRegistry::new(
                metrics.clone(),
                Duration::from_secs(cfg.groups.retention_secs),
            ),
            policies: PolicyCache::new(store.keys.clone(), cfg.shards.count),
            twins: TwinCache::new(cfg.hub.max_cached_twins),
            committed: CommittedThings::default(),
            shards: ShardStates::default(),
            watermarks: Watermarks::new(cfg.resume.retention_secs),
            replays: Replays::default(),
            pending_acks: Default::default(),
            writing: Vec::new(),
            limits: CommandLimits {
                thing: Limits {
                    thing_bytes: cfg.limits.thing_bytes,
                },
                message_bytes: cfg.limits.message_bytes,
                policy_bytes: cfg.limits.policy_bytes,
            },
            batch_size: cfg.hub.batch_size,
            search_max_candidates: cfg.search.max_candidates,
            shard_count: cfg.shards.count,
            hub_id,
            metrics,
            store,
            reader,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn shards(&mut self) -> &mut ShardStates {
        &mut self.shards
    }

    /// Loads the subscription registry and starts tailing policy updates.
    pub async fn start(&mut self) -> Result<(), HubError> {
        self.registry.load(&self.store).await?;
        self.policies.start(&self.store).await
    }

    pub async fn reap_dead_nodes(&mut self) -> Result<Vec<String>, HubError> {
        let (dead, redispatched) = self.registry.reap_dead_nodes(&self.store).await?;
        if !redispatched.is_empty() {
            // Shared subscriptions: what the dead nodes' members never read, to other members.
            let mut batch = self.store.delivery_batch();
            batch.deliveries(&redispatched);
            batch.send().await?;
        }
        Ok(dead)
    }

    /// Enqueues due subject expiries and announcement redeliveries of `owned` shards.
    pub async fn sweep(&mut self, sweeper: &mut crate::policies::expiry::Sweeper, owned: &[u32]) {
        sweeper
            .tick(&self.store, owned, &mut self.pending_acks)
            .await
    }

    /// Forgets what this hub believed of `shard`.
    pub fn forget_shard(&mut self, shard: u32) {
        self.twins.forget_shard(shard);
        self.shards.forget(shard);
        self.replays.forget(shard);
    }

    /// Makes this hub the working owner of `shard` (see `shard::takeover`).
    pub async fn take_over(&mut self, shard: u32) -> Result<(), HubError> {
        Takeover {
            store: &self.store,
            hub_id: &self.hub_id,
            metrics: &self.metrics,
            registry: &self.registry,
            shards: &mut self.shards,
            twins: &mut self.twins,
            policies: &mut self.policies,
        }
        .take_over(shard)
        .await
    }

    /// Indexes `shard`'s twins written before its search index existed (once per shard; see
    /// `search::backfill`).
    pub async fn ensure_search_index(&self, shard: u32, token: &str) -> Result<(), HubError> {
        let n = crate::search::backfill::ensure_built(&self.store, shard, token).await?;
        if n > 0 {
            tracing::info!(shard, twins = n, "search index built for the shard's twins");
        }
        Ok(())
    }

    /// Resume (issue 16): one page of every replay under way, on shards this hub may act for;
    /// a shard that fails is recovered (its requests are claimed and replayed again).
    async fn replay_step(&mut self, leases: &Leases) -> Vec<u32> {
        if self.replays.is_empty() {
            return Vec::new();
        }
        // The journal a replay reads is fully delivered live first.
        self.settle(leases).await;
        let shards: Vec<u32> = self
            .replays
            .shards()
            .into_iter()
            .filter(|s| leases.token(*s).is_some())
            .collect();
        let failed = Replay {
            store: &self.store,
            registry: &self.registry,
            policies: &mut self.policies,
            metrics: &self.metrics,
        }
        .step(&mut self.replays, &shards)
        .await;
        let mut shards = Vec::new();
        for (shard, e) in failed {
            self.shard_failed(leases, shard, e).await;
            shards.push(shard);
        }
        shards
    }

    /// Resume (issue 16): takes `shard`'s replay requests out of its entries into `replays`
    /// (acknowledging malformed ones).
    async fn queue_replays(&mut self, shard: u32, entries: &mut Vec<StreamId>) {
        let requests = crate::resume::take_requests(entries);
        if requests.is_empty() {
            return;
        }
        let malformed = self.replays.queue(shard, requests);
        if !malformed.is_empty() {
            let mut batch = self.store.delivery_batch();
            batch.acknowledge(shard, &malformed, None);
            if let Err(e) = batch.send().await {
                tracing::warn!(shard, error = %e, "acknowledging malformed replay requests failed");
            }
        }
    }

    /// Whether the resume watermarks are due (they follow the deliveries being written).
    pub fn watermarks_due(&self) -> bool {
        self.watermarks.due()
    }

    /// Resume (issue 16): sends the watermarks of the shards this hub may act for, when due.
    pub async fn send_watermarks(&mut self, leases: &Leases) -> Result<(), HubError> {
        if !self.watermarks.due() {
            return Ok(());
        }
        let shards: Vec<u32> = leases
            .owned()
            .into_iter()
            .filter(|s| leases.token(*s).is_some())
            .collect();
        // Nodes whose first subscription is new get watermarks too.
        self.registry.catch_up(&self.store).await?;
        self.watermarks
            .tick(&self.store, &self.registry, &shards)
            .await
    }

    /// One round: read a batch (claimed entries first), prepare, commit and finish it.
    pub async fn round(
        &mut self,
        leases: &Leases,
        block: Duration,
        shutdown: &CancellationToken,
    ) -> Result<(), HubError> {
        // Resume (issue 16): replays under way continue at once rather than wait for commands.
        let block = if self.replays.is_empty() {
            block
        } else {
            Duration::ZERO
        };
        let batch = match self.shards.take_claimed() {
            Some(claimed) => vec![claimed],
            None => self.read_new(leases, block, shutdown).await?,
        };
        if batch.is_empty() {
            self.settle(leases).await;
            self.replay_step(leases).await;
            // Shared subscriptions: events kept for a share wait for its next member, and
            // catching up may find nodes that left with signals they never read.
            if self.registry.shares.has_kept() || self.registry.shares.any() {
                self.registry.catch_up(&self.store).await?;
                self.deliver_kept(leases).await?;
            }
            return Ok(());
        }
        let read = Instant::now(); // Hop timing (crate::hops): the round starts.

        // The causality rule: subscriptions written before these commands are in their fan-out.
        // Both reads at once (independent streams): one round trip, not two.
        // On one server their first pages came with the read, right after it (`CatchUpRead`).
        let caught_up = tokio::try_join!(
            self.registry.catch_up(&self.store),
            self.policies.catch_up(&self.store)
        );
        self.store.clear_catch_up_pages();
        caught_up?;
        self.deliver_kept(leases).await?;
        // A round handles every shard's batch, commits them all together, then writes every
        // shard's deliveries; those have landed before the next round's commits, so a shard's
        // next batch never overtakes them.
        // Resume (issue 16): a page of each replay (new requests first wait in `replays`), before
        // this round's batches, whose events the resuming sessions get live (held on their node
        // until their replay is done).
        let mut batch = batch;
        for (shard, entries) in batch.iter_mut() {
            self.queue_replays(*shard, entries).await;
        }
        let failed = self.replay_step(leases).await;
        let mut prepared: Vec<ShardBatch> = Vec::new();
        for (shard, entries) in batch {
            if entries.is_empty() || failed.contains(&shard) {
                continue;
            }
            match self.prepare_shard(leases, shard, entries).await {
                Ok(Some(p)) => prepared.push(p),
                Ok(None) => {}
                Err(e) => self.shard_failed(leases, shard, e).await,
            }
        }
        // The last round's deliveries land before any commit of this one, so a shard's events
        // stay in order; a shard whose deliveries failed is recovered, and its batch here, made
        // before that, is dropped (its entries stay pending and the recovery claims them).
        let failed = self.settle_writes().await;
        if !failed.is_empty() {
            let (dropped, kept): (Vec<_>, Vec<_>) = prepared
                .into_iter()
                .partition(|p| failed.iter().any(|(s, _)| *s == p.shard));
            prepared = kept;
            for p in &dropped {
                self.forget_policy_updates(p);
            }
            for (shard, e) in failed {
                self.recover_shard(leases, shard, e).await;
            }
        }
        // Hop timing (crate::hops): `round` ends and `commit` starts here.
        let sent = self.metrics.hops.commits_sent(read, !prepared.is_empty());
        let commands: usize = prepared.iter().map(|p| p.effects.len()).sum();
        let commits = self.commit_all(&prepared).await;
        let answered = self
            .metrics
            .hops
            .commits_answered(sent, !prepared.is_empty());
        for (p, committed) in prepared.into_iter().zip(commits) {
            let shard = p.shard;
            match committed {
                Ok(journal_ids) => {
                    let send = self.finish_shard(p, journal_ids, answered);
                    self.writing.push((shard, send));
                }
                Err(e) => {
                    self.forget_policy_updates(&p);
                    self.shard_failed(leases, shard, e).await
                }
            }
        }
        // A round under load lets its deliveries land during the next round's read and prepare
        // (whose commits wait for them, above): the next read finds entries at once then, and the
        // round's length is what throughput is cut by. A light round waits for them: overlapping
        // every round raised the p50 of low-rate fan-out from 15 to 30-40 ms in the bench.
        if commands < OVERLAP_FROM_COMMANDS {
            self.settle(leases).await;
        }
        Ok(())
    }

    /// The cache holds the policies as `p` left them, which Redis never got: read them again
    /// when next needed.
    fn forget_policy_updates(&mut self, p: &ShardBatch) {
        for (id, _) in &p.policy_updates {
            self.policies.forget(id);
        }
    }

    /// Waits for the deliveries still being written (the last round's) and recovers the shards
    /// whose writes failed. Everything that reads or re-sends a shard's journal and markers, or
    /// writes deliveries of its own, runs after it.
    pub async fn settle(&mut self, leases: &Leases) {
        for (shard, e) in self.settle_writes().await {
            self.recover_shard(leases, shard, e).await;
        }
    }

    /// Awaits the deliveries being written; the shards whose writes failed, with why.
    async fn settle_writes(&mut self) -> Vec<(u32, HubError)> {
        let mut failed = Vec::new();
        for (shard, send) in std::mem::take(&mut self.writing) {
            match send.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push((shard, HubError::from(e))),
                Err(e) => failed.push((shard, HubError::from(e))),
            }
        }
        failed
    }

    /// Shared subscriptions: expires what was kept too long, and sends the events kept for shares
    /// that have a member again, before this round's own fan-out (they are older).
    async fn deliver_kept(&mut self, leases: &Leases) -> Result<(), HubError> {
        self.registry.shares.expire();
        self.metrics
            .share_events_dropped
            .inc_by(self.registry.shares.take_dropped());
        let mut kept = std::mem::take(&mut self.registry.redispatch_pending);
        kept.extend(self.registry.shares.take_kept());
        if kept.is_empty() {
            return Ok(());
        }
        // Kept events are older than the deliveries still being written.
        self.settle(leases).await;
        tracing::debug!(
            events = kept.len(),
            "delivering events kept for shared subscriptions"
        );
        let mut batch = self.store.delivery_batch();
        batch.deliveries(&kept);
        batch.send().await?;
        Ok(())
    }

    /// New entries of the shards this hub may act for, waiting up to `block` for them.
    async fn read_new(
        &mut self,
        leases: &Leases,
        block: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Vec<(u32, Vec<StreamId>)>, HubError> {
        let shards: Vec<u32> = leases
            .owned()
            .into_iter()
            .filter(|s| leases.token(*s).is_some())
            .collect();
        if shards.is_empty() {
            shutdown
                .run_until_cancelled(tokio::time::sleep(block))
                .await;
            return Ok(Vec::new());
        }
        let batch = self
            .reader
            .read(
                &self.store,
                &shards,
                &self.hub_id,
                self.batch_size,
                block,
                vec![
                    self.registry.catch_up_read(&self.store.keys),
                    self.policies.catch_up_read(&self.store.keys),
                ],
            )
            .await?;
        self.metrics.hops.read(&batch); // Hop timing (crate::hops): command_wait.
        Ok(batch)
    }

    /// Handles one shard's batch up to its commit (`None`: nothing to do, the shard is not this
    /// hub's now).
    async fn prepare_shard(
        &mut self,
        leases: &Leases,
        shard: u32,
        entries: Vec<StreamId>,
    ) -> Result<Option<ShardBatch>, HubError> {
        let started = Instant::now();
        let Some(token) = leases.token(shard).map(str::to_owned) else {
            // Not ours, or the lease is not fresh: the entries stay pending. A new owner claims
            // them; if it is still ours, recovery reads them again once the lease is renewed.
            self.shards.mark_for_recovery([shard]);
            return Ok(None);
        };
        let decoded =
            prepare::decode_entries(shard, entries, self.shards.applied(shard), &self.metrics);
        let redispatched = self.registry.shares.redispatch(&decoded.returned);
        self.metrics
            .share_redispatched
            .inc_by(decoded.returned.len() as u64);
        self.metrics
            .batch_size
            .observe(decoded.commands.len() as f64);

        // Load what the commands read: twins, then their policies, in two round trips (plus one
        // for RetrieveThings, which reads things of any shard from their committed state, and
        // two for search queries: their index candidates, then those twins).
        let searches = SearchBatch::load(
            &self.store,
            shard,
            &decoded.commands,
            self.search_max_candidates,
            &mut self.policies,
        )
        .await?;
        let thing_ids = prepare::thing_ids(&decoded.topics);
        self.twins
            .prefetch(&self.store, &self.metrics, shard, &thing_ids)
            .await?;
        // Search index (issue 13): the commit changes only the entries that differ from these.
        let mut before = prepare::twins_before(&self.twins, shard, &thing_ids);
        let mut policy_ids = prepare::policy_ids(&decoded, &thing_ids, &self.twins, shard);
        let retrieved = prepare::retrieved_thing_ids(&decoded);
        policy_ids.extend(
            self.committed
                .load(&self.store, self.shard_count, retrieved)
                .await?,
        );
        policy_ids.extend(searches.policy_ids());
        policy_ids.sort();
        policy_ids.dedup();
        self.policies.prefetch(&self.store, &policy_ids).await?;
        let histories = self
            .store
            .histories(shard, &prepare::history_reads(&decoded))
            .await?;

        // Handle the commands in order.
        let now = now_iso();
        let mut dispatch = Dispatch {
            shard,
            now: &now,
            keys: &self.store.keys,
            shard_count: self.shard_count,
            limits: &self.limits,
            metrics: &self.metrics,
            registry: &self.registry,
            committed: &self.committed,
            twins: &mut self.twins,
            policies: &mut self.policies,
            histories: &histories,
            pending_acks: &mut self.pending_acks,
            writes: Vec::new(),
            policy_updates: Vec::new(),
        };
        let mut effects = Vec::with_capacity(decoded.commands.len());
        let mut last_id = None;
        for (pos, ((id, cmd), topic)) in decoded.commands.iter().zip(decoded.topics).enumerate() {
            last_id = Some(id.clone());
            // Search queries are answered here, on the batch's state so far (hub/src/search).
            if crate::search::query::is_query(cmd) {
                let state = crate::search::query::State {
                    shard,
                    now: &now,
                    keys: &self.store.keys,
                    twins: dispatch.twins,
                    policies: dispatch.policies,
                    writes: &dispatch.writes,
                };
                effects.push(Effects::answer(cmd, searches.answer(pos, cmd, &state)));
                continue;
            }
            effects.push(dispatch.dispatch(cmd, topic));
        }
        let Dispatch {
            writes,
            policy_updates,
            ..
        } = dispatch;
        let writes = prepare::last_writes(writes);
        // Every written twin was read by its command, so it is in `before`; should one not be,
        // it is read from Redis, which the batch has not changed yet.
        let unread: Vec<String> = prepare::written_thing_ids(&self.store.keys, shard, &writes)
            .filter(|id| !before.contains_key(*id))
            .map(str::to_owned)
            .collect();
        if !unread.is_empty() {
            let twins = crate::things::cache::load(&self.store, shard, &unread).await?;
            before.extend(unread.into_iter().zip(twins));
        }
        let index = prepare::index_updates(&self.store.keys, shard, &writes, &self.twins, &before);
        Ok(Some(ShardBatch {
            shard,
            started,
            token,
            ids: decoded.ids,
            last_id,
            journal: prepare::journal_of(&effects),
            history: crate::history::writes_of(&effects, &self.store.keys, shard),
            effects,
            writes,
            index,
            policy_updates,
            redispatched,
        }))
    }

    /// Commits the prepared batches. The shards' commits are independent (each fenced by its own
    /// lease), so they go out together, pipelined on one connection: a round costs one commit
    /// round trip, not one per shard. Each result is the batch's journal ids.
    async fn commit_all(&self, prepared: &[ShardBatch]) -> Vec<Result<Vec<String>, HubError>> {
        let store = &self.store;
        futures_util::future::join_all(prepared.iter().map(|p| async move {
            match &p.last_id {
                Some(last) => {
                    store
                        .commit(
                            p.shard,
                            &p.token,
                            last,
                            Commit {
                                writes: &p.writes,
                                journal: &p.journal,
                                history: &p.history,
                                index: &p.index,
                            },
                        )
                        .await
                }
                None => Ok(Vec::new()),
            }
        }))
        .await
    }

    /// After a shard's commit: starts writing its responses and fan-out; the returned task ends
    /// when they are written.
    fn finish_shard(
        &mut self,
        p: ShardBatch,
        journal_ids: Vec<String>,
        committed: Instant,
    ) -> DeliveryWrite {
        if let Some(last) = p.last_id.as_deref().and_then(parse_stream_id) {
            self.shards.set_applied(p.shard, last);
        }
        let events = EventFanout {
            registry: &self.registry,
            metrics: &self.metrics,
        };
        let outputs = finish::deliveries_of(&p, &journal_ids, &events, &self.metrics);
        tracing::debug!(
            shard = p.shard,
            commands = p.effects.len(),
            deliveries = outputs.len(),
            "batch applied"
        );
        let mut batch = self.store.delivery_batch();
        batch.deliveries(&outputs);
        if let Some(last) = journal_ids.last() {
            batch.fanned(p.shard, last);
        }
        for (id, rev) in &p.policy_updates {
            batch.policy_update(id, *rev);
        }
        // Resume (issue 16): the trim keeps unfinished replay requests claimable.
        let trim = self.replays.trim_to(p.shard, p.last_id.as_deref());
        batch.acknowledge(p.shard, &p.ids, trim.as_deref());
        let send = batch.send();
        let batch_duration = self.metrics.batch_duration.clone();
        let started = p.started;
        let delivered = self.metrics.hops.deliveries(committed);
        tokio::spawn(async move {
            send.await?;
            batch_duration.observe(started.elapsed().as_secs_f64());
            delivered.written();
            Ok(())
        })
    }

    /// A shard's batch failed somewhere between reading and delivering: forget what this hub
    /// believed of the shard and redo it from Redis (its pending entries and journal), once the
    /// deliveries still being written have landed.
    pub async fn shard_failed(&mut self, leases: &Leases, shard: u32, e: HubError) {
        self.settle(leases).await;
        self.recover_shard(leases, shard, e).await;
    }

    /// [`Worker::shard_failed`] with no deliveries being written.
    async fn recover_shard(&mut self, leases: &Leases, shard: u32, e: HubError) {
        tracing::warn!(shard, error = %e, "shard batch failed; recovering the shard");
        self.forget_shard(shard);
        if leases.token(shard).is_some() {
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
}
