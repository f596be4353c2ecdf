//! The Ditto Protocol as the WebSocket binding speaks it: envelope, headers, topic paths, the
//! plain-text control frames, and how errors become frames.

pub mod acks;
pub mod control;
pub mod envelope;
pub mod headers;
pub mod topic;

pub use control::{parse_control, Control, StartParams, StreamingKind};
pub use envelope::{Envelope, EnvelopeError};
pub use headers::Headers;
pub use topic::{Action, Channel, Criterion, Group, Topic};

use crate::error::Error;

/// Namespace and name used in error topics when the failing message named no entity
/// (Ditto's `ThingErrorResponse` fallback id `unknown:unknown`, reference §1.5).
pub const UNKNOWN_ENTITY: (&str, &str) = ("unknown", "unknown");

/// An error response frame (reference §3.4): topic `{ns}/{name}/things/{channel}/errors` (or
/// `…/policies/errors`), path `/`, the error as value and its status on top. Ditto forces
/// `content-type: application/json` on every error's headers.
pub fn error_envelope(error: &Error, about: Option<&Topic>, mut headers: Headers) -> Envelope {
    headers.set(headers::names::CONTENT_TYPE, "application/json");
    // Ditto's conditional-header errors carry the entity's current tag (`appendETagIfNotNull`),
    // so a 304 tells the client what it still has.
    if let Error::PreconditionNotModified { actual, .. }
    | Error::PreconditionFailed { actual, .. } = error
    {
        if !actual.is_empty() {
            headers.set(headers::names::ETAG, actual.clone());
        }
    }
    let topic = match about {
        Some(t) => Topic::errors(&t.namespace, &t.name, t.group, t.channel),
        None => Topic::errors(UNKNOWN_ENTITY.0, UNKNOWN_ENTITY.1, Group::Things, None),
    };
    let ditto = error.to_ditto();
    Envelope {
        topic: topic.to_string(),
        headers,
        path: "/".into(),
        value: Some(ditto.to_json()),
        status: Some(ditto.status),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_without_an_entity_use_the_unknown_topic() {
        let e = error_envelope(
            &Error::JsonNotParsable("HELLO".into()),
            None,
            Headers::new(),
        );
        let v: serde_json::Value = serde_json::from_str(&e.to_json_string()).unwrap();
        assert_eq!(
            v,
            json!({"topic":"unknown/unknown/things/twin/errors","headers":{"content-type":"application/json"},"path":"/","value":{"status":400,"error":"json.invalid",
                "message":"Failed to parse JSON string 'HELLO'!",
                "description":"Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."},"status":400})
        );
    }

    #[test]
    fn errors_about_a_live_thing_signal_keep_the_live_channel() {
        let t = Topic::parse("org.x/y/things/live/messages/ask").unwrap();
        let mut h = Headers::new();
        h.insert("correlation-id", "c");
        let e = error_envelope(&Error::ThingNotFound("org.x:y".into()), Some(&t), h);
        assert_eq!(e.topic, "org.x/y/things/live/errors");
        assert_eq!(e.headers.correlation_id().unwrap(), "c");
        assert_eq!(e.status, Some(404));
    }
}
