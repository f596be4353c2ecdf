//! What a twin puts in its shard's search index (`bus::search` names the keys): an entry per
//! field path, written by the commit script in the same atomic write as the twin. The script
//! keeps each twin's entries (`sx:rec:<id>`) and removes exactly those at its next change, so the
//! entries computed here never need the twin's previous state.

use serde_json::Value;

/// The index entries of one twin as the commit writes them (`None`: the twin is gone).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexUpdate {
    pub thing_id: String,
    pub entries: Option<Vec<Entry>>,
}

/// One index entry: its kind (`n`, `s`, `b`, `e`, `a`; see `commit.lua`), path and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: &'static str,
    pub path: String,
    pub value: String,
}

/// Top-level fields that are not searched (metadata is not indexed: `exists(_metadata…)` scans).
const SKIPPED: &[&str] = &["_metadata", "_policy"];

/// The entries of a twin, given as its JSON with the special fields (`_revision`, `_modified`,
/// `_created`, `_namespace`): every path gets an existence entry, every number, string and boolean
/// a value entry. Arrays are not descended (Ditto's filters flatten them in ways an index of
/// single values cannot answer): the twin is marked instead, and stays a candidate of every
/// lookup, decided by the exact filter.
pub fn entries_of(thing: &Value) -> Vec<Entry> {
    let mut out = Vec::new();
    if let Value::Object(m) = thing {
        for (k, v) in m {
            if !SKIPPED.contains(&k.as_str()) {
                walk(k.clone(), v, &mut out);
            }
        }
    }
    out
}

fn walk(path: String, v: &Value, out: &mut Vec<Entry>) {
    let value = |kind, value: String| Entry {
        kind,
        path: path.clone(),
        value,
    };
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                out.push(value("n", f.to_string()));
            }
        }
        Value::String(s) => out.push(value("s", s.clone())),
        Value::Bool(b) => out.push(value("b", b.to_string())),
        Value::Array(_) => out.push(Entry {
            kind: "a",
            path: String::new(),
            value: String::new(),
        }),
        Value::Null | Value::Object(_) => {}
    }
    if let Value::Object(m) = v {
        for (k, child) in m {
            walk(format!("{path}/{k}"), child, out);
        }
    }
    out.push(Entry {
        kind: "e",
        path,
        value: String::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(thing: Value) -> Vec<(String, String, String)> {
        let mut e: Vec<_> = entries_of(&thing)
            .into_iter()
            .map(|e| (e.kind.to_owned(), e.path, e.value))
            .collect();
        e.sort();
        e
    }

    #[test]
    fn every_path_exists_and_leaves_are_indexed_by_type() {
        assert_eq!(
            kinds(
                json!({"thingId": "n:a", "attributes": {"x": 1.5, "on": true, "l": [1]},
                         "_metadata": {"m": 1}})
            ),
            vec![
                ("a".into(), "".into(), "".into()),
                ("b".into(), "attributes/on".into(), "true".into()),
                ("e".into(), "attributes".into(), "".into()),
                ("e".into(), "attributes/l".into(), "".into()),
                ("e".into(), "attributes/on".into(), "".into()),
                ("e".into(), "attributes/x".into(), "".into()),
                ("e".into(), "thingId".into(), "".into()),
                ("n".into(), "attributes/x".into(), "1.5".into()),
                ("s".into(), "thingId".into(), "n:a".into()),
            ]
        );
    }
}
