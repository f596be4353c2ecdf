//! What a twin puts in its shard's search index (`bus::search` names the keys): an entry per
//! field path, written by the commit script in the same atomic write as the twin. The hub owns
//! the shard and holds each twin as it was before and after a batch, so it sends the script only
//! the entries that went and those that came ([`IndexUpdate::between`]); the script keeps no copy
//! of a twin's entries and decodes nothing (issue 13: the record it kept, read, decoded and
//! re-encoded at every commit was over half of the commit script's time).

use serde_json::Value;
use std::collections::HashMap;

/// The change a commit makes to one twin's index entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexUpdate {
    pub thing_id: String,
    /// Whether the twin's id comes into the shard's id list, leaves it, or stays as it is.
    pub ids: IdsChange,
    /// Entries to remove (all of them before any is added).
    pub removed: Vec<Entry>,
    /// Entries to add.
    pub added: Vec<Entry>,
}

/// What a commit does to a twin's place in the shard's id list (`sx:ids`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdsChange {
    #[default]
    Keep,
    Add,
    Remove,
}

/// One index entry: its kind (`n`, `s`, `b`, `e`, `a`; see `search_index.lua`), path and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: &'static str,
    pub path: String,
    pub value: String,
}

impl IndexUpdate {
    /// The change from a twin's entries `before` to those `after` (`None`: no twin). A twin has
    /// one value per kind and path, so `(kind, path)` names an entry: an entry whose value is the
    /// same on both sides is not touched. A number that changed is only added again (its value is
    /// its id's score, which the add replaces); a string or boolean is in its member, so the old
    /// member is removed.
    pub fn between(
        thing_id: String,
        before: Option<Vec<Entry>>,
        after: Option<Vec<Entry>>,
    ) -> IndexUpdate {
        let ids = match (&before, &after) {
            (None, Some(_)) => IdsChange::Add,
            (Some(_), None) => IdsChange::Remove,
            _ => IdsChange::Keep,
        };
        let before = before.unwrap_or_default();
        let after = after.unwrap_or_default();
        let had: HashMap<(&str, &str), &str> = before
            .iter()
            .map(|e| ((e.kind, e.path.as_str()), e.value.as_str()))
            .collect();
        let wanted: HashMap<(&str, &str), &str> = after
            .iter()
            .map(|e| ((e.kind, e.path.as_str()), e.value.as_str()))
            .collect();
        let mut removed = Vec::new();
        let mut gone = std::collections::HashSet::new();
        for e in &before {
            let key = (e.kind, e.path.as_str());
            let replaced_number = e.kind == "n" && wanted.contains_key(&key);
            if wanted.get(&key) != Some(&e.value.as_str()) && !replaced_number && gone.insert(key) {
                removed.push(e.clone());
            }
        }
        let mut added = Vec::new();
        let mut came = std::collections::HashSet::new();
        for e in &after {
            let key = (e.kind, e.path.as_str());
            if had.get(&key) != Some(&e.value.as_str()) && came.insert(key) {
                added.push(e.clone());
            }
        }
        IndexUpdate {
            thing_id,
            ids,
            removed,
            added,
        }
    }

    /// Whether the commit has nothing to write for this twin.
    pub fn is_empty(&self) -> bool {
        self.ids == IdsChange::Keep && self.removed.is_empty() && self.added.is_empty()
    }
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

    fn listed(entries: &[Entry]) -> Vec<(String, String, String)> {
        let mut e: Vec<_> = entries
            .iter()
            .map(|e| (e.kind.to_owned(), e.path.clone(), e.value.clone()))
            .collect();
        e.sort();
        e
    }

    fn entry(kind: &str, path: &str, value: &str) -> (String, String, String) {
        (kind.into(), path.into(), value.into())
    }

    #[test]
    fn a_change_removes_what_went_and_adds_what_came() {
        let before = entries_of(&json!({"a": {"x": 1, "s": "old", "gone": true, "same": "k"}}));
        let after = entries_of(&json!({"a": {"x": 2, "s": "new", "same": "k", "l": [1]}}));
        let u = IndexUpdate::between("n:t".into(), Some(before), Some(after));
        assert_eq!(u.ids, IdsChange::Keep);
        // The number is only added again: its new score replaces the old one.
        assert_eq!(
            listed(&u.removed),
            vec![
                entry("b", "a/gone", "true"),
                entry("e", "a/gone", ""),
                entry("s", "a/s", "old"),
            ]
        );
        assert_eq!(
            listed(&u.added),
            vec![
                entry("a", "", ""),
                entry("e", "a/l", ""),
                entry("n", "a/x", "2"),
                entry("s", "a/s", "new"),
            ]
        );
    }

    #[test]
    fn a_new_twin_adds_everything_and_a_deleted_one_removes_everything() {
        let t = json!({"thingId": "n:t", "l": [1], "m": [2]});
        let created = IndexUpdate::between("n:t".into(), None, Some(entries_of(&t)));
        assert_eq!(created.ids, IdsChange::Add);
        assert!(created.removed.is_empty());
        // One array marker however many arrays the twin holds.
        assert_eq!(created.added.len(), entries_of(&t).len() - 1);
        let deleted = IndexUpdate::between("n:t".into(), Some(entries_of(&t)), None);
        assert_eq!(deleted.ids, IdsChange::Remove);
        assert!(deleted.added.is_empty());
        assert_eq!(deleted.removed.len(), entries_of(&t).len() - 1);
        let same = IndexUpdate::between("n:t".into(), Some(entries_of(&t)), Some(entries_of(&t)));
        assert!(same.is_empty());
    }
}
