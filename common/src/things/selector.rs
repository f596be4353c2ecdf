//! Ditto field selectors (`fields=` on retrieve, `extraFields=` on subscriptions): a comma-separated
//! list of pointers where `a(b,c/d)` stands for `a/b,a/c/d`, and `*` in a segment matches every key
//! there (Ditto's feature wildcard, `basic-enrichment.md`).

use super::pointer::Pointer;
use crate::error::Error;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSelector {
    pointers: Vec<Pointer>,
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<FieldSelector, Error> {
        let invalid = || Error::FieldSelectionInvalid(input.to_owned());
        let mut pointers = Vec::new();
        expand("", input, &mut pointers).map_err(|_| invalid())?;
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

/// Splits `s` at top-level commas and expands parentheses, prefixing every result with `prefix`.
fn expand(prefix: &str, s: &str, out: &mut Vec<Pointer>) -> Result<(), ()> {
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 0..=bytes.len() {
        let c = bytes.get(i).copied();
        match c {
            Some(b'(') => depth += 1,
            Some(b')') => depth = depth.checked_sub(1).ok_or(())?,
            Some(b',') | None if depth == 0 => {
                let part = s[start..i].trim();
                if part.is_empty() {
                    return Err(());
                }
                expand_one(prefix, part, out)?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(());
    }
    Ok(())
}

fn expand_one(prefix: &str, part: &str, out: &mut Vec<Pointer>) -> Result<(), ()> {
    match part.find('(') {
        None => {
            if part.contains(')') {
                return Err(());
            }
            let p = Pointer::parse(&format!("{prefix}/{part}"));
            if p.is_root() {
                return Err(());
            }
            out.push(p);
            Ok(())
        }
        Some(open) => {
            // The group must close at the very end: `a(b)c` is not a selector.
            if !part.ends_with(')') {
                return Err(());
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
