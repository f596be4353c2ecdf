//! A subject of a policy entry (`ImmutableSubject`): its id, type, expiry and announcement, parsed and
//! serialized as Ditto does.

use super::ids::{self};
use super::json::{as_object, opt_object, opt_string, Rules, STRICT};
use crate::error::DittoError;
use serde_json::{json, Map, Value};

/// A subject of an entry: `{"type": "...", "expiry"?: ISO-8601, "announcement"?: {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub(super) id: String,
    pub(super) subject_type: String,
    pub(super) expiry: Option<String>,
    pub(super) announcement: Option<Value>,
}

impl Subject {
    /// A subject as Ditto creates it implicitly (`Subject.newInstance(id)`: type `generated`).
    pub fn generated(id: &str) -> Subject {
        Subject::new(id, "generated")
    }

    pub fn new(id: &str, subject_type: &str) -> Subject {
        Subject {
            id: id.to_owned(),
            subject_type: subject_type.to_owned(),
            expiry: None,
            announcement: None,
        }
    }

    /// Parses one subject (`ImmutableSubject.fromJson`); `id` is its key in the `subjects` object.
    pub fn from_json(id: &str, value: &Value) -> Result<Subject, DittoError> {
        Subject::parse(id, value, STRICT)
    }

    pub(super) fn parse(id: &str, value: &Value, rules: Rules) -> Result<Subject, DittoError> {
        let obj = as_object(value)?;
        let subject_type = opt_string(obj, "type")?.ok_or_else(|| {
            DittoError::json_field_missing_message(
                "The 'type' for the 'subject' is missing.".into(),
            )
        })?;
        let expiry = opt_string(obj, "expiry")?
            .map(normalize_expiry)
            .transpose()?;
        let announcement = opt_object(obj, "announcement")?.map(|m| Value::Object(m.clone()));
        ids::validate_subject_id(id, rules.require_issuer)?;
        Ok(Subject {
            id: id.to_owned(),
            subject_type: subject_type.to_owned(),
            expiry,
            announcement,
        })
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.subject_type));
        if let Some(e) = &self.expiry {
            m.insert("expiry".into(), json!(e));
        }
        if let Some(a) = &self.announcement {
            m.insert("announcement".into(), a.clone());
        }
        Value::Object(m)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn subject_type(&self) -> &str {
        &self.subject_type
    }

    /// The expiry as Ditto prints an `Instant` (UTC, `Z`). Rounding it up to the configured granularity
    /// and rejecting past timestamps are the policies service's job, not the model's.
    pub fn expiry(&self) -> Option<&str> {
        self.expiry.as_deref()
    }

    pub fn announcement(&self) -> Option<&Value> {
        self.announcement.as_ref()
    }
}

/// `Instant.parse` accepts ISO-8601 instants; `Instant.toString` prints them in UTC with `Z` and 0, 3, 6
/// or 9 fraction digits.
pub(super) fn normalize_expiry(expiry: &str) -> Result<String, DittoError> {
    chrono::DateTime::parse_from_rfc3339(expiry)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .map_err(|_| DittoError::subject_expiry_invalid(expiry))
}
