//! `POST /api/2/checkPermissions` (Ditto 3.7+): for each named check `{"resource": "thing:/…" |
//! "message:/…" | "policy:/…", "entityId": …, "hasPermissions": [...]}`, whether the caller holds
//! those permissions there, answered `{"<name>": true|false}`. Each check goes to the entity's
//! shard as a `checkPermissions` command, where the hub evaluates it with the enforcer of the
//! thing's (or the named) policy; a missing or unanswered entity is `false`, never an error.

use super::api::{guarded, headers_of};
use super::exchange::{exchange, Exchange};
use super::{auth_failure_response, error_response};
use crate::node::Node;
use crate::origin::OriginPolicy;
use crate::session::live::timeout_of;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::bus::shard_of;
use twinwire_common::policy::Permission;
use twinwire_common::protocol::{Envelope, Headers};
use twinwire_common::things::EntityId;
use twinwire_common::Error;

pub async fn check_permissions(
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
    if let Some(r) = super::methods::check(req, super::methods::POST_ONLY) {
        return r;
    }
    let body = match super::body::read_configured(req, payload, node).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let checks = match checks_of(&body) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let (headers, _) = headers_of(req);
    let timeout = match timeout_of(
        &headers,
        Duration::from_millis(node.config.ws.command_timeout_ms),
    ) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let answers = futures_util::future::join_all(
        checks
            .iter()
            .map(|c| granted(node, c, &headers, timeout, &auth.subjects)),
    )
    .await;
    let mut out = Map::new();
    for (check, granted) in checks.iter().zip(answers) {
        out.insert(check.name.clone(), Value::Bool(granted));
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(Value::Object(out).to_string())
}

/// One named check of the request.
#[derive(Debug)]
struct Check {
    name: String,
    resource: String,
    entity: EntityId,
    /// `things/twin` for thing and message resources, `policies` for policy ones.
    group: &'static str,
    permissions: Vec<String>,
}

/// The checks a request body names, or the 400 for a malformed one.
fn checks_of(body: &[u8]) -> Result<Vec<Check>, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        Error::JsonNotParsable(String::from_utf8_lossy(body).chars().take(1024).collect())
    })?;
    let invalid = |name: &str, why: &str| {
        Error::JsonFormatInvalid(format!("The permission check <{name}> is invalid: {why}"))
    };
    let Value::Object(entries) = value else {
        return Err(Error::JsonFormatInvalid(
            "The permission checks must be a JSON object of named checks.".into(),
        ));
    };
    entries
        .into_iter()
        .map(|(name, v)| {
            let resource = v
                .get("resource")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&name, "'resource' is missing."))?;
            let group = match resource.split_once(':') {
                Some(("thing" | "message", p)) if p.starts_with('/') => "things/twin",
                Some(("policy", p)) if p.starts_with('/') => "policies",
                _ => {
                    return Err(invalid(
                        &name,
                        "'resource' must be thing:/…, message:/… or policy:/….",
                    ))
                }
            };
            let entity = v
                .get("entityId")
                .and_then(Value::as_str)
                .and_then(EntityId::parse)
                .ok_or_else(|| invalid(&name, "'entityId' is missing or not a valid id."))?;
            let permissions = v
                .get("hasPermissions")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .and_then(|a| {
                    a.iter()
                        .map(|p| {
                            p.as_str()
                                .filter(|s| Permission::parse(s).is_some())
                                .map(str::to_owned)
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    invalid(&name, "'hasPermissions' must list READ, WRITE or EXECUTE.")
                })?;
            Ok(Check {
                resource: resource.to_owned(),
                name,
                entity,
                group,
                permissions,
            })
        })
        .collect()
}

/// Whether the hub grants `check`.
async fn granted(
    node: &Arc<Node>,
    check: &Check,
    request: &Headers,
    timeout: Duration,
    subjects: &[String],
) -> bool {
    let mut headers = request.clone();
    headers.insert(
        twinwire_common::protocol::headers::names::CORRELATION_ID,
        uuid::Uuid::new_v4().to_string(),
    );
    let envelope = Envelope {
        topic: format!(
            "{}/{}/{}/commands/checkPermissions",
            check.entity.namespace, check.entity.name, check.group
        ),
        headers,
        path: "/".into(),
        value: Some(json!({"resource": check.resource, "hasPermissions": check.permissions})),
        ..Default::default()
    };
    let shard = shard_of(&check.entity.to_string(), node.config.shards.count);
    let Exchange::Answered(frame) =
        exchange(node, envelope, shard, timeout, subjects.to_vec()).await
    else {
        return false;
    };
    Envelope::parse(&frame)
        .is_ok_and(|env| env.status == Some(200) && env.value == Some(Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_a_known_resource_type_an_entity_and_permissions() {
        let c = checks_of(
            br#"{"a":{"resource":"message:/inbox/messages/x","entityId":"o:t","hasPermissions":["WRITE"]},
                 "b":{"resource":"policy:/entries","entityId":"o:p","hasPermissions":["READ","WRITE"]}}"#,
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].name.as_str(), c[0].group), ("a", "things/twin"));
        assert_eq!((c[1].name.as_str(), c[1].group), ("b", "policies"));
        for bad in [
            r#"{"a":{"resource":"connection:/","entityId":"o:t","hasPermissions":["READ"]}}"#,
            r#"{"a":{"resource":"thing:/","entityId":"nocolon","hasPermissions":["READ"]}}"#,
            r#"{"a":{"resource":"thing:/","entityId":"o:t","hasPermissions":["FLY"]}}"#,
            r#"{"a":{"resource":"thing:/","entityId":"o:t","hasPermissions":[]}}"#,
            r#"[1]"#,
        ] {
            assert!(checks_of(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
