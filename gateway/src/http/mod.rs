//! The gateway's HTTP surface: the public server (WebSocket endpoints, later the HTTP API) and the
//! admin server (`/metrics`, `/alive`, `/ready`), and how errors become HTTP responses.

pub mod admin;
pub mod api;
pub mod ws;

use crate::auth::AuthFailure;
use crate::node::Node;
use actix_web::{http::header, http::StatusCode, HttpResponse, HttpResponseBuilder};
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

/// The answer to a failed authentication, the same on the WebSocket upgrade and the HTTP API: the
/// failure counted, its Ditto error, and a Basic challenge while Basic is on, so that a browser
/// prompts for credentials.
pub fn auth_failure_response(node: &Node, failure: &AuthFailure) -> HttpResponse {
    node.metrics
        .auth_failures
        .with_label_values(&[failure.reason])
        .inc();
    let mut resp = error_response(&failure.error);
    if node.auth.basic_enabled() {
        if let Ok(v) =
            header::HeaderValue::from_str(&format!("Basic realm=\"{}\"", node.auth.realm))
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}
