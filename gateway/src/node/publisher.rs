//! Everything the gateway writes to the bus goes through here: signals to shard command streams,
//! subscription changes, inbox trims. Writes queue in a bounded channel and leave in pipelines, one
//! Redis round trip per batch, in the order they were queued (so a session's subscription is always
//! written before a command it sent after it).

use crate::error::GatewayError;
use crate::metrics::Metrics;
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use twinwire_common::bus::{sub_field, writes, Keys, SubChange, SubRecord};
use twinwire_common::protocol::StreamingKind;

/// Writes per pipeline at most.
const MAX_BATCH: usize = 512;

/// One write to the bus.
#[derive(Debug, Clone)]
pub enum BusWrite {
    /// A signal for shard `shard`: the JSON-encoded `BusCommand`.
    Command {
        shard: u32,
        payload: String,
    },
    Subscribe {
        session: u64,
        kind: StreamingKind,
        record: SubRecord,
    },
    Unsubscribe {
        session: u64,
        kind: StreamingKind,
    },
    SessionEnd {
        session: u64,
        kinds: Vec<StreamingKind>,
    },
    /// Rewrite this node's whole subscription hash (after Redis lost it or declared us dead).
    Reregister {
        subs: Vec<((u64, StreamingKind), SubRecord)>,
    },
    /// Drop delivery-stream entries below `min_id`, which are dispatched.
    TrimInbox {
        min_id: String,
    },
    /// This node leaves: drop its subscriptions and tell the hubs.
    Deregister,
    /// Gives back acknowledgement labels a session held.
    ReleaseAcks {
        owner: String,
        labels: Vec<String>,
    },
    /// Resume (issue 16): ask each shard's owner to replay its journal to a session.
    Replay {
        requests: Vec<(u32, twinwire_common::bus::ReplayRequest)>,
    },
    /// A delivery for another node (a live response or acknowledgement for its sender).
    Deliver {
        node: String,
        delivery: twinwire_common::bus::Delivery,
    },
}

type Done = oneshot::Sender<Result<(), GatewayError>>;

struct Request {
    write: BusWrite,
    done: Option<Done>,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Request>,
    /// A write removing subscriptions failed: Redis may still hold records of sessions that
    /// stopped or ended, which hubs would keep fanning out to. Liveness rewrites the node's hash.
    stale_subscriptions: Arc<AtomicBool>,
}

impl Publisher {
    pub fn spawn(
        conn: ConnectionManager,
        keys: Keys,
        node: String,
        timeout: Duration,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Publisher {
        let (tx, rx) = mpsc::channel(capacity);
        let stale_subscriptions = Arc::new(AtomicBool::new(false));
        let stale = stale_subscriptions.clone();
        tokio::spawn(run(conn, keys, node, timeout, rx, metrics, stale));
        Publisher {
            tx,
            stale_subscriptions,
        }
    }

    /// True once after a write removing subscriptions failed (see `stale_subscriptions`).
    pub fn take_stale_subscriptions(&self) -> bool {
        self.stale_subscriptions.swap(false, Ordering::Relaxed)
    }

    /// Queues a write and returns a receiver for its confirmation; a full queue is an immediate
    /// error rather than waiting, so one burst cannot stall a session's actor.
    pub fn write(
        &self,
        write: BusWrite,
    ) -> Result<oneshot::Receiver<Result<(), GatewayError>>, GatewayError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .try_send(Request {
                write,
                done: Some(done),
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => GatewayError::BusBusy,
                mpsc::error::TrySendError::Closed(_) => GatewayError::BusClosed,
            })?;
        Ok(rx)
    }

    /// Queues a write nobody waits for.
    pub fn write_unconfirmed(&self, write: BusWrite) -> Result<(), GatewayError> {
        self.tx
            .try_send(Request { write, done: None })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => GatewayError::BusBusy,
                mpsc::error::TrySendError::Closed(_) => GatewayError::BusClosed,
            })
    }

    /// Queues a write, waiting for room, and waits for its confirmation.
    pub async fn write_confirmed(&self, write: BusWrite) -> Result<(), GatewayError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Request {
                write,
                done: Some(done),
            })
            .await
            .map_err(|_| GatewayError::BusClosed)?;
        rx.await.map_err(|_| GatewayError::BusClosed)?
    }
}

fn add_to_pipeline(pipe: &mut redis::Pipeline, keys: &Keys, node: &str, write: &BusWrite) {
    match write {
        BusWrite::Command { shard, payload } => {
            writes::add_command(pipe, keys, *shard, payload);
        }
        BusWrite::Subscribe {
            session,
            kind,
            record,
        } => {
            pipe.cmd("HSET")
                .arg(keys.subs_hash(node))
                .arg(sub_field(*session, *kind))
                .arg(record.encode())
                .ignore();
            writes::add_sub_change(
                pipe,
                keys,
                &SubChange::Add {
                    node: node.to_owned(),
                    session: *session,
                    kind: *kind,
                    record: record.clone(),
                },
            );
        }
        BusWrite::Unsubscribe { session, kind } => {
            pipe.cmd("HDEL")
                .arg(keys.subs_hash(node))
                .arg(sub_field(*session, *kind))
                .ignore();
            writes::add_sub_change(
                pipe,
                keys,
                &SubChange::Remove {
                    node: node.to_owned(),
                    session: *session,
                    kind: *kind,
                },
            );
        }
        BusWrite::SessionEnd { session, kinds } => {
            if !kinds.is_empty() {
                let c = pipe.cmd("HDEL").arg(keys.subs_hash(node));
                for k in kinds {
                    c.arg(sub_field(*session, *k));
                }
                c.ignore();
                writes::add_sub_change(
                    pipe,
                    keys,
                    &SubChange::SessionEnd {
                        node: node.to_owned(),
                        session: *session,
                    },
                );
            }
        }
        BusWrite::Reregister { subs } => {
            pipe.cmd("DEL").arg(keys.subs_hash(node)).ignore();
            if !subs.is_empty() {
                let c = pipe.cmd("HSET").arg(keys.subs_hash(node));
                for ((s, k), rec) in subs {
                    c.arg(sub_field(*s, *k)).arg(rec.encode());
                }
                c.ignore();
            }
            writes::add_sub_change(
                pipe,
                keys,
                &SubChange::NodeReset {
                    node: node.to_owned(),
                },
            );
        }
        BusWrite::TrimInbox { min_id } => {
            pipe.cmd("XTRIM")
                .arg(keys.node(node))
                .arg("MINID")
                .arg(min_id)
                .ignore();
        }
        BusWrite::ReleaseAcks { owner, labels } => {
            writes::release_labels(pipe, keys, owner, labels);
        }
        BusWrite::Deliver {
            node: target,
            delivery,
        } => {
            writes::add_delivery(pipe, keys, target, delivery);
        }
        BusWrite::Replay { requests } => {
            for (shard, r) in requests {
                writes::add_replay_request(pipe, keys, *shard, r);
            }
        }
        BusWrite::Deregister => {
            writes::forget_node(pipe, keys, node);
            pipe.cmd("DEL").arg(keys.node_alive(node)).ignore();
        }
    }
}

async fn run(
    mut conn: ConnectionManager,
    keys: Keys,
    node: String,
    timeout: Duration,
    mut rx: mpsc::Receiver<Request>,
    metrics: Arc<Metrics>,
    stale_subscriptions: Arc<AtomicBool>,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        for r in &batch {
            add_to_pipeline(&mut pipe, &keys, &node, &r.write);
        }
        metrics.bus_batch_size.observe(batch.len() as f64);
        let result = match tokio::time::timeout(timeout, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(GatewayError::Redis(e)),
            Err(_) => Err(GatewayError::BusTimeout(timeout.as_millis() as u64)),
        };
        if let Err(e) = &result {
            metrics.redis_errors.with_label_values(&["publish"]).inc();
            tracing::warn!(error = %e, writes = batch.len(), "bus write failed");
            let removals = batch.iter().any(|r| {
                matches!(
                    r.write,
                    BusWrite::Unsubscribe { .. } | BusWrite::SessionEnd { .. }
                )
            });
            if removals {
                stale_subscriptions.store(true, Ordering::Relaxed);
            }
        }
        for r in batch.drain(..) {
            if let Some(done) = r.done {
                let _ = done.send(match &result {
                    Ok(()) => Ok(()),
                    Err(GatewayError::Redis(e)) => Err(GatewayError::Redis(e.clone())),
                    Err(GatewayError::BusTimeout(ms)) => Err(GatewayError::BusTimeout(*ms)),
                    Err(_) => Err(GatewayError::BusClosed),
                });
            }
        }
    }
}
