//! The gateway's HTTP surface: the public server (WebSocket endpoints and the HTTP API) and the
//! admin server (`/metrics`, `/alive`, `/ready`), and how errors become HTTP responses.

pub mod admin;
pub mod api;
pub mod body;
pub mod check_permissions;
pub mod collection;
pub mod cors;
pub mod duplicate_headers;
pub mod exchange;
pub mod inline_policy;
pub mod live_channel;
pub mod methods;
pub mod path;
pub mod policy_actions;
pub mod search;
pub mod sse;
pub mod upgrade;
pub mod whoami;
pub mod ws;

use crate::auth::AuthFailure;
use crate::node::Node;
use actix_web::http::header;
use actix_web::{http::StatusCode, HttpResponse, HttpResponseBuilder};
use twinwire_common::Error;

/// An HTTP response carrying a Ditto error as its JSON body.
pub fn error_response(error: &Error) -> HttpResponse {
    let d = error.to_ditto();
    HttpResponseBuilder::new(
        StatusCode::from_u16(d.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .content_type("application/json")
    .body(d.to_json().to_string())
}

/// The answer to a failed authentication: counted, its Ditto error, `Retry-After` when throttled,
/// and with `challenge` Basic's `WWW-Authenticate` (not on a throttled attempt: retrying now is
/// pointless).
pub fn auth_failure_response(node: &Node, f: &AuthFailure, challenge: bool) -> HttpResponse {
    node.metrics
        .auth_failures
        .with_label_values(&[f.reason])
        .inc();
    let mut resp = error_response(&f.error);
    if let Error::FailedLoginsThrottled {
        retry_after_secs, ..
    } = f.error
    {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(retry_after_secs),
        );
    } else if challenge && node.auth.basic_enabled() {
        if let Ok(v) =
            header::HeaderValue::from_str(&format!("Basic realm=\"{}\"", node.auth.realm))
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}
