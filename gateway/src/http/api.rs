//! The HTTP API on the public port (Ditto's `/api/2`), authenticated like the WebSocket:
//! `POST /api/2/things/{id}[/features/{fid}]/{inbox|outbox}/messages/{subject}` (and the claim,
//! `…/inbox/claim`) sends a message whose
//! answer (status and payload) becomes the HTTP response, and `GET`/`PUT`/`PATCH`/`DELETE
//! /api/2/things/{id}[/path]` and `/api/2/policies/{id}[/path]` become the same commands a WebSocket
//! client sends ([`super::exchange`] carries them on the bus). The path is read raw and decoded
//! once ([`super::path`]); `fields` selects as over the WebSocket (policies here, `_policy` by
//! [`super::inline_policy`]); a 201 names its `Location`, a 304 or 204 has no body. Browsers get
//! the Origin policy and CORS ([`super::cors`]); the body is read only once the request is
//! authenticated, under its size and time limits. `whoami`, `checkPermissions` and `/things` as a
//! collection are routed here to modules of their own ([`super::whoami`],
//! [`super::check_permissions`], [`super::collection`], [`super::search`]), under the same Origin
//! guard. A wrong method on a known route is [`super::methods`]' 405; `channel=live` and the smart
//! live channel wait as [`super::live_channel`] says; policy actions are [`super::policy_actions`]'.

use super::exchange::{exchange, Exchange};
use super::inline_policy::InlinePolicy;
use super::live_channel::{channel_of, smart_exchange, Channel};
use super::path::ApiPath;
use super::{auth_failure_response, cors, error_response};
use crate::node::Node;
use crate::origin::{OriginPolicy, Verdict};
use crate::session::live::timeout_of;
use crate::session::smart::{self, Strategy};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use base64::Engine;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::bus::shard_of;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Envelope, Headers};
use twinwire_common::things::{EntityId, FieldSelector};
use twinwire_common::{DittoError, Error};

/// Request headers that become Ditto headers of the signal.
const FORWARDED_HEADERS: &[&str] = &[
    "correlation-id",
    "if-match",
    "if-none-match",
    "response-required",
    "requested-acks",
    "declared-acks",
    "timeout",
    "content-type",
    "allow-policy-lockout",
    "condition",
    "if-equal",
    "channel",
    "live-channel-condition",
    "live-channel-timeout-strategy",
    "at-historical-revision",
    "at-historical-timestamp",
    "merge-thing-patch-conditions",
];

/// The longest a claim message may wait for its answer (Ditto's `claim-message.max-timeout`).
const CLAIM_MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// Query parameters that act as the headers of the same name (Ditto's `query-params-as-headers`
/// default, `GatewayHttpConfig`); a parameter wins over a header.
pub const QUERY_PARAMS_AS_HEADERS: &[&str] = &[
    "channel",
    "correlation-id",
    "requested-acks",
    "declared-acks",
    "response-required",
    "timeout",
    "live-channel-timeout-strategy",
    "allow-policy-lockout",
    "condition",
    "live-channel-condition",
    "at-historical-revision",
    "at-historical-timestamp",
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/2/whoami", web::route().to(super::whoami::whoami))
        .route("/api/2/things", web::route().to(super::collection::things))
        .route(
            "/api/2/checkPermissions",
            web::route().to(super::check_permissions::check_permissions),
        )
        .configure(super::search::routes) // things search (issue 14), before /{group}/{id}
        .route("/api/2/{group}/{id}", web::route().to(api_request))
        .route(
            "/api/2/{group}/{id}/{rest:.*}",
            web::route().to(api_request),
        );
}

fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json")
}

fn is_text(content_type: &str) -> bool {
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/")
}

/// A message payload as Ditto carries it in `value`: JSON as JSON, text as a string, anything
/// else base64-encoded.
fn message_value(content_type: &str, body: &[u8]) -> Result<Option<Value>, Error> {
    if body.is_empty() {
        return Ok(None);
    }
    if is_json(content_type) {
        return serde_json::from_slice(body).map(Some).map_err(|_| {
            Error::JsonNotParsable(String::from_utf8_lossy(body).chars().take(1024).collect())
        });
    }
    if is_text(content_type) || content_type.is_empty() {
        if let Ok(s) = std::str::from_utf8(body) {
            return Ok(Some(Value::String(s.to_owned())));
        }
    }
    Ok(Some(Value::String(
        base64::engine::general_purpose::STANDARD.encode(body),
    )))
}

/// Where a message path is: `(path, subject)` for `[features/{fid}/]{inbox|outbox}/messages/{subject}`,
/// and for a claim (`inbox/claim`, Ditto's `SendClaimMessage`: an inbox message whose subject is
/// `claim`, sent without the sender's permission, as the hub knows).
fn message_path(rest: &str) -> Option<(String, String)> {
    if rest == "inbox/claim" {
        return Some(("/inbox/messages/claim".into(), "claim".into()));
    }
    let (prefix, tail) = match rest.strip_prefix("features/") {
        Some(r) => {
            let (fid, t) = r.split_once('/')?;
            (format!("/features/{fid}"), t)
        }
        None => (String::new(), rest),
    };
    for direction in ["inbox", "outbox"] {
        if let Some(subject) = tail
            .strip_prefix(direction)
            .and_then(|t| t.strip_prefix("/messages/"))
        {
            if !subject.is_empty() {
                return Some((
                    format!("{prefix}/{direction}/messages/{subject}"),
                    subject.to_owned(),
                ));
            }
        }
    }
    None
}

async fn api_request(
    req: HttpRequest,
    payload: web::Payload,
    node: web::Data<Arc<Node>>,
    origins: web::Data<OriginPolicy>,
) -> HttpResponse {
    guarded(&req, &origins, answer(req.clone(), payload, &node)).await
}

/// Every API route's answer under the Origin policy: preflights answered, refused origins
/// refused before `route` runs, allowed ones named in the answer.
pub(super) async fn guarded(
    req: &HttpRequest,
    origins: &OriginPolicy,
    route: impl std::future::Future<Output = HttpResponse>,
) -> HttpResponse {
    let verdict = origins.check(req);
    if cors::is_preflight(req) {
        return cors::preflight(&verdict);
    }
    if let Verdict::Refused(_) = verdict {
        // A cross-site page's simple request (a POST of text/plain is one) must not act with the
        // browser's cached credentials, even though the browser would hide the answer.
        return cors::refused(&verdict);
    }
    let mut resp = route.await;
    if let Some(origin) = verdict.cors_origin() {
        cors::allow(&mut resp, origin);
    }
    resp
}

async fn answer(req: HttpRequest, payload: web::Payload, node: &Arc<Node>) -> HttpResponse {
    let auth = match node.auth.authenticate(&req).await {
        Ok(a) => a,
        Err(f) => return auth_failure_response(node, &f, true),
    };
    let ApiPath { group, id, rest } = match ApiPath::parse(req.uri().path()) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    if let Some(r) = super::methods::check(&req, super::methods::of_entity_route(&group, &rest)) {
        return r;
    }
    let body = match super::body::read_configured(&req, payload, node).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    if group == "policies" && req.method() == actix_web::http::Method::POST {
        return super::policy_actions::answer(&req, &id, &rest, &body, &auth, node).await;
    }
    match build(&req, &group, &id, &rest, &body, node) {
        Ok(signal) => round_trip(node, signal, auth.subjects).await,
        Err(e) => error_response(&e),
    }
}

/// A request turned into a Ditto signal.
pub(super) struct Signal {
    pub envelope: Envelope,
    pub shard: u32,
    pub timeout: Duration,
    pub shape: Shape,
}

/// How the answer becomes the HTTP response, beyond its status and value.
#[derive(Default)]
pub(super) struct Shape {
    /// A message: its answer's payload keeps the answer's content type.
    pub message: bool,
    /// The `Location` of a 201 (Ditto: the request URI without its query).
    pub location: Option<String>,
    /// `fields` applied here to a 200 answer (policies: the hub selects only in things).
    pub select: Option<FieldSelector>,
    /// `fields` naming `_policy` on a thing: its policy joins the answer.
    pub inline_policy: Option<InlinePolicy>,
    /// A smart-channel retrieve: the devices may answer too ([`super::live_channel`]).
    pub smart: Option<Strategy>,
}

/// The request URI as Ditto's gateway sees it, absolute, without its query and with its path as
/// Pekko renders it (`UriForLocationHeaderSupplier`).
pub(super) fn location_of(req: &HttpRequest) -> String {
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_else(|| req.app_config().host());
    format!(
        "{scheme}://{host}{}",
        super::path::normalized(req.uri().path())
    )
}

/// The Ditto headers of a request (its forwarded headers and the query parameters that act as
/// headers, Ditto `query-params-as-headers`, with a correlation id of its own when it has none) and
/// its `fields`.
pub(super) fn headers_of(req: &HttpRequest) -> (Headers, Option<String>) {
    let mut headers = Headers::new();
    for name in FORWARDED_HEADERS {
        if let Some(v) = req.headers().get(*name).and_then(|v| v.to_str().ok()) {
            headers.insert(*name, v.to_owned());
        }
    }
    let mut fields = None;
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if k == "fields" {
            fields = Some(v.into_owned());
            continue;
        }
        if QUERY_PARAMS_AS_HEADERS.contains(&k.as_ref()) {
            headers.insert(k.into_owned(), v.into_owned());
        }
    }
    if !headers.contains(names::CORRELATION_ID) {
        headers.insert(names::CORRELATION_ID, uuid::Uuid::new_v4().to_string());
    }
    (headers, fields)
}

fn build(
    req: &HttpRequest,
    group: &str,
    id: &str,
    rest: &str,
    body: &[u8],
    node: &Node,
) -> Result<Signal, Error> {
    let entity = EntityId::parse(id).ok_or_else(|| match group {
        "policies" => DittoError::policy_id_invalid(id).into(),
        _ => Error::ThingIdInvalid(id.to_owned()),
    })?;
    super::duplicate_headers::check(req)?;
    let (mut headers, fields) = headers_of(req);
    let content_type = headers
        .get_str(names::CONTENT_TYPE)
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let max = Duration::from_millis(node.config.ws.command_timeout_ms);
    let method = req.method().as_str();
    let (ns, name) = (&entity.namespace, &entity.name);

    if group == "things" && method == "POST" {
        let (path, subject) = message_path(rest).ok_or_else(|| Error::UnknownPath {
            path: format!("/{rest}"),
        })?;
        // A claim may wait longer (Ditto's `claim-message.max-timeout`).
        let max = if rest == "inbox/claim" {
            max.max(CLAIM_MAX_TIMEOUT)
        } else {
            max
        };
        let timeout = timeout_of(&headers, max)?;
        if timeout.is_zero() {
            // Fire and forget: answered with 202 at once (Ditto).
            headers.insert(names::RESPONSE_REQUIRED, false);
        }
        let envelope = Envelope {
            topic: format!("{ns}/{name}/things/live/messages/{subject}"),
            headers,
            path,
            value: message_value(&content_type, body)?,
            ..Default::default()
        };
        return Ok(Signal {
            envelope,
            shard: shard_of(id, node.config.shards.count),
            timeout,
            shape: Shape {
                message: true,
                ..Default::default()
            },
        });
    }
    let action = match method {
        "GET" => "retrieve",
        "PUT" => "modify",
        "PATCH" if group == "things" => "merge",
        "DELETE" => "delete",
        _ => {
            return Err(Error::UnknownPath {
                path: format!("{method} /api/2/{group}/{id}/{rest}"),
            })
        }
    };
    let value = if matches!(action, "modify" | "merge") {
        if body.is_empty() {
            return Err(Error::ValueMissing);
        }
        Some(serde_json::from_slice(body).map_err(|_| {
            Error::JsonNotParsable(String::from_utf8_lossy(body).chars().take(1024).collect())
        })?)
    } else {
        None
    };
    let channel = match group {
        "things" => channel_of(&headers, action)?,
        _ => Channel::Twin,
    };
    let topic = match group {
        "things" => format!(
            "{ns}/{name}/things/{}/commands/{action}",
            channel.topic_part()
        ),
        "policies" => format!("{ns}/{name}/policies/commands/{action}"),
        _ => {
            return Err(Error::UnknownPath {
                path: format!("/api/2/{group}"),
            })
        }
    };
    let timeout = timeout_of(&headers, max)?;
    // Things select in the hub, under the requester's view (as over the WebSocket); policies are
    // selected here from the view the hub answered with.
    let selector = fields.as_deref().map(FieldSelector::parse).transpose()?;
    let inline_policy = match (group, action, rest) {
        ("things", "retrieve", "") if channel != Channel::Live => {
            InlinePolicy::of(&entity, selector.as_ref())
        }
        _ => None,
    };
    let select = if group == "policies" { selector } else { None };
    let envelope = Envelope {
        topic,
        headers,
        path: format!("/{rest}"),
        value,
        fields: if group == "things" { fields } else { None },
        ..Default::default()
    };
    Ok(Signal {
        envelope,
        shard: shard_of(id, node.config.shards.count),
        timeout,
        shape: Shape {
            message: false,
            location: Some(location_of(req)),
            select,
            inline_policy,
            smart: match channel {
                Channel::Smart(strategy) => Some(strategy),
                _ => None,
            },
        },
    })
}

pub(super) async fn round_trip(
    node: &Arc<Node>,
    signal: Signal,
    subjects: Vec<String>,
) -> HttpResponse {
    let cid = signal
        .envelope
        .headers
        .correlation_id()
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let Signal {
        envelope,
        shard,
        timeout,
        shape,
    } = signal;
    let asked = subjects.clone();
    let exchanged = match shape.smart {
        Some(strategy) => smart_exchange(node, envelope, shard, timeout, subjects, strategy).await,
        None => exchange(node, envelope, shard, timeout, subjects).await,
    };
    match exchanged {
        Exchange::Answered(frame) => {
            let Ok(mut env) = Envelope::parse(&frame) else {
                return error_response(&Error::Internal("unreadable answer".into()));
            };
            if let (Some(inline), Some(200)) = (&shape.inline_policy, env.status) {
                if let Some(value) = env.value.as_mut() {
                    inline.add_to(node, &asked, timeout, value).await;
                }
            }
            to_http(env, &shape)
        }
        Exchange::Sent => HttpResponse::Accepted()
            .insert_header((names::CORRELATION_ID, cid))
            .finish(),
        Exchange::NotSent => error_response(&crate::error::GatewayError::BusClosed.to_protocol()),
        Exchange::TimedOut => {
            let mut r = error_response(&Error::CommandTimeout(timeout.as_millis() as u64));
            if let Ok(v) = header::HeaderValue::from_str(&cid) {
                r.headers_mut()
                    .insert(header::HeaderName::from_static("correlation-id"), v);
            }
            r
        }
    }
}

/// An answer frame as an HTTP response: its status, its value as the body (in the answer's own
/// content type for messages), and the headers that matter to HTTP clients. A 304 or 204 has no
/// body (a body there would be read as the next response on a keep-alive connection).
fn to_http(env: Envelope, shape: &Shape) -> HttpResponse {
    let status = StatusCode::from_u16(env.status.unwrap_or(500))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = HttpResponseBuilder::new(status);
    for name in [
        names::CORRELATION_ID,
        names::ETAG,
        smart::CHANNEL,
        smart::MATCHED,
    ] {
        if let Some(v) = env.headers.get_str(name) {
            b.insert_header((name, v.into_owned()));
        }
    }
    if status == StatusCode::CREATED {
        if let Some(location) = &shape.location {
            b.insert_header((header::LOCATION, location.as_str()));
        }
    }
    let content_type = env
        .headers
        .get_str(names::CONTENT_TYPE)
        .map(|c| c.into_owned())
        .unwrap_or_else(|| "application/json".into());
    let value = match (env.value, &shape.select) {
        (Some(v), Some(sel)) if status == StatusCode::OK && v.is_object() => Some(sel.apply(&v)),
        (v, _) => v,
    };
    match value {
        // Neither has a body, whatever a message's responder put in its answer.
        _ if status == StatusCode::NOT_MODIFIED || status == StatusCode::NO_CONTENT => b.finish(),
        None => b.finish(),
        Some(Value::String(s)) if shape.message && !is_json(&content_type) => {
            if is_text(&content_type) {
                b.content_type(content_type).body(s)
            } else {
                // Binary payloads travel base64-encoded in `value`.
                match base64::engine::general_purpose::STANDARD.decode(&s) {
                    Ok(bytes) => b.content_type(content_type).body(bytes),
                    Err(_) => b.content_type(content_type).body(s),
                }
            }
        }
        Some(v) => b.content_type("application/json").body(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_paths_cover_things_and_features_in_both_directions() {
        let table = [
            ("inbox/messages/ask", Some(("/inbox/messages/ask", "ask"))),
            ("outbox/messages/a/b", Some(("/outbox/messages/a/b", "a/b"))),
            (
                "features/lamp/inbox/messages/on",
                Some(("/features/lamp/inbox/messages/on", "on")),
            ),
            ("inbox/messages/", None),
            ("inbox/claim", Some(("/inbox/messages/claim", "claim"))),
            ("features/f/inbox/claim", None),
            ("attributes/x", None),
        ];
        for (rest, expected) in table {
            assert_eq!(
                message_path(rest),
                expected.map(|(p, s)| (p.to_owned(), s.to_owned())),
                "{rest}"
            );
        }
    }

    #[test]
    fn message_payloads_become_json_text_or_base64() {
        assert_eq!(
            message_value("application/json", b"{\"a\":1}").unwrap(),
            Some(serde_json::json!({"a": 1}))
        );
        assert_eq!(
            message_value("text/plain; charset=utf-8", b"hi").unwrap(),
            Some(Value::String("hi".into()))
        );
        assert_eq!(
            message_value("application/octet-stream", &[0, 255]).unwrap(),
            Some(Value::String("AP8=".into()))
        );
        assert!(message_value("application/json", b"{").is_err());
        assert_eq!(message_value("text/plain", b"").unwrap(), None);
    }
}
