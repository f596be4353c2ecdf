//! Acknowledgements for one session (reference §7). Labels a session declares at connect time
//! (`declared-acks`) are unique in the whole cluster: a hash in Redis maps each label to the one
//! session holding it, and a taken label ends the new session with
//! `acknowledgement:label.not.unique`. As a sender, the session aggregates the acknowledgements its
//! twin command requested (the hub's response is `twin-persisted`, other sessions' acks arrive
//! through their reply forwarders, weak acks from the hub) into Ditto's aggregated response, with
//! 408 entries for what did not come in time. As a receiver, it forwards its client's acks to
//! whoever asked.

use super::WsSession;
use crate::metrics::OutKind;
use crate::node::publisher::BusWrite;
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::HashMap;
use std::time::Duration;
use twinwire_common::bus::{scripts, Delivery};
use twinwire_common::protocol::acks::{self, Ack};
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Envelope, Headers, Topic};
use twinwire_common::Error;

/// A sent command waiting for its requested acknowledgements.
pub(super) struct AckWait {
    topic: Topic,
    headers: Headers,
    requested: Vec<String>,
    received: HashMap<String, Ack>,
    timeout_ms: u64,
    timer: SpawnHandle,
}

#[derive(Default)]
pub(super) struct AckState {
    waits: HashMap<String, AckWait>,
}

impl WsSession {
    fn owner(&self) -> String {
        format!("{}:{}", self.node.id, self.id)
    }

    /// Claims the session's declared labels cluster-wide; on conflict the session ends.
    pub(super) fn claim_declared_acks(&mut self, ctx: &mut Context<Self>) {
        if self.init.declared_acks.is_empty() {
            return;
        }
        let mut conn = self.node.redis.clone();
        let key = self.node.keys.ack_labels();
        let owner = self.owner();
        let labels = self.init.declared_acks.clone();
        let timeout = Duration::from_millis(self.node.config.redis.command_timeout_ms);
        let fut = async move {
            let script = redis::Script::new(scripts::ACQUIRE_LABELS);
            let mut inv = script.prepare_invoke();
            inv.key(key).arg(owner);
            for l in &labels {
                inv.arg(l);
            }
            tokio::time::timeout(timeout, inv.invoke_async::<Option<String>>(&mut conn)).await
        };
        ctx.wait(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(taken))) => {
                tracing::info!(session = act.id, label = %taken, "declared acknowledgement label is taken; ending the session");
                act.init.declared_acks.clear();
                act.end_session(ctx, Error::AckLabelNotUnique);
            }
            _ => {
                act.init.declared_acks.clear();
                let h = act.connection_headers();
                act.send_error(ctx, &crate::error::GatewayError::BusClosed.to_protocol(), None, h);
                act.close(ctx, 1013, "acknowledgement labels could not be declared");
            }
        }));
    }

    /// Gives the declared labels back (the session ends).
    pub(super) fn release_declared_acks(&mut self) {
        if self.init.declared_acks.is_empty() {
            return;
        }
        let _ = self
            .node
            .publisher
            .write_unconfirmed(BusWrite::ReleaseAcks {
                owner: self.owner(),
                labels: self.init.declared_acks.clone(),
            });
    }

    /// Registers an aggregation when a twin command requests labels beyond `twin-persisted`.
    pub(super) fn expect_acks(
        &mut self,
        ctx: &mut Context<Self>,
        topic: &Topic,
        env: &Envelope,
    ) -> Result<(), Error> {
        if !env.headers.response_required() {
            return Ok(());
        }
        let Some(requested) = acks::requested(&env.headers) else {
            return Ok(());
        };
        if acks::custom(&requested).is_empty() {
            return Ok(());
        }
        let max = Duration::from_millis(self.node.config.ws.command_timeout_ms);
        let timeout = super::live::timeout_of(&env.headers, max)?;
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return Ok(());
        };
        let key = cid.clone();
        let timer = ctx.run_later(timeout, move |act, ctx| act.acks_timed_out(ctx, &key));
        let mut requested = requested;
        requested.dedup();
        if let Some(old) = self.acks.waits.insert(
            cid,
            AckWait {
                topic: topic.clone(),
                headers: env.headers.for_response(),
                requested,
                received: HashMap::new(),
                timeout_ms: timeout.as_millis() as u64,
                timer,
            },
        ) {
            ctx.cancel_future(old.timer);
        }
        Ok(())
    }

    /// A response from the hub: consumed when it belongs to an aggregation (it is the
    /// `twin-persisted` acknowledgement, or an error that ends the wait).
    pub(super) fn take_twin_response(
        &mut self,
        frame: &ByteString,
        ctx: &mut Context<Self>,
    ) -> bool {
        if self.acks.waits.is_empty() {
            return false;
        }
        let Ok(env) = Envelope::parse(frame) else {
            return false;
        };
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return false;
        };
        let Some(wait) = self.acks.waits.get_mut(&cid) else {
            return false;
        };
        let status = env.status.unwrap_or(500);
        if status >= 400 {
            // A failed command produces no event, so nobody will acknowledge it: answer now (Ditto
            // stops aggregating on an error).
            if let Some(w) = self.acks.waits.remove(&cid) {
                ctx.cancel_future(w.timer);
            }
            self.send_text(ctx, frame.clone(), OutKind::Response);
            return true;
        }
        if wait.requested.iter().any(|l| l == acks::TWIN_PERSISTED) {
            wait.received.insert(
                acks::TWIN_PERSISTED.to_owned(),
                Ack {
                    status,
                    payload: env.value,
                    headers: env.headers,
                },
            );
        }
        self.maybe_complete_acks(&cid, ctx);
        true
    }

    /// An acknowledgement from another session (or a weak one from a hub).
    pub(super) fn take_ack(&mut self, env: &Envelope, ctx: &mut Context<Self>) -> bool {
        let Ok(topic) = Topic::parse(&env.topic) else {
            return false;
        };
        let Some(label) = topic.subject.clone() else {
            return false;
        };
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return false;
        };
        let Some(wait) = self.acks.waits.get_mut(&cid) else {
            return true;
        };
        if wait.requested.contains(&label) && !wait.received.contains_key(&label) {
            let ack = Ack {
                status: env.status.unwrap_or(500),
                payload: env.value.clone(),
                headers: env.headers.clone(),
            };
            wait.received.insert(label, ack);
            self.maybe_complete_acks(&cid, ctx);
        }
        true
    }

    fn maybe_complete_acks(&mut self, cid: &str, ctx: &mut Context<Self>) {
        let done = self
            .acks
            .waits
            .get(cid)
            .is_some_and(|w| w.requested.iter().all(|l| w.received.contains_key(l)));
        if done {
            self.complete_acks(cid, ctx);
        }
    }

    fn complete_acks(&mut self, cid: &str, ctx: &mut Context<Self>) {
        let Some(mut w) = self.acks.waits.remove(cid) else {
            return;
        };
        ctx.cancel_future(w.timer);
        let mut entries = Vec::with_capacity(w.requested.len());
        for label in &w.requested {
            let ack = w.received.remove(label).unwrap_or_else(|| {
                let mut h = Headers::new();
                h.insert(names::CORRELATION_ID, cid.to_owned());
                let e = Error::AckRequestTimeout(w.timeout_ms);
                Ack {
                    status: 408,
                    payload: Some(e.to_ditto().to_json()),
                    headers: h,
                }
            });
            entries.push((label.clone(), ack));
        }
        let env = acks::aggregate(&w.topic, w.headers, &entries);
        self.send_text(ctx, env.to_json_string().into(), OutKind::Response);
    }

    fn acks_timed_out(&mut self, ctx: &mut Context<Self>, cid: &str) {
        self.complete_acks(cid, ctx);
    }

    /// The client acknowledges a signal it received: checked (declared label, correlation-id)
    /// and sent to the signal's sender.
    pub(super) fn send_ack(&mut self, env: Envelope, topic: &Topic, ctx: &mut Context<Self>) {
        let h = env.headers.for_response();
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return self.send_error(ctx, &Error::AckCorrelationIdMissing, Some(topic), h);
        };
        let Some(label) = topic.subject.clone() else {
            return self.send_error(
                ctx,
                &Error::UnknownSignal {
                    topic: env.topic.clone(),
                },
                Some(topic),
                h,
            );
        };
        if acks::is_built_in(&label) {
            // Ditto drops acknowledgements for its own labels sent by clients.
            return;
        }
        if !self.init.declared_acks.contains(&label) {
            return self.send_error(ctx, &Error::AckLabelNotDeclared(label), Some(topic), h);
        }
        let Some(origin) = self.reply_origin(&cid) else {
            tracing::debug!(
                session = self.id,
                cid,
                "dropping an acknowledgement nobody waits for"
            );
            return;
        };
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
            tracing::warn!(session = self.id, error = %e, "could not forward an acknowledgement");
        }
    }
}
