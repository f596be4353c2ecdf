//! JSON pointers as Ditto uses them in paths (`/attributes/location/lat`): slash-separated keys,
//! with reads, writes (creating intermediate objects) and removals on `serde_json::Value`.
//!
//! Ditto's `JsonPointer.of` ignores empty segments, so `/a//b` addresses `/a/b` and `/` is the root
//! (WebsocketIT "multiple slashes in property paths").

use crate::error::Error;
use serde_json::{Map, Value};
use std::fmt;

/// The most segments a pointer from a client may have. Writing at a pointer creates one level of
/// JSON per segment, and JSON values are serialized and dropped recursively: the bound keeps a
/// hostile path (`/attributes/a/a/a/...` thousands deep) from building a value deep enough to
/// overflow a stack. Real paths have a handful of segments.
pub const MAX_POINTER_SEGMENTS: usize = 64;

/// The longest pointer a client may send, in bytes (Ditto's HTTP URI limit is 8 kB).
pub const MAX_POINTER_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pointer {
    segments: Vec<String>,
}

impl Pointer {
    pub fn root() -> Pointer {
        Pointer::default()
    }

    /// Parses a slash-separated pointer; a leading slash is optional and empty segments are skipped.
    pub fn parse(s: &str) -> Pointer {
        Pointer {
            segments: s
                .split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Checks a pointer from a client against [`MAX_POINTER_BYTES`] and [`MAX_POINTER_SEGMENTS`]
    /// before any per-segment work: one pass, no allocation.
    pub fn check_limits(s: &str) -> Result<(), Error> {
        if s.len() > MAX_POINTER_BYTES {
            return Err(Error::PointerLimit {
                limit: "bytes",
                max: MAX_POINTER_BYTES,
            });
        }
        if s.split('/').filter(|p| !p.is_empty()).count() > MAX_POINTER_SEGMENTS {
            return Err(Error::PointerLimit {
                limit: "segments",
                max: MAX_POINTER_SEGMENTS,
            });
        }
        Ok(())
    }

    /// [`Pointer::parse`] for a pointer from a client: refused over the limits.
    pub fn parse_bounded(s: &str) -> Result<Pointer, Error> {
        Pointer::check_limits(s)?;
        Ok(Pointer::parse(s))
    }

    pub fn from_segments<I: IntoIterator<Item = S>, S: Into<String>>(segments: I) -> Pointer {
        Pointer {
            segments: segments.into_iter().map(Into::into).collect(),
        }
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn first(&self) -> Option<&str> {
        self.segments.first().map(String::as_str)
    }

    /// The pointer without its first `n` segments.
    pub fn skip(&self, n: usize) -> Pointer {
        Pointer {
            segments: self.segments.iter().skip(n).cloned().collect(),
        }
    }

    pub fn join(&self, other: &Pointer) -> Pointer {
        let mut segments = self.segments.clone();
        segments.extend(other.segments.iter().cloned());
        Pointer { segments }
    }

    pub fn push(&mut self, segment: impl Into<String>) {
        self.segments.push(segment.into());
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &Pointer) -> bool {
        self.segments.len() >= other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| a == b)
    }

    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut cur = root;
        for s in &self.segments {
            cur = cur.as_object()?.get(s)?;
        }
        Some(cur)
    }

    /// Writes `value` at this pointer, creating (or replacing non-object) intermediate levels with
    /// objects. Returns the previous value.
    pub fn set(&self, root: &mut Value, value: Value) -> Option<Value> {
        let Some((last, parents)) = self.segments.split_last() else {
            return Some(std::mem::replace(root, value));
        };
        let mut cur = root;
        for s in parents {
            cur = ensure_object(cur)
                .entry(s.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        ensure_object(cur).insert(last.clone(), value)
    }

    /// Removes the value at this pointer. Returns it, or None when absent. The root cannot be removed.
    pub fn remove(&self, root: &mut Value) -> Option<Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut cur = root;
        for s in parents {
            cur = cur.as_object_mut()?.get_mut(s)?;
        }
        cur.as_object_mut()?.shift_remove(last)
    }
}

fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        // Just made it an object above.
        _ => unreachable!("value was made an object"),
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segments {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parsing_skips_empty_segments_like_ditto() {
        let table = [
            ("/", "/"),
            ("", "/"),
            ("/a/b", "/a/b"),
            ("a/b", "/a/b"),
            ("/a//b/", "/a/b"),
            ("//x", "/x"),
        ];
        for (input, expected) in table {
            assert_eq!(Pointer::parse(input).to_string(), expected, "{input}");
        }
    }

    #[test]
    fn get_set_remove_edit_nested_json() {
        struct Case {
            start: Value,
            op: &'static str,
            ptr: &'static str,
            value: Value,
            after: Value,
            returned: Option<Value>,
        }
        let cases = [
            Case {
                start: json!({}),
                op: "set",
                ptr: "/a/b",
                value: json!(1),
                after: json!({"a": {"b": 1}}),
                returned: None,
            },
            Case {
                start: json!({"a": 5}),
                op: "set",
                ptr: "/a/b",
                value: json!(1),
                after: json!({"a": {"b": 1}}),
                returned: None,
            },
            Case {
                start: json!({"a": {"b": 1}}),
                op: "set",
                ptr: "/a/b",
                value: json!(2),
                after: json!({"a": {"b": 2}}),
                returned: Some(json!(1)),
            },
            Case {
                start: json!({"a": 1}),
                op: "set",
                ptr: "/",
                value: json!({"z": 0}),
                after: json!({"z": 0}),
                returned: Some(json!({"a": 1})),
            },
            Case {
                start: json!({"a": {"b": 1, "c": 2}}),
                op: "remove",
                ptr: "/a/b",
                value: Value::Null,
                after: json!({"a": {"c": 2}}),
                returned: Some(json!(1)),
            },
            Case {
                start: json!({"a": {"c": 2}}),
                op: "remove",
                ptr: "/a/x/y",
                value: Value::Null,
                after: json!({"a": {"c": 2}}),
                returned: None,
            },
            Case {
                start: json!({"a": [1, 2]}),
                op: "remove",
                ptr: "/a/0",
                value: Value::Null,
                after: json!({"a": [1, 2]}),
                returned: None,
            },
        ];
        for c in cases {
            let mut v = c.start.clone();
            let p = Pointer::parse(c.ptr);
            let returned = match c.op {
                "set" => p.set(&mut v, c.value.clone()),
                _ => p.remove(&mut v),
            };
            assert_eq!(v, c.after, "{} {} on {}", c.op, c.ptr, c.start);
            assert_eq!(returned, c.returned, "{} {} on {}", c.op, c.ptr, c.start);
        }
    }

    #[test]
    fn get_does_not_index_into_arrays() {
        let v = json!({"a": [{"b": 1}], "c": {"d": null}});
        assert_eq!(Pointer::parse("/a/0/b").get(&v), None);
        assert_eq!(Pointer::parse("/c/d").get(&v), Some(&Value::Null));
        assert_eq!(Pointer::parse("/").get(&v), Some(&v));
    }

    #[test]
    fn pointers_at_ten_times_the_limits_are_refused_naming_the_limit() {
        let at_limit = "/a".repeat(MAX_POINTER_SEGMENTS);
        assert_eq!(
            Pointer::parse_bounded(&at_limit).map(|p| p.len()),
            Ok(MAX_POINTER_SEGMENTS)
        );
        // Empty segments are skipped, so they do not count.
        assert!(Pointer::parse_bounded(&format!("{at_limit}//")).is_ok());
        let deep = "/a".repeat(10 * MAX_POINTER_SEGMENTS);
        assert_eq!(
            Pointer::parse_bounded(&deep),
            Err(Error::PointerLimit {
                limit: "segments",
                max: MAX_POINTER_SEGMENTS
            })
        );
        let long = format!("/{}", "x".repeat(10 * MAX_POINTER_BYTES));
        let e = Pointer::parse_bounded(&long).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The JSON pointer exceeds the limit of 4096 bytes."
        );
    }

    #[test]
    fn starts_with_compares_whole_segments() {
        assert!(Pointer::parse("/a/b/c").starts_with(&Pointer::parse("/a/b")));
        assert!(!Pointer::parse("/a/bc").starts_with(&Pointer::parse("/a/b")));
        assert!(Pointer::parse("/a").starts_with(&Pointer::root()));
    }
}
