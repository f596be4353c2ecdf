//! `/api/2/things` as a collection (Ditto `ThingsRoute`): `GET ?ids=a,b[&fields=…]` is the
//! WebSocket's RetrieveThings (an array in the order asked, missing and unreadable things left
//! out; repeated `ids` joined), and `POST` creates a thing under a generated id `<ns>:<uuid>`
//! (`?namespace=`, else Ditto's empty default namespace), answered 201 with its `Location` (405 on
//! the live channel). `GET` with `Accept: text/event-stream` is Ditto's SSE stream instead
//! ([`super::sse`]).

use super::api::{guarded, headers_of, location_of, round_trip, Shape, Signal};
use super::{auth_failure_response, error_response};
use crate::node::Node;
use crate::origin::OriginPolicy;
use crate::session::live::timeout_of;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::bus::shard_of;
use twinwire_common::protocol::Envelope;
use twinwire_common::things::EntityId;
use twinwire_common::Error;

pub async fn things(
    req: HttpRequest,
    payload: web::Payload,
    node: web::Data<Arc<Node>>,
    origins: web::Data<OriginPolicy>,
) -> HttpResponse {
    guarded(&req, &origins, answer(&req, payload, &node)).await
}

async fn answer(req: &HttpRequest, payload: web::Payload, node: &Arc<Node>) -> HttpResponse {
    let auth = match node.auth.authenticate(req).await {
        Ok(a) => a,
        Err(f) => return auth_failure_response(node, &f, true),
    };
    if let Some(r) = super::methods::check(req, super::methods::THINGS_COLLECTION) {
        return r;
    }
    // Server-Sent Events (issue 16): a stream of changes rather than a retrieval.
    if req.method() == actix_web::http::Method::GET && super::sse::wants(req) {
        return super::sse::stream(req, node, auth).await;
    }
    let body = match super::body::read_configured(req, payload, node).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let signal = match req.method().as_str() {
        "GET" => retrieve_things(req, node),
        "POST" => create_thing(req, &body, node),
        m => Err(Error::UnknownPath {
            path: format!("{m} /api/2/things"),
        }),
    };
    match signal {
        Ok(signal) => round_trip(node, signal, auth.subjects).await,
        Err(e) => error_response(&e),
    }
}

/// The ids of `ids` parameters, comma-separated and repeatable, in order.
fn ids_of(query: &str) -> Vec<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "ids")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn retrieve_things(req: &HttpRequest, node: &Node) -> Result<Signal, Error> {
    let ids = ids_of(req.query_string());
    // Without ids the hub answers Ditto's `things:things.ids.missing`.
    let first = ids.first().cloned().unwrap_or_default();
    let (headers, fields) = headers_of(req);
    let timeout = timeout_of(
        &headers,
        Duration::from_millis(node.config.ws.command_timeout_ms),
    )?;
    Ok(Signal {
        envelope: Envelope {
            topic: "_/_/things/twin/commands/retrieve".into(),
            headers,
            path: "/".into(),
            value: Some(json!({ "thingIds": ids })),
            fields,
            ..Default::default()
        },
        // Any shard answers RetrieveThings from committed state; the first id's, as over the
        // WebSocket.
        shard: shard_of(&first, node.config.shards.count),
        timeout,
        shape: Shape::default(),
    })
}

fn create_thing(req: &HttpRequest, body: &[u8], node: &Node) -> Result<Signal, Error> {
    // A live create has no twin to make (Ditto answers 405).
    let live = form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| k == "channel" && v == "live")
        || req
            .headers()
            .get("channel")
            .is_some_and(|v| v.as_bytes() == b"live");
    if live {
        return Err(Error::ThingNotCreatableViaLive);
    }
    let namespace = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "namespace")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let id = format!("{namespace}:{}", uuid::Uuid::new_v4());
    let entity = EntityId::parse(&id).ok_or_else(|| Error::ThingIdInvalid(id.clone()))?;
    let thing = thing_of(body, &id)?;
    let (headers, _) = headers_of(req);
    let timeout = timeout_of(
        &headers,
        Duration::from_millis(node.config.ws.command_timeout_ms),
    )?;
    Ok(Signal {
        envelope: Envelope {
            topic: format!(
                "{}/{}/things/twin/commands/create",
                entity.namespace, entity.name
            ),
            headers,
            path: "/".into(),
            value: Some(thing),
            ..Default::default()
        },
        shard: shard_of(&id, node.config.shards.count),
        timeout,
        shape: Shape {
            // Ditto: the request URI up to the entity, then the new id.
            location: Some(format!("{}/{id}", location_of(req))),
            ..Default::default()
        },
    })
}

/// The thing a POST body describes, under the generated `id`: an empty body is an empty thing,
/// and a body naming its own `thingId` is refused (Ditto's code; its OpenAPI says "ignored").
fn thing_of(body: &[u8], id: &str) -> Result<Value, Error> {
    let mut thing: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| {
            Error::JsonNotParsable(String::from_utf8_lossy(body).chars().take(1024).collect())
        })?
    };
    let Some(obj) = thing.as_object_mut() else {
        return Err(Error::JsonNotParsable(
            String::from_utf8_lossy(body).chars().take(1024).collect(),
        ));
    };
    if let Some(given) = obj.get("thingId") {
        return Err(Error::ThingIdNotSettable {
            in_topic: id.to_owned(),
            in_value: given.as_str().unwrap_or_default().to_owned(),
        });
    }
    obj.insert("thingId".into(), Value::String(id.to_owned()));
    Ok(thing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_comma_separated_repeatable_and_ordered() {
        assert_eq!(
            ids_of("ids=a:1,b:2&fields=x&ids=c:3"),
            ["a:1", "b:2", "c:3"]
        );
        assert_eq!(ids_of("ids=a%3A1"), ["a:1"]);
        assert!(ids_of("fields=x").is_empty());
    }

    #[test]
    fn a_posted_thing_gets_the_generated_id_and_may_not_name_one() {
        assert_eq!(
            thing_of(br#"{"attributes":{"a":1}}"#, ":x").unwrap(),
            json!({"attributes": {"a": 1}, "thingId": ":x"})
        );
        assert_eq!(thing_of(b"", ":x").unwrap(), json!({"thingId": ":x"}));
        assert!(matches!(
            thing_of(br#"{"thingId":"a:b"}"#, ":x"),
            Err(Error::ThingIdNotSettable { .. })
        ));
        assert!(thing_of(b"[1]", ":x").is_err());
    }
}
