//! Ditto Protocol headers: a JSON object whose keys are matched case-insensitively but written back
//! with the spelling the sender used (Ditto's `protocol-specification.md`; the official JS client sends
//! `Content-Type` with capitals).
//!
//! Headers from a client are bounded in count and bytes ([`Headers::from_client`]) before any
//! per-header work, and every way of building a header map is linear in the number of headers.

use crate::error::Error;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// Ditto's limit on the headers of one signal (`ditto-limits.conf`, 5 kB), as [`Headers::byte_size`]
/// counts them.
pub const MAX_HEADER_BYTES: usize = 5 * 1024;

/// The most headers one signal may carry. Ditto bounds only their bytes, but an empty name with an
/// empty value counts no bytes, so the count needs a bound of its own; real clients send a handful.
pub const MAX_HEADER_COUNT: usize = 100;

/// Up to this many entries, a duplicate is looked for by a scan; above it, through an index.
const SCAN_LIMIT: usize = 16;

/// Well-known header names, lower case.
pub mod names {
    pub const CORRELATION_ID: &str = "correlation-id";
    pub const CONTENT_TYPE: &str = "content-type";
    pub const VERSION: &str = "version";
    pub const RESPONSE_REQUIRED: &str = "response-required";
    pub const REQUESTED_ACKS: &str = "requested-acks";
    pub const DECLARED_ACKS: &str = "declared-acks";
    pub const TIMEOUT: &str = "timeout";
    pub const IF_MATCH: &str = "if-match";
    pub const IF_NONE_MATCH: &str = "if-none-match";
    pub const ETAG: &str = "etag";
    pub const ENTITY_REVISION: &str = "entity-revision";
    pub const CHANNEL: &str = "channel";
    pub const DITTO_ORIGINATOR: &str = "ditto-originator";
    pub const DITTO_WEAK_ACK: &str = "ditto-weak-ack";
    /// The gateway's marker of a policy action (`activateTokenIntegration`, …) sent as a policies
    /// command; internal, so clients cannot set it.
    pub const POLICY_ACTION: &str = "ditto-internal-policy-action";
}

/// Headers that only Ditto's cluster may set; they are dropped from client input so a client can
/// never smuggle authorization data (Ditto marks them "not readable from external").
const INTERNAL_PREFIXES: &[&str] = &[
    "ditto-read-subjects",
    "ditto-auth",
    "ditto-origin",
    "ditto-partial",
    "ditto-internal",
];

/// Case-insensitive, case-preserving header map. Small (a handful of entries), so a vector with a
/// linear scan beats hashing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    entries: Vec<(String, Value)>,
}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).map(|i| &self.entries[i].1)
    }

    /// The header as a string: strings as they are, other JSON scalars in their JSON form
    /// (`version: 2` reads as "2").
    pub fn get_str(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        match self.get(name)? {
            Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
            Value::Null => None,
            other => Some(std::borrow::Cow::Owned(other.to_string())),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Sets a header, keeping the existing key's spelling when one matches case-insensitively.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        match self.position(&name) {
            Some(i) => self.entries[i].1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// Sets a header the server defines (content-type, etag, ...) under its canonical lower-case
    /// name, replacing any differently cased one the client sent.
    pub fn set(&mut self, name: &'static str, value: impl Into<Value>) {
        self.remove(name);
        self.entries.push((name.to_owned(), value.into()));
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.position(name).map(|i| self.entries.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Removes every header that only the cluster itself may set.
    pub fn strip_internal(&mut self) {
        self.entries.retain(|(k, _)| {
            let lower = k.to_ascii_lowercase();
            !INTERNAL_PREFIXES.iter().any(|p| lower.starts_with(p))
        });
    }

    pub fn correlation_id(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.get_str(names::CORRELATION_ID)
    }

    /// `response-required`, default true (Ditto). Accepts the JSON boolean or its string form.
    pub fn response_required(&self) -> bool {
        match self.get(names::RESPONSE_REQUIRED) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
            _ => true,
        }
    }

    /// Approximate serialized size, for Ditto's 5 kB header limit.
    pub fn byte_size(&self) -> usize {
        self.entries.iter().map(|(k, v)| entry_size(k, v)).sum()
    }

    /// Headers from a client's frame, refused over [`MAX_HEADER_COUNT`] or [`MAX_HEADER_BYTES`]
    /// (431 `headers.too.large`) before any per-header work. A refusal comes with the sender's
    /// correlation-id alone, so the error frame can still be matched to its request without echoing
    /// what was too large.
    pub fn from_client(map: Map<String, Value>) -> Result<Headers, (Error, Headers)> {
        let refuse = |error: Error, map: &Map<String, Value>| {
            let mut h = Headers::new();
            if let Some((k, v)) = map
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(names::CORRELATION_ID))
            {
                h.insert(k.clone(), v.clone());
            }
            (error, h)
        };
        if map.len() > MAX_HEADER_COUNT {
            let e = Error::HeadersTooMany {
                count: map.len(),
                max: MAX_HEADER_COUNT,
            };
            return Err(refuse(e, &map));
        }
        let mut size = 0usize;
        for (k, v) in &map {
            size += entry_size(k, v);
        }
        if size > MAX_HEADER_BYTES {
            let e = Error::HeadersTooLarge {
                size,
                max: MAX_HEADER_BYTES,
            };
            return Err(refuse(e, &map));
        }
        Ok(map.into_iter().collect())
    }

    /// Headers for a response or event derived from a command's headers: everything the client sent
    /// except what Ditto never writes back out (`writeToExternal=false` in `DittoHeaderDefinition`).
    pub fn for_response(&self) -> Headers {
        const NOT_ECHOED: &[&str] = &[
            names::IF_MATCH,
            names::IF_NONE_MATCH,
            "if-equal",
            "accept",
            "authorization",
            "condition",
            "live-channel-condition",
            "put-metadata",
            "get-metadata",
            "delete-metadata",
            "declared-acks",
            "allow-policy-lockout",
        ];
        let mut h = self.clone();
        h.entries
            .retain(|(k, _)| !NOT_ECHOED.iter().any(|n| k.eq_ignore_ascii_case(n)));
        h
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of headers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Headers, A::Error> {
                let mut builder = Builder::default();
                while let Some((k, v)) = access.next_entry::<String, Value>()? {
                    builder.insert(k, v);
                }
                Ok(builder.headers)
            }
        }
        deserializer.deserialize_map(HeadersVisitor)
    }
}

impl FromIterator<(String, Value)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut builder = Builder::default();
        for (k, v) in iter {
            builder.insert(k, v);
        }
        builder.headers
    }
}

/// Builds a header map with [`Headers::insert`]'s meaning in time linear in the number of entries:
/// past [`SCAN_LIMIT`] entries, duplicates are found through an index of lower-cased names instead
/// of a scan per insert (which made a frame with tens of thousands of headers take seconds).
#[derive(Default)]
struct Builder {
    headers: Headers,
    index: Option<HashMap<String, usize>>,
}

impl Builder {
    fn insert(&mut self, name: String, value: Value) {
        let entries = &mut self.headers.entries;
        if self.index.is_none() && entries.len() >= SCAN_LIMIT {
            let mut index = HashMap::with_capacity(entries.len() * 2);
            for (i, (k, _)) in entries.iter().enumerate() {
                index.insert(k.to_ascii_lowercase(), i);
            }
            self.index = Some(index);
        }
        match &mut self.index {
            None => self.headers.insert(name, value),
            Some(index) => match index.entry(name.to_ascii_lowercase()) {
                std::collections::hash_map::Entry::Occupied(e) => entries[*e.get()].1 = value,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(entries.len());
                    entries.push((name, value));
                }
            },
        }
    }
}

/// One header's share of [`Headers::byte_size`]: name and value, the value as its JSON text unless
/// it is a string. Counted without building the text, so a huge value costs no allocation.
fn entry_size(name: &str, value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    name.len()
        + match value {
            Value::String(s) => s.len(),
            other => {
                let mut count = Count(0);
                // Writing JSON to a counter cannot fail.
                let _ = serde_json::to_writer(&mut count, other);
                count.0
            }
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_ignores_case_and_output_keeps_the_senders_spelling() {
        let h: Headers =
            serde_json::from_value(json!({"Content-Type": "application/json", "version": 2}))
                .unwrap();
        assert_eq!(h.get_str("content-type").unwrap(), "application/json");
        assert_eq!(h.get_str("VERSION").unwrap(), "2");
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"Content-Type": "application/json", "version": 2})
        );
    }

    #[test]
    fn insert_replaces_a_differently_cased_key_in_place() {
        let mut h: Headers =
            serde_json::from_value(json!({"Correlation-Id": "a", "x": "1"})).unwrap();
        h.insert("correlation-id", "b");
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"Correlation-Id":"b","x":"1"}"#
        );
    }

    #[test]
    fn response_required_defaults_to_true_and_reads_strings() {
        let table = [
            (json!({}), true),
            (json!({"response-required": false}), false),
            (json!({"Response-Required": "false"}), false),
            (json!({"response-required": "true"}), true),
            (json!({"response-required": true}), true),
        ];
        for (input, expected) in table {
            let h: Headers = serde_json::from_value(input.clone()).unwrap();
            assert_eq!(h.response_required(), expected, "{input}");
        }
    }

    fn client(value: Value) -> Result<Headers, (Error, Headers)> {
        match value {
            Value::Object(map) => Headers::from_client(map),
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn many_headers_build_in_linear_time_with_inserts_meaning() {
        let mut map = Map::new();
        for i in 0..50_000 {
            map.insert(format!("X-H{i}"), json!(i));
        }
        map.insert("x-h7".into(), json!("last"));
        let started = std::time::Instant::now();
        let h: Headers = map.into_iter().collect();
        // The quadratic build took seconds in a debug build; only a stall is caught here.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(h.len(), 50_000);
        assert_eq!(h.get_str("X-H7").unwrap(), "last");
        assert_eq!(h.iter().nth(7).map(|(k, _)| k), Some("X-H7"));
        let parsed: Headers = serde_json::from_str(r#"{"A":1,"b":2,"a":3,"B":4}"#).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#"{"A":3,"b":4}"#);
    }

    #[test]
    fn client_headers_at_ten_times_the_limits_are_refused_keeping_the_correlation_id() {
        let mut many = serde_json::Map::new();
        many.insert("Correlation-Id".into(), json!("c-many"));
        for i in 0..10 * MAX_HEADER_COUNT {
            many.insert(format!("h{i}"), json!(""));
        }
        let (e, h) = client(Value::Object(many)).unwrap_err();
        assert_eq!(
            e,
            Error::HeadersTooMany {
                count: 10 * MAX_HEADER_COUNT + 1,
                max: MAX_HEADER_COUNT
            }
        );
        assert_eq!(e.to_ditto().status, 431);
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"Correlation-Id": "c-many"})
        );

        let big =
            json!({"correlation-id": "c-big", "x": {"deep": vec!["y"; 10 * MAX_HEADER_BYTES]}});
        let (e, h) = client(big).unwrap_err();
        assert!(
            matches!(
                e,
                Error::HeadersTooLarge {
                    max: MAX_HEADER_BYTES,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(h.correlation_id().unwrap(), "c-big");

        let mut at_limit = serde_json::Map::new();
        for i in 0..MAX_HEADER_COUNT {
            at_limit.insert(format!("h{i}"), json!(1));
        }
        assert_eq!(
            client(Value::Object(at_limit)).map(|h| h.len()),
            Ok(MAX_HEADER_COUNT)
        );
    }

    #[test]
    fn byte_size_counts_names_and_values_as_json_text() {
        let h: Headers = serde_json::from_value(json!({"ab": "cd", "n": [1, 2]})).unwrap();
        assert_eq!(h.byte_size(), 2 + 2 + 1 + 5);
    }

    #[test]
    fn internal_headers_are_stripped_from_client_input() {
        let mut h: Headers = serde_json::from_value(
            json!({"ditto-read-subjects": ["x"], "Ditto-Origin": "y", "correlation-id": "c"}),
        )
        .unwrap();
        h.strip_internal();
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"correlation-id": "c"})
        );
    }
}
