//! The `merge-thing-patch-conditions` header (Ditto 3.8, ditto-features §1): a JSON object mapping
//! pointers of a merge's patch (relative to the merge path) to RQL conditions on the current thing
//! (paths from the thing's root). Parts whose condition does not hold leave the patch; parts
//! without a condition always stay. A patch left empty changes nothing: 204 without an event
//! (Ditto's `MergeThingStrategy`). The requester needs unrestricted READ on every field the
//! conditions name (412 as for `condition`); an invalid one is 400 `rql.expression.invalid`.

use super::condition;
use super::twin::Twin;
use serde_json::{Map, Value};
use twinwire_common::policy::Enforcer;
use twinwire_common::protocol::Headers;
use twinwire_common::rql::{parse_condition, MapPlaceholders};
use twinwire_common::things::Pointer;
use twinwire_common::Error;

/// The header's name.
pub const MERGE_THING_PATCH_CONDITIONS: &str = "merge-thing-patch-conditions";

/// What the conditions leave of a merge's patch: `Ok(None)` without the header (or for a patch
/// that is not an object), `Ok(Some(v))` the filtered patch (`{}` when nothing is left).
pub fn filter(
    headers: &Headers,
    patch: Option<&Value>,
    twin: &Twin,
    enforcer: &Enforcer,
    subjects: &[String],
    now: &str,
) -> Result<Option<Value>, Error> {
    let Some(raw) = headers.get(MERGE_THING_PATCH_CONDITIONS) else {
        return Ok(None);
    };
    let conditions: Map<String, Value> = match raw {
        Value::Object(m) => m.clone(),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => m,
            _ => return Err(invalid(s)),
        },
        other => return Err(invalid(&other.to_string())),
    };
    // Enforcement first (Ditto's `enforceReadPermissionOnPatchConditions`), whatever the patch.
    let mut parsed = Vec::with_capacity(conditions.len());
    for (pointer, expr) in &conditions {
        let Some(expr) = expr.as_str() else {
            return Err(invalid(&Value::Object(conditions.clone()).to_string()));
        };
        let cond = parse_condition(expr).map_err(|e| Error::RqlInvalid(e.message))?;
        condition::check_readable(&cond, enforcer, subjects)?;
        parsed.push((Pointer::parse(pointer), cond));
    }
    let Some(Value::Object(patch)) = patch else {
        return Ok(None);
    };
    let now_t = chrono::DateTime::parse_from_rfc3339(now)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    let thing = twin.with_special_fields();
    let mut out = Value::Object(patch.clone());
    for (ptr, cond) in &parsed {
        if get(&out, ptr).is_none() {
            continue;
        }
        let holds = cond
            .compile()
            .map_err(|e| Error::RqlInvalid(e.message))?
            .matches(&thing, &MapPlaceholders::new(now_t));
        if !holds {
            remove(&mut out, ptr);
        }
    }
    Ok(Some(out))
}

fn invalid(value: &str) -> Error {
    Error::HeaderInvalid {
        name: MERGE_THING_PATCH_CONDITIONS.into(),
        value: value.to_owned(),
        kind: "JSON object".into(),
    }
}

fn get<'a>(v: &'a Value, ptr: &Pointer) -> Option<&'a Value> {
    ptr.segments()
        .iter()
        .try_fold(v, |cur, seg| cur.get(seg.as_str()))
}

fn remove(v: &mut Value, ptr: &Pointer) {
    let segs = ptr.segments();
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        match cur.get_mut(seg.as_str()) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(last.as_str());
    }
}
