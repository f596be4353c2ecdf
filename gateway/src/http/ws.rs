//! `GET /ws/{version}`: the version is checked, then the client authenticated, and only then is the
//! connection upgraded and a session actor started (reference §2.1, §2.2). Upgrade requests reach
//! this handler through the public server's upgrade service (`upgrade.rs`), which writes the 101
//! and starts the session this handler leaves in the request's handover.

use super::upgrade::{Accepted, Handover};
use super::{auth_failure_response, error_response};
use crate::node::Node;
use crate::origin::{OriginPolicy, Verdict};
use crate::session::SessionInit;
use crate::ws::slots::SessionSlot;
use actix_http::ws::HandshakeError;
use actix_web::{http::header, web, HttpMessage, HttpRequest, HttpResponse};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use twinwire_common::protocol::Headers;
use twinwire_common::Error;

/// Query parameters of the upgrade that become headers of every signal of the session
/// (Ditto `http.query-params-as-headers`, reference §2.3).
const QUERY_PARAMS_AS_HEADERS: &[&str] = &[
    "accept",
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
    "dry-run",
];

pub async fn upgrade(
    req: HttpRequest,
    version: web::Path<String>,
    node: web::Data<Arc<Node>>,
    origins: web::Data<OriginPolicy>,
) -> HttpResponse {
    let api_version: u8 = match version.as_str() {
        "2" => 2,
        "1" => 1,
        v => return error_response(&Error::ApiVersionNotSupported(v.to_owned())),
    };
    if node.draining.load(Ordering::Relaxed) {
        return error_response(&Error::ServiceUnavailable(
            "This gateway is shutting down; connect again.".into(),
        ));
    }
    // Sessions are no longer counted by the HTTP server once upgraded: this worker counts them.
    let Some(slot) = SessionSlot::take(node.config.http.max_connections) else {
        return error_response(&Error::ServiceUnavailable(
            "This gateway holds as many sessions as it may; connect again later.".into(),
        ));
    };
    // Before authentication: a cross-site page must not even learn whether the browser's cached
    // credentials are valid.
    if let Verdict::Refused(origin) = origins.check(&req) {
        return error_response(&Error::OriginNotAllowed(origin));
    }
    let auth = match node.auth.authenticate(&req).await {
        Ok(a) => a,
        Err(f) => return auth_failure_response(&node, &f, true),
    };
    let mut session_headers = Headers::new();
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if QUERY_PARAMS_AS_HEADERS.contains(&k.as_ref()) {
            session_headers.insert(k.into_owned(), v.into_owned());
        }
    }
    let connection_id = req
        .headers()
        .get("x-correlation-id")
        .or_else(|| req.headers().get("correlation-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Err(e) = actix_http::ws::verify_handshake(req.head()) {
        return handshake_error(&req, e);
    }
    // Acknowledgement labels the session will issue (reference §7): a JSON array or a comma list.
    let declared_acks = session_headers
        .get(twinwire_common::protocol::headers::names::DECLARED_ACKS)
        .map(twinwire_common::protocol::acks::parse_labels)
        .unwrap_or_default();
    if let Some(bad) = declared_acks.iter().find(|l| {
        !twinwire_common::protocol::acks::is_valid_label(l)
            || twinwire_common::protocol::acks::is_built_in(l)
    }) {
        return error_response(&Error::AckLabelInvalid(bad.clone()));
    }
    let init = SessionInit {
        auth,
        api_version,
        session_headers,
        connection_id,
        declared_acks,
    };
    // Only the upgrade service can hand the connection over; a request that came another way
    // carried no `Upgrade: websocket` the HTTP codec recognised.
    let Some(handover) = req.extensions().get::<Handover>().cloned() else {
        return handshake_error(&req, HandshakeError::NoWebsocketUpgrade);
    };
    handover.accept(Accepted {
        node: node.get_ref().clone(),
        init,
        slot,
    });
    actix_http::ws::handshake_response(req.head())
        .finish()
        .map_into_boxed_body()
        .into()
}

/// A request to `/ws/N` that is no WebSocket handshake (a plain GET, a browser) gets a Ditto JSON
/// error naming the header that is missing or wrong, like every other error of the gateway.
fn handshake_error(req: &HttpRequest, e: HandshakeError) -> HttpResponse {
    use HandshakeError as H;
    let (name, kind) = match e {
        H::NoConnectionUpgrade => (header::CONNECTION, "connection upgrade"),
        H::NoVersionHeader | H::UnsupportedVersion => {
            (header::SEC_WEBSOCKET_VERSION, "WebSocket version (13)")
        }
        H::BadWebsocketKey => (header::SEC_WEBSOCKET_KEY, "WebSocket key"),
        H::NoWebsocketUpgrade | H::GetMethodRequired => {
            (header::UPGRADE, "WebSocket upgrade (websocket)")
        }
    };
    let value = req
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    error_response(&Error::HeaderInvalid {
        name: name.as_str().to_owned(),
        value,
        kind: kind.to_owned(),
    })
}
