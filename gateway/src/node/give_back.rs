//! Giving back what a shared-subscription member did not write (DESIGN.md "Shared
//! subscriptions"): every frame a share picked a member for travels with a [`GiveBack`] guard,
//! from the inbox through the session's mailbox and outbound queue to the socket. Written, the
//! guard is spent; dropped unwritten (the member sent STOP, closed, was drained or closed as a slow
//! consumer, or its session had already ended), it sends the signal back through the command
//! stream of its thing's shard, whose owner dispatches it to another member. A guard is dropped
//! after the session's subscription change was queued on the same publisher, so the owner reads
//! the signal after the member's departure.

use super::publisher::{BusWrite, Publisher};
use crate::error::GatewayError;
use crate::metrics::Metrics;
use bytestring::ByteString;
use std::sync::Arc;
use twinwire_common::bus::{shard_of, thing_of_frame, Origin, Reply, ReturnedSignal};
use twinwire_common::protocol::StreamingKind;

/// Where guards send what they give back: this node's publisher.
pub struct GiveBackSink {
    pub node: String,
    pub shard_count: u32,
    pub publisher: Publisher,
    pub metrics: Arc<Metrics>,
}

/// A signal picked for one member, not yet written.
pub struct Unwritten {
    pub share: String,
    pub kind: StreamingKind,
    pub session: u64,
    pub frame: ByteString,
    pub reply: Option<Reply>,
    pub written_ms: u64,
}

impl GiveBackSink {
    fn give_back(&self, u: Unwritten) {
        let thing_id = thing_of_frame(&u.frame);
        let Some(thing_id) = thing_id else {
            tracing::warn!(share = %u.share, "cannot give back a frame without a thing topic");
            return;
        };
        let mut returned = ReturnedSignal {
            share: u.share,
            kind: u.kind,
            member: Origin {
                node: self.node.clone(),
                session: u.session,
            },
            frame: u.frame.to_string(),
            written_ms: u.written_ms,
            reply_node: None,
            reply_session: None,
            reply_cid: None,
            thing_id,
        };
        returned.set_reply(u.reply.as_ref());
        let write = BusWrite::ReturnShared {
            shard: shard_of(&returned.thing_id, self.shard_count),
            payload: returned.encode(),
        };
        self.metrics.shared_given_back.inc();
        tracing::debug!(session = returned.member.session, thing = %returned.thing_id, "giving back a shared-subscription signal");
        match self.publisher.write_unconfirmed(write.clone()) {
            Ok(()) => {}
            // A burst of give-backs (a member leaving with a full queue) waits for room rather
            // than losing signals.
            Err(GatewayError::BusBusy) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let publisher = self.publisher.clone();
                    rt.spawn(async move { publisher.write_confirmed(write).await });
                }
            }
            Err(e) => tracing::warn!(error = %e, "giving back a shared-subscription signal failed"),
        }
    }
}

/// Travels with a frame a share picked this node's member for; gives it back unless
/// [`GiveBack::written`] is called.
pub struct GiveBack {
    unwritten: Option<Unwritten>,
    sink: Arc<GiveBackSink>,
}

impl GiveBack {
    pub fn new(sink: Arc<GiveBackSink>, unwritten: Unwritten) -> GiveBack {
        GiveBack {
            unwritten: Some(unwritten),
            sink,
        }
    }

    /// The frame it guards (shared bytes).
    pub fn frame(&self) -> ByteString {
        self.unwritten
            .as_ref()
            .map(|u| u.frame.clone())
            .unwrap_or_default()
    }

    /// The frame reached the member's socket: nothing to give back.
    pub fn written(mut self) {
        self.unwritten = None;
    }
}

impl Drop for GiveBack {
    fn drop(&mut self) {
        if let Some(u) = self.unwritten.take() {
            self.sink.give_back(u);
        }
    }
}
