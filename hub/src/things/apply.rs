//! Ditto's twin-channel thing commands (reference §3.3) as a pure function of the current twin: what
//! the response is, what event is emitted and what the twin becomes. Access checks go through the
//! [`Access`] trait, so the semantics are testable without policies; `things::command` supplies the
//! policy-backed implementation.

use super::if_equal::IfEqual;
use super::twin::Twin;
use super::validate::{validate_resource, validate_thing, wrong_type};
use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Action, Headers};
use twinwire_common::things::keys::validate_keys;
use twinwire_common::things::{FieldSelector, Pointer, ThingResource};
use twinwire_common::Error;

/// An entity tag as `if-match` / `if-none-match` accept it: `*` or `(W/)?"..."`.
static ENTITY_TAG: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, exercised by the tests below.
    Regex::new(r#"^(\*|(W/)?"[^"*]*")$"#).expect("valid entity-tag regex")
});

/// What the requester may do on the thing (`thing:` resources of its policy).
pub trait Access {
    /// READ somewhere at or below `ptr`.
    fn read_partial(&self, ptr: &Pointer) -> bool;
    /// WRITE on `ptr` and everything below it.
    fn write(&self, ptr: &Pointer) -> bool;
    /// What a retrieve at `ptr` answers for `value`, once `read_partial(ptr)` allowed it: objects
    /// cut to their readable part (Ditto keeps `thingId` and the `_` metadata fields for readers of
    /// any part of the thing), other values as they are.
    fn retrieve_view(&self, ptr: &Pointer, value: &Value) -> Value;
}

/// Everything allowed: for tests, and for the thing a requester is creating right now.
pub struct FullAccess;

impl Access for FullAccess {
    fn read_partial(&self, _: &Pointer) -> bool {
        true
    }
    fn write(&self, _: &Pointer) -> bool {
        true
    }
    fn retrieve_view(&self, _: &Pointer, value: &Value) -> Value {
        value.clone()
    }
}

/// A thing command as the hub received it.
pub struct Request<'a> {
    /// The command's topic, for errors that name it.
    pub topic: &'a str,
    pub thing_id: &'a str,
    pub action: Action,
    pub resource: &'a ThingResource,
    pub value: Option<&'a Value>,
    pub headers: &'a Headers,
    pub fields: Option<&'a FieldSelector>,
}

/// The result of a command that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A retrieve: 200 with the (readable) value.
    Read { value: Value, etag: String },
    /// The twin changed (or was created or deleted).
    Changed {
        /// 201 or 204.
        status: u16,
        /// The response value (for 201).
        value: Option<Value>,
        /// The twin after the change; None when deleted.
        twin: Option<Twin>,
        /// The event's action and value.
        event: Action,
        event_value: Option<Value>,
    },
}

pub struct Limits {
    pub thing_bytes: usize,
}

pub fn apply(
    current: Option<&Twin>,
    req: &Request,
    access: &dyn Access,
    now: &str,
    limits: &Limits,
) -> Result<Outcome, Error> {
    let ptr = req.resource.pointer();
    // A twin the requester may not read at all does not exist for them (no existence leak).
    let visible = current.filter(|_| access.read_partial(&Pointer::root()));
    check_preconditions(visible, req, &ptr)?;
    match req.action {
        Action::Retrieve => retrieve(visible, req, &ptr, access),
        Action::Create => {
            if *req.resource != ThingResource::Thing {
                return Err(Error::UnsupportedTopicPath {
                    topic: req.topic.to_owned(),
                    path: ptr.to_string(),
                });
            }
            if current.is_some() {
                return Err(Error::ThingConflict(req.thing_id.to_owned()));
            }
            create(req, now, limits)
        }
        Action::Modify => match (current, req.resource) {
            (None, ThingResource::Thing) => create(req, now, limits),
            (None, _) => Err(Error::ThingNotFound(req.thing_id.to_owned())),
            (Some(twin), _) => {
                if visible.is_none() {
                    return Err(Error::ThingNotFound(req.thing_id.to_owned()));
                }
                let outcome = modify(twin, req, &ptr, access, now, limits)?;
                apply_if_equal(twin, req, &ptr, outcome)
            }
        },
        Action::Merge => match (current, req.resource) {
            (None, ThingResource::Thing) => {
                check_merge_content_type(req.headers)?;
                let patch = required_value(req)?;
                check_root_patch(patch)?;
                // Ditto turns this into a create, dropping the patch's nulls.
                let thing = merge_patch(Value::Object(Map::new()), patch);
                create_from(req, thing, now, limits)
            }
            (None, _) => Err(Error::ThingNotFound(req.thing_id.to_owned())),
            (Some(twin), _) => {
                if visible.is_none() {
                    return Err(Error::ThingNotFound(req.thing_id.to_owned()));
                }
                let outcome = merge(twin, req, &ptr, access, now, limits)?;
                apply_if_equal(twin, req, &ptr, outcome)
            }
        },
        Action::Delete => {
            let Some(twin) = visible else {
                return Err(Error::ThingNotFound(req.thing_id.to_owned()));
            };
            delete(twin, req, &ptr, access, now)
        }
        _ => Err(Error::UnknownSignal {
            topic: format!(
                "{}/things/twin/commands/{}",
                req.thing_id,
                req.action.as_str()
            ),
        }),
    }
}

/// `if-equal` on a modify or merge of an existing twin that succeeded (ditto-features §2): a write
/// that leaves the thing as it was is refused under `skip` (and under `skip-minimizing-merge` for
/// merges), and a merge's event is minimized under `skip-minimizing-merge`.
fn apply_if_equal(
    current: &Twin,
    req: &Request,
    ptr: &Pointer,
    outcome: Outcome,
) -> Result<Outcome, Error> {
    let mode = IfEqual::from_headers(req.headers)?;
    let merge = req.action == Action::Merge;
    if mode == IfEqual::Update || (mode == IfEqual::SkipMinimizingMerge && !merge) {
        return Ok(outcome);
    }
    let Outcome::Changed {
        status,
        value,
        twin,
        event,
        event_value,
    } = outcome
    else {
        return Ok(outcome);
    };
    if twin.as_ref().is_some_and(|t| t.thing == current.thing) {
        return Err(Error::IfEqualFailed);
    }
    let event_value = match (mode, ptr.get(&current.thing), &event_value) {
        (IfEqual::SkipMinimizingMerge, Some(old), Some(patch)) => {
            // Not equal, so something is left of the patch.
            Some(super::if_equal::minimize(old, patch).unwrap_or_else(|| patch.clone()))
        }
        _ => event_value,
    };
    Ok(Outcome::Changed {
        status,
        value,
        twin,
        event,
        event_value,
    })
}

/// Ditto's `if-match` / `if-none-match` against the thing's entity tag `"rev:N"`; `*` tests whether
/// the addressed resource exists. Checks are skipped for a retrieve or delete of a missing thing,
/// which then gets its 404.
fn check_preconditions(current: Option<&Twin>, req: &Request, ptr: &Pointer) -> Result<(), Error> {
    for name in [names::IF_MATCH, names::IF_NONE_MATCH] {
        if let Some(v) = req.headers.get_str(name) {
            if !v.split(',').map(str::trim).all(|t| ENTITY_TAG.is_match(t)) {
                return Err(Error::HeaderInvalid {
                    name: name.to_owned(),
                    value: v.into_owned(),
                    kind: "entity-tag".into(),
                });
            }
        }
    }
    if current.is_none() && matches!(req.action, Action::Retrieve | Action::Delete) {
        return Ok(());
    }
    let exists = current.is_some_and(|t| ptr.get(&t.thing).is_some());
    let actual = current.map(Twin::etag).unwrap_or_default();
    let matches = |header: &str| -> bool {
        header.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            exists && (tag == "*" || tag == actual)
        })
    };
    if let Some(v) = req.headers.get_str(names::IF_MATCH) {
        if !matches(&v) {
            return Err(Error::PreconditionFailed {
                header: names::IF_MATCH,
                value: v.into_owned(),
                actual,
            });
        }
    }
    if let Some(v) = req.headers.get_str(names::IF_NONE_MATCH) {
        if matches(&v) {
            return Err(if req.action == Action::Retrieve {
                Error::PreconditionNotModified {
                    header: names::IF_NONE_MATCH,
                    value: v.into_owned(),
                    actual,
                }
            } else {
                Error::PreconditionFailed {
                    header: names::IF_NONE_MATCH,
                    value: v.into_owned(),
                    actual,
                }
            });
        }
    }
    Ok(())
}

fn retrieve(
    current: Option<&Twin>,
    req: &Request,
    ptr: &Pointer,
    access: &dyn Access,
) -> Result<Outcome, Error> {
    let Some(twin) = current else {
        return Err(Error::ThingNotFound(req.thing_id.to_owned()));
    };
    let not_found = || req.resource.not_found(req.thing_id);
    let value = match (req.fields, req.resource) {
        (Some(sel), ThingResource::Thing) => {
            access.retrieve_view(ptr, &sel.apply(&twin.with_special_fields()))
        }
        (sel, _) => {
            require_feature(twin, req)?;
            let raw = ptr.get(&twin.thing).ok_or_else(not_found)?;
            if !access.read_partial(ptr) {
                return Err(not_found());
            }
            let v = access.retrieve_view(ptr, raw);
            match sel {
                Some(sel) if v.is_object() => sel.apply(&v),
                _ => v,
            }
        }
    };
    Ok(Outcome::Read {
        value,
        etag: twin.etag(),
    })
}

fn required_value<'a>(req: &Request<'a>) -> Result<&'a Value, Error> {
    req.value.ok_or(Error::ValueMissing)
}

/// Every merge needs `content-type: application/merge-patch+json` (parameters ignored), or Ditto
/// answers 415.
fn check_merge_content_type(headers: &Headers) -> Result<(), Error> {
    match headers.get_str(names::CONTENT_TYPE) {
        None => Err(Error::MergeContentTypeMissing),
        Some(ct) if ct.trim().is_empty() => Err(Error::MergeContentTypeMissing),
        Some(ct) => {
            let media = ct.split(';').next().unwrap_or("").trim();
            if media.eq_ignore_ascii_case("application/merge-patch+json") {
                Ok(())
            } else {
                Err(Error::MediaTypeUnsupported(media.to_owned()))
            }
        }
    }
}

/// A merge at `/` must be a non-empty object that neither deletes the id nor the policy id.
fn check_root_patch(patch: &Value) -> Result<(), Error> {
    match patch {
        Value::Object(m) if m.is_empty() => Err(Error::MergeInvalid(
            "The provided json value can not be applied at this resource".into(),
        )),
        Value::Null => Err(Error::MergeInvalid(
            "The provided json value can not be applied at this resource".into(),
        )),
        Value::Object(m) => {
            if m.get("thingId").is_some_and(Value::is_null) {
                return Err(Error::ThingIdNotDeletable);
            }
            if m.get("policyId").is_some_and(Value::is_null) {
                return Err(Error::PolicyIdNotDeletable);
            }
            Ok(())
        }
        other => Err(wrong_type("an object", other)),
    }
}

fn create(req: &Request, now: &str, limits: &Limits) -> Result<Outcome, Error> {
    let v = required_value(req)?;
    create_from(req, v.clone(), now, limits)
}

/// Builds a new thing from `value` (an object), enforcing the id in the topic.
fn create_from(req: &Request, value: Value, now: &str, limits: &Limits) -> Result<Outcome, Error> {
    let thing = normalize_thing(req.thing_id, value, None)?;
    check_size(&thing, limits)?;
    let twin = Twin {
        thing: thing.clone(),
        revision: 1,
        created: now.to_owned(),
        modified: now.to_owned(),
    };
    Ok(Outcome::Changed {
        status: 201,
        value: Some(thing.clone()),
        twin: Some(twin),
        event: Action::Created,
        event_value: Some(thing),
    })
}

/// Validates a whole-thing value and puts `thingId` first. A `thingId` in the value must equal
/// the topic's; `policyId` falls back to `keep_policy` (modify keeps the current one).
fn normalize_thing(
    thing_id: &str,
    value: Value,
    keep_policy: Option<&str>,
) -> Result<Value, Error> {
    let Value::Object(mut m) = value else {
        return Err(wrong_type("an object", &value));
    };
    if let Some(id) = m.remove("thingId") {
        if id.as_str() != Some(thing_id) {
            return Err(Error::ThingIdNotSettable {
                in_topic: thing_id.to_owned(),
                in_value: id.to_string(),
            });
        }
    }
    let mut out = Map::new();
    out.insert("thingId".into(), Value::String(thing_id.to_owned()));
    match m.remove("policyId") {
        Some(Value::String(p)) => {
            out.insert("policyId".into(), Value::String(p));
        }
        Some(other) => return Err(wrong_type("a string", &other)),
        None => {
            if let Some(p) = keep_policy {
                out.insert("policyId".into(), Value::String(p.to_owned()));
            }
        }
    }
    for key in ["definition", "attributes", "features"] {
        if let Some(v) = m.remove(key) {
            if !v.is_null() || key == "definition" {
                out.insert(key.into(), v);
            }
        }
    }
    // `_policy` and other special fields are `things::command`'s concern or ignored, as in Ditto.
    let thing = Value::Object(out);
    validate_thing(&thing)?;
    Ok(thing)
}

/// Ditto counts the characters of the compact JSON against the limit; exactly the limit passes.
fn check_size(thing: &Value, limits: &Limits) -> Result<(), Error> {
    let size = Twin::char_size(thing);
    if size > limits.thing_bytes {
        return Err(Error::ThingTooLarge {
            size,
            max: limits.thing_bytes,
        });
    }
    Ok(())
}

/// Feature sub-resources need their feature to exist (Ditto answers `feature.notfound`).
fn require_feature(twin: &Twin, req: &Request) -> Result<(), Error> {
    if let Some(f) = req.resource.feature_id() {
        if !matches!(req.resource, ThingResource::Feature(_))
            && twin
                .thing
                .get("features")
                .and_then(|fs| fs.get(f))
                .is_none()
        {
            return Err(Error::FeatureNotFound {
                thing: req.thing_id.to_owned(),
                feature: f.to_owned(),
            });
        }
    }
    Ok(())
}

fn next(twin: &Twin, thing: Value, now: &str) -> Twin {
    Twin {
        thing,
        revision: twin.revision + 1,
        created: twin.created.clone(),
        modified: now.to_owned(),
    }
}

fn modify(
    twin: &Twin,
    req: &Request,
    ptr: &Pointer,
    access: &dyn Access,
    now: &str,
    limits: &Limits,
) -> Result<Outcome, Error> {
    let value = required_value(req)?;
    if !access.write(ptr) {
        return Err(req.resource.not_modifiable(req.thing_id, false));
    }
    let (thing, existed) = if *req.resource == ThingResource::Thing {
        (
            normalize_thing(req.thing_id, value.clone(), twin.policy_id())?,
            true,
        )
    } else {
        require_feature(twin, req)?;
        validate_resource(req.resource, value)?;
        let mut thing = twin.thing.clone();
        let existed = ptr.set(&mut thing, value.clone()).is_some();
        (thing, existed)
    };
    check_size(&thing, limits)?;
    let new_value = ptr.get(&thing).cloned();
    let twin = next(twin, thing, now);
    Ok(if existed {
        Outcome::Changed {
            status: 204,
            value: None,
            twin: Some(twin),
            event: Action::Modified,
            event_value: new_value,
        }
    } else {
        Outcome::Changed {
            status: 201,
            value: new_value.clone(),
            twin: Some(twin),
            event: Action::Created,
            event_value: new_value,
        }
    })
}

/// RFC 7396 JSON merge patch, as Ditto's merge commands apply it.
pub fn merge_patch(mut target: Value, patch: &Value) -> Value {
    json_patch::merge(&mut target, patch);
    target
}

/// The pointers of every leaf a merge patch writes or deletes, relative to where it applies.
pub(super) fn patch_leaves(patch: &Value, at: &Pointer, out: &mut Vec<Pointer>) {
    match patch {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let mut p = at.clone();
                p.push(k.clone());
                patch_leaves(v, &p, out);
            }
        }
        _ => out.push(at.clone()),
    }
}

fn merge(
    twin: &Twin,
    req: &Request,
    ptr: &Pointer,
    access: &dyn Access,
    now: &str,
    limits: &Limits,
) -> Result<Outcome, Error> {
    check_merge_content_type(req.headers)?;
    let patch = required_value(req)?;
    match req.resource {
        ThingResource::Thing => check_root_patch(patch)?,
        ThingResource::PolicyId if patch.is_null() => return Err(Error::PolicyIdNotDeletable),
        _ => {}
    }
    validate_keys(patch)?;
    if let Some(Value::String(id)) = patch
        .get("thingId")
        .filter(|_| *req.resource == ThingResource::Thing)
    {
        if id != req.thing_id {
            return Err(Error::ThingIdNotSettable {
                in_topic: req.thing_id.to_owned(),
                in_value: id.clone(),
            });
        }
    }
    // Merge needs WRITE on everything the patch touches, not on the whole resource.
    let mut leaves = Vec::new();
    patch_leaves(patch, ptr, &mut leaves);
    if !leaves.iter().all(|l| access.write(l)) {
        return Err(req.resource.not_modifiable(req.thing_id, false));
    }
    let mut thing = twin.thing.clone();
    let target = ptr.get(&thing).cloned().unwrap_or(Value::Null);
    let merged = merge_patch(target, patch);
    if ptr.is_root() {
        thing = merged;
    } else if merged.is_null() {
        ptr.remove(&mut thing);
    } else {
        ptr.set(&mut thing, merged);
    }
    // The merged result must still be a valid thing with its own id and a policy.
    if let Value::Object(m) = &mut thing {
        m.insert("thingId".into(), Value::String(req.thing_id.to_owned()));
        if !m.contains_key("policyId") {
            if let Some(p) = twin.policy_id() {
                m.insert("policyId".into(), Value::String(p.to_owned()));
            }
        }
    }
    let thing = normalize_thing(req.thing_id, thing, twin.policy_id())?;
    check_size(&thing, limits)?;
    let twin = next(twin, thing, now);
    Ok(Outcome::Changed {
        status: 204,
        value: None,
        twin: Some(twin),
        event: Action::Merged,
        event_value: Some(patch.clone()),
    })
}

fn delete(
    twin: &Twin,
    req: &Request,
    ptr: &Pointer,
    access: &dyn Access,
    now: &str,
) -> Result<Outcome, Error> {
    if *req.resource == ThingResource::PolicyId {
        // A thing always has a policy; Ditto has no command deleting it.
        return Err(Error::UnsupportedTopicPath {
            topic: req.topic.to_owned(),
            path: ptr.to_string(),
        });
    }
    if *req.resource == ThingResource::Thing {
        if !access.write(ptr) {
            return Err(req.resource.not_modifiable(req.thing_id, true));
        }
        return Ok(Outcome::Changed {
            status: 204,
            value: None,
            twin: None,
            event: Action::Deleted,
            event_value: None,
        });
    }
    require_feature(twin, req)?;
    let readable = ptr.get(&twin.thing).is_some() && access.read_partial(ptr);
    if !readable {
        return Err(req.resource.not_found(req.thing_id));
    }
    if !access.write(ptr) {
        return Err(req.resource.not_modifiable(req.thing_id, false));
    }
    let mut thing = twin.thing.clone();
    ptr.remove(&mut thing);
    let twin = next(twin, thing, now);
    Ok(Outcome::Changed {
        status: 204,
        value: None,
        twin: Some(twin),
        event: Action::Deleted,
        event_value: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "org.example:demo";
    const NOW: &str = "2026-11-24T10:00:00.000000Z";
    const LATER: &str = "2026-11-24T10:00:01.000000Z";
    const LIMITS: Limits = Limits {
        thing_bytes: 102_400,
    };

    fn twin(thing: Value) -> Twin {
        Twin {
            thing,
            revision: 1,
            created: NOW.into(),
            modified: NOW.into(),
        }
    }

    fn base() -> Twin {
        twin(
            json!({"thingId": ID, "policyId": ID, "attributes": {"location": "lab"},
            "features": {"lamp": {"properties": {"on": false}, "desiredProperties": {"on": true}, "definition": ["a:b:1"]}}}),
        )
    }

    fn run(
        current: Option<&Twin>,
        action: Action,
        path: &str,
        value: Option<Value>,
        headers: Headers,
    ) -> Result<Outcome, Error> {
        let resource = ThingResource::parse(path).unwrap();
        let mut headers = headers;
        if action == Action::Merge && !headers.contains("content-type") {
            headers.insert("content-type", "application/merge-patch+json");
        }
        let req = Request {
            topic: "t",
            thing_id: ID,
            action,
            resource: &resource,
            value: value.as_ref(),
            headers: &headers,
            fields: None,
        };
        apply(current, &req, &FullAccess, LATER, &LIMITS)
    }

    /// (status, response value, event action, event value, revision after) of a success.
    fn changed(o: Outcome) -> (u16, Option<Value>, Action, Option<Value>, Option<i64>) {
        match o {
            Outcome::Changed {
                status,
                value,
                twin,
                event,
                event_value,
            } => (status, value, event, event_value, twin.map(|t| t.revision)),
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn every_modifying_command_of_the_table_has_dittos_status_event_and_revision() {
        let b = base();
        type Case = (
            Action,
            &'static str,
            Option<Value>,
            u16,
            Option<Value>,
            Action,
            Option<Value>,
        );
        let table: Vec<Case> = vec![
            (
                Action::Modify,
                "/attributes",
                Some(json!({"a": 1})),
                204,
                None,
                Action::Modified,
                Some(json!({"a": 1})),
            ),
            (
                Action::Modify,
                "/attributes/location",
                Some(json!("office")),
                204,
                None,
                Action::Modified,
                Some(json!("office")),
            ),
            (
                Action::Modify,
                "/attributes/new/deep",
                Some(json!(5)),
                201,
                Some(json!(5)),
                Action::Created,
                Some(json!(5)),
            ),
            (
                Action::Modify,
                "/definition",
                Some(json!("a:b:1")),
                201,
                Some(json!("a:b:1")),
                Action::Created,
                Some(json!("a:b:1")),
            ),
            (
                Action::Modify,
                "/policyId",
                Some(json!("org.example:other")),
                204,
                None,
                Action::Modified,
                Some(json!("org.example:other")),
            ),
            (
                Action::Modify,
                "/features",
                Some(json!({"x": {}})),
                204,
                None,
                Action::Modified,
                Some(json!({"x": {}})),
            ),
            (
                Action::Modify,
                "/features/fan",
                Some(json!({"properties": {"rpm": 1}})),
                201,
                Some(json!({"properties": {"rpm": 1}})),
                Action::Created,
                Some(json!({"properties": {"rpm": 1}})),
            ),
            (
                Action::Modify,
                "/features/lamp/definition",
                Some(json!(["x:y:2"])),
                204,
                None,
                Action::Modified,
                Some(json!(["x:y:2"])),
            ),
            (
                Action::Modify,
                "/features/lamp/properties",
                Some(json!({"on": true})),
                204,
                None,
                Action::Modified,
                Some(json!({"on": true})),
            ),
            (
                Action::Modify,
                "/features/lamp/properties/on",
                Some(json!(true)),
                204,
                None,
                Action::Modified,
                Some(json!(true)),
            ),
            (
                Action::Modify,
                "/features/lamp/properties/level",
                Some(json!(3)),
                201,
                Some(json!(3)),
                Action::Created,
                Some(json!(3)),
            ),
            (
                Action::Modify,
                "/features/lamp/desiredProperties",
                Some(json!({"on": false})),
                204,
                None,
                Action::Modified,
                Some(json!({"on": false})),
            ),
            (
                Action::Modify,
                "/features/lamp/desiredProperties/on",
                Some(json!(false)),
                204,
                None,
                Action::Modified,
                Some(json!(false)),
            ),
            (
                Action::Merge,
                "/",
                Some(json!({"attributes": {"x": 1}})),
                204,
                None,
                Action::Merged,
                Some(json!({"attributes": {"x": 1}})),
            ),
            (
                Action::Merge,
                "/attributes",
                Some(json!({"location": null})),
                204,
                None,
                Action::Merged,
                Some(json!({"location": null})),
            ),
            (
                Action::Merge,
                "/features/lamp/properties/on",
                Some(json!(true)),
                204,
                None,
                Action::Merged,
                Some(json!(true)),
            ),
            (
                Action::Delete,
                "/attributes/location",
                None,
                204,
                None,
                Action::Deleted,
                None,
            ),
            (
                Action::Delete,
                "/attributes",
                None,
                204,
                None,
                Action::Deleted,
                None,
            ),
            (
                Action::Delete,
                "/features/lamp/properties/on",
                None,
                204,
                None,
                Action::Deleted,
                None,
            ),
            (
                Action::Delete,
                "/features/lamp/definition",
                None,
                204,
                None,
                Action::Deleted,
                None,
            ),
            (
                Action::Delete,
                "/features/lamp/desiredProperties",
                None,
                204,
                None,
                Action::Deleted,
                None,
            ),
            (
                Action::Delete,
                "/features/lamp",
                None,
                204,
                None,
                Action::Deleted,
                None,
            ),
            (
                Action::Delete,
                "/features",
                None,
                204,
                None,
                Action::Deleted,
                None,
            ),
        ];
        for (action, path, value, status, resp, event, event_value) in table {
            let got = changed(
                run(Some(&b), action, path, value, Headers::new())
                    .unwrap_or_else(|e| panic!("{action:?} {path}: {e}")),
            );
            assert_eq!(
                got,
                (status, resp, event, event_value, Some(2)),
                "{action:?} {path}"
            );
        }
    }

    #[test]
    fn create_answers_201_with_the_thing_and_revision_1() {
        let (status, value, event, event_value, rev) = changed(
            run(
                None,
                Action::Create,
                "/",
                Some(json!({"policyId": ID, "attributes": {"a": 1}})),
                Headers::new(),
            )
            .unwrap(),
        );
        let expected = json!({"thingId": ID, "policyId": ID, "attributes": {"a": 1}});
        assert_eq!(
            (status, value, event, event_value, rev),
            (
                201,
                Some(expected.clone()),
                Action::Created,
                Some(expected),
                Some(1)
            )
        );
    }

    #[test]
    fn modify_and_merge_of_a_missing_thing_create_it() {
        assert_eq!(
            changed(
                run(
                    None,
                    Action::Modify,
                    "/",
                    Some(json!({"attributes": {}})),
                    Headers::new()
                )
                .unwrap()
            )
            .0,
            201
        );
        let (status, value, event, _, _) = changed(
            run(
                None,
                Action::Merge,
                "/",
                Some(json!({"attributes": {"a": null, "b": 1}})),
                Headers::new(),
            )
            .unwrap(),
        );
        assert_eq!(
            (status, value.unwrap()["attributes"].clone(), event),
            (201, json!({"b": 1}), Action::Created)
        );
    }

    #[test]
    fn modify_of_the_whole_thing_keeps_its_policy_when_none_is_given() {
        let o = run(
            Some(&base()),
            Action::Modify,
            "/",
            Some(json!({"attributes": {"z": 1}})),
            Headers::new(),
        )
        .unwrap();
        match o {
            Outcome::Changed {
                twin: Some(t),
                status: 204,
                event: Action::Modified,
                ..
            } => {
                assert_eq!(
                    t.thing,
                    json!({"thingId": ID, "policyId": ID, "attributes": {"z": 1}})
                );
                assert_eq!(t.revision, 2);
                assert_eq!(t.modified, LATER);
                assert_eq!(t.created, NOW);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retrieves_answer_200_with_the_value_at_the_path() {
        let b = base();
        for (path, expected) in [
            ("/", b.thing.clone()),
            ("/attributes", json!({"location": "lab"})),
            ("/attributes/location", json!("lab")),
            ("/policyId", json!(ID)),
            ("/features/lamp/properties/on", json!(false)),
            ("/features/lamp/definition", json!(["a:b:1"])),
            ("/features/lamp/desiredProperties", json!({"on": true})),
        ] {
            match run(Some(&b), Action::Retrieve, path, None, Headers::new()).unwrap() {
                Outcome::Read { value, etag } => {
                    assert_eq!(value, expected, "{path}");
                    assert_eq!(etag, "\"rev:1\"");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn errors_name_the_missing_resource() {
        let b = base();
        type Case<'a> = (Option<&'a Twin>, Action, &'a str, Option<Value>, &'a str);
        let table: Vec<Case> = vec![
            (None, Action::Retrieve, "/", None, "things:thing.notfound"),
            (
                None,
                Action::Modify,
                "/attributes/x",
                Some(json!(1)),
                "things:thing.notfound",
            ),
            (
                None,
                Action::Merge,
                "/attributes",
                Some(json!({})),
                "things:thing.notfound",
            ),
            (None, Action::Delete, "/", None, "things:thing.notfound"),
            (
                Some(&b),
                Action::Create,
                "/",
                Some(json!({})),
                "things:thing.conflict",
            ),
            (
                Some(&b),
                Action::Retrieve,
                "/attributes/nope",
                None,
                "things:attribute.notfound",
            ),
            (
                Some(&b),
                Action::Retrieve,
                "/definition",
                None,
                "things:definition.notfound",
            ),
            (
                Some(&b),
                Action::Retrieve,
                "/features/nope",
                None,
                "things:feature.notfound",
            ),
            (
                Some(&b),
                Action::Retrieve,
                "/features/lamp/properties/x",
                None,
                "things:feature.property.notfound",
            ),
            (
                Some(&b),
                Action::Retrieve,
                "/features/nope/properties",
                None,
                "things:feature.notfound",
            ),
            (
                Some(&b),
                Action::Modify,
                "/features/nope/properties/x",
                Some(json!(1)),
                "things:feature.notfound",
            ),
            (
                Some(&b),
                Action::Delete,
                "/attributes/nope",
                None,
                "things:attribute.notfound",
            ),
            (
                Some(&b),
                Action::Delete,
                "/features/lamp/properties/nope",
                None,
                "things:feature.property.notfound",
            ),
            (
                Some(&b),
                Action::Modify,
                "/attributes",
                Some(json!(5)),
                "json.format.invalid",
            ),
            (
                Some(&b),
                Action::Modify,
                "/attributes/x",
                None,
                "json.invalid",
            ),
            (
                Some(&b),
                Action::Modify,
                "/features/lamp/definition",
                Some(json!("x")),
                "json.format.invalid",
            ),
            (
                Some(&b),
                Action::Modify,
                "/features/lamp/definition",
                Some(json!(["nope"])),
                "things:definition.identifier.invalid",
            ),
            (
                Some(&b),
                Action::Modify,
                "/features/lamp/definition",
                Some(json!([])),
                "things:feature.definition.empty",
            ),
            (
                Some(&b),
                Action::Modify,
                "/definition",
                Some(json!(5)),
                "json.format.invalid",
            ),
            (
                Some(&b),
                Action::Modify,
                "/attributes/x",
                Some(json!({"a/b": 1})),
                "json.key.invalid",
            ),
            (
                Some(&b),
                Action::Modify,
                "/features/lamp/properties",
                Some(json!({"é": 1})),
                "json.key.invalid",
            ),
            (
                Some(&b),
                Action::Merge,
                "/",
                Some(json!({})),
                "things:merge.invalid",
            ),
            (
                Some(&b),
                Action::Merge,
                "/",
                Some(json!({"policyId": null})),
                "things:policyId.notdeletable",
            ),
            (
                Some(&b),
                Action::Merge,
                "/",
                Some(json!({"thingId": null})),
                "things:id.notdeletable",
            ),
            (
                Some(&b),
                Action::Merge,
                "/policyId",
                Some(Value::Null),
                "things:policyId.notdeletable",
            ),
            (
                None,
                Action::Create,
                "/",
                Some(json!({"thingId": "org.example:other"})),
                "things:id.notsettable",
            ),
            (
                None,
                Action::Create,
                "/attributes",
                Some(json!({})),
                "protocoladapter:unknown.topicpath",
            ),
            (
                Some(&b),
                Action::Delete,
                "/policyId",
                None,
                "protocoladapter:unknown.topicpath",
            ),
        ];
        for (cur, action, path, value, code) in table {
            let e = run(cur, action, path, value, Headers::new()).unwrap_err();
            assert_eq!(e.to_ditto().error, code, "{action:?} {path}: {e}");
        }
    }

    #[test]
    fn merge_needs_the_merge_patch_content_type() {
        let b = base();
        let mut h = Headers::new();
        h.insert("content-type", "application/json");
        let e = run(
            Some(&b),
            Action::Merge,
            "/attributes",
            Some(json!({"a": 1})),
            h,
        )
        .unwrap_err();
        assert_eq!(
            (e.to_ditto().status, e.to_ditto().error.as_ref()),
            (415, "mediatype.unsupported")
        );
        let mut h = Headers::new();
        h.insert(
            "Content-Type",
            "application/merge-patch+json; charset=utf-8",
        );
        assert!(run(
            Some(&b),
            Action::Merge,
            "/attributes",
            Some(json!({"a": 1})),
            h
        )
        .is_ok());
    }

    #[test]
    fn entity_tags_must_be_quoted() {
        let mut h = Headers::new();
        h.insert("if-match", "rev:1");
        let e = run(
            Some(&base()),
            Action::Modify,
            "/attributes/a",
            Some(json!(1)),
            h,
        )
        .unwrap_err();
        assert_eq!(e.to_ditto().error, "header.invalid");
    }

    #[test]
    fn preconditions_are_skipped_for_retrieving_or_deleting_a_missing_thing() {
        let mut h = Headers::new();
        h.insert("if-match", "\"rev:1\"");
        assert_eq!(
            run(None, Action::Retrieve, "/", None, h.clone())
                .unwrap_err()
                .to_ditto()
                .status,
            404
        );
        assert_eq!(
            run(None, Action::Delete, "/", None, h)
                .unwrap_err()
                .to_ditto()
                .status,
            404
        );
    }

    #[test]
    fn the_thing_size_limit_is_413() {
        let big = "x".repeat(LIMITS.thing_bytes);
        let e = run(
            Some(&base()),
            Action::Modify,
            "/attributes/big",
            Some(json!(big)),
            Headers::new(),
        )
        .unwrap_err();
        assert_eq!(e.to_ditto().status, 413);
        assert_eq!(e.to_ditto().error, "things:thing.toolarge");
    }

    #[test]
    fn preconditions_compare_the_revision_tag() {
        let b = base();
        let h = |k: &str, v: &str| {
            let mut h = Headers::new();
            h.insert(k, v);
            h
        };
        let ok = |action, path: &str, v: Option<Value>, headers| {
            run(Some(&b), action, path, v, headers).is_ok()
        };
        assert!(ok(
            Action::Modify,
            "/attributes/location",
            Some(json!(1)),
            h("if-match", "\"rev:1\"")
        ));
        assert!(ok(
            Action::Modify,
            "/attributes/location",
            Some(json!(1)),
            h("If-Match", "\"rev:0\", \"rev:1\"")
        ));
        // A resource that does not exist has no entity tag: if-match fails (Ditto: 'null').
        assert!(!ok(
            Action::Modify,
            "/attributes/a",
            Some(json!(1)),
            h("if-match", "\"rev:1\"")
        ));
        assert!(ok(
            Action::Modify,
            "/attributes/location",
            Some(json!(1)),
            h("if-match", "*")
        ));
        let e = run(
            Some(&b),
            Action::Modify,
            "/attributes/a",
            Some(json!(1)),
            h("if-match", "\"rev:7\""),
        )
        .unwrap_err();
        assert_eq!(e.to_ditto().status, 412);
        let e = run(
            Some(&b),
            Action::Modify,
            "/attributes/a",
            Some(json!(1)),
            h("if-match", "*"),
        )
        .unwrap_err();
        assert_eq!(e.to_ditto().status, 412, "* requires the resource to exist");
        let e = run(
            Some(&b),
            Action::Retrieve,
            "/",
            None,
            h("if-none-match", "\"rev:1\""),
        )
        .unwrap_err();
        assert_eq!(e.to_ditto().status, 304);
        let e = run(
            Some(&b),
            Action::Modify,
            "/",
            Some(json!({})),
            h("if-none-match", "*"),
        )
        .unwrap_err();
        assert_eq!(e.to_ditto().status, 412);
        assert!(run(
            None,
            Action::Modify,
            "/",
            Some(json!({})),
            h("if-none-match", "*")
        )
        .is_ok());
        let e = run(
            None,
            Action::Modify,
            "/",
            Some(json!({})),
            h("if-match", "*"),
        )
        .unwrap_err();
        assert_eq!(e.to_ditto().status, 412);
    }

    #[test]
    fn retrieve_with_fields_selects_parts_and_special_fields() {
        let b = base();
        let sel = FieldSelector::parse("thingId,attributes/location,_revision,_modified").unwrap();
        let resource = ThingResource::Thing;
        let headers = Headers::new();
        let req = Request {
            topic: "t",
            thing_id: ID,
            action: Action::Retrieve,
            resource: &resource,
            value: None,
            headers: &headers,
            fields: Some(&sel),
        };
        match apply(Some(&b), &req, &FullAccess, LATER, &LIMITS).unwrap() {
            Outcome::Read { value, .. } => {
                assert_eq!(
                    value,
                    json!({"thingId": ID, "attributes": {"location": "lab"}, "_revision": 1, "_modified": NOW})
                )
            }
            other => panic!("{other:?}"),
        }
    }

    struct ReadOnlyAttributes;
    impl Access for ReadOnlyAttributes {
        fn read_partial(&self, p: &Pointer) -> bool {
            p.is_root()
                || p.starts_with(&Pointer::parse("/attributes"))
                || Pointer::parse("/attributes").starts_with(p)
        }
        fn write(&self, _: &Pointer) -> bool {
            false
        }
        fn retrieve_view(&self, p: &Pointer, v: &Value) -> Value {
            if p.is_root() {
                return json!({"thingId": v["thingId"], "attributes": v.get("attributes").cloned().unwrap_or(json!({}))});
            }
            v.clone()
        }
    }

    #[test]
    fn a_partial_reader_gets_only_readable_parts_and_cannot_write() {
        let b = base();
        let run_ro = |action, path: &str, value: Option<Value>| {
            let resource = ThingResource::parse(path).unwrap();
            let headers = Headers::new();
            let req = Request {
                topic: "t",
                thing_id: ID,
                action,
                resource: &resource,
                value: value.as_ref(),
                headers: &headers,
                fields: None,
            };
            apply(Some(&b), &req, &ReadOnlyAttributes, LATER, &LIMITS)
        };
        match run_ro(Action::Retrieve, "/", None).unwrap() {
            Outcome::Read { value, .. } => assert_eq!(
                value,
                json!({"thingId": ID, "attributes": {"location": "lab"}})
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            run_ro(Action::Retrieve, "/features", None)
                .unwrap_err()
                .to_ditto()
                .error,
            "things:features.notfound"
        );
        assert_eq!(
            run_ro(Action::Modify, "/attributes/x", Some(json!(1)))
                .unwrap_err()
                .to_ditto()
                .error,
            "things:attribute.notmodifiable"
        );
        assert_eq!(
            run_ro(Action::Delete, "/", None)
                .unwrap_err()
                .to_ditto()
                .status,
            403
        );
    }
}
