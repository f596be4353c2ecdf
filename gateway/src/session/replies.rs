//! Where this session's answers go (reference §6.2, §7): for each live signal it received that
//! wants an answer, the sender's origin (Ditto's acknowledgement forwarder), so a device's response
//! or acknowledgement travels straight to the sender's node without passing a hub.

use super::WsSession;
use crate::node::publisher::BusWrite;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use twinwire_common::bus::{Delivery, Origin, Reply};
use twinwire_common::protocol::Envelope;

/// How long a received signal's reply address is kept (Ditto's forwarder fallback timeout).
const FORWARDER_TTL: Duration = Duration::from_secs(65);
/// Reply addresses kept per session at most; beyond it the oldest expired ones are dropped first.
const MAX_FORWARDERS: usize = 4096;

/// Reply addresses by the correlation-id of the received signal, each with its expiry.
#[derive(Default)]
pub(super) struct ReplyForwarders {
    forwarders: HashMap<String, (Origin, Instant)>,
}

impl ReplyForwarders {
    /// Keeps where the answer to a received live signal goes.
    pub fn remember(&mut self, reply: Reply) {
        let now = Instant::now();
        if self.forwarders.len() >= MAX_FORWARDERS {
            self.forwarders.retain(|_, (_, until)| *until > now);
            if self.forwarders.len() >= MAX_FORWARDERS {
                return;
            }
        }
        self.forwarders
            .insert(reply.correlation_id, (reply.origin, now + FORWARDER_TTL));
    }

    /// Where the answer to a received signal with correlation-id `cid` goes, while known (an
    /// acknowledgement leaves the address in place for the response).
    pub fn origin(&self, cid: &str) -> Option<Origin> {
        self.forwarders
            .get(cid)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(o, _)| o.clone())
    }

    /// Where the response to `cid` goes; the address is used up.
    pub fn take(&mut self, cid: &str) -> Option<Origin> {
        let (origin, until) = self.forwarders.remove(cid)?;
        (until >= Instant::now()).then_some(origin)
    }
}

impl WsSession {
    /// A response from this session's client to a live signal it received: sent to the sender's
    /// node. Answers to nothing this session received are dropped, as Ditto drops them.
    pub(super) fn forward_answer(&mut self, env: Envelope) {
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return;
        };
        let Some(origin) = self.replies.take(&cid) else {
            tracing::debug!(
                session = self.id,
                cid,
                "dropping a response nobody waits for"
            );
            return;
        };
        self.send_to_origin(origin, &env, "a live response");
    }

    /// Writes `env` to the node of `origin`, addressed to its session (or HTTP request); an answer
    /// to a shard owner's own signal (a policy announcement's acknowledgement) goes to that
    /// shard's command stream instead.
    pub(super) fn send_to_origin(&self, origin: Origin, env: &Envelope, what: &str) {
        if let Some(shard) = origin.as_shard() {
            let cmd = twinwire_common::bus::BusCommand {
                origin: Origin {
                    node: self.node.id.clone(),
                    session: self.id,
                },
                subjects: self.init.auth.subjects.clone(),
                api_version: self.init.api_version,
                envelope: env.clone(),
                accepted_ms: twinwire_common::clock::now_ms(),
            };
            let write = BusWrite::Command {
                shard,
                payload: cmd.encode(),
            };
            if let Err(e) = self.node.publisher.write_unconfirmed(write) {
                tracing::warn!(session = self.id, error = %e, "could not forward {what}");
            }
            return;
        }
        let delivery = Delivery::Response {
            session: origin.session,
            frame: env.to_json_string(),
            pos: None,
            live: true,
        };
        if let Err(e) = self.node.publisher.write_unconfirmed(BusWrite::Deliver {
            node: origin.node,
            delivery,
        }) {
            tracing::warn!(session = self.id, error = %e, "could not forward {what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(cid: &str) -> Reply {
        Reply {
            correlation_id: cid.into(),
            origin: Origin {
                node: "gw-1".into(),
                session: 7,
            },
        }
    }

    #[test]
    fn an_acknowledgement_leaves_the_address_and_the_response_uses_it_up() {
        let mut r = ReplyForwarders::default();
        r.remember(reply("c1"));
        assert_eq!(r.origin("c1").map(|o| o.session), Some(7));
        assert_eq!(r.take("c1").map(|o| o.session), Some(7));
        assert!(r.take("c1").is_none());
        assert!(r.origin("c1").is_none());
    }

    #[test]
    fn addresses_beyond_the_bound_are_not_kept_while_none_expired() {
        let mut r = ReplyForwarders::default();
        for i in 0..MAX_FORWARDERS {
            r.remember(reply(&i.to_string()));
        }
        r.remember(reply("one-too-many"));
        assert!(r.origin("one-too-many").is_none());
        assert!(r.origin("0").is_some());
    }
}
