//! API version 1: a thing's access control list (`{subject: {"READ": bool, "WRITE": bool,
//! "ADMINISTRATE": bool}}`) mapped onto an equivalent policy, and back.
//!
//! Ditto 1.x (`basic-acl.md`, removed in 2.0; `model/things/.../ImmutableAclEntry`, `AclValidator`;
//! `model/enforcers/.../AclEnforcer`):
//! * READ reads the whole thing, its ACL included, and receives its events and messages;
//! * WRITE modifies the thing and sends messages;
//! * ADMINISTRATE modifies the ACL;
//! * the ACL enforcer ignored resource paths: a permission holds on every path of the thing.
//!
//! The policy built here has one entry per permission, each naming the subjects that hold it:
//! * `READ`: READ on `thing:/`, `message:/` and `policy:/` (reading the ACL = reading the policy);
//! * `WRITE`: WRITE on `thing:/` and `message:/`;
//! * `ADMINISTRATE`: WRITE on `policy:/`.
//!
//! There are no revokes, so unrestricted and partial permissions coincide on every path, as with the ACL
//! enforcer. An entry nobody holds is left out. ACL subjects are plain authorization subject IDs (no
//! `issuer:` prefix needed); reload such a stored policy with [`Policy::from_stored_json`].

use super::enforcer::Enforcer;
use super::ids::{self, ResourceKey};
use super::model::Policy;
use super::permission::Permission;
use super::resource::Resource;
use super::subject::Subject;
use crate::error::DittoError;
use serde_json::{json, Map, Value};

const ACL_PERMISSIONS: [&str; 3] = ["READ", "WRITE", "ADMINISTRATE"];
const ALL_PERMISSIONS_TEXT: &str = "<READ, WRITE, ADMINISTRATE>";
/// `Thing.MIN_REQUIRED_PERMISSIONS` as a Java `Set` prints.
const MIN_REQUIRED_TEXT: &str = "[READ, WRITE, ADMINISTRATE]";
/// The subject type of subjects taken over from an ACL.
const ACL_SUBJECT_TYPE: &str = "acl";

/// Parses and validates a v1 ACL and returns the equivalent policy (ID = thing ID). Errors are Ditto 1.x's:
/// `things:acl.entry.invalid` for a malformed entry, `things:acl.invalid` when no subject holds all three
/// permissions (`AclValidator` with `Thing.MIN_REQUIRED_PERMISSIONS`, checked on create and on every ACL
/// change).
pub fn policy_from_acl(thing_id: &str, acl: &Value) -> Result<Policy, DittoError> {
    let entries = parse_acl(acl)?;
    validate_acl(thing_id, &entries)?;
    let holders = |i: usize| -> Vec<Subject> {
        entries
            .iter()
            .filter(|(_, p)| p[i])
            .map(|(s, _)| Subject::new(s, ACL_SUBJECT_TYPE))
            .collect()
    };
    let grant =
        |rtype: &'static str, p: Permission| Resource::new(ResourceKey::root(rtype), &[p], &[]);
    let layout: [(&str, Vec<Resource>); 3] = [
        (
            "READ",
            vec![
                grant("thing", Permission::Read),
                grant("message", Permission::Read),
                grant("policy", Permission::Read),
            ],
        ),
        (
            "WRITE",
            vec![
                grant("thing", Permission::Write),
                grant("message", Permission::Write),
            ],
        ),
        ("ADMINISTRATE", vec![grant("policy", Permission::Write)]),
    ];
    let policy_entries = layout
        .into_iter()
        .enumerate()
        .filter_map(|(i, (label, resources))| {
            let subjects = holders(i);
            (!subjects.is_empty()).then(|| Policy::entry_with_parts(label, subjects, resources))
        })
        .collect();
    Ok(Policy::from_parts(thing_id, policy_entries))
}

/// The ACL Ditto 1.x created for a thing created without one: the given subject with all permissions.
pub fn default_acl(subject: &str) -> Value {
    json!({ subject: { "READ": true, "WRITE": true, "ADMINISTRATE": true } })
}

/// The ACL view of any policy, for v1 retrieves: every subject the policy names, with READ = unrestricted
/// READ on `thing:/`, WRITE = unrestricted WRITE on `thing:/`, ADMINISTRATE = unrestricted WRITE on
/// `policy:/`, judged for that subject alone; subjects holding none are left out. For a policy made by
/// [`policy_from_acl`] this returns the original ACL.
pub fn acl_from_policy(policy: &Policy) -> Value {
    let enforcer = Enforcer::new(policy);
    let mut out = Map::new();
    for subject in enforcer.subjects() {
        let me = std::slice::from_ref(subject);
        let read = enforcer.has_unrestricted(me, "thing", "/", Permission::Read);
        let write = enforcer.has_unrestricted(me, "thing", "/", Permission::Write);
        let admin = enforcer.has_unrestricted(me, "policy", "/", Permission::Write);
        if read || write || admin {
            out.insert(
                subject.clone(),
                json!({ "READ": read, "WRITE": write, "ADMINISTRATE": admin }),
            );
        }
    }
    Value::Object(out)
}

/// `ImmutableAclEntry.of` for every member: each value an object holding all three permissions as
/// booleans, at least one of them true.
fn parse_acl(acl: &Value) -> Result<Vec<(String, [bool; 3])>, DittoError> {
    let Value::Object(m) = acl else {
        return Err(DittoError::json_wrong_type(acl, "/acl", "JsonObject"));
    };
    let mut out = Vec::with_capacity(m.len());
    for (subject, value) in m.iter().filter(|(k, _)| k.as_str() != "__schemaVersion") {
        let expected = || {
            format!(
                "Expected for Authorization Subject '{subject}' a JSON object containing all of \
                 {ALL_PERMISSIONS_TEXT} but got <{value}>!"
            )
        };
        let Value::Object(perms) = value else {
            return Err(DittoError::json_invalid_described(
                String::new(),
                expected(),
            ));
        };
        if perms.is_empty() {
            return Err(DittoError::acl_entry_invalid(None, Some(expected())));
        }
        ids::validate_subject_id(subject, false)?;
        let mut held = [false; 3];
        for (i, name) in ACL_PERMISSIONS.iter().enumerate() {
            match perms.get(*name) {
                Some(Value::Bool(b)) => held[i] = *b,
                Some(other) => {
                    return Err(DittoError::acl_entry_invalid(
                        Some(format!(
                            "Expected for permission '{name}' of Authorization Subject '{subject}' the value <true> \
                             or <false> but got <{other}>!"
                        )),
                        None,
                    ))
                }
                None => {
                    return Err(DittoError::acl_entry_invalid(
                        Some(format!(
                            "Expected for Authorization Subject '{subject}' the permission '{name}' with value <true> \
                             or <false> but the permission is absent at all!"
                        )),
                        None,
                    ))
                }
            }
        }
        if !held.contains(&true) {
            return Err(DittoError::acl_entry_invalid(
                Some(format!(
                    "The ACL entry for '{subject}' did not contain any permission of {ALL_PERMISSIONS_TEXT} which \
                     evaluates to <true>!"
                )),
                None,
            ));
        }
        out.push((subject.clone(), held));
    }
    Ok(out)
}

/// `AclValidator` with READ, WRITE and ADMINISTRATE required of at least one subject.
fn validate_acl(thing_id: &str, entries: &[(String, [bool; 3])]) -> Result<(), DittoError> {
    if let [(subject, held)] = entries {
        if held != &[true; 3] {
            return Err(DittoError::acl_invalid(
                thing_id,
                format!("The Authorization Subject <{subject}> must have at least the permission(s): <{MIN_REQUIRED_TEXT}>!"),
            ));
        }
        return Ok(());
    }
    if entries.iter().any(|(_, held)| held == &[true; 3]) {
        Ok(())
    } else {
        Err(DittoError::acl_invalid(
            thing_id,
            format!("It must contain at least one Authorization Subject with the following permission(s): <{MIN_REQUIRED_TEXT}>!"),
        ))
    }
}
