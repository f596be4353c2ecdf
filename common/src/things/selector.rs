//! Ditto field selectors (`fields=` on retrieve, `extraFields=` on subscriptions): a comma-separated
//! list of pointers where `a(b,c/d)` stands for `a/b,a/c/d`, and `*` in a segment matches every key
//! there (Ditto's feature wildcard, `basic-enrichment.md`).
//!
//! Selectors come from clients, so they are bounded before they are expanded: in bytes, in nesting
//! depth (expansion recurses once per level of parentheses) and in the number of fields they expand
//! to (each carries its whole prefix, so the expansion can be much larger than the text).

use super::pointer::{Pointer, MAX_POINTER_SEGMENTS};
use crate::error::Error;
use serde_json::{Map, Value};

/// The longest selector, in bytes.
pub const MAX_SELECTOR_BYTES: usize = 4 * 1024;

/// The deepest nesting of parentheses in a selector (`a(b(c))` is 2).
pub const MAX_SELECTOR_DEPTH: usize = 16;

/// The most fields a selector may expand to.
pub const MAX_SELECTOR_FIELDS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSelector {
    pointers: Vec<Pointer>,
}

impl FieldSelector {
    /// Parses a selector; over a limit it is `things:field.selection.invalid` naming the limit.
    pub fn parse(input: &str) -> Result<FieldSelector, Error> {
        check_limits(input)?;
        let invalid = || Error::FieldSelectionInvalid(input.to_owned());
        let mut pointers = Vec::new();
        expand("", input, &mut pointers).map_err(|e| e.unwrap_or_else(invalid))?;
        if pointers.is_empty() {
            return Err(invalid());
        }
        Ok(FieldSelector { pointers })
    }

    pub fn pointers(&self) -> &[Pointer] {
        &self.pointers
    }

    /// The parts of `value` the selector names, in the selector's order; absent parts are left out.
    pub fn apply(&self, value: &Value) -> Value {
        let mut out = Value::Object(Map::new());
        for p in &self.pointers {
            copy_matching(value, p.segments(), &mut Pointer::root(), &mut out);
        }
        out
    }
}

/// Walks `segments` through `src`, expanding `*`, and copies what it finds to the same place in `out`.
fn copy_matching(src: &Value, segments: &[String], at: &mut Pointer, out: &mut Value) {
    match segments.split_first() {
        None => {
            at.set(out, src.clone());
        }
        Some((seg, rest)) => {
            let Some(obj) = src.as_object() else { return };
            if seg == "*" {
                for (k, v) in obj {
                    at.push(k.clone());
                    copy_matching(v, rest, at, out);
                    *at = Pointer::from_segments(at.segments()[..at.len() - 1].iter().cloned());
                }
            } else if let Some(v) = obj.get(seg) {
                at.push(seg.clone());
                copy_matching(v, rest, at, out);
                *at = Pointer::from_segments(at.segments()[..at.len() - 1].iter().cloned());
            }
        }
    }
}

/// The limits that can be checked on the text in one pass, before anything is expanded.
fn check_limits(input: &str) -> Result<(), Error> {
    if input.len() > MAX_SELECTOR_BYTES {
        return Err(Error::FieldSelectionLimit {
            limit: "bytes",
            max: MAX_SELECTOR_BYTES,
        });
    }
    let mut depth = 0usize;
    for b in input.bytes() {
        match b {
            b'(' => {
                depth += 1;
                if depth > MAX_SELECTOR_DEPTH {
                    return Err(Error::FieldSelectionLimit {
                        limit: "levels of nesting",
                        max: MAX_SELECTOR_DEPTH,
                    });
                }
            }
            // Unbalanced closing parentheses are the parser's to report.
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Why an expansion stopped: `None` for a malformed selector, `Some` for a limit.
type Stop = Option<Error>;

/// Splits `s` at top-level commas and expands parentheses, prefixing every result with `prefix`.
fn expand(prefix: &str, s: &str, out: &mut Vec<Pointer>) -> Result<(), Stop> {
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 0..=bytes.len() {
        let c = bytes.get(i).copied();
        match c {
            Some(b'(') => depth += 1,
            Some(b')') => depth = depth.checked_sub(1).ok_or(None)?,
            Some(b',') | None if depth == 0 => {
                let part = s[start..i].trim();
                if part.is_empty() {
                    return Err(None);
                }
                expand_one(prefix, part, out)?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(None);
    }
    Ok(())
}

fn expand_one(prefix: &str, part: &str, out: &mut Vec<Pointer>) -> Result<(), Stop> {
    match part.find('(') {
        None => {
            if part.contains(')') {
                return Err(None);
            }
            if out.len() == MAX_SELECTOR_FIELDS {
                return Err(Some(Error::FieldSelectionLimit {
                    limit: "selected fields",
                    max: MAX_SELECTOR_FIELDS,
                }));
            }
            let p = Pointer::parse(&format!("{prefix}/{part}"));
            if p.is_root() {
                return Err(None);
            }
            if p.len() > MAX_POINTER_SEGMENTS {
                return Err(Some(Error::FieldSelectionLimit {
                    limit: "segments in a selected field",
                    max: MAX_POINTER_SEGMENTS,
                }));
            }
            out.push(p);
            Ok(())
        }
        Some(open) => {
            // The group must close at the very end: `a(b)c` is not a selector.
            if !part.ends_with(')') {
                return Err(None);
            }
            let head = &part[..open];
            let inner = &part[open + 1..part.len() - 1];
            expand(&format!("{prefix}/{head}"), inner, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_expand_parentheses() {
        let table = [
            ("attributes", vec!["/attributes"]),
            (
                "thingId,attributes/model",
                vec!["/thingId", "/attributes/model"],
            ),
            (
                "attributes(model,make)",
                vec!["/attributes/model", "/attributes/make"],
            ),
            (
                "features(f1/properties(a,b),f2)",
                vec![
                    "/features/f1/properties/a",
                    "/features/f1/properties/b",
                    "/features/f2",
                ],
            ),
            (
                " attributes , _revision ",
                vec!["/attributes", "/_revision"],
            ),
        ];
        for (input, expected) in table {
            let s = FieldSelector::parse(input).unwrap();
            let got: Vec<String> = s.pointers().iter().map(ToString::to_string).collect();
            assert_eq!(got, expected, "{input}");
        }
    }

    #[test]
    fn malformed_selectors_are_field_selection_invalid() {
        for input in [
            "",
            ",",
            "attributes(",
            "attributes)",
            "a(b))",
            "a(b)c",
            "a,,b",
            "/",
        ] {
            assert_eq!(
                FieldSelector::parse(input),
                Err(Error::FieldSelectionInvalid(input.into())),
                "{input}"
            );
        }
    }

    #[test]
    fn selectors_at_ten_times_the_limits_are_refused_naming_the_limit() {
        let nested = |depth: usize| format!("{}x{}", "a(".repeat(depth), ")".repeat(depth));
        assert_eq!(
            FieldSelector::parse(&nested(MAX_SELECTOR_DEPTH)).map(|s| s.pointers().len()),
            Ok(1)
        );
        let limit = |limit, max| Err(Error::FieldSelectionLimit { limit, max });
        assert_eq!(
            FieldSelector::parse(&nested(10 * MAX_SELECTOR_DEPTH)),
            limit("levels of nesting", MAX_SELECTOR_DEPTH)
        );
        // The attack of issue 19: thousands of levels, refused before any expansion.
        assert_eq!(
            FieldSelector::parse(&"a(".repeat(2000)),
            limit("levels of nesting", MAX_SELECTOR_DEPTH)
        );
        assert_eq!(
            FieldSelector::parse(&"a,".repeat(10 * MAX_SELECTOR_BYTES)),
            limit("bytes", MAX_SELECTOR_BYTES)
        );
        let fields = |n: usize| format!("a({})", vec!["b"; n].join(","));
        assert!(FieldSelector::parse(&fields(MAX_SELECTOR_FIELDS)).is_ok());
        // Ten times the field limit needs more text than the byte limit allows.
        assert!(FieldSelector::parse(&fields(10 * MAX_SELECTOR_FIELDS)).is_err());
        assert_eq!(
            FieldSelector::parse(&fields(1_500)),
            limit("selected fields", MAX_SELECTOR_FIELDS)
        );
        // Few fields but a long prefix each: the expansion, not the text, is what is bounded.
        let wide = format!("{}({})", "p/".repeat(30), vec!["x"; 300].join(","));
        assert_eq!(
            FieldSelector::parse(&wide),
            limit("selected fields", MAX_SELECTOR_FIELDS)
        );
        assert_eq!(
            FieldSelector::parse(&"s/".repeat(10 * MAX_POINTER_SEGMENTS)),
            limit("segments in a selected field", MAX_POINTER_SEGMENTS)
        );
        assert_eq!(
            Error::FieldSelectionLimit {
                limit: "bytes",
                max: 4096
            }
            .to_ditto()
            .error,
            "things:field.selection.invalid"
        );
    }

    #[test]
    fn apply_keeps_only_selected_existing_parts_and_expands_wildcards() {
        let thing = json!({"thingId": "a:b", "attributes": {"model": "x", "make": "y", "other": 1},
            "features": {"f1": {"properties": {"unit": "C", "v": 1}}, "f2": {"properties": {"unit": "F"}}, "f3": {}}});
        let s =
            FieldSelector::parse("thingId,attributes(model,missing),features/*/properties/unit")
                .unwrap();
        assert_eq!(
            s.apply(&thing),
            json!({"thingId": "a:b", "attributes": {"model": "x"},
                "features": {"f1": {"properties": {"unit": "C"}}, "f2": {"properties": {"unit": "F"}}}})
        );
    }
}
