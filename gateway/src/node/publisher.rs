//! Everything the gateway writes to the bus goes through here: signals to shard command streams,
//! subscription changes, inbox trims. Writes queue in a bounded channel and leave in pipelines, one
//! Redis round trip per batch, in the order they were queued (so a session's subscription is always
//! written before a command it sent after it).

use crate::error::GatewayError;
use crate::metrics::Metrics;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use twinwire_common::bus::{sub_field, writes, Keys, SubChange, SubRecord};
use twinwire_common::protocol::StreamingKind;
use twinwire_common::redis_connection::RedisConnection;

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
    /// A shared-subscription signal a member of this node did not write, for the owner of its
    /// thing's shard to dispatch again: the JSON-encoded `ReturnedSignal`.
    ReturnShared {
        shard: u32,
        payload: String,
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
    /// When the session received the command, for the `publish` hop (crate::hops).
    received: Option<Instant>,
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
        conn: RedisConnection,
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
        self.write_received(write, None)
    }

    /// [`Publisher::write`] of a command a session `received` at that instant: the `publish` hop
    /// is observed once the command is in its stream.
    pub fn write_received(
        &self,
        write: BusWrite,
        received: Option<Instant>,
    ) -> Result<oneshot::Receiver<Result<(), GatewayError>>, GatewayError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .try_send(Request {
                write,
                done: Some(done),
                received,
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
            .try_send(Request {
                write,
                done: None,
                received: None,
            })
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
                received: None,
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
        BusWrite::ReturnShared { shard, payload } => {
            writes::add_returned_signal(pipe, keys, *shard, payload);
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
            rewrite_subs_hash(pipe, keys, node, subs);
            announce_reset(pipe, keys, node);
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

/// Rewrites the node's whole subscription hash.
fn rewrite_subs_hash(
    pipe: &mut redis::Pipeline,
    keys: &Keys,
    node: &str,
    subs: &[((u64, StreamingKind), SubRecord)],
) {
    pipe.cmd("DEL").arg(keys.subs_hash(node)).ignore();
    if !subs.is_empty() {
        let c = pipe.cmd("HSET").arg(keys.subs_hash(node));
        for ((s, k), rec) in subs {
            c.arg(sub_field(*s, *k)).arg(rec.encode());
        }
        c.ignore();
    }
}

/// Tells every hub to read the node's subscription hash again.
fn announce_reset(pipe: &mut redis::Pipeline, keys: &Keys, node: &str) {
    writes::add_sub_change(
        pipe,
        keys,
        &SubChange::NodeReset {
            node: node.to_owned(),
        },
    );
}

/// The batch's pipeline, cut before each command that follows other writes and between a
/// re-registration's hash and its announcement: on a Redis Cluster the parts of one pipeline run
/// concurrently, and a session's subscription must land before a command it sent after it (the
/// hub's causality rule), a node's hash before the reset that makes hubs read it. On one server
/// the stages go out as one pipeline.
fn in_stages(batch: &[Request], keys: &Keys, node: &str) -> Vec<redis::Pipeline> {
    let mut stages = vec![redis::pipe()];
    let mut last_was_command = true;
    for r in batch {
        if let BusWrite::Reregister { subs } = &r.write {
            // Hubs read the hash when they see the reset: the hash must land first.
            rewrite_subs_hash(stages.last_mut().expect("a stage"), keys, node, subs);
            stages.push(redis::pipe());
            announce_reset(stages.last_mut().expect("a stage"), keys, node);
            last_was_command = false;
            continue;
        }
        // A replay request (resume) names a subscription as a command does: the same rule.
        let is_command = matches!(r.write, BusWrite::Command { .. } | BusWrite::Replay { .. });
        if is_command && !last_was_command {
            stages.push(redis::pipe());
        }
        last_was_command = is_command;
        // Unwrap: `stages` starts with one pipeline and only grows.
        add_to_pipeline(stages.last_mut().expect("a stage"), keys, node, &r.write);
    }
    stages
}

async fn run(
    mut conn: RedisConnection,
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
        let stages = in_stages(&batch, &keys, &node);
        metrics.bus_batch_size.observe(batch.len() as f64);
        let result = match tokio::time::timeout(timeout, conn.send_in_order(stages)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(GatewayError::Redis(e)),
            Err(_) => Err(GatewayError::BusTimeout(timeout.as_millis() as u64)),
        };
        // Hop timing (crate::hops): the signals of this pipeline are in their streams.
        if result.is_ok() {
            metrics
                .hops
                .published(batch.iter().filter_map(|r| r.received));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(write: BusWrite) -> Request {
        Request {
            write,
            done: None,
            received: None,
        }
    }

    fn command() -> BusWrite {
        BusWrite::Command {
            shard: 1,
            payload: "{}".into(),
        }
    }

    #[test]
    fn commands_after_other_writes_and_a_reset_after_its_hash_start_new_stages() {
        let keys = Keys::new("tw:");
        let batch = vec![
            req(command()),
            req(BusWrite::Unsubscribe {
                session: 1,
                kind: StreamingKind::Events,
            }),
            req(command()),
            req(command()),
            req(BusWrite::Reregister { subs: Vec::new() }),
            req(command()),
        ];
        let stages = in_stages(&batch, &keys, "n1");
        let firsts: Vec<(usize, String)> = stages
            .iter()
            .map(|p| {
                let first = p.cmd_iter().next().expect("a non-empty stage");
                let key = first
                    .args_iter()
                    .nth(1)
                    .map(|a| match a {
                        redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                        _ => String::new(),
                    })
                    .unwrap_or_default();
                (p.len(), key)
            })
            .collect();
        assert_eq!(
            firsts,
            vec![
                // The command, then the unsubscription (its hash field and its change).
                (4, "tw:{1}:cmd".to_owned()),
                // Two commands, then the re-registration's hash (DEL; no records).
                (3, "tw:{1}:cmd".to_owned()),
                // The reset announcement alone.
                (2, "tw:subs".to_owned()),
                (1, "tw:{1}:cmd".to_owned()),
            ]
        );
    }
}
