//! Acknowledgements for one session (reference §7). Labels a session declares at connect time
//! (`declared-acks`) are unique in the whole cluster (`node::ack_labels`): a taken label ends the
//! new session with `acknowledgement:label.not.unique`. As a sender, the session aggregates the
//! acknowledgements its twin command requested (the hub's response is `twin-persisted`, other
//! sessions' acks arrive through their reply forwarders, weak acks from the hub) into Ditto's
//! aggregated response, with 408 entries for what did not come in time. As a receiver, it forwards
//! its client's acks to whoever asked.

use super::WsSession;
use crate::error::GatewayError;
use crate::metrics::OutKind;
use crate::node::ack_labels::{self, ClaimFailed};
use crate::node::publisher::BusWrite;
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::HashMap;
use std::time::Duration;
use twinwire_common::protocol::acks::{self, Ack};
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Envelope, Headers, Topic};
use twinwire_common::Error;

/// A sent command waiting for its requested acknowledgements.
struct AckWait {
    topic: Topic,
    headers: Headers,
    requested: Vec<String>,
    received: HashMap<String, Ack>,
    timeout_ms: u64,
    timer: SpawnHandle,
}

/// This session's commands waiting for acknowledgements, by correlation-id.
#[derive(Default)]
pub(super) struct AckAggregations {
    waits: HashMap<String, AckWait>,
}

/// An aggregation that is over: its timer to cancel and the response to write.
pub(super) struct Completed {
    pub timer: SpawnHandle,
    pub response: ByteString,
}

/// What an answer does to the aggregations.
pub(super) enum Taken {
    /// Not part of any aggregation: handled as usual.
    No,
    /// Consumed; an aggregation may have completed with it.
    Yes(Option<Completed>),
}

impl AckAggregations {
    /// What a twin command that requests labels beyond `twin-persisted` waits for: its
    /// correlation-id, the labels and the timeout; `None` when it waits for nothing.
    pub fn admit(
        env: &Envelope,
        max: Duration,
    ) -> Result<Option<(String, Vec<String>, Duration)>, Error> {
        if !env.headers.response_required() {
            return Ok(None);
        }
        let Some(requested) = acks::requested(&env.headers) else {
            return Ok(None);
        };
        if acks::custom(&requested).is_empty() {
            return Ok(None);
        }
        let timeout = super::live::timeout_of(&env.headers, max)?;
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return Ok(None);
        };
        let mut requested = requested;
        requested.dedup();
        Ok(Some((cid, requested, timeout)))
    }

    /// Starts aggregating for `cid`; returns the timer of an aggregation it replaces.
    pub fn wait(
        &mut self,
        cid: String,
        topic: &Topic,
        env: &Envelope,
        requested: Vec<String>,
        timeout: Duration,
        timer: SpawnHandle,
    ) -> Option<SpawnHandle> {
        let wait = AckWait {
            topic: topic.clone(),
            headers: env.headers.for_response(),
            requested,
            received: HashMap::new(),
            timeout_ms: timeout.as_millis() as u64,
            timer,
        };
        self.waits.insert(cid, wait).map(|old| old.timer)
    }

    /// A response from the hub: consumed when it belongs to an aggregation (it is the
    /// `twin-persisted` acknowledgement, or an error that ends the wait).
    pub fn twin_response(&mut self, frame: &ByteString) -> Taken {
        if self.waits.is_empty() {
            return Taken::No;
        }
        let Ok(env) = Envelope::parse(frame) else {
            return Taken::No;
        };
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return Taken::No;
        };
        let Some(wait) = self.waits.get_mut(&cid) else {
            return Taken::No;
        };
        let status = env.status.unwrap_or(500);
        if status >= 400 {
            // A failed command produces no event, so nobody will acknowledge it: answer now (Ditto
            // stops aggregating on an error).
            let completed = self.waits.remove(&cid).map(|w| Completed {
                timer: w.timer,
                response: frame.clone(),
            });
            return Taken::Yes(completed);
        }
        // The search index is committed with the twin (issue 14), so a successful response is
        // also `search-persisted` (Ditto's search updater acknowledges with 204).
        if wait.requested.iter().any(|l| l == acks::SEARCH_PERSISTED) {
            wait.received.insert(
                acks::SEARCH_PERSISTED.to_owned(),
                Ack {
                    status: 204,
                    payload: None,
                    headers: env.headers.clone(),
                },
            );
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
        Taken::Yes(self.complete_if_all_in(&cid))
    }

    /// An acknowledgement from another session (or a weak one from a hub).
    pub fn ack(&mut self, env: &Envelope) -> Taken {
        let Ok(topic) = Topic::parse(&env.topic) else {
            return Taken::No;
        };
        let Some(label) = topic.subject.clone() else {
            return Taken::No;
        };
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return Taken::No;
        };
        let Some(wait) = self.waits.get_mut(&cid) else {
            return Taken::Yes(None);
        };
        if wait.requested.contains(&label) && !wait.received.contains_key(&label) {
            let ack = Ack {
                status: env.status.unwrap_or(500),
                payload: env.value.clone(),
                headers: env.headers.clone(),
            };
            wait.received.insert(label, ack);
            return Taken::Yes(self.complete_if_all_in(&cid));
        }
        Taken::Yes(None)
    }

    fn complete_if_all_in(&mut self, cid: &str) -> Option<Completed> {
        let done = self
            .waits
            .get(cid)
            .is_some_and(|w| w.requested.iter().all(|l| w.received.contains_key(l)));
        if done {
            self.complete(cid)
        } else {
            None
        }
    }

    /// Ends the aggregation for `cid` with what came in; what did not is a 408 entry.
    pub fn complete(&mut self, cid: &str) -> Option<Completed> {
        let mut w = self.waits.remove(cid)?;
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
        Some(Completed {
            timer: w.timer,
            response: env.to_json_string().into(),
        })
    }
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
        let claim = ack_labels::claim(
            self.node.redis.clone(),
            self.node.keys.ack_labels(),
            self.owner(),
            self.init.declared_acks.clone(),
            Duration::from_millis(self.node.config.redis.command_timeout_ms),
        );
        ctx.wait(claim.into_actor(self).map(|res, act, ctx| match res {
            Ok(()) => {}
            Err(ClaimFailed::Taken(taken)) => {
                tracing::info!(session = act.id, label = %taken, "declared acknowledgement label is taken; ending the session");
                act.init.declared_acks.clear();
                act.end_session(ctx, Error::AckLabelNotUnique);
            }
            Err(ClaimFailed::Unavailable) => {
                act.init.declared_acks.clear();
                let h = act.connection_headers();
                act.send_error(ctx, &GatewayError::BusClosed.to_protocol(), None, h);
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
        let max = Duration::from_millis(self.node.config.ws.command_timeout_ms);
        let Some((cid, requested, timeout)) = AckAggregations::admit(env, max)? else {
            return Ok(());
        };
        let key = cid.clone();
        let timer = ctx.run_later(timeout, move |act, ctx| {
            let completed = act.acks.complete(&key);
            act.write_completed(completed, ctx);
        });
        if let Some(old) = self.acks.wait(cid, topic, env, requested, timeout, timer) {
            ctx.cancel_future(old);
        }
        Ok(())
    }

    fn write_completed(&mut self, completed: Option<Completed>, ctx: &mut Context<Self>) {
        if let Some(c) = completed {
            ctx.cancel_future(c.timer);
            self.send_text(ctx, c.response, OutKind::Response);
        }
    }

    /// A response from the hub that an aggregation consumes; false when none does.
    pub(super) fn take_twin_response(
        &mut self,
        frame: &ByteString,
        ctx: &mut Context<Self>,
    ) -> bool {
        match self.acks.twin_response(frame) {
            Taken::No => false,
            Taken::Yes(completed) => {
                self.write_completed(completed, ctx);
                true
            }
        }
    }

    /// An acknowledgement for one of this session's aggregations; false when it is none.
    pub(super) fn take_ack(&mut self, env: &Envelope, ctx: &mut Context<Self>) -> bool {
        match self.acks.ack(env) {
            Taken::No => false,
            Taken::Yes(completed) => {
                self.write_completed(completed, ctx);
                true
            }
        }
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
        let Some(origin) = self.replies.origin(&cid) else {
            tracing::debug!(
                session = self.id,
                cid,
                "dropping an acknowledgement nobody waits for"
            );
            return;
        };
        self.send_to_origin(origin, &env, "an acknowledgement");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(requested: &str) -> Envelope {
        Envelope::parse(&format!(
            r#"{{"topic":"a/b/things/twin/commands/modify","path":"/attributes/x","value":1,
                "headers":{{"correlation-id":"c1","requested-acks":{requested}}}}}"#
        ))
        .unwrap()
    }

    fn waiting(requested: &str) -> AckAggregations {
        let env = command(requested);
        let (cid, labels, timeout) = AckAggregations::admit(&env, Duration::from_secs(60))
            .unwrap()
            .expect("custom labels are aggregated");
        let topic = Topic::parse(&env.topic).unwrap();
        let mut a = AckAggregations::default();
        // A SpawnHandle is only a number; the default one is never cancelled here.
        a.wait(cid, &topic, &env, labels, timeout, SpawnHandle::default());
        a
    }

    fn ack(label: &str, status: u16) -> Envelope {
        Envelope::parse(&format!(
            r#"{{"topic":"a/b/things/twin/acks/{label}","path":"/","status":{status},
                "headers":{{"correlation-id":"c1"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn only_custom_labels_are_aggregated() {
        let max = Duration::from_secs(60);
        assert!(
            AckAggregations::admit(&command(r#"["twin-persisted"]"#), max)
                .unwrap()
                .is_none()
        );
        assert!(
            AckAggregations::admit(&command(r#"["twin-persisted","x"]"#), max)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn the_aggregation_completes_when_every_label_came_in() {
        let mut a = waiting(r#"["twin-persisted","x"]"#);
        let persisted: ByteString = r#"{"topic":"a/b/things/twin/commands/modify","path":"/attributes/x","status":204,"headers":{"correlation-id":"c1"}}"#.into();
        assert!(matches!(a.twin_response(&persisted), Taken::Yes(None)));
        assert!(
            matches!(a.ack(&ack("y", 200)), Taken::Yes(None)),
            "not requested"
        );
        let Taken::Yes(Some(done)) = a.ack(&ack("x", 200)) else {
            panic!("both labels are in");
        };
        assert!(done.response.contains("twin-persisted"));
        assert!(matches!(a.twin_response(&persisted), Taken::No));
    }

    #[test]
    fn search_persisted_comes_with_the_twins_response() {
        let mut a = waiting(r#"["search-persisted","x"]"#);
        let persisted: ByteString = r#"{"topic":"a/b/things/twin/commands/modify","path":"/attributes/x","status":204,"headers":{"correlation-id":"c1"}}"#.into();
        assert!(matches!(a.twin_response(&persisted), Taken::Yes(None)));
        let Taken::Yes(Some(done)) = a.ack(&ack("x", 200)) else {
            panic!("both labels are in");
        };
        let v: serde_json::Value = serde_json::from_str(&done.response).unwrap();
        assert_eq!(v["value"]["search-persisted"]["status"], 204, "{v}");
    }

    #[test]
    fn a_failed_command_is_answered_at_once_and_a_timeout_fills_in_408() {
        let mut a = waiting(r#"["x"]"#);
        let failed: ByteString = r#"{"topic":"a/b/things/twin/errors","path":"/","status":403,"headers":{"correlation-id":"c1"}}"#.into();
        let Taken::Yes(Some(done)) = a.twin_response(&failed) else {
            panic!("an error ends the wait");
        };
        assert_eq!(done.response, failed);
        let mut a = waiting(r#"["x"]"#);
        let done = a.complete("c1").expect("still waiting");
        assert!(done.response.contains("408"));
        assert!(a.complete("c1").is_none());
    }
}
