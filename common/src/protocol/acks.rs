//! Acknowledgements (reference §7): labels, the `requested-acks` / `declared-acks` header forms, and
//! the aggregated response Ditto sends when more than its built-in acknowledgement was asked for.

use super::headers::{names, Headers};
use super::{Envelope, Topic};
use serde_json::{json, Map, Value};

pub const TWIN_PERSISTED: &str = "twin-persisted";
pub const LIVE_RESPONSE: &str = "live-response";
pub const SEARCH_PERSISTED: &str = "search-persisted";

/// Labels the cluster itself issues; sessions cannot declare them.
pub fn is_built_in(label: &str) -> bool {
    matches!(label, TWIN_PERSISTED | LIVE_RESPONSE | SEARCH_PERSISTED)
}

/// Ditto's label rule: `[a-zA-Z0-9-_:]{3,100}`.
pub fn is_valid_label(label: &str) -> bool {
    (3..=100).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':')
}

/// Reads a labels header given as a JSON array or a comma-separated string (Ditto accepts both).
pub fn parse_labels(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with('[') {
                serde_json::from_str::<Vec<String>>(t).unwrap_or_default()
            } else {
                t.split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
        }
        _ => Vec::new(),
    }
}

/// The labels a signal requests; absent means Ditto's default (`twin-persisted` for twin changes).
pub fn requested(headers: &Headers) -> Option<Vec<String>> {
    headers.get(names::REQUESTED_ACKS).map(parse_labels)
}

/// The labels that need somebody other than the hub: what aggregation waits for.
pub fn custom(labels: &[String]) -> Vec<String> {
    labels.iter().filter(|l| !is_built_in(l)).cloned().collect()
}

/// One received acknowledgement, as it appears inside an aggregated response.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub status: u16,
    pub payload: Option<Value>,
    pub headers: Headers,
}

impl Ack {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status));
        if let Some(p) = &self.payload {
            m.insert("payload".into(), p.clone());
        }
        if !self.headers.is_empty() {
            m.insert(
                "headers".into(),
                serde_json::to_value(&self.headers).unwrap_or(Value::Null),
            );
        }
        Value::Object(m)
    }
}

/// The aggregated answer (`…/things/{channel}/acks`): each label's entry, and as status the single
/// entry's, or 200 when all succeeded, or 424 (failed dependency) when any did not.
pub fn aggregate(about: &Topic, headers: Headers, acks: &[(String, Ack)]) -> Envelope {
    let status = match acks {
        [(_, only)] => only.status,
        _ if acks.iter().all(|(_, a)| (200..300).contains(&a.status)) => 200,
        _ => 424,
    };
    let value: Map<String, Value> = acks.iter().map(|(l, a)| (l.clone(), a.to_json())).collect();
    let channel = about.channel.map(|c| c.as_str()).unwrap_or("twin");
    Envelope {
        topic: format!("{}/{}/things/{channel}/acks", about.namespace, about.name),
        headers,
        path: "/".into(),
        value: Some(Value::Object(value)),
        status: Some(status),
        ..Default::default()
    }
}

/// A weak acknowledgement (Ditto issues them for subscribers that declared a requested label but
/// filtered the signal out): status 200 and `ditto-weak-ack: true`.
pub fn weak(about: &Topic, label: &str, correlation_id: &str) -> Envelope {
    let mut h = Headers::new();
    h.insert(names::CORRELATION_ID, correlation_id.to_owned());
    h.insert(names::DITTO_WEAK_ACK, true);
    let channel = about.channel.map(|c| c.as_str()).unwrap_or("twin");
    Envelope {
        topic: format!(
            "{}/{}/things/{channel}/acks/{label}",
            about.namespace, about.name
        ),
        headers: h,
        path: "/".into(),
        status: Some(200),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_dittos_rule_and_both_header_forms_parse() {
        for ok in ["abc", "my-custom:ack_1", &"a".repeat(100)] {
            assert!(is_valid_label(ok), "{ok}");
        }
        for bad in ["ab", "with space", "slash/x", &"a".repeat(101)] {
            assert!(!is_valid_label(bad), "{bad}");
        }
        assert_eq!(parse_labels(&json!(["a-1", "b-2"])), vec!["a-1", "b-2"]);
        assert_eq!(parse_labels(&json!("a-1, b-2")), vec!["a-1", "b-2"]);
        assert_eq!(parse_labels(&json!("[\"a-1\"]")), vec!["a-1"]);
        assert_eq!(
            custom(&["twin-persisted".into(), "mine".into()]),
            vec!["mine"]
        );
    }

    #[test]
    fn aggregated_status_is_the_single_status_or_200_or_424() {
        let t = Topic::parse("a/b/things/twin/commands/modify").unwrap();
        let ok = |s| Ack {
            status: s,
            payload: None,
            headers: Headers::new(),
        };
        assert_eq!(
            aggregate(&t, Headers::new(), &[("x".into(), ok(202))]).status,
            Some(202)
        );
        assert_eq!(
            aggregate(
                &t,
                Headers::new(),
                &[("x".into(), ok(204)), ("y".into(), ok(200))]
            )
            .status,
            Some(200)
        );
        let e = aggregate(
            &t,
            Headers::new(),
            &[("x".into(), ok(204)), ("y".into(), ok(408))],
        );
        assert_eq!(e.status, Some(424));
        assert_eq!(e.topic, "a/b/things/twin/acks");
        assert_eq!(e.value.unwrap()["y"], json!({"status": 408}));
    }
}
