//! One shape for every stream entry on the bus: a list of field/value strings. Each wire format
//! (commands, deliveries, subscription changes, journal entries, policy updates) implements
//! [`StreamEntry`], encoding to the pairs `XADD` takes and decoding from [`Fields`]; and Redis's
//! stream replies are turned into entries and fields here, once, for every reader.

use redis::streams::{StreamId, StreamReadReply};
use std::collections::HashMap;
use std::str::FromStr;

/// Why an entry (or a stored record) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bus entry: {0}")]
pub struct DecodeError(pub String);

impl DecodeError {
    pub fn new(what: impl Into<String>) -> DecodeError {
        DecodeError(what.into())
    }
}

/// A format carried as the fields of a stream entry.
pub trait StreamEntry: Sized {
    /// The entry's field/value pairs, in the order `XADD` writes them.
    fn to_fields(&self) -> Vec<(String, String)>;

    fn from_fields(fields: &Fields) -> Result<Self, DecodeError>;

    /// Decodes an entry as Redis returned it.
    fn decode(entry: &StreamId) -> Result<Self, DecodeError> {
        Self::from_fields(&Fields::of(entry))
    }
}

/// The fields of one stream entry, by name. Values that are not strings (never written by the
/// bus) are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    pub fn of(entry: &StreamId) -> Fields {
        entry
            .map
            .iter()
            .filter_map(|(k, v)| match v {
                redis::Value::BulkString(b) => std::str::from_utf8(b)
                    .ok()
                    .map(|s| (k.clone(), s.to_owned())),
                redis::Value::SimpleString(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field the format cannot do without.
    pub fn require(&self, name: &str) -> Result<&str, DecodeError> {
        self.get(name)
            .ok_or_else(|| DecodeError(format!("missing field {name}")))
    }

    /// An optional field parsed as `T`; present but unparsable is an error.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, DecodeError> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| DecodeError(format!("field {name}: {v:?}")))
            })
            .transpose()
    }

    /// A field the format cannot do without, parsed as `T`.
    pub fn require_parsed<T: FromStr>(&self, name: &str) -> Result<T, DecodeError> {
        self.parse(name)?
            .ok_or_else(|| DecodeError(format!("missing field {name}")))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Fields {
        Fields(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// The entries of an `XREAD`/`XREADGROUP` reply, over all its streams, in order (`None`: the
/// read timed out with nothing new).
pub fn entries(reply: Option<StreamReadReply>) -> Vec<StreamId> {
    reply
        .map(|r| r.keys)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|k| k.ids)
        .collect()
}

/// A single field of an entry whose format is one JSON document (commands, journal entries).
pub(crate) fn json_field<T: serde::de::DeserializeOwned>(
    fields: &Fields,
    name: &str,
) -> Result<T, DecodeError> {
    serde_json::from_str(fields.require(name)?)
        .map_err(|e| DecodeError(format!("field {name}: {e}")))
}

/// Plain data of strings and numbers always serializes.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("bus data serializes")
}
