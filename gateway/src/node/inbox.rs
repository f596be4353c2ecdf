//! Reads this node's delivery stream `tw:node:<n>` in batches and hands every frame to its sessions.
//! The stream is read in order, so a response always reaches its session before any event the same
//! hub batch produced after it (DESIGN.md §2). Replayed entries (after a shard moved to another
//! hub) are recognised by their journal position and dropped here, once per node.

use super::directory::{Deliver, DeliverBatch, Inlet, ResumeMark, SessionControl, SessionHandle};
use super::give_back::{GiveBack, Unwritten};
use super::position_class::PositionClasses;
use super::publisher::BusWrite;
use super::resume::NodeWatermarks;
use super::worker_queue::{Posted, Posts, WorkerQueue};
use super::Node;
use actix::prelude::SendError;
use backon::{BackoffBuilder, ExponentialBuilder};
use bytestring::ByteString;
use redis::streams::{StreamReadOptions, StreamReadReply};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinwire_common::bus::{entries, parse_stream_id, Delivery, JournalPos, StreamEntry};
use twinwire_common::clock::now_ms;
use twinwire_common::protocol::StreamingKind;
use twinwire_common::redis_connection::RedisConnection;

/// Entries per read.
const READ_COUNT: usize = 1024;
/// How long one blocking read waits; bounds how late shutdown is noticed.
pub const BLOCK: Duration = Duration::from_millis(2000);
/// Longest the inbox waits for a worker thread to take a read's posts before reading again.
const HOLD_BACK_MAX: Duration = Duration::from_millis(250);
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Highest journal position delivered per (shard, response-or-fanout); responses and fan-outs of
/// the same journal entry share its position, so they are tracked apart.
#[derive(Default)]
struct Dedup {
    seen: HashMap<(u32, bool), (u64, u64)>,
}

impl Dedup {
    /// True when `pos` was already delivered.
    fn check(&mut self, pos: JournalPos, response: bool) -> bool {
        let e = self.seen.entry((pos.shard, response)).or_insert((0, 0));
        if pos.id() <= *e {
            return true;
        }
        *e = pos.id();
        false
    }
}

pub async fn run(node: Arc<Node>, mut conn: RedisConnection) {
    let key = node.keys.node(&node.id);
    let mut last = "0-0".to_string();
    let mut dedup = Dedup::default();
    let mut watermarks = NodeWatermarks::new(node.config.shards.count);
    let mut classes = PositionClasses::default();
    let mut batches = SessionBatches::default();
    // Jittered, so gateways that lost Redis together do not come back in step.
    let retry = ExponentialBuilder::new()
        .with_min_delay(RETRY_MIN)
        .with_max_delay(RETRY_MAX)
        .with_jitter()
        .without_max_times();
    let mut backoff = retry.build();
    let mut failing = false;
    loop {
        let opts = StreamReadOptions::default()
            .count(READ_COUNT)
            .block(BLOCK.as_millis() as usize);
        let reply: Result<Option<StreamReadReply>, _> =
            redis::AsyncCommands::xread_options(&mut conn, &[&key], &[&last], &opts).await;
        match reply {
            Ok(reply) => {
                if failing {
                    failing = false;
                    backoff = retry.build();
                }
                let entries = entries(reply);
                // Hop timing (crate::hops): the read's instants, for `node_stream` and `inbox`.
                let read_ms = now_ms();
                batches.read = Some(Instant::now());
                node.metrics.inbox_lag.set(entries.len() as i64);
                if !entries.is_empty() {
                    tracing::debug!(entries = entries.len(), from = %last, "deliveries read");
                }
                for entry in entries {
                    node.metrics.hops.read_from_node_stream(&entry.id, read_ms);
                    last = entry.id.clone();
                    match Delivery::decode(&entry) {
                        Ok(d) => {
                            let resume = (&mut watermarks, &mut classes);
                            dispatch(&node, &mut dedup, resume, &mut batches, d)
                        }
                        Err(e) => {
                            tracing::warn!(id = %last, error = %e, "dropping malformed delivery")
                        }
                    }
                }
                batches.flush(&node);
                // The next read waits until the worker threads have taken this one's posts
                // (bounded: a worker thread that stopped, at shutdown, holds nothing back).
                for (worker, _) in &batches.by_worker {
                    let _ = tokio::time::timeout(HOLD_BACK_MAX, worker.taken()).await;
                }
                node.metrics.inbox_lag.set(0);
                if last != "0-0" {
                    // Entries up to `last` are dispatched; keep only newer ones (`last` too goes:
                    // what a dead node leaves is then what it never read, which hubs give to
                    // the other members of shared subscriptions).
                    let min_id = parse_stream_id(&last)
                        .map_or_else(|| last.clone(), |(ms, seq)| format!("{ms}-{}", seq + 1));
                    let _ = node
                        .publisher
                        .write_unconfirmed(BusWrite::TrimInbox { min_id });
                }
            }
            Err(e) => {
                node.metrics
                    .redis_errors
                    .with_label_values(&["inbox_read"])
                    .inc();
                tracing::warn!(error = %e, "reading the delivery stream failed; retrying");
                failing = true;
                tokio::time::sleep(backoff.next().unwrap_or(RETRY_MAX)).await;
            }
        }
    }
}

/// Frames per batch message to one session, at most (or the session's queue bound, if lower).
const MAX_BATCH: usize = 64;
/// Items gathered for one worker thread that are posted before the read is dispatched, so the
/// worker starts on a read while the rest is still being gathered (with 1,024 the workers
/// started late enough at the fan-out peak for a few sessions to pass their queue bound).
const POST_AT: usize = 64;

/// What one read delivers, gathered per session and sent as one batch each once the read is
/// dispatched: a session's hand-off, wake-up and write burst are then paid per read, not per frame.
#[derive(Default)]
struct SessionBatches {
    by_session: HashMap<u64, Vec<Deliver>>,
    /// What each worker thread's sessions get, posted to the worker in one go
    /// (`worker_queue`).
    by_worker: Vec<(Arc<WorkerQueue>, Posts)>,
    /// Frames queued per kind (`kind_slot`), added to the counters once per read.
    counts: [u64; 6],
    /// When the read being dispatched returned (the `inbox` hop starts there).
    read: Option<Instant>,
}

/// Index into `SessionBatches::counts`: the kind's own index, responses after the last kind.
fn kind_slot(kind: Option<StreamingKind>) -> usize {
    kind.map_or(StreamingKind::ALL.len(), StreamingKind::index)
}

impl SessionBatches {
    /// Adds `msg` to session `id`'s batch; a full batch goes out at once.
    fn push(&mut self, node: &Node, id: u64, h: &SessionHandle, msg: Deliver) {
        let batch = self.by_session.entry(id).or_default();
        batch.push(msg);
        if batch.len() >= MAX_BATCH.min(node.config.ws.outbound_queue) {
            let batch = std::mem::take(batch);
            self.send(node, id, h, batch);
        }
    }

    /// Session `id`'s items on its worker's list, posted now if the list is long.
    fn post_to_worker(&mut self, worker: &Arc<WorkerQueue>, id: u64, item: Posted) {
        let i = match self
            .by_worker
            .iter()
            .position(|(w, _)| Arc::ptr_eq(w, worker))
        {
            Some(i) => i,
            None => {
                self.by_worker.push((worker.clone(), Vec::new()));
                self.by_worker.len() - 1
            }
        };
        let (w, items) = &mut self.by_worker[i];
        items.push((id, item));
        if items.len() >= POST_AT {
            w.post(items);
        }
    }

    /// Orders session `id` to close once the frames gathered for it are out.
    fn close(&mut self, node: &Node, id: u64, h: &SessionHandle, order: SessionControl) {
        self.flush_one(node, id, h);
        match &h.deliver {
            Inlet::Worker(w) => self.post_to_worker(w, id, Posted::Control(order)),
            Inlet::Mailbox(_) => h.control.do_send(order),
        }
    }

    /// Sends session `id`'s batch now, ahead of a control order that must follow it.
    fn flush_one(&mut self, node: &Node, id: u64, h: &SessionHandle) {
        if let Some(batch) = self.by_session.remove(&id) {
            if !batch.is_empty() {
                self.send(node, id, h, batch);
            }
        }
    }

    /// Sends every session its batch, under one directory lock, and counts what was queued.
    fn flush(&mut self, node: &Node) {
        if !self.by_session.is_empty() {
            let mut sessions = std::mem::take(&mut self.by_session);
            node.sessions.read(|r| {
                for (id, batch) in sessions.drain() {
                    if batch.is_empty() {
                        continue;
                    }
                    // A session that ended since its frames were gathered has no handle: dropped.
                    if let Some(h) = r.session(id) {
                        self.send(node, id, h, batch);
                    }
                }
            });
            // Keeps the map's capacity for the next read.
            self.by_session = sessions;
        }
        for (w, items) in &mut self.by_worker {
            if !items.is_empty() {
                w.post(items);
            }
        }
        for (slot, n) in self.counts.iter_mut().enumerate() {
            if *n > 0 {
                let label = StreamingKind::ALL
                    .get(slot)
                    .map_or("response", |k| k.as_str());
                node.metrics
                    .deliveries
                    .with_label_values(&[label])
                    .inc_by(*n);
                *n = 0;
            }
        }
    }

    /// Queues `batch` on the session. A session whose queue would pass `ws.outbound_queue` frames
    /// (or, an SSE session, whose mailbox is full) does not read: it is ended now instead of
    /// being allowed to slow down this node (DESIGN.md "Bounded queues everywhere").
    fn send(&mut self, node: &Node, id: u64, h: &SessionHandle, batch: Vec<Deliver>) {
        let n = batch.len();
        let queued = h.queued.fetch_add(n, Ordering::Relaxed) + n;
        let mut counts = [0u64; 6];
        for d in &batch {
            counts[kind_slot(d.kind)] += 1;
        }
        let read = self.read.unwrap_or_else(Instant::now);
        // Ok(queued or not); Err when the session's queue is full.
        let outcome = if queued > node.config.ws.outbound_queue {
            Err(())
        } else {
            match &h.deliver {
                Inlet::Worker(w) => {
                    self.post_to_worker(w, id, Posted::Batch(DeliverBatch(batch, read)));
                    Ok(true)
                }
                Inlet::Mailbox(m) => match m.try_send(DeliverBatch(batch, read)) {
                    Ok(()) => Ok(true),
                    Err(SendError::Full(_)) => Err(()),
                    Err(SendError::Closed(_)) => Ok(false),
                },
            }
        };
        if outcome == Ok(true) {
            for (total, c) in self.counts.iter_mut().zip(counts) {
                *total += c;
            }
        }
        let full = outcome.is_err();
        if full && !h.kill.is_cancelled() {
            node.metrics.slow_consumer_closes.inc();
            h.kill.cancel();
            h.control.do_send(SessionControl::SlowConsumer);
        }
    }
}

fn dispatch(
    node: &Node,
    dedup: &mut Dedup,
    (watermarks, classes): (&mut NodeWatermarks, &mut PositionClasses),
    batches: &mut SessionBatches,
    d: Delivery,
) {
    match d {
        Delivery::Response {
            session,
            frame,
            pos,
            live,
        } => {
            if pos.is_some_and(|p| dedup.check(p, true)) {
                node.metrics.deliveries_deduplicated.inc();
                return;
            }
            let frame = ByteString::from(frame);
            match node.sessions.session(session) {
                Some(h) => batches.push(
                    node,
                    session,
                    &h,
                    Deliver {
                        frame,
                        kind: None,
                        written_ms: 0,
                        reply: None,
                        live,
                        resume: None,
                        give_back: None,
                    },
                ),
                // Not a session: an HTTP request waiting for its answer, if it has not given up.
                None => node.waiters.complete(session, frame),
            }
        }
        Delivery::Fanout {
            kind,
            pos,
            written_ms,
            exclude,
            groups,
            reply,
            members,
        } => {
            if pos.is_some_and(|p| dedup.check(p, false)) {
                node.metrics.deliveries_deduplicated.inc();
                return;
            }
            // Resume (issue 16): journaled events move the node's watermark and carry it.
            let resume = match (kind, pos) {
                (StreamingKind::Events, Some(pos)) if node.config.resume.enabled => {
                    watermarks.advance(pos);
                    Some((pos, watermarks.base()))
                }
                _ => None,
            };
            node.sessions.read(|r| {
                if resume.is_some() {
                    classes.sweep(r);
                }
                for (keys, frame) in groups {
                    // One allocation per frame; every session shares the bytes.
                    let frame = ByteString::from(frame);
                    for key in &keys {
                        // Resume: the group's shared position, signed and stamped once
                        // (`position_class`), computed when the group has a session here.
                        let mut members = r.group_members(key).peekable();
                        let resume = match resume {
                            Some((pos, base)) if members.peek().is_some() => {
                                Some(ResumeMark::Live {
                                    pos,
                                    base,
                                    class: classes.step(key, pos, base, node.resume.key(), &frame),
                                })
                            }
                            _ => None,
                        };
                        for id in members {
                            if Some(id) == exclude {
                                continue;
                            }
                            if let Some(h) = r.session(id) {
                                let msg = Deliver {
                                    frame: frame.clone(),
                                    kind: Some(kind),
                                    written_ms,
                                    reply: reply.clone(),
                                    live: false,
                                    resume: resume.clone(),
                                    give_back: None,
                                };
                                batches.push(node, id, h, msg);
                            }
                        }
                    }
                }
                // Shared subscriptions: the members the hub picked (DESIGN.md "Shared
                // subscriptions"). What a member does not write goes back to its share.
                for (share, id, frame) in members {
                    let give_back = GiveBack::new(
                        node.give_back.clone(),
                        Unwritten {
                            share,
                            kind,
                            session: id,
                            frame: ByteString::from(frame),
                            reply: reply.clone(),
                            written_ms,
                        },
                    );
                    // A session that ended since drops the guard here: given back at once.
                    if let Some(h) = r.session(id) {
                        let msg = Deliver {
                            frame: give_back.frame(),
                            kind: Some(kind),
                            written_ms,
                            reply: reply.clone(),
                            live: false,
                            // A share is not resumable: its members get no resume token.
                            resume: None,
                            give_back: Some(give_back),
                        };
                        batches.push(node, id, h, msg);
                    }
                }
            });
        }
        // Resume (issue 16): a replay to one session, and the hubs' watermarks.
        Delivery::Replayed {
            session,
            pos,
            frame,
        } => push_replay(
            node,
            batches,
            session,
            ByteString::from(frame),
            ResumeMark::Replayed { pos },
        ),
        Delivery::ReplayDone {
            session,
            shard,
            expired,
        } => push_replay(
            node,
            batches,
            session,
            ByteString::new(),
            ResumeMark::Done { shard, expired },
        ),
        Delivery::Watermark { marks } => {
            node.resume.watermark_read();
            let n = marks.len();
            for m in marks {
                watermarks.advance(m);
            }
            tracing::trace!(marks = n, base = ?watermarks.base(), "watermark read");
        }
        Delivery::Close {
            session,
            code,
            reason,
            frame,
        } => {
            if let Some(h) = node.sessions.session(session) {
                // The frames gathered before the close go first.
                let order = SessionControl::Close {
                    code,
                    reason,
                    frame: frame.map(ByteString::from),
                };
                batches.close(node, session, &h, order);
            }
        }
    }
}

/// Queues a replayed event (or the end of a replay) for the one session it is for.
fn push_replay(
    node: &Node,
    batches: &mut SessionBatches,
    session: u64,
    frame: ByteString,
    mark: ResumeMark,
) {
    if let Some(h) = node.sessions.session(session) {
        let msg = Deliver {
            frame,
            kind: Some(StreamingKind::Events),
            written_ms: 0,
            reply: None,
            live: false,
            resume: Some(mark),
            give_back: None,
        };
        batches.push(node, session, &h, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_drops_positions_at_or_below_the_last_per_shard_and_kind() {
        let mut d = Dedup::default();
        let p = |shard, ms, seq| JournalPos { shard, ms, seq };
        assert!(!d.check(p(1, 10, 0), false));
        assert!(d.check(p(1, 10, 0), false));
        assert!(d.check(p(1, 9, 5), false));
        assert!(
            !d.check(p(1, 10, 0), true),
            "a response shares the position of its fan-out"
        );
        assert!(!d.check(p(2, 1, 0), false), "shards are independent");
        assert!(!d.check(p(1, 10, 1), false));
    }
}
