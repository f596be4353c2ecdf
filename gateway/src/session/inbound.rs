//! What a session does with a text frame from its client: control frames go to the subscription
//! logic, everything else is parsed once as a Ditto Protocol envelope, checked, and forwarded to
//! the shard that owns its entity. Every failure is answered with Ditto's error frame; none ends
//! the session.

use super::WsSession;
use crate::error::GatewayError;
use crate::node::publisher::BusWrite;
use actix::prelude::*;
use bytestring::ByteString;
use std::time::{Duration, Instant};
use twinwire_common::bus::{shard_of, BusCommand, Origin};
use twinwire_common::clock::now_ms;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{
    parse_control, Channel, Control, Criterion, Envelope, EnvelopeError, Group, Topic,
};
use twinwire_common::things::EntityId;
use twinwire_common::Error;

pub use twinwire_common::protocol::headers::MAX_HEADER_BYTES;

impl WsSession {
    pub(super) fn on_text(&mut self, text: ByteString, ctx: &mut Context<Self>) {
        // The `publish` hop starts as the frame arrives (crate::hops).
        let received = Instant::now();
        if let Some(control) = parse_control(&text) {
            self.count_in("control", text.len());
            match control {
                Ok(Control::Start { kind, params }) => self.start_streaming(kind, params, ctx),
                Ok(Control::Stop { kind }) => self.stop_streaming(kind, ctx),
                Ok(Control::JwtToken { token }) => self.refresh_token(token, ctx),
                Err(e) => {
                    let h = self.connection_headers();
                    self.send_error(ctx, &e, None, h)
                }
            }
            return;
        }
        match Envelope::parse(&text) {
            Ok(env) => {
                self.count_in("signal", text.len());
                self.on_signal(env, received, ctx);
            }
            Err(EnvelopeError { error, headers }) => {
                self.count_in("invalid", text.len());
                // An empty frame answers with the connection's correlation-id (reference §2.6).
                let headers = if matches!(error, Error::JsonEmpty) {
                    self.connection_headers()
                } else {
                    headers.for_response()
                };
                self.send_error(ctx, &error, None, headers);
            }
        }
    }

    fn on_signal(&mut self, mut env: Envelope, received: Instant, ctx: &mut Context<Self>) {
        env.headers.strip_internal();
        let topic = match Topic::parse(&env.topic) {
            Ok(t) => t,
            Err(e) => {
                let h = env.headers.for_response();
                return self.send_error(ctx, &e, None, h);
            }
        };
        // Connection-level headers sit under the message's own (reference §2.3).
        for (k, v) in self.init.session_headers.iter() {
            if !env.headers.contains(k) {
                env.headers.insert(k.to_owned(), v.clone());
            }
        }
        // An acknowledgement from the client, for a signal it received; its correlation-id is what
        // it acknowledges, so a missing one is an error rather than generated.
        if topic.group == Group::Things && topic.criterion == Criterion::Acks {
            return self.send_ack(env, &topic, ctx);
        }
        if !env.headers.contains(names::CORRELATION_ID) {
            env.headers
                .insert(names::CORRELATION_ID, uuid::Uuid::new_v4().to_string());
        }
        let size = env.headers.byte_size();
        if size > MAX_HEADER_BYTES {
            let h = env.headers.for_response();
            return self.send_error(
                ctx,
                &Error::HeadersTooLarge {
                    size,
                    max: MAX_HEADER_BYTES,
                },
                Some(&topic),
                h,
            );
        }
        // Things search: subscriptions this session holds (session/search.rs).
        if topic.group == Group::Things
            && topic.channel == Some(Channel::Twin)
            && topic.criterion == Criterion::Search
        {
            return self.on_search(env, &topic, ctx);
        }
        // A response from the client: the answer to a live signal it received.
        if env.is_response() && topic.group == Group::Things && topic.channel == Some(Channel::Live)
        {
            return self.forward_answer(env);
        }
        // Twin history's streaming protocol: the session keeps the subscriptions (`history`).
        if super::history::is_history(&topic) && !env.is_response() {
            return self.on_history(topic, env, ctx);
        }
        let routed = route(&topic, &env, self.node.config.shards.count).and_then(|shard| {
            check_headers(&env)?;
            // The sender of a live command or message waits for its answer here.
            let live_request = topic.channel == Some(Channel::Live)
                && matches!(topic.criterion, Criterion::Messages | Criterion::Commands);
            if live_request && env.headers.response_required() {
                self.expect_answer(ctx, &topic, &env)?;
            }
            if topic.channel == Some(Channel::Twin) && topic.criterion == Criterion::Commands {
                self.expect_acks(ctx, &topic, &env)?;
                // The smart channel: only a retrieve may carry it (the hub answers the 405).
                if topic.action == Some(twinwire_common::protocol::Action::Retrieve)
                    && env.headers.contains(super::smart::LIVE_CHANNEL_CONDITION)
                    && env.headers.response_required()
                {
                    self.expect_smart(ctx, &topic, &env)?;
                }
            }
            Ok(shard)
        });
        match routed {
            Ok(shard) => self.forward(shard, topic, env, received, ctx),
            Err(e) => {
                // The acks rule is about a missing response, so it is answered regardless (Ditto).
                if env.headers.response_required() || matches!(e, Error::AcksWithoutResponse) {
                    let h = env.headers.for_response();
                    self.send_error(ctx, &e, Some(&topic), h);
                }
            }
        }
    }

    /// Hands a signal to the bus. A failed or refused write is answered at once with a 503/429
    /// error, so the client is never left waiting for a response that cannot come.
    fn forward(
        &mut self,
        shard: u32,
        topic: Topic,
        env: Envelope,
        received: Instant,
        ctx: &mut Context<Self>,
    ) {
        let response_required = env.headers.response_required();
        let error_headers = if response_required {
            Some(env.headers.for_response())
        } else {
            None
        };
        if response_required {
            if let Some(cid) = env.headers.correlation_id() {
                let channel = crate::command_timer::channel_label(topic.channel);
                self.commands.start(&cid, channel);
            }
        }
        let cmd = BusCommand {
            origin: Origin {
                node: self.node.id.clone(),
                session: self.id,
            },
            subjects: self.init.auth.subjects.clone(),
            api_version: self.init.api_version,
            envelope: env,
            accepted_ms: now_ms(),
        };
        // Plain data always serializes.
        let payload = cmd.encode();
        match self
            .node
            .publisher
            .write_received(BusWrite::Command { shard, payload }, Some(received))
        {
            Ok(done) => {
                let timeout = Duration::from_millis(self.node.config.redis.command_timeout_ms * 2);
                ctx.spawn(
                    async move { tokio::time::timeout(timeout, done).await }
                        .into_actor(self)
                        .map(move |res, act, ctx| {
                            let failed = match res {
                                Ok(Ok(Ok(()))) => None,
                                Ok(Ok(Err(e))) => Some(e.to_protocol()),
                                _ => Some(GatewayError::BusClosed.to_protocol()),
                            };
                            if let (Some(e), Some(h)) = (failed, error_headers) {
                                tracing::debug!(session = act.id, error = %e, "signal not delivered to the bus");
                                act.send_error(ctx, &e, Some(&topic), h);
                            }
                        }),
                );
            }
            Err(e) => {
                if let Some(h) = error_headers {
                    self.send_error(ctx, &e.to_protocol(), Some(&topic), h);
                }
            }
        }
    }
}

/// The WebSocket's header rules (reference §7): asking for acknowledgements while refusing a
/// response is contradictory and refused.
fn check_headers(env: &Envelope) -> Result<(), Error> {
    let wants_acks = match env.headers.get(names::REQUESTED_ACKS) {
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        Some(serde_json::Value::String(s)) => !s.trim().is_empty() && s.trim() != "[]",
        _ => false,
    };
    if wants_acks && !env.headers.response_required() {
        return Err(Error::AcksWithoutResponse);
    }
    super::smart::strategy_of(&env.headers)?;
    Ok(())
}

/// The shard a signal goes to, or why it cannot be accepted here.
fn route(topic: &Topic, env: &Envelope, shards: u32) -> Result<u32, Error> {
    let entity = |t: &Topic| -> Result<String, Error> {
        let id = t.entity_id();
        EntityId::parse(&id)
            .map(|_| id.clone())
            .ok_or(Error::ThingIdInvalid(id))
    };
    // checkPermissions is an HTTP route of Ditto's (`POST /api/2/checkPermissions`), not a Ditto
    // Protocol command: over the WebSocket it is an unknown topic, as in Ditto.
    if topic.action == Some(twinwire_common::protocol::Action::CheckPermissions) {
        return Err(Error::unknown_topic_path(env.topic.clone()));
    }
    match (topic.group, topic.channel, topic.criterion) {
        (Group::Things, Some(Channel::Twin), Criterion::Commands) if !env.is_response() => {
            if topic.is_wildcard_name() {
                // Only retrieve has a wildcard form (RetrieveThings).
                if topic.action != Some(twinwire_common::protocol::Action::Retrieve) {
                    return Err(Error::unknown_topic_path(env.topic.clone()));
                }
                // RetrieveThings: any shard can answer from committed state; use the first id's.
                let first = env
                    .value
                    .as_ref()
                    .and_then(|v| v.get("thingIds"))
                    .and_then(|v| v.as_array())
                    .and_then(|a| a.first())
                    .and_then(|v| v.as_str())
                    .unwrap_or(&topic.namespace)
                    .to_owned();
                return Ok(shard_of(&first, shards));
            }
            Ok(shard_of(&entity(topic)?, shards))
        }
        (Group::Policies, None, Criterion::Commands) if !env.is_response() => {
            Ok(shard_of(&entity(topic)?, shards))
        }
        // Messages, live commands and live events go through the thing's shard, whose owner
        // holds the policy.
        (
            Group::Things,
            Some(Channel::Live),
            Criterion::Messages | Criterion::Commands | Criterion::Events,
        ) if !env.is_response() => Ok(shard_of(&entity(topic)?, shards)),
        _ => Err(Error::UnknownSignal {
            topic: env.topic.clone(),
        }),
    }
}
