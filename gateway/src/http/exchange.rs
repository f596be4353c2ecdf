//! One HTTP API signal on the bus and its answer: the request is the originator, so its answer
//! comes back to this node's inbox addressed to a request id of its own. Shared by the route
//! itself and by the follow-up retrieves a route may need (the policy of `fields=_policy`).

use crate::node::publisher::BusWrite;
use crate::node::Node;
use bytestring::ByteString;
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::bus::{BusCommand, Origin};
use twinwire_common::clock::now_ms;
use twinwire_common::protocol::Envelope;

/// What came of one signal.
pub enum Exchange {
    /// The answer frame.
    Answered(ByteString),
    /// Sent; no answer was wanted.
    Sent,
    /// No answer within the timeout.
    TimedOut,
    /// The bus took nothing.
    NotSent,
}

/// Publishes `envelope` on `shard` as `subjects` and waits up to `timeout` for its answer (when
/// it wants one).
pub async fn exchange(
    node: &Arc<Node>,
    envelope: Envelope,
    shard: u32,
    timeout: Duration,
    subjects: Vec<String>,
) -> Exchange {
    let request_id = node.next_id();
    let response_required = envelope.headers.response_required();
    let waiter = node.waiters.add(request_id);
    let started = std::time::Instant::now();
    let channel = crate::command_timer::channel_label(
        twinwire_common::protocol::Topic::parse(&envelope.topic)
            .ok()
            .and_then(|t| t.channel),
    );
    if !publish(node, envelope, shard, subjects, request_id).await {
        node.waiters.remove(request_id);
        return Exchange::NotSent;
    }
    if !response_required {
        node.waiters.remove(request_id);
        return Exchange::Sent;
    }
    match tokio::time::timeout(timeout, waiter).await {
        Ok(Ok(frame)) => {
            crate::command_timer::observe(&node.metrics, channel, started);
            Exchange::Answered(frame)
        }
        _ => {
            node.waiters.remove(request_id);
            Exchange::TimedOut
        }
    }
}

/// Publishes `envelope` on `shard` as `subjects`, its answers addressed to `request_id` (the
/// caller registered its waiter); false when the bus took nothing.
pub async fn publish(
    node: &Arc<Node>,
    envelope: Envelope,
    shard: u32,
    subjects: Vec<String>,
    request_id: u64,
) -> bool {
    let cmd = BusCommand {
        origin: Origin {
            node: node.id.clone(),
            session: request_id,
        },
        subjects,
        api_version: 2,
        envelope,
        accepted_ms: now_ms(),
    };
    // Plain data always serializes.
    let payload = cmd.encode();
    match node.publisher.write(BusWrite::Command { shard, payload }) {
        Ok(done) => matches!(done.await, Ok(Ok(()))),
        Err(_) => false,
    }
}
