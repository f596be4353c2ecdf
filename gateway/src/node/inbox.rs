//! Reads this node's delivery stream `tw:node:<n>` in batches and hands every frame to its sessions.
//! The stream is read in order, so a response always reaches its session before any event the same
//! hub batch produced after it (DESIGN.md §2). Replayed entries (after a shard moved to another
//! hub) are recognised by their journal position and dropped here, once per node.

use super::publisher::BusWrite;
use super::Node;
use crate::session::{Deliver, SessionControl};
use actix::prelude::SendError;
use backon::{BackoffBuilder, ExponentialBuilder};
use bytestring::ByteString;
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::bus::{Delivery, JournalPos};
use twinwire_common::protocol::StreamingKind;

/// Entries per read.
const READ_COUNT: usize = 1024;
/// How long one blocking read waits; bounds how late shutdown is noticed.
const BLOCK_MS: usize = 2000;
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

pub async fn run(node: Arc<Node>, mut conn: ConnectionManager) {
    let key = node.keys.node(&node.id);
    let mut last = "0-0".to_string();
    let mut dedup = Dedup::default();
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
            .block(BLOCK_MS);
        let reply: Result<Option<StreamReadReply>, _> =
            redis::AsyncCommands::xread_options(&mut conn, &[&key], &[&last], &opts).await;
        match reply {
            Ok(reply) => {
                if failing {
                    failing = false;
                    backoff = retry.build();
                }
                let entries: Vec<_> = reply
                    .map(|r| r.keys)
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|k| k.ids)
                    .collect();
                node.metrics.inbox_lag.set(entries.len() as i64);
                if !entries.is_empty() {
                    tracing::debug!(entries = entries.len(), from = %last, "deliveries read");
                }
                for entry in entries {
                    last = entry.id.clone();
                    let fields = entry.map.into_iter().filter_map(|(k, v)| match v {
                        redis::Value::BulkString(b) => String::from_utf8(b).ok().map(|s| (k, s)),
                        _ => None,
                    });
                    let fields: Vec<(String, String)> = fields.collect();
                    match Delivery::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.clone())))
                    {
                        Ok(d) => dispatch(&node, &mut dedup, d),
                        Err(e) => {
                            tracing::warn!(id = %last, error = %e, "dropping malformed delivery")
                        }
                    }
                }
                node.metrics.inbox_lag.set(0);
                if last != "0-0" {
                    // Entries up to `last` are dispatched; keep only newer ones.
                    let _ = node.publisher.write_unconfirmed(BusWrite::TrimInbox {
                        min_id: last.clone(),
                    });
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

fn kind_label(kind: Option<StreamingKind>) -> &'static str {
    kind.map(StreamingKind::as_str).unwrap_or("response")
}

fn dispatch(node: &Node, dedup: &mut Dedup, d: Delivery) {
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
            let handle = node.registry.get(session);
            match handle {
                Some(h) => deliver(
                    node,
                    &h,
                    Deliver {
                        frame,
                        kind: None,
                        written_ms: 0,
                        reply: None,
                        live,
                    },
                ),
                // Not a session: an HTTP request waiting for its answer, if it has not given up.
                None => node.complete_waiter(session, frame),
            }
        }
        Delivery::Fanout {
            kind,
            pos,
            written_ms,
            exclude,
            groups,
            reply,
        } => {
            if pos.is_some_and(|p| dedup.check(p, false)) {
                node.metrics.deliveries_deduplicated.inc();
                return;
            }
            let mut delivered = 0;
            node.registry.with(|r| {
                for (keys, frame) in groups {
                    // One allocation per frame; every session shares the bytes.
                    let frame = ByteString::from(frame);
                    for key in &keys {
                        let Some(members) = r.groups.get(key) else {
                            continue;
                        };
                        for id in members {
                            if Some(*id) == exclude {
                                continue;
                            }
                            if let Some(h) = r.sessions.get(id) {
                                let msg = Deliver {
                                    frame: frame.clone(),
                                    kind: Some(kind),
                                    written_ms,
                                    reply: reply.clone(),
                                    live: false,
                                };
                                delivered += u64::from(try_deliver(node, h, msg));
                            }
                        }
                    }
                }
            });
            // Counted once per entry: a labelled counter costs a lookup per call.
            node.metrics
                .deliveries
                .with_label_values(&[kind.as_str()])
                .inc_by(delivered);
        }
        Delivery::Close {
            session,
            code,
            reason,
            frame,
        } => {
            if let Some(h) = node.registry.get(session) {
                h.control.do_send(SessionControl::Close {
                    code,
                    reason,
                    frame: frame.map(ByteString::from),
                });
            }
        }
    }
}

fn deliver(node: &Node, h: &super::registry::SessionHandle, msg: Deliver) {
    let label = kind_label(msg.kind);
    if try_deliver(node, h, msg) {
        node.metrics.deliveries.with_label_values(&[label]).inc();
    }
}

/// Queues `msg` on the session; false if it could not take it (a full mailbox ends the session).
fn try_deliver(node: &Node, h: &super::registry::SessionHandle, msg: Deliver) -> bool {
    match h.deliver.try_send(msg) {
        Ok(()) => true,
        Err(SendError::Full(_)) => {
            // A full mailbox is a client that does not read: end it now instead of letting it slow
            // down this node (DESIGN.md "Bounded queues everywhere").
            if !h.kill.is_cancelled() {
                node.metrics.slow_consumer_closes.inc();
                h.kill.cancel();
                h.control.do_send(SessionControl::SlowConsumer);
            }
            false
        }
        Err(SendError::Closed(_)) => false,
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
