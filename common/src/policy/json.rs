//! Reading Ditto's policy JSON: the parse rules (strict for clients, lenient for v1 ACLs) and small
//! helpers mirroring Ditto's `JsonObject.getValue(fieldDefinition)`, shared by every part of the model.

use crate::error::DittoError;
use serde_json::{Map, Value};

/// Ditto skips this key wherever it iterates entries, subjects or resources (`JsonSchemaVersion.getJsonKey()`).
pub(super) const SCHEMA_VERSION_KEY: &str = "__schemaVersion";

/// How strictly names are checked while parsing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// Subject IDs need an `issuer:` prefix (policies from clients); v1 ACL subjects do not.
    pub(super) require_issuer: bool,
}

pub(super) const STRICT: Rules = Rules {
    require_issuer: true,
};
pub(super) const LENIENT: Rules = Rules {
    require_issuer: false,
};

// ---------------------------------------------------------------------------------------------------
// small JSON helpers mirroring Ditto's `JsonObject.getValue(fieldDefinition)`: absent and `null` read as
// absent, any other wrong type is `json.invalid` "Value <..> for </key> is not of type <..>!".

pub(super) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, DittoError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(v) => Err(DittoError::json_wrong_type(
            v,
            &format!("/{key}"),
            "JsonObject",
        )),
    }
}

pub(super) fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Vec<Value>>, DittoError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(v) => Err(DittoError::json_wrong_type(
            v,
            &format!("/{key}"),
            "JsonArray",
        )),
    }
}

pub(super) fn opt_string<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, DittoError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(DittoError::json_wrong_type(v, &format!("/{key}"), "String")),
    }
}

pub(super) fn as_object(value: &Value) -> Result<&Map<String, Value>, DittoError> {
    value
        .as_object()
        .ok_or_else(|| DittoError::not_an_object(value))
}
