//! Things search on the bus: the query a gateway sends on every shard's command stream (topic
//! [`QUERY_TOPIC`], the query as the envelope's `value`), what each shard owner answers, and the
//! order both sides sort results in (so a gateway merges shards' pages exactly as each shard cut
//! them).
//!
//! The index keys a shard owner keeps (all under the shard's hash tag, see [`super::Keys`]):
//! `sx:ids` (sorted set of the shard's thing ids), `sx:n:<path>` (numbers, score = value, member
//! = thing id), `sx:s:<path>` and `sx:b:<path>` (strings and booleans, score 0, member
//! `<value>\0<thingId>`, so a lexicographic range is a value range), `sx:e:<path>` (set of thing
//! ids with anything at the path), `sx:arr` (thing ids holding an array, whose values are not
//! indexed: they are candidates of every lookup) and `sx:built` (the shard's twins are all indexed:
//! set once a new owner indexed the twins written before the index existed).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

/// The internal topic of a search query on a shard's command stream (never a client's topic: the
/// gateway refuses search topics from clients other than `subscribe`/`request`/`cancel`).
pub const QUERY_TOPIC: &str = "_/_/things/twin/search/query";

/// One sort criterion: a field path and its direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortField {
    pub path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub desc: bool,
}

/// A search as a shard owner answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The RQL filter (`None`: every twin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Namespaces the things must be in (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// The order; the gateway always ends it with `+thingId`, so every key is unique.
    #[serde(default)]
    pub sort: Vec<SortField>,
    /// At most this many items (ignored for a count).
    #[serde(default)]
    pub size: usize,
    /// Only items whose sort key comes after this one (a cursor's last key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<Value>>,
    /// Count the matches instead of listing them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count: bool,
    /// Ditto's field selector for the items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
}

/// One result: its sort key (one value per sort field, `null` when missing or unreadable) and the
/// thing as the requester may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchItem {
    pub key: Vec<Value>,
    pub thing: Value,
}

/// A shard owner's answer to a [`SearchQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchAnswer {
    /// The first `size` items after `after`, in order.
    #[serde(default)]
    pub items: Vec<SearchItem>,
    /// Whether more matched than `items` holds.
    #[serde(default)]
    pub more: bool,
    /// For a count: how many matched.
    #[serde(default)]
    pub count: u64,
}

/// MongoDB's order of types, which Ditto's search sorts by: null, numbers, strings, objects,
/// arrays, booleans.
fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Object(_) => 3,
        Value::Array(_) => 4,
        Value::Bool(_) => 5,
    }
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => x
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&y.as_f64().unwrap_or(0.0)),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => type_rank(a)
            .cmp(&type_rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

/// The order of two sort keys under `sort`.
pub fn compare_keys(a: &[Value], b: &[Value], sort: &[SortField]) -> Ordering {
    for (i, field) in sort.iter().enumerate() {
        let null = Value::Null;
        let o = compare_values(a.get(i).unwrap_or(&null), b.get(i).unwrap_or(&null));
        let o = if field.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The sort key of `thing` (a requester's view with special fields) under `sort`.
pub fn key_of(thing: &Value, sort: &[SortField]) -> Vec<Value> {
    sort.iter()
        .map(|f| {
            thing
                .pointer(&format!("/{}", f.path))
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sort_by_type_then_value_with_descending_fields_reversed() {
        let sort = vec![
            SortField {
                path: "attributes/a".into(),
                desc: true,
            },
            SortField {
                path: "thingId".into(),
                desc: false,
            },
        ];
        let mut keys = vec![
            vec![json!(1), json!("x:b")],
            vec![json!(2), json!("x:a")],
            vec![json!(null), json!("x:c")],
            vec![json!("s"), json!("x:d")],
            vec![json!(1), json!("x:a")],
        ];
        keys.sort_by(|a, b| compare_keys(a, b, &sort));
        assert_eq!(
            keys,
            vec![
                vec![json!("s"), json!("x:d")],
                vec![json!(2), json!("x:a")],
                vec![json!(1), json!("x:a")],
                vec![json!(1), json!("x:b")],
                vec![json!(null), json!("x:c")],
            ]
        );
    }

    #[test]
    fn a_query_encodes_without_its_empty_parts() {
        let q = SearchQuery {
            filter: None,
            namespaces: vec![],
            sort: vec![SortField {
                path: "thingId".into(),
                desc: false,
            }],
            size: 25,
            after: None,
            count: false,
            fields: None,
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"sort":[{"path":"thingId"}],"size":25}"#
        );
    }
}
