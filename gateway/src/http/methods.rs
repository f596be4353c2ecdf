//! Which HTTP methods each API route takes, and the answer to any other on a known route. Ditto's
//! gateway leaves a wrong method to Pekko's default rejection handler (its own
//! `DittoRejectionHandlerFactory` only changes missing query parameters), so the answer is
//! Pekko's: 405 with `Allow` naming the route's methods and a plain-text body
//! `HTTP method not allowed, supported methods: GET, PUT, …`, in the order the route lists them.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

/// `/api/2/things/{id}` and its sub-resources, and the policy ones without PATCH (Ditto's
/// `ThingsRoute` / `PoliciesRoute` order).
pub const THING_RESOURCE: &[&str] = &["GET", "PUT", "PATCH", "DELETE"];
pub const POLICY_RESOURCE: &[&str] = &["GET", "PUT", "DELETE"];
/// Messages, claims, policy actions, `migrateDefinition`, `checkPermissions`.
pub const POST_ONLY: &[&str] = &["POST"];
pub const GET_ONLY: &[&str] = &["GET"];
/// `/api/2/things` as a collection.
pub const THINGS_COLLECTION: &[&str] = &["GET", "POST"];

/// The methods of `/api/2/{group}/{id}/{rest}` (`rest` decoded, without its leading `/`).
pub fn of_entity_route(group: &str, rest: &str) -> &'static [&'static str] {
    match group {
        "things" if is_thing_post_route(rest) => POST_ONLY,
        "policies" if is_policy_action(rest) => POST_ONLY,
        "policies" => POLICY_RESOURCE,
        _ => THING_RESOURCE,
    }
}

/// Messages (`[features/{fid}/](inbox|outbox)/messages/…`), the claim and `migrateDefinition`.
fn is_thing_post_route(rest: &str) -> bool {
    let tail = match rest.strip_prefix("features/") {
        Some(r) => r.split_once('/').map_or("", |(_, t)| t),
        None => {
            if rest == "inbox/claim" || rest == "migrateDefinition" {
                return true;
            }
            rest
        }
    };
    ["inbox/messages", "outbox/messages"]
        .iter()
        .any(|d| tail == *d || tail.starts_with(&format!("{d}/")))
}

/// `actions/…` of a policy or of one of its entries.
fn is_policy_action(rest: &str) -> bool {
    rest.starts_with("actions/")
        || rest
            .strip_prefix("entries/")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(_, t)| t.starts_with("actions/"))
}

/// `None` when the request's method is one of `allowed`, else the 405 to answer.
pub fn check(req: &HttpRequest, allowed: &[&str]) -> Option<HttpResponse> {
    let method = req.method().as_str();
    if allowed.contains(&method) {
        return None;
    }
    let list = allowed.join(", ");
    Some(
        HttpResponseBuilder::new(StatusCode::METHOD_NOT_ALLOWED)
            .insert_header((header::ALLOW, list.clone()))
            .content_type("text/plain; charset=UTF-8")
            .body(format!(
                "HTTP method not allowed, supported methods: {list}"
            )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_entity_route_has_its_methods() {
        let table = [
            ("things", "", THING_RESOURCE),
            ("things", "attributes/a/b", THING_RESOURCE),
            ("things", "features/f/properties/p", THING_RESOURCE),
            ("things", "inbox/messages/ask/a", POST_ONLY),
            ("things", "outbox/messages/x", POST_ONLY),
            ("things", "features/f/inbox/messages/x", POST_ONLY),
            ("things", "inbox/claim", POST_ONLY),
            ("things", "migrateDefinition", POST_ONLY),
            // An attribute may be called `inbox`.
            ("things", "attributes/inbox/messages", THING_RESOURCE),
            ("policies", "", POLICY_RESOURCE),
            ("policies", "entries/e/resources/thing:/", POLICY_RESOURCE),
            ("policies", "actions/activateTokenIntegration", POST_ONLY),
            (
                "policies",
                "entries/e/actions/deactivateTokenIntegration",
                POST_ONLY,
            ),
        ];
        for (group, rest, methods) in table {
            assert_eq!(of_entity_route(group, rest), methods, "{group} {rest}");
        }
    }
}
