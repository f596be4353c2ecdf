//! [`DittoError`]: a Ditto error as the wire carries it (status, code, message, description, href),
//! and its JSON. The catalogue that builds them by name is the rest of this module.

use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// A Ditto error as it travels on the wire: the `value` of an error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DittoError {
    pub status: u16,
    /// Ditto's error code, e.g. `policies:policy.notfound`.
    pub error: Cow<'static, str>,
    pub message: String,
    pub description: Option<String>,
    /// The documentation link Ditto adds to a few exceptions (`policies:id.invalid`).
    pub href: Option<&'static str>,
}

impl DittoError {
    /// For the error module's constructors only: everywhere else an error is built by name.
    pub(super) fn new(
        status: u16,
        code: &'static str,
        message: String,
        description: Option<&str>,
    ) -> DittoError {
        DittoError {
            status,
            error: Cow::Borrowed(code),
            message,
            description: description.map(str::to_owned),
            href: None,
        }
    }

    /// An error as another process sent it (the `value` of its error answer, with the answer's
    /// status), to pass on unchanged.
    pub fn from_wire(status: u16, value: &Value) -> Option<DittoError> {
        Some(DittoError {
            status,
            error: Cow::Owned(value.get("error")?.as_str()?.to_owned()),
            message: value.get("message")?.as_str()?.to_owned(),
            description: value
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            href: None,
        })
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status));
        m.insert("error".into(), json!(self.error));
        // Ditto leaves null fields out: an exception without message has no "message" key.
        if !self.message.is_empty() {
            m.insert("message".into(), json!(self.message));
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        if let Some(h) = self.href {
            m.insert("href".into(), json!(h));
        }
        Value::Object(m)
    }
}
