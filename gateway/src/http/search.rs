//! Things search over HTTP (ditto-features §6, Ditto `ThingSearchRoute`): `GET|POST
//! /api/2/search/things` (`filter`, `namespaces`, `option`, `fields`; a POST carries them as an
//! `application/x-www-form-urlencoded` body) answers `{"items":[…],"nextPageOffset":n,"cursor":c}`
//! with Ditto's rules for which of the last two appear, and `/api/2/search/things/count` a plain
//! number. Repeated `filter`s are and-ed, repeated `option`s concatenated, `namespaces` is
//! comma-separated. The search itself is `crate::search`'s, shared with the WebSocket.

use super::api::guarded;
use super::{auth_failure_response, error_response};
use crate::node::Node;
use crate::origin::OriginPolicy;
use crate::search::options::{self, SearchRequest, Via};
use crate::session::live::timeout_of;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::protocol::Headers;
use twinwire_common::Error;

/// Registers the search routes (before the API's `/{group}/{id}` routes, which would take them).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/2/search/things", web::route().to(search))
        .route("/api/2/search/things/count", web::route().to(count));
}

async fn search(
    req: HttpRequest,
    payload: web::Payload,
    node: web::Data<Arc<Node>>,
    origins: web::Data<OriginPolicy>,
) -> HttpResponse {
    guarded(&req, &origins, answer(&req, payload, &node, false)).await
}

async fn count(
    req: HttpRequest,
    payload: web::Payload,
    node: web::Data<Arc<Node>>,
    origins: web::Data<OriginPolicy>,
) -> HttpResponse {
    guarded(&req, &origins, answer(&req, payload, &node, true)).await
}

async fn answer(
    req: &HttpRequest,
    payload: web::Payload,
    node: &Arc<Node>,
    counting: bool,
) -> HttpResponse {
    let auth = match node.auth.authenticate(req).await {
        Ok(a) => a,
        Err(f) => return auth_failure_response(node, &f, true),
    };
    let body = match super::body::read_configured(req, payload, node).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let request = match request_of(req, &body, node) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let (request, timeout) = request;
    if counting {
        return match crate::search::count(node, &request, &auth.subjects, timeout).await {
            Ok(n) => HttpResponse::Ok().json(n),
            Err(e) => error_response(&e),
        };
    }
    match crate::search::page(node, &request, &auth.subjects, timeout).await {
        Ok(page) => {
            let mut body = Map::new();
            let more = page.next.is_some();
            body.insert("items".into(), Value::Array(page.items.clone()));
            // Ditto: the offset only when neither size() nor cursor() was used, -1 on the last
            // page; the cursor only when more results follow and limit() was not used.
            if !request.sized && request.after.is_none() {
                let next = request.offset.unwrap_or(0) + page.items.len();
                body.insert(
                    "nextPageOffset".into(),
                    if more { json!(next) } else { json!(-1) },
                );
            }
            if let (Some(last), None) = (page.next, request.offset) {
                body.insert("cursor".into(), json!(request.cursor_after(last)));
            }
            HttpResponse::Ok().json(Value::Object(body))
        }
        Err(e) => error_response(&e),
    }
}

/// The search request of the query string (GET) or form body (POST), and its timeout.
fn request_of(
    req: &HttpRequest,
    body: &[u8],
    node: &Node,
) -> Result<(SearchRequest, Duration), Error> {
    let params: Vec<(String, String)> = match req.method().as_str() {
        "GET" => form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect(),
        "POST" => {
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let media = content_type.split(';').next().unwrap_or("").trim();
            if !body.is_empty() && !media.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            {
                return Err(Error::MediaTypeUnsupported(content_type.to_owned()));
            }
            form_urlencoded::parse(body).into_owned().collect()
        }
        m => {
            return Err(Error::UnknownPath {
                path: format!("{m} {}", req.uri().path()),
            })
        }
    };
    let all = |name: &str| -> Vec<String> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let filters = all("filter");
    let filter = match filters.len() {
        0 => None,
        1 => filters.into_iter().next(),
        _ => Some(format!("and({})", filters.join(","))),
    };
    let namespaces: Vec<String> = all("namespaces")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let option = all("option").join(",");
    let fields = all("fields").into_iter().next();
    let mut headers = Headers::default();
    if let Some(t) = req.headers().get("timeout").and_then(|v| v.to_str().ok()) {
        headers.set("timeout", t);
    }
    let timeout = timeout_of(
        &headers,
        Duration::from_millis(node.config.ws.command_timeout_ms),
    )?;
    Ok((
        options::parse(filter, namespaces, &option, fields, Via::Http)?,
        timeout,
    ))
}
