//! The gateway's HTTP surface: the public server (WebSocket endpoints, later the HTTP API) and the
//! admin server (`/metrics`, `/alive`, `/ready`), and how errors become HTTP responses.

pub mod admin;
pub mod api;
pub mod ws;

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
