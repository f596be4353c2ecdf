//! API version 1 (`/ws/1`, the binding page's older endpoint): a thing carries an `acl`
//! (subject → READ/WRITE/ADMINISTRATE) instead of a `policyId`. The ACL is kept as an equivalent
//! policy under the thing's id (`policy_from_acl`), so commands and events are enforced by the same
//! machinery as API 2; only the JSON the client sees differs: `acl` in place of `policyId`, and the
//! `/acl` resources.

use crate::policies::{CachedPolicy, StoredPolicy};
use serde_json::{Map, Value};
use std::sync::Arc;
use twinwire_common::policy::{
    acl_from_policy, default_acl, policy_from_acl, Enforcer, Permission, Policy,
};
use twinwire_common::Error;

/// A path under `/acl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclPath {
    Whole,
    Entry(String),
}

pub fn acl_path(path: &str) -> Option<AclPath> {
    let p = path.trim_start_matches('/').trim_end_matches('/');
    match p.split_once('/') {
        None if p == "acl" => Some(AclPath::Whole),
        Some(("acl", subject)) if !subject.is_empty() => Some(AclPath::Entry(subject.to_owned())),
        _ => None,
    }
}

/// The policy a new v1 thing gets: from its `acl`, or Ditto 1.x's default (the creator with all
/// three permissions).
pub fn creation_policy(
    thing_id: &str,
    value: Option<&Value>,
    subjects: &[String],
) -> Result<Policy, Error> {
    let acl = match value.and_then(|v| v.get("acl")) {
        Some(acl) => acl.clone(),
        None => default_acl(subjects.first().map(String::as_str).unwrap_or_default()),
    };
    Ok(policy_from_acl(thing_id, &acl)?)
}

/// A whole thing as a v1 client sees it: `acl` instead of `policyId`.
pub fn to_v1_thing(thing: &Value, policy: Option<&Policy>) -> Value {
    let Value::Object(m) = thing else {
        return thing.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        if k == "policyId" {
            if let Some(p) = policy {
                out.insert("acl".into(), acl_from_policy(p));
            }
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The ACL after a modify or delete at `path` (None: delete).
pub fn changed_acl(
    current: &Policy,
    path: &AclPath,
    value: Option<&Value>,
) -> Result<Value, Error> {
    let mut acl = acl_from_policy(current);
    match (path, value) {
        (AclPath::Whole, Some(v)) => acl = v.clone(),
        (AclPath::Whole, None) => {
            return Err(Error::UnsupportedTopicPath {
                topic: "things/twin/commands/delete".into(),
                path: "/acl".into(),
            })
        }
        (AclPath::Entry(s), Some(v)) => {
            if let Value::Object(m) = &mut acl {
                m.insert(s.clone(), v.clone());
            }
        }
        (AclPath::Entry(s), None) => {
            let removed = acl.as_object_mut().and_then(|m| m.remove(s));
            if removed.is_none() {
                return Err(Error::AclEntryNotFound {
                    thing: None,
                    subject: s.clone(),
                });
            }
        }
    }
    Ok(acl)
}

/// ADMINISTRATE is unrestricted WRITE on `policy:/` of the ACL's policy.
pub fn may_administrate(enforcer: &Enforcer, subjects: &[String]) -> bool {
    enforcer.has_unrestricted(subjects, "policy", "/", Permission::Write)
}

/// A cached policy for a (new or changed) ACL.
pub fn cached(
    thing_id: &str,
    policy: Policy,
    revision: i64,
    created: &str,
    now: &str,
) -> Arc<CachedPolicy> {
    let stored = StoredPolicy {
        json: policy.to_json(),
        revision,
        created: created.to_owned(),
        modified: now.to_owned(),
    };
    Arc::new(CachedPolicy {
        id: thing_id.to_owned(),
        enforcer: Enforcer::new(&policy),
        policy,
        stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acl_paths_are_recognised() {
        assert_eq!(acl_path("/acl"), Some(AclPath::Whole));
        assert_eq!(
            acl_path("/acl/nginx:ditto"),
            Some(AclPath::Entry("nginx:ditto".into()))
        );
        assert_eq!(acl_path("/attributes"), None);
        assert_eq!(acl_path("/aclx"), None);
    }

    #[test]
    fn v1_things_show_the_acl_in_place_of_the_policy_id() {
        let p = creation_policy("a:b", None, &["nginx:ditto".into()]).unwrap();
        let v1 = to_v1_thing(
            &json!({"thingId": "a:b", "policyId": "a:b", "attributes": {}}),
            Some(&p),
        );
        assert_eq!(
            v1,
            json!({"thingId": "a:b", "acl": {"nginx:ditto": {"READ": true, "WRITE": true, "ADMINISTRATE": true}}, "attributes": {}})
        );
    }

    #[test]
    fn acl_changes_keep_or_reject_entries() {
        let p = creation_policy("a:b", None, &["nginx:ditto".into()]).unwrap();
        let acl = changed_acl(
            &p,
            &AclPath::Entry("nginx:bob".into()),
            Some(&json!({"READ": true, "WRITE": false, "ADMINISTRATE": false})),
        )
        .unwrap();
        assert_eq!(acl["nginx:bob"]["READ"], true);
        assert!(changed_acl(&p, &AclPath::Entry("nginx:nobody".into()), None).is_err());
    }
}
