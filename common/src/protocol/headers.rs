//! Ditto Protocol headers: a JSON object whose keys are matched case-insensitively but written back
//! with the spelling the sender used (Ditto's `protocol-specification.md`; the official JS client sends
//! `Content-Type` with capitals).

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::fmt;

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
        self.entries
            .iter()
            .map(|(k, v)| {
                k.len()
                    + match v {
                        Value::String(s) => s.len(),
                        other => other.to_string().len(),
                    }
            })
            .sum()
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
                let mut headers = Headers::new();
                while let Some((k, v)) = access.next_entry::<String, Value>()? {
                    headers.insert(k, v);
                }
                Ok(headers)
            }
        }
        deserializer.deserialize_map(HeadersVisitor)
    }
}

impl FromIterator<(String, Value)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut h = Headers::new();
        for (k, v) in iter {
            h.insert(k, v);
        }
        h
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
