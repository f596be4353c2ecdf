//! Reading an HTTP API request body under its limits (`http.max_body_bytes`,
//! `http.body_timeout_ms`): only after the request is authenticated, refused at once when its
//! declared length is too large, and cut off when it does not arrive in time, so a client dripping
//! a body holds a connection no longer than the timeout.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::time::Duration;
use twinwire_common::Error;

/// [`read`] under the gateway's configured `http.max_body_bytes` and `http.body_timeout_ms`.
pub async fn read_configured(
    req: &HttpRequest,
    payload: web::Payload,
    node: &crate::node::Node,
) -> Result<Bytes, Error> {
    let http = &node.config.http;
    read(
        req,
        payload,
        http.max_body_bytes,
        Duration::from_millis(http.body_timeout_ms),
    )
    .await
}

/// The whole body, at most `max` bytes, received within `timeout`.
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Error::RequestBodyTooLarge(max));
    }
    let collect = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            // A broken body (the client hung up, bad chunking) is as good as one never sent.
            let chunk = chunk.map_err(|e| Error::JsonFormatInvalid(e.to_string()))?;
            if body.len() + chunk.len() > max {
                return Err(Error::RequestBodyTooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| Error::RequestBodyTimeout(timeout.as_millis() as u64))?
}
