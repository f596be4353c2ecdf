//! The Ditto Protocol envelope (reference §3.1): the JSON object every non-control WebSocket frame
//! carries. Parsing happens exactly once per frame, into a `serde_json::Value` whose parts are then
//! moved (not copied) into the envelope, and failures become the error frames of reference §2.6.

use super::headers::Headers;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest excerpt of an unparsable frame echoed back in `json.invalid`: Ditto echoes the whole
/// string, which would let one client make the gateway reflect megabytes; a prefix identifies it.
const ECHO_LIMIT: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Envelope {
    pub topic: String,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

fn excerpt(s: &str) -> String {
    if s.len() <= ECHO_LIMIT {
        return s.to_owned();
    }
    let mut end = ECHO_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// The result of parsing a frame that failed after its headers were read: the error keeps the
/// headers so the error frame can carry the sender's correlation-id (reference §2.6).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeError {
    pub error: Error,
    pub headers: Headers,
}

impl From<Error> for EnvelopeError {
    fn from(error: Error) -> Self {
        EnvelopeError {
            error,
            headers: Headers::new(),
        }
    }
}

impl Envelope {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        if text.trim().is_empty() {
            return Err(Error::JsonEmpty.into());
        }
        let value: Value =
            serde_json::from_str(text).map_err(|_| Error::JsonNotParsable(excerpt(text)))?;
        match value {
            Value::Object(map) => Envelope::from_map(map),
            _ => Err(Error::JsonNotAnObject(excerpt(text)).into()),
        }
    }

    /// Builds an envelope from an already parsed JSON object.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Envelope, EnvelopeError> {
        // Headers first, so that every later failure can still answer with the correlation-id.
        let headers = match map.remove("headers") {
            None | Some(Value::Null) => Headers::new(),
            Some(Value::Object(h)) => Headers::from_client(h)
                .map_err(|(error, headers)| EnvelopeError { error, headers })?,
            Some(other) => {
                return Err(Error::JsonFieldWrongType {
                    field: "headers",
                    value: other.to_string(),
                    expected: "JsonObject",
                }
                .into())
            }
        };
        let fail = |error: Error, headers: &Headers| EnvelopeError {
            error,
            headers: headers.clone(),
        };
        let topic = match map.remove("topic") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => {
                return Err(fail(Error::JsonFieldMissing("topic"), &headers))
            }
            Some(other) => {
                return Err(fail(
                    Error::JsonFieldWrongType {
                        field: "topic",
                        value: other.to_string(),
                        expected: "String",
                    },
                    &headers,
                ))
            }
        };
        let path = match map.remove("path") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => {
                return Err(fail(Error::JsonFieldMissing("path"), &headers))
            }
            Some(other) => {
                return Err(fail(
                    Error::JsonFieldWrongType {
                        field: "path",
                        value: other.to_string(),
                        expected: "String",
                    },
                    &headers,
                ))
            }
        };
        // Both are split and walked later; bound them first (the topic in Topic::parse).
        if let Err(e) = crate::things::Pointer::check_limits(&path) {
            return Err(fail(e, &headers));
        }
        let status = match map.remove("status") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|s| (100..=599).contains(&s)) => {
                n.as_u64().map(|s| s as u16)
            }
            Some(other) => {
                return Err(fail(
                    Error::JsonFieldWrongType {
                        field: "status",
                        value: other.to_string(),
                        expected: "HTTP status code",
                    },
                    &headers,
                ))
            }
        };
        let revision = match map.remove("revision") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(other) => {
                return Err(fail(
                    Error::JsonFieldWrongType {
                        field: "revision",
                        value: other.to_string(),
                        expected: "long",
                    },
                    &headers,
                ))
            }
        };
        let timestamp = match map.remove("timestamp") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(fail(
                    Error::JsonFieldWrongType {
                        field: "timestamp",
                        value: other.to_string(),
                        expected: "String",
                    },
                    &headers,
                ))
            }
        };
        let fields = match map.remove("fields") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(fail(
                    Error::JsonFieldWrongType {
                        field: "fields",
                        value: other.to_string(),
                        expected: "String",
                    },
                    &headers,
                ))
            }
        };
        let extra = match map.remove("extra") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v),
            Some(other) => {
                return Err(fail(
                    Error::JsonFieldWrongType {
                        field: "extra",
                        value: other.to_string(),
                        expected: "JsonObject",
                    },
                    &headers,
                ))
            }
        };
        Ok(Envelope {
            topic,
            headers,
            path,
            value: map.remove("value"),
            extra,
            status,
            revision,
            timestamp,
            fields,
            metadata: map.remove("metadata"),
        })
    }

    /// The presence of `status` is what makes a message a response (Ditto `DefaultAdapterResolver`).
    pub fn is_response(&self) -> bool {
        self.status.is_some()
    }

    pub fn to_json_string(&self) -> String {
        // Serializing plain data into a String cannot fail.
        serde_json::to_string(self).expect("envelope serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn js_client_create_frame_parses_with_capitalised_content_type() {
        let frame = r#"{"topic":"org.example/demo-thing/things/twin/commands/create","headers":{"version":2,"Content-Type":"application/json","correlation-id":"43506ddc"},"path":"/","value":{"thingId":"org.example:demo-thing"}}"#;
        let e = Envelope::parse(frame).unwrap();
        assert_eq!(
            e.topic,
            "org.example/demo-thing/things/twin/commands/create"
        );
        assert_eq!(
            e.headers.get_str("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(e.headers.correlation_id().unwrap(), "43506ddc");
        assert_eq!(e.value, Some(json!({"thingId": "org.example:demo-thing"})));
        assert!(!e.is_response());
    }

    #[test]
    fn bad_frames_map_to_dittos_errors_and_keep_the_correlation_id_when_headers_parsed() {
        let table: Vec<(&str, Error, Option<&str>)> = vec![
            ("HELLO", Error::JsonNotParsable("HELLO".into()), None),
            ("", Error::JsonEmpty, None),
            ("[1,2]", Error::JsonNotAnObject("[1,2]".into()), None),
            (
                r#"{"path":"/","headers":{"correlation-id":"c1"}}"#,
                Error::JsonFieldMissing("topic"),
                Some("c1"),
            ),
            (
                r#"{"topic":"a/b/things/twin/commands/retrieve","headers":{"correlation-id":"c2"}}"#,
                Error::JsonFieldMissing("path"),
                Some("c2"),
            ),
        ];
        for (frame, error, cid) in table {
            let e = Envelope::parse(frame).unwrap_err();
            assert_eq!(e.error, error, "{frame}");
            assert_eq!(e.headers.correlation_id().as_deref(), cid, "{frame}");
        }
    }

    #[test]
    fn a_status_outside_http_range_is_rejected() {
        let e = Envelope::parse(
            r#"{"topic":"a/b/things/twin/commands/retrieve","path":"/","status":42}"#,
        )
        .unwrap_err();
        assert!(matches!(
            e.error,
            Error::JsonFieldWrongType {
                field: "status",
                ..
            }
        ));
    }

    #[test]
    fn serialization_omits_absent_fields() {
        let e = Envelope {
            topic: "t".into(),
            path: "/".into(),
            status: Some(204),
            ..Default::default()
        };
        assert_eq!(
            e.to_json_string(),
            r#"{"topic":"t","path":"/","status":204}"#
        );
    }

    #[test]
    fn a_path_at_ten_times_the_pointer_limit_is_refused_with_the_correlation_id() {
        let frame = json!({"topic": "a/b/things/twin/commands/modify", "headers": {"correlation-id": "c-p"},
            "path": "/attributes".to_owned() + &"/a".repeat(10 * crate::things::pointer::MAX_POINTER_SEGMENTS),
            "value": 1});
        let e = Envelope::parse(&frame.to_string()).unwrap_err();
        assert_eq!(e.error.to_ditto().error, "json.pointer.invalid");
        assert_eq!(
            e.error.to_string(),
            "The JSON pointer exceeds the limit of 64 segments."
        );
        assert_eq!(e.headers.correlation_id().unwrap(), "c-p");
    }

    #[test]
    fn unparsable_frames_are_echoed_only_in_part() {
        let long = "x".repeat(5000);
        match Envelope::parse(&long).unwrap_err().error {
            Error::JsonNotParsable(s) => assert_eq!(s.len(), ECHO_LIMIT + 3),
            other => panic!("{other:?}"),
        }
    }
}
