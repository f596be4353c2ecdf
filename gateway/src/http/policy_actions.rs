//! Ditto's policy actions on HTTP: `POST /api/2/policies/{id}[/entries/{label}]/actions/
//! (activate|deactivate)TokenIntegration` (ditto-features §8). The gateway resolves what only it
//! knows, the JWT's `aud` in the subject id template and the token's `exp` as the subject's expiry,
//! and sends the action to the policy's shard as a policies command marked with the internal
//! [`names::POLICY_ACTION`] header; the hub (`policies::actions`) picks the entries and applies it
//! as a normal policy change, so the subject lapses with the token through subject expiry.

use super::api::{headers_of, round_trip, Shape, Signal};
use super::error_response;
use crate::auth::{AuthContext, AuthMethod};
use crate::node::Node;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use twinwire_common::bus::shard_of;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::Envelope;
use twinwire_common::things::EntityId;
use twinwire_common::{DittoError, Error};

const ACTIONS: [&str; 2] = ["activateTokenIntegration", "deactivateTokenIntegration"];

/// Ditto's default `token-integration-subject`; `{{policy-entry:label}}` is resolved per entry by
/// the hub, `{{jwt:aud}}` here (one subject per audience).
const SUBJECT_TEMPLATE: &str = "integration:{{policy-entry:label}}:{{jwt:aud}}";

/// The action named by `rest` (below the policy: `actions/{a}` or `entries/{label}/actions/{a}`)
/// and the entry it names, if any.
fn action_of(rest: &str) -> Option<(&'static str, Option<&str>)> {
    let (label, name) = match rest.strip_prefix("actions/") {
        Some(a) => (None, a),
        None => {
            let (label, tail) = rest.strip_prefix("entries/")?.split_once('/')?;
            (Some(label), tail.strip_prefix("actions/")?)
        }
    };
    let action = ACTIONS.iter().copied().find(|a| *a == name)?;
    Some((action, label))
}

/// The subject ids the action adds or removes, before the hub resolves the entry label.
fn subject_ids(auth: &AuthContext, action: &str) -> Result<Vec<String>, DittoError> {
    if auth.audiences.is_empty() {
        return Err(DittoError::policy_action_unresolved(action, "jwt:aud"));
    }
    Ok(auth
        .audiences
        .iter()
        .map(|aud| SUBJECT_TEMPLATE.replace("{{jwt:aud}}", aud))
        .collect())
}

/// The token's `exp` as Ditto prints an instant.
fn expiry_of(auth: &AuthContext) -> Option<String> {
    let secs = auth.expires_at?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp(i64::try_from(secs).ok()?, 0)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The action's payload: the subject ids, and on activation their expiry and announcement.
fn payload(auth: &AuthContext, action: &str, body: &[u8]) -> Result<Value, Error> {
    let ids = subject_ids(auth, action)?;
    if action == ACTIONS[1] {
        return Ok(json!({ "subjectIds": ids }));
    }
    let expiry =
        expiry_of(auth).ok_or_else(|| DittoError::policy_action_unresolved(action, "jwt:exp"))?;
    let mut value = json!({ "subjectIds": ids, "expiry": expiry });
    if !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: Value =
            serde_json::from_slice(body).map_err(|e| Error::JsonNotParsable(e.to_string()))?;
        if let Some(a) = parsed.get("announcement") {
            value["announcement"] = a.clone();
        }
    }
    Ok(value)
}

/// The answer to a POST below a policy.
pub async fn answer(
    req: &HttpRequest,
    id: &str,
    rest: &str,
    body: &[u8],
    auth: &AuthContext,
    node: &Arc<Node>,
) -> HttpResponse {
    let Some((action, label)) = action_of(rest) else {
        return error_response(&Error::UnknownPath {
            path: format!("/{rest}"),
        });
    };
    if auth.method != AuthMethod::Jwt {
        return error_response(&DittoError::policy_action_needs_jwt(action).into());
    }
    let Some(entity) = EntityId::parse(id) else {
        return error_response(&DittoError::policy_id_invalid(id).into());
    };
    let value = match payload(auth, action, body) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let (mut headers, _) = headers_of(req);
    headers.insert(names::POLICY_ACTION, action.to_owned());
    let envelope = Envelope {
        topic: format!(
            "{}/{}/policies/commands/modify",
            entity.namespace, entity.name
        ),
        headers,
        path: label.map_or_else(|| "/".to_owned(), |l| format!("/entries/{l}")),
        value: Some(value),
        ..Default::default()
    };
    let signal = Signal {
        envelope,
        shard: shard_of(id, node.config.shards.count),
        timeout: Duration::from_millis(node.config.ws.command_timeout_ms),
        shape: Shape::default(),
    };
    round_trip(node, signal, auth.subjects.clone()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn actions_are_named_at_the_policy_or_an_entry() {
        let table = [
            ("actions/activateTokenIntegration", Some((ACTIONS[0], None))),
            (
                "actions/deactivateTokenIntegration",
                Some((ACTIONS[1], None)),
            ),
            (
                "entries/owner/actions/activateTokenIntegration",
                Some((ACTIONS[0], Some("owner"))),
            ),
            ("entries/owner/actions/other", None),
            ("actions/", None),
            ("entries/owner", None),
        ];
        for (rest, action) in table {
            assert_eq!(action_of(rest), action, "{rest}");
        }
    }

    #[test]
    fn the_payload_carries_one_subject_per_audience_and_the_tokens_expiry() {
        let auth = AuthContext {
            subjects: vec!["issuer:sub".into()],
            method: AuthMethod::Jwt,
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000)),
            audiences: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            payload(
                &auth,
                ACTIONS[0],
                br#"{"announcement":{"whenDeleted":true}}"#
            )
            .unwrap(),
            json!({"subjectIds": ["integration:{{policy-entry:label}}:a", "integration:{{policy-entry:label}}:b"],
                "expiry": "2033-05-18T03:33:20Z", "announcement": {"whenDeleted": true}})
        );
        assert_eq!(
            payload(&auth, ACTIONS[1], b"").unwrap(),
            json!({"subjectIds": ["integration:{{policy-entry:label}}:a", "integration:{{policy-entry:label}}:b"]})
        );
        let no_aud = AuthContext {
            audiences: Vec::new(),
            expires_at: Some(SystemTime::now()),
            ..auth
        };
        assert!(payload(&no_aud, ACTIONS[0], b"").is_err());
    }
}
