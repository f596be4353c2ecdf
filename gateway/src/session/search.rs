//! Search subscriptions over the WebSocket (ditto-features §6): `_/_/things/twin/search/subscribe`
//! answers `created` with a subscription id (`"0"`, `"1"`, … per session); each `request` adds its
//! demand in pages, and pages go out as `next` only while demand is left (reactive streams: never
//! more than requested); after the last page comes `complete`. A subscription whose filter or
//! options are invalid is created all the same and fails with Ditto's error at its first request
//! (Ditto's lazy source); an unknown id fails with `thing-search:subscription.not.found`, a demand
//! of 0 or less with `thing-search:subscription.protocol.error`, one without a `request` for
//! `ws.search_idle_timeout_ms` (60 s) with `thing-search:subscription.timeout`; `cancel` ends one
//! silently.
//!
//! Each page is a search of its own through `crate::search`, continuing after the last sort key
//! sent (the cursor's position), so a page reflects every write answered before it was asked for,
//! and a hub failing over between two pages changes nothing for the subscriber.

use super::WsSession;
use crate::metrics::OutKind;
use crate::search::options::{self, SearchRequest, Via};
use actix::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Envelope, Headers, Topic};
use twinwire_common::Error;

/// The most search subscriptions one session may hold open; more are refused with 429.
pub const MAX_SEARCHES_PER_SESSION: usize = 32;

/// One open search subscription.
struct Subscription {
    /// The checked request, or why it will fail at the first `request`.
    request: Result<SearchRequest, Error>,
    /// Pages asked for and not yet sent.
    demand: u64,
    /// A page is being fetched (at most one at a time, so pages stay in order).
    fetching: bool,
    /// Headers of the frames sent for it.
    headers: Headers,
    /// Fails the subscription when the client stays silent (`ws.search_idle_timeout_ms`).
    idle: Option<SpawnHandle>,
}

/// The session's search subscriptions.
#[derive(Default)]
pub struct Searches {
    next_id: u64,
    open: HashMap<String, Subscription>,
}

fn frame(action: &str, headers: Headers, value: Value) -> String {
    let mut headers = headers;
    headers.set(names::CONTENT_TYPE, "application/json");
    Envelope {
        topic: format!("_/_/things/twin/search/{action}"),
        headers,
        path: "/".into(),
        value: Some(value),
        ..Default::default()
    }
    .to_json_string()
}

fn subscription_id(env: &Envelope) -> String {
    env.value
        .as_ref()
        .and_then(|v| v.get("subscriptionId"))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

impl WsSession {
    /// A frame of the search protocol (`topic.subject` is its action).
    pub(super) fn on_search(&mut self, env: Envelope, topic: &Topic, ctx: &mut Context<Self>) {
        match topic.subject.as_deref() {
            Some("subscribe") => self.search_subscribe(env, ctx),
            Some("request") => self.search_request(env, ctx),
            Some("cancel") => {
                let id = subscription_id(&env);
                if self.search_end(&id, ctx).is_none() {
                    self.search_failed(
                        ctx,
                        &id,
                        env.headers.for_response(),
                        &Error::SearchSubscriptionNotFound(id.clone()),
                    );
                }
            }
            _ => {
                let h = env.headers.for_response();
                self.send_error(
                    ctx,
                    &Error::unknown_topic_path(env.topic.clone()),
                    Some(topic),
                    h,
                )
            }
        }
    }

    fn search_subscribe(&mut self, env: Envelope, ctx: &mut Context<Self>) {
        let headers = env.headers.for_response();
        if self.searches.open.len() >= MAX_SEARCHES_PER_SESSION {
            return self.send_error(ctx, &Error::TooManyRequests, None, headers);
        }
        let value = env.value.clone().unwrap_or(Value::Null);
        let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        let namespaces = value
            .get("namespaces")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let request = options::parse(
            text("filter"),
            namespaces,
            &text("options").unwrap_or_default(),
            env.fields.clone(),
            Via::WebSocket,
        );
        let id = self.searches.next_id.to_string();
        self.searches.next_id += 1;
        self.searches.open.insert(
            id.clone(),
            Subscription {
                request,
                demand: 0,
                fetching: false,
                headers: headers.clone(),
                idle: None,
            },
        );
        self.search_arm_idle(&id, ctx);
        let created = frame("created", headers, json!({ "subscriptionId": id }));
        self.send_text(ctx, created.into(), OutKind::Response);
    }

    fn search_request(&mut self, env: Envelope, ctx: &mut Context<Self>) {
        let id = subscription_id(&env);
        let headers = env.headers.for_response();
        let demand = env
            .value
            .as_ref()
            .and_then(|v| v.get("demand"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let Some(sub) = self.searches.open.get_mut(&id) else {
            return self.search_failed(
                ctx,
                &id,
                headers,
                &Error::SearchSubscriptionNotFound(id.clone()),
            );
        };
        if demand <= 0 {
            self.search_end(&id, ctx);
            return self.search_failed(ctx, &id, headers, &Error::SearchDemandNotPositive);
        }
        if let Err(e) = &sub.request {
            let e = e.clone();
            self.search_end(&id, ctx);
            return self.search_failed(ctx, &id, headers, &e);
        }
        sub.demand = sub.demand.saturating_add(demand as u64);
        sub.headers = headers;
        self.search_arm_idle(&id, ctx);
        self.search_pump(id, ctx);
    }

    /// Fetches the next page of `id` if it has demand and none is being fetched.
    fn search_pump(&mut self, id: String, ctx: &mut Context<Self>) {
        let Some(sub) = self.searches.open.get_mut(&id) else {
            return;
        };
        let Ok(request) = &sub.request else { return };
        if sub.fetching || sub.demand == 0 {
            return;
        }
        sub.fetching = true;
        let request = request.clone();
        let node = self.node.clone();
        let subjects = self.init.auth.subjects.clone();
        let timeout = Duration::from_millis(node.config.ws.command_timeout_ms);
        ctx.spawn(
            async move {
                let page = crate::search::page(&node, &request, &subjects, timeout).await;
                (request, page)
            }
            .into_actor(self)
            .map(move |(request, page), act, ctx| act.search_page(id, request, page, ctx)),
        );
    }

    fn search_page(
        &mut self,
        id: String,
        request: SearchRequest,
        page: Result<crate::search::Page, Error>,
        ctx: &mut Context<Self>,
    ) {
        // Cancelled meanwhile: nothing more is sent.
        let Some(sub) = self.searches.open.get_mut(&id) else {
            return;
        };
        sub.fetching = false;
        let headers = sub.headers.clone();
        match page {
            Err(e) => {
                self.search_end(&id, ctx);
                self.search_failed(ctx, &id, headers, &e);
            }
            Ok(page) => {
                if !page.items.is_empty() {
                    sub.demand -= 1;
                    let next = frame(
                        "next",
                        headers.clone(),
                        json!({ "subscriptionId": id, "items": page.items }),
                    );
                    self.send_text(ctx, next.into(), OutKind::Response);
                }
                match page.next {
                    None => {
                        self.search_end(&id, ctx);
                        let done = frame("complete", headers, json!({ "subscriptionId": id }));
                        self.send_text(ctx, done.into(), OutKind::Response);
                    }
                    Some(last) => {
                        if let Some(sub) = self.searches.open.get_mut(&id) {
                            sub.request = Ok(SearchRequest {
                                after: Some(last),
                                ..request
                            });
                        }
                        self.search_arm_idle(&id, ctx);
                        self.search_pump(id, ctx);
                    }
                }
            }
        }
    }

    /// Ends subscription `id` (and its idle timer).
    fn search_end(&mut self, id: &str, ctx: &mut Context<Self>) -> Option<()> {
        let sub = self.searches.open.remove(id)?;
        if let Some(t) = sub.idle {
            ctx.cancel_future(t);
        }
        Some(())
    }

    /// (Re)starts `id`'s idle timer: the client interacted, or a page went out.
    fn search_arm_idle(&mut self, id: &str, ctx: &mut Context<Self>) {
        let timeout = Duration::from_millis(self.node.config.ws.search_idle_timeout_ms);
        let key = id.to_owned();
        let timer = ctx.run_later(timeout, move |act, ctx| act.search_idle(key, ctx));
        match self.searches.open.get_mut(id) {
            Some(sub) => {
                if let Some(old) = sub.idle.replace(timer) {
                    ctx.cancel_future(old);
                }
            }
            None => {
                ctx.cancel_future(timer);
            }
        }
    }

    /// `id`'s idle timer fired: fail it, unless a page is being fetched for it.
    fn search_idle(&mut self, id: String, ctx: &mut Context<Self>) {
        let Some(sub) = self.searches.open.get_mut(&id) else {
            return;
        };
        sub.idle = None;
        if sub.fetching {
            return self.search_arm_idle(&id, ctx);
        }
        let headers = sub.headers.clone();
        self.search_end(&id, ctx);
        self.search_failed(
            ctx,
            &id,
            headers,
            &Error::SearchSubscriptionTimeout(id.clone()),
        );
    }

    fn search_failed(&mut self, ctx: &mut Context<Self>, id: &str, headers: Headers, e: &Error) {
        let failed = frame(
            "failed",
            headers,
            json!({ "subscriptionId": id, "error": e.to_ditto().to_json() }),
        );
        self.send_text(ctx, failed.into(), OutKind::Error);
    }
}
