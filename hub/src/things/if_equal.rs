//! The `if-equal` header (reference ditto-features §2; Ditto's `IfEqualPreconditionHeader`): what
//! a modify or merge does when it would leave the twin as it is. Checked after `if-match` /
//! `if-none-match`, on an existing twin only (a missing one is never equal).
//!
//! * `update` (default): applied as always, with its event.
//! * `skip`: a write that changes nothing is 412 `things:precondition.failed`, without an event.
//! * `skip-minimizing-merge`: on a merge, like `skip` when nothing changes, and otherwise the event
//!   carries only what changed (the patch minimized against the current value). Ditto's code
//!   special-cases merges only, so a modify with it is applied like `update` (its docs say "like
//!   skip"; the code wins).
//!
//! "Changes nothing" is decided on the thing the write would produce, which is what Ditto's value
//! comparison at the command's path amounts to.

use serde_json::{Map, Value};
use twinwire_common::protocol::Headers;
use twinwire_common::Error;

/// The header's name.
pub const IF_EQUAL: &str = "if-equal";

/// The values Ditto's `IfEqual` enum accepts, in its order.
const VALUES: &[&str] = &["update", "skip", "skip-minimizing-merge"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfEqual {
    Update,
    Skip,
    SkipMinimizingMerge,
}

impl IfEqual {
    /// The header of `headers`; Ditto trims and lower-cases before matching, and refuses anything
    /// else with 400 `header.invalid` (on every signal: it is header validation).
    pub fn from_headers(headers: &Headers) -> Result<IfEqual, Error> {
        let Some(v) = headers.get_str(IF_EQUAL) else {
            return Ok(IfEqual::Update);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "update" => Ok(IfEqual::Update),
            "skip" => Ok(IfEqual::Skip),
            "skip-minimizing-merge" => Ok(IfEqual::SkipMinimizingMerge),
            _ => Err(Error::HeaderEnumInvalid {
                name: IF_EQUAL.into(),
                value: v.into_owned(),
                allowed: VALUES,
            }),
        }
    }
}

/// A merge patch reduced to what it changes in `old` (Ditto's `JsonMergePatch.compute(old, patch)`
/// without deleting missing fields): members equal to the current value are dropped, objects are
/// minimized member by member, and deleting a member that is not there is dropped. `None` when
/// nothing is left.
pub fn minimize(old: &Value, patch: &Value) -> Option<Value> {
    match (old, patch) {
        (Value::Object(o), Value::Object(p)) => {
            let mut out = Map::new();
            for (k, pv) in p {
                let kept = match o.get(k) {
                    None if pv.is_null() => None,
                    None => Some(pv.clone()),
                    Some(ov) => minimize(ov, pv),
                };
                if let Some(v) = kept {
                    out.insert(k.clone(), v);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (o, p) if o == p => None,
        (_, p) => Some(p.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(v: &str) -> Headers {
        let mut h = Headers::new();
        h.insert(IF_EQUAL, v);
        h
    }

    #[test]
    fn the_three_values_are_accepted_in_any_case_and_others_are_header_invalid() {
        assert_eq!(
            IfEqual::from_headers(&Headers::new()).unwrap(),
            IfEqual::Update
        );
        assert_eq!(
            IfEqual::from_headers(&headers("update")).unwrap(),
            IfEqual::Update
        );
        assert_eq!(
            IfEqual::from_headers(&headers(" SKIP ")).unwrap(),
            IfEqual::Skip
        );
        assert_eq!(
            IfEqual::from_headers(&headers("skip-minimizing-merge")).unwrap(),
            IfEqual::SkipMinimizingMerge
        );
        let d = IfEqual::from_headers(&headers("maybe"))
            .unwrap_err()
            .to_ditto();
        assert_eq!((d.status, d.error.as_ref()), (400, "header.invalid"));
        assert_eq!(
            d.description.as_deref(),
            Some("The value must either be one of: <update>, <skip>, <skip-minimizing-merge>.")
        );
    }

    #[test]
    fn a_patch_is_minimized_to_what_it_changes() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": "x"});
        assert_eq!(
            minimize(
                &old,
                &json!({"a": 1, "b": {"c": 2, "d": 4}, "f": null, "e": null})
            ),
            Some(json!({"b": {"d": 4}, "e": null}))
        );
        assert_eq!(minimize(&old, &json!({"a": 1, "b": {"c": 2}})), None);
        assert_eq!(minimize(&json!(1), &json!(2)), Some(json!(2)));
        assert_eq!(minimize(&json!(1), &json!({"x": 1})), Some(json!({"x": 1})));
    }
}
