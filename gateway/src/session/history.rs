//! Twin history over the WebSocket (ditto-features §4): the streaming subscription protocol of
//! `{ns}/{name}/things/twin/streaming/<action>`. The session owns each subscription: it hands out
//! the ids (`"0"`, `"1"`, … per session, as Ditto), answers `subscribeForPersistedEvents` with
//! `created`, and on each `request` adds the demand and asks the thing's shard for the next page
//! (the hub's `history::page`, which judges permission and selects the events). It sends one
//! `next` per item, never more than demanded, then `complete`, or `failed` with the hub's error;
//! `cancel` ends a subscription. Like Ditto's lazy source, nothing is checked before the first
//! `request`. A subscription that ended answers later requests with Ditto's protocol error for a
//! while, then its id is unknown.

use super::WsSession;
use crate::metrics::OutKind;
use crate::node::publisher::BusWrite;
use actix::prelude::*;
use bytestring::ByteString;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use twinwire_common::bus::{shard_of, BusCommand, Origin};
use twinwire_common::clock::now_ms;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Envelope, Headers, Topic};
use twinwire_common::things::EntityId;
use twinwire_common::Error;

/// The client's actions.
const SUBSCRIBE: &str = "subscribeForPersistedEvents";
const REQUEST: &str = "request";
const CANCEL: &str = "cancel";
/// The subscribe value's fields the hub selects by (anything else is ignored).
const SELECTION: [&str; 5] = [
    "fromHistoricalRevision",
    "toHistoricalRevision",
    "fromHistoricalTimestamp",
    "toHistoricalTimestamp",
    "filter",
];
/// How long an ended subscription's id answers with the protocol error (Ditto's zombie window).
const ZOMBIE: Duration = Duration::from_secs(10);
/// Subscriptions a session may hold open at once.
const MAX_OPEN: usize = 64;
/// Correlation-ids of this session's page requests start with this.
const PAGE_CID: &str = "twinwire-history-page:";

struct Subscription {
    topic: Topic,
    /// The subscribe command's headers, as every frame of the subscription carries them.
    headers: Headers,
    selection: Map<String, Value>,
    demand: u64,
    /// The last history entry sent.
    after: Option<String>,
    /// The correlation-id of the page request on its way.
    in_flight: Option<String>,
    /// When it ended (complete, failed or cancelled).
    ended: Option<Instant>,
}

/// This session's history subscriptions.
#[derive(Default)]
pub(super) struct HistorySubscriptions {
    next_id: u64,
    subs: HashMap<String, Subscription>,
    /// Page requests on their way: correlation-id → subscription id.
    pages: HashMap<String, String>,
}

impl HistorySubscriptions {
    fn prune(&mut self, now: Instant) {
        self.subs
            .retain(|_, s| s.ended.is_none_or(|at| now.duration_since(at) < ZOMBIE));
    }
}

/// Whether a signal is one of the streaming protocol's (history) frames.
pub fn is_history(topic: &Topic) -> bool {
    topic.group == twinwire_common::protocol::Group::Things
        && topic.channel == Some(twinwire_common::protocol::Channel::Twin)
        && topic.criterion == twinwire_common::protocol::Criterion::Streaming
}

fn frame(topic: &Topic, action: &str, headers: &Headers, value: Value) -> ByteString {
    let env = Envelope {
        topic: format!(
            "{}/{}/things/twin/streaming/{action}",
            topic.namespace, topic.name
        ),
        headers: headers.clone(),
        path: "/".into(),
        value: Some(value),
        ..Default::default()
    };
    env.to_json_string().into()
}

fn subscription_id(env: &Envelope) -> Option<String> {
    env.value
        .as_ref()?
        .get("subscriptionId")?
        .as_str()
        .map(str::to_owned)
}

impl WsSession {
    /// A streaming-protocol frame from the client.
    pub(super) fn on_history(&mut self, topic: Topic, env: Envelope, ctx: &mut Context<Self>) {
        let headers = env.headers.for_response();
        let result = match topic.subject.as_deref() {
            Some(SUBSCRIBE) => self.history_subscribe(&topic, &env, ctx),
            Some(REQUEST) => self.history_request(&topic, &env, ctx),
            Some(CANCEL) => self.history_cancel(&topic, &env),
            _ => Err(Error::unknown_topic_path(env.topic.clone())),
        };
        if let Err(e) = result {
            self.send_error(ctx, &e, Some(&topic), headers);
        }
    }

    fn history_subscribe(
        &mut self,
        topic: &Topic,
        env: &Envelope,
        ctx: &mut Context<Self>,
    ) -> Result<(), Error> {
        let id = topic.entity_id();
        if EntityId::parse(&id).is_none() {
            return Err(Error::ThingIdInvalid(id));
        }
        let value = match &env.value {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => return Err(Error::JsonNotAnObject(other.to_string())),
        };
        let hs = &mut self.history;
        hs.prune(Instant::now());
        if hs.subs.values().filter(|s| s.ended.is_none()).count() >= MAX_OPEN {
            return Err(Error::TooManyRequests);
        }
        let sub_id = hs.next_id.to_string();
        hs.next_id += 1;
        let selection = value
            .into_iter()
            .filter(|(k, _)| SELECTION.contains(&k.as_str()))
            .collect();
        let headers = env.headers.for_response();
        let created = frame(
            topic,
            "created",
            &headers,
            json!({"subscriptionId": sub_id}),
        );
        hs.subs.insert(
            sub_id,
            Subscription {
                topic: topic.clone(),
                headers,
                selection,
                demand: 0,
                after: None,
                in_flight: None,
                ended: None,
            },
        );
        self.send_text(ctx, created, OutKind::Response);
        Ok(())
    }

    fn history_request(
        &mut self,
        topic: &Topic,
        env: &Envelope,
        ctx: &mut Context<Self>,
    ) -> Result<(), Error> {
        let sub_id = subscription_id(env).ok_or(Error::JsonFieldMissing("subscriptionId"))?;
        let demand = env
            .value
            .as_ref()
            .and_then(|v| v.get("demand"))
            .and_then(Value::as_i64);
        self.history.prune(Instant::now());
        let Some(sub) = self.history.subs.get_mut(&sub_id) else {
            let headers = env.headers.for_response();
            let failed = Error::StreamingSubscriptionNotFound(sub_id.clone());
            return self.send_failed(ctx, topic, &headers, &sub_id, &failed);
        };
        if sub.ended.is_some() {
            let headers = sub.headers.clone();
            let failed = Error::StreamingProtocolError(
                "This subscription is considered cancelled. No more messages are processed.".into(),
            );
            return self.send_failed(ctx, topic, &headers, &sub_id, &failed);
        }
        match demand {
            Some(n) if n > 0 => sub.demand = sub.demand.saturating_add(n as u64),
            _ => {
                let headers = sub.headers.clone();
                sub.ended = Some(Instant::now());
                let failed = Error::StreamingProtocolError(
                    "The demand of a request must be a positive number.".into(),
                );
                return self.send_failed(ctx, topic, &headers, &sub_id, &failed);
            }
        }
        if sub.in_flight.is_none() {
            self.request_page(&sub_id, ctx);
        }
        Ok(())
    }

    fn history_cancel(&mut self, _topic: &Topic, env: &Envelope) -> Result<(), Error> {
        let sub_id = subscription_id(env).ok_or(Error::JsonFieldMissing("subscriptionId"))?;
        if let Some(sub) = self.history.subs.get_mut(&sub_id) {
            sub.ended.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    fn send_failed(
        &mut self,
        ctx: &mut Context<Self>,
        topic: &Topic,
        headers: &Headers,
        sub_id: &str,
        error: &Error,
    ) -> Result<(), Error> {
        let value = json!({"subscriptionId": sub_id, "error": error.to_ditto().to_json()});
        self.send_text(ctx, frame(topic, "failed", headers, value), OutKind::Error);
        Ok(())
    }

    /// Asks the thing's shard for the next page of `sub_id`, as much as the demand allows.
    fn request_page(&mut self, sub_id: &str, ctx: &mut Context<Self>) {
        let Some(sub) = self.history.subs.get_mut(sub_id) else {
            return;
        };
        let cid = format!("{PAGE_CID}{}", uuid::Uuid::new_v4());
        let mut value = sub.selection.clone();
        if let Some(after) = &sub.after {
            value.insert("after".into(), Value::String(after.clone()));
        }
        value.insert("max".into(), Value::from(sub.demand));
        let mut headers = Headers::new();
        headers.insert(names::CORRELATION_ID, cid.clone());
        let env = Envelope {
            topic: format!(
                "{}/{}/things/twin/streaming/{SUBSCRIBE}",
                sub.topic.namespace, sub.topic.name
            ),
            headers,
            path: "/".into(),
            value: Some(Value::Object(value)),
            ..Default::default()
        };
        sub.in_flight = Some(cid.clone());
        let shard = shard_of(&sub.topic.entity_id(), self.node.config.shards.count);
        self.history.pages.insert(cid.clone(), sub_id.to_owned());
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
        let written = self.node.publisher.write(BusWrite::Command {
            shard,
            payload: cmd.encode(),
        });
        let timeout = Duration::from_millis(self.node.config.redis.command_timeout_ms * 2);
        let sub_id = sub_id.to_owned();
        match written {
            Ok(done) => {
                ctx.spawn(
                    async move { tokio::time::timeout(timeout, done).await }
                        .into_actor(self)
                        .map(move |res, act, ctx| {
                            let failed = match res {
                                Ok(Ok(Ok(()))) => None,
                                Ok(Ok(Err(e))) => Some(e.to_protocol()),
                                _ => Some(crate::error::GatewayError::BusClosed.to_protocol()),
                            };
                            if let Some(e) = failed {
                                act.history.pages.remove(&cid);
                                act.end_with_failure(&sub_id, &e, ctx);
                            }
                        }),
                );
            }
            Err(e) => {
                self.history.pages.remove(&cid);
                self.end_with_failure(&sub_id, &e.to_protocol(), ctx);
            }
        }
    }

    fn end_with_failure(&mut self, sub_id: &str, error: &Error, ctx: &mut Context<Self>) {
        let Some(sub) = self.history.subs.get_mut(sub_id) else {
            return;
        };
        sub.in_flight = None;
        if sub.ended.is_some() {
            return;
        }
        sub.ended = Some(Instant::now());
        let (topic, headers) = (sub.topic.clone(), sub.headers.clone());
        let _ = self.send_failed(ctx, &topic, &headers, sub_id, error);
    }

    /// The hub's answer to one of this session's page requests; false when `frame` is none.
    pub(super) fn take_history_page(
        &mut self,
        frame_text: &ByteString,
        ctx: &mut Context<Self>,
    ) -> bool {
        if self.history.pages.is_empty() || !frame_text.contains(PAGE_CID) {
            return false;
        }
        let Ok(env) = Envelope::parse(frame_text) else {
            return false;
        };
        let Some(sub_id) = env
            .headers
            .correlation_id()
            .and_then(|cid| self.history.pages.remove(cid.as_ref()))
        else {
            return false;
        };
        let Some(sub) = self.history.subs.get_mut(&sub_id) else {
            return true;
        };
        sub.in_flight = None;
        if sub.ended.is_some() {
            return true;
        }
        let value = env.value.unwrap_or(Value::Null);
        if env.status.is_none_or(|s| s >= 300) {
            sub.ended = Some(Instant::now());
            let (topic, headers) = (sub.topic.clone(), sub.headers.clone());
            let v = json!({"subscriptionId": sub_id, "error": value});
            self.send_text(ctx, frame(&topic, "failed", &headers, v), OutKind::Error);
            return true;
        }
        let (topic, headers) = (sub.topic.clone(), sub.headers.clone());
        let items = value
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let complete = value.get("complete").and_then(Value::as_bool) == Some(true);
        let mut frames = Vec::new();
        for it in items {
            if sub.demand == 0 {
                break;
            }
            let Some(mut item) = it.get("item").cloned() else {
                continue;
            };
            if let (Value::Object(m), false) = (&mut item, headers.is_empty()) {
                m.insert(
                    "headers".into(),
                    serde_json::to_value(&headers).unwrap_or(Value::Null),
                );
            }
            sub.demand -= 1;
            if let Some(id) = it.get("id").and_then(Value::as_str) {
                sub.after = Some(id.to_owned());
            }
            frames.push(frame(
                &topic,
                "next",
                &headers,
                json!({"subscriptionId": sub_id, "item": item}),
            ));
        }
        let wants_more = !complete && sub.demand > 0;
        if complete {
            sub.ended = Some(Instant::now());
            frames.push(frame(
                &topic,
                "complete",
                &headers,
                json!({"subscriptionId": sub_id}),
            ));
        }
        for f in frames {
            self.send_text(ctx, f, OutKind::Response);
        }
        if wants_more {
            self.request_page(&sub_id, ctx);
        }
        true
    }
}
