//! The hub's main loop: renew shard leases and take shards over (`lease_tick`), look for dead
//! gateway nodes, recover shards whose read entries may be unhandled, and run rounds
//! (`round::Worker`) until shutdown, then give every lease back. What a round does, and the state
//! it works with, is `round`'s; taking a shard over is `shard::takeover`'s.

use crate::config::HubConfig;
use crate::metrics::Metrics;
use crate::round::Worker;
use crate::shard::lease::Leases;
use crate::store::{CommandReader, Store};
use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use twinwire_common::bus::HUB_GROUP;

/// Longest a blocking read waits, so lease renewal and shutdown stay timely.
pub const MAX_BLOCK: Duration = Duration::from_millis(500);
/// How often dead gateway nodes are looked for.
const REAP_INTERVAL: Duration = Duration::from_secs(5);

pub struct Processor {
    hub_id: String,
    metrics: Arc<Metrics>,
    leases: Leases,
    worker: Worker,
    /// Enqueues due subject expiries of owned shards (`policies::expiry`).
    sweeper: crate::policies::expiry::Sweeper,
    /// Whether the hub is ready (the admin's readiness route): set once started, cleared while
    /// rounds fail.
    ready: Arc<AtomicBool>,
}

impl Processor {
    pub fn new(
        cfg: HubConfig,
        hub_id: String,
        metrics: Arc<Metrics>,
        store: Store,
        reader: CommandReader,
        ready: Arc<AtomicBool>,
    ) -> Processor {
        metrics.shards_configured.set(i64::from(cfg.shards.count));
        Processor {
            leases: Leases::new(
                hub_id.clone(),
                cfg.shards.count,
                Duration::from_millis(cfg.hub.lease_ms),
            ),
            worker: Worker::new(&cfg, hub_id.clone(), metrics.clone(), store, reader),
            sweeper: Default::default(),
            hub_id,
            metrics,
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
            match self.worker.start().await {
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
            // The last round's deliveries may still be landing (`Worker::settle`): what reads or
            // re-sends journals and markers, or changes what this hub owns, waits for them.
            if Instant::now() >= next_tick {
                self.worker.settle(&self.leases).await;
                self.lease_tick().await;
                next_tick = Instant::now() + self.leases.tick_interval();
            }
            if Instant::now() >= next_reap {
                self.worker.settle(&self.leases).await;
                if let Err(e) = self.worker.reap_dead_nodes().await {
                    tracing::warn!(error = %e, "looking for dead gateway nodes failed");
                }
                next_reap = Instant::now() + REAP_INTERVAL;
            }
            self.recover().await;
            if self.worker.watermarks_due() {
                self.worker.settle(&self.leases).await;
            }
            if let Err(e) = self.worker.send_watermarks(&self.leases).await {
                tracing::debug!(error = %e, "sending resume watermarks failed");
            }
            let owned: Vec<u32> = self
                .leases
                .owned()
                .into_iter()
                .filter(|s| self.leases.token(*s).is_some())
                .collect();
            self.worker.sweep(&mut self.sweeper, &owned).await;
            let block = next_tick
                .saturating_duration_since(Instant::now())
                .min(MAX_BLOCK);
            match self.worker.round(&self.leases, block, &shutdown).await {
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
                    self.worker.shards().mark_for_recovery(self.leases.owned());
                    self.ready.store(false, Ordering::Relaxed);
                    failing = true;
                    let wait = backoff.next().unwrap_or(Duration::from_secs(2));
                    shutdown.run_until_cancelled(tokio::time::sleep(wait)).await;
                }
            }
        }
        self.worker.settle(&self.leases).await;
        if let Err(e) = self.leases.release_all(self.worker.store()).await {
            tracing::warn!(error = %e, "releasing shard leases failed; they lapse on their own");
        }
        tracing::info!(hub = %self.hub_id, "hub stopped");
    }

    async fn lease_tick(&mut self) {
        match self.leases.tick(self.worker.store()).await {
            Ok(changes) => {
                for s in changes.lost.iter().chain(&changes.released) {
                    self.worker.forget_shard(*s);
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
                    if let Err(e) = self.worker.take_over(s).await {
                        tracing::warn!(shard = s, error = %e, "taking over the shard failed; giving it up for now");
                        self.worker.forget_shard(s);
                        continue;
                    }
                    // Twins from before the search index (issue 14): indexed once, here.
                    if let Some(token) = self.leases.token(s).map(str::to_owned) {
                        if let Err(e) = self.worker.ensure_search_index(s, &token).await {
                            tracing::warn!(shard = s, error = %e, "indexing the shard's twins failed; retried at its next takeover");
                        }
                    }
                }
                let owned = self.leases.owned();
                self.metrics.shards_owned.set(owned.len() as i64);
                match self.worker.store().backlog(&owned).await {
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

    /// Runs the takeover path again for shards whose read entries may be unhandled.
    async fn recover(&mut self) {
        let shards: Vec<u32> = self
            .worker
            .shards()
            .needing_recovery()
            .into_iter()
            .filter(|s| self.leases.token(*s).is_some())
            .collect();
        if !shards.is_empty() {
            self.worker.settle(&self.leases).await;
        }
        for s in shards {
            match self.worker.take_over(s).await {
                Ok(()) => self.worker.shards().recovered(s),
                Err(e) => {
                    tracing::warn!(shard = s, error = %e, "recovering the shard failed; retrying");
                    return;
                }
            }
        }
        // Shards that are no longer ours are the new owner's to recover.
        self.worker.shards().keep_recovery_of(&self.leases.owned());
    }
}
