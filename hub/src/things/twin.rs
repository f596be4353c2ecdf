//! A twin as the hub keeps it: the thing JSON plus the metadata Ditto exposes as `_revision`,
//! `_created` and `_modified`, and its stored form in Redis.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Twin {
    /// The thing JSON: thingId, policyId, definition, attributes, features.
    #[serde(rename = "t")]
    pub thing: Value,
    #[serde(rename = "r")]
    pub revision: i64,
    #[serde(rename = "c")]
    pub created: String,
    #[serde(rename = "m")]
    pub modified: String,
}

impl Twin {
    pub fn to_stored(&self) -> String {
        // Plain JSON data always serializes.
        serde_json::to_string(self).expect("twin serializes")
    }

    pub fn from_stored(s: &str) -> Result<Twin, serde_json::Error> {
        serde_json::from_str(s)
    }

    pub fn policy_id(&self) -> Option<&str> {
        self.thing.get("policyId").and_then(Value::as_str)
    }

    pub fn thing_id(&self) -> Option<&str> {
        self.thing.get("thingId").and_then(Value::as_str)
    }

    /// Ditto's entity tag of the thing: `"rev:<revision>"`.
    pub fn etag(&self) -> String {
        format!("\"rev:{}\"", self.revision)
    }

    /// The thing JSON with the special fields a field selector may ask for (`_revision`,
    /// `_created`, `_modified`, `_namespace`), which Ditto never returns unless selected.
    pub fn with_special_fields(&self) -> Value {
        let mut m = match &self.thing {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let ns = self
            .thing_id()
            .and_then(|id| id.split_once(':'))
            .map(|(ns, _)| ns.to_owned())
            .unwrap_or_default();
        m.insert("_namespace".into(), Value::String(ns));
        m.insert("_revision".into(), Value::from(self.revision));
        m.insert("_created".into(), Value::String(self.created.clone()));
        m.insert("_modified".into(), Value::String(self.modified.clone()));
        Value::Object(m)
    }

    /// Size of the thing as Ditto measures it for its 100 kB limit: characters of the compact JSON.
    pub fn char_size(thing: &Value) -> usize {
        serde_json::to_string(thing)
            .map(|s| s.chars().count())
            .unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_form_round_trips_and_etag_names_the_revision() {
        let t = Twin {
            thing: json!({"thingId": "a:b", "policyId": "a:b"}),
            revision: 3,
            created: "c".into(),
            modified: "m".into(),
        };
        assert_eq!(Twin::from_stored(&t.to_stored()).unwrap(), t);
        assert_eq!(t.etag(), "\"rev:3\"");
        assert_eq!(t.policy_id(), Some("a:b"));
        let s = t.with_special_fields();
        assert_eq!(s["_namespace"], "a");
        assert_eq!(s["_revision"], 3);
    }
}
