//! The policies command group over the WebSocket (reference §3.5): create, modify, retrieve and
//! delete on the policy, its entries, one entry, an entry's subjects and resources (whole or one),
//! and imports, with Ditto's statuses and errors. Access is checked through the policy itself
//! (`policy:` resources): retrieves need READ somewhere at the path and answer only the readable
//! part, changes need WRITE on all of it; a policy the requester may not read at all does not exist
//! for them. Every change must leave someone able to write the policy (Ditto's lockout rule).

use super::cache::{CachedPolicy, StoredPolicy};
use serde_json::Value;
use std::sync::Arc;
use twinwire_common::bus::BusCommand;
use twinwire_common::policy::{
    self as model, Enforcer, Permission, Policy, PolicyEntry, ResourceKey,
};
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Action, Envelope, Topic};
use twinwire_common::things::Pointer;
use twinwire_common::{DittoError, Error};

/// What a policy command path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyResource {
    Policy,
    Entries,
    Entry(String),
    Subjects(String),
    Subject(String, String),
    Resources(String),
    Resource(String, String),
    Imports,
    Import(String),
}

impl PolicyResource {
    pub fn parse(path: &str) -> Result<PolicyResource, Error> {
        if path.contains("//") && !path.contains(":/") {
            return Err(Error::PointerInvalid(path.to_owned()));
        }
        let p = Pointer::parse(path);
        let s = p.segments();
        let unknown = || Error::UnknownPath {
            path: path.to_owned(),
        };
        Ok(match s {
            [] => PolicyResource::Policy,
            [a] if a == "entries" => PolicyResource::Entries,
            [a, l] if a == "entries" => PolicyResource::Entry(l.clone()),
            [a, l, b] if a == "entries" && b == "subjects" => PolicyResource::Subjects(l.clone()),
            [a, l, b, rest @ ..] if a == "entries" && b == "subjects" => {
                PolicyResource::Subject(l.clone(), rest.join("/"))
            }
            [a, l, b] if a == "entries" && b == "resources" => PolicyResource::Resources(l.clone()),
            // A resource key such as `thing:/attributes` spans segments: rejoin them.
            [a, l, b, rest @ ..] if a == "entries" && b == "resources" => {
                let raw = path
                    .split_once("/resources/")
                    .map(|(_, k)| k.trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| rest.join("/"));
                PolicyResource::Resource(l.clone(), raw)
            }
            [a] if a == "imports" => PolicyResource::Imports,
            [a, id] if a == "imports" => PolicyResource::Import(id.clone()),
            _ => return Err(unknown()),
        })
    }

    /// The `policy:` path the access check looks at.
    fn enforcement_path(&self) -> String {
        use PolicyResource::*;
        match self {
            Policy => "/".into(),
            Entries => "/entries".into(),
            Entry(l) => format!("/entries/{l}"),
            Subjects(l) => format!("/entries/{l}/subjects"),
            Subject(l, s) => format!("/entries/{l}/subjects/{s}"),
            Resources(l) => format!("/entries/{l}/resources"),
            Resource(l, _) => format!("/entries/{l}/resources"),
            Imports => "/imports".into(),
            Import(i) => format!("/imports/{i}"),
        }
    }

    fn not_found(&self, id: &str) -> DittoError {
        use PolicyResource::*;
        match self {
            Policy | Entries => DittoError::policy_not_found(id),
            Entry(l) => DittoError::entry_not_found(id, l),
            Subjects(l) => DittoError::subjects_not_found(id, l),
            Subject(l, s) => DittoError::subject_not_found(id, l, s),
            Resources(l) => DittoError::resources_not_found(id, l),
            Resource(l, r) => DittoError::resource_not_found(id, l, r),
            Imports => DittoError::imports_not_found(id),
            Import(i) => DittoError::import_not_found(id, i),
        }
    }

    fn not_modifiable(&self, id: &str) -> DittoError {
        use PolicyResource::*;
        match self {
            Policy | Entries => DittoError::policy_not_modifiable(id),
            Entry(l) => DittoError::entry_not_modifiable(id, l),
            Subjects(l) => DittoError::subjects_not_modifiable(id, l),
            Subject(l, s) => DittoError::subject_not_modifiable(id, l, s),
            Resources(l) => DittoError::resources_not_modifiable(id, l),
            Resource(l, r) => DittoError::resource_not_modifiable(id, l, r),
            Imports => DittoError::imports_not_modifiable(id),
            Import(i) => DittoError::import_not_modifiable(id, i),
        }
    }

    /// The entry a resource belongs to, for the entry-level lockout error.
    fn label(&self) -> Option<&str> {
        use PolicyResource::*;
        match self {
            Entry(l) | Subjects(l) | Subject(l, _) | Resources(l) | Resource(l, _) => Some(l),
            _ => None,
        }
    }
}

/// What a policy command changed.
pub struct PolicyChange {
    /// The policy afterwards; None when deleted.
    pub policy: Option<Arc<CachedPolicy>>,
    pub id: String,
}

pub struct PolicyDecision {
    pub response: Envelope,
    pub change: Option<PolicyChange>,
}

fn value_of(env: &Envelope) -> Result<&Value, Error> {
    env.value.as_ref().ok_or(Error::ValueMissing)
}

/// The value at a resource of `policy`, or None when absent.
fn current_value(policy: &Policy, r: &PolicyResource) -> Option<Value> {
    use PolicyResource::*;
    match r {
        Policy => Some(policy.to_json()),
        Entries => Some(policy.entries_to_json()),
        Entry(l) => policy.entry(l).map(PolicyEntry::to_json),
        Subjects(l) => policy.entry(l).map(PolicyEntry::subjects_to_json),
        Subject(l, s) => policy
            .entry(l)
            .and_then(|e| e.subject(s))
            .map(model::Subject::to_json),
        Resources(l) => policy.entry(l).map(PolicyEntry::resources_to_json),
        Resource(l, k) => {
            let key = ResourceKey::parse(k).ok()?;
            policy
                .entry(l)
                .and_then(|e| e.resource(&key))
                .map(model::Resource::to_json)
        }
        Imports => policy.imports().map(|m| Value::Object(m.clone())),
        Import(i) => policy.import(i).cloned(),
    }
}

/// Applies a modify of `r` with `value`; returns whether something was created.
fn modify(policy: &mut Policy, r: &PolicyResource, value: &Value) -> Result<bool, Error> {
    use PolicyResource::*;
    let id = policy.id().to_owned();
    Ok(match r {
        // The caller replaces the whole policy itself.
        Policy => false,
        Entries => {
            let entries = model::Policy::entries_from_json(value)?;
            let created = policy.entries().is_empty();
            policy.set_entries(entries);
            created
        }
        Entry(l) => policy.put_entry(PolicyEntry::from_json(l, value)?),
        Subjects(l) => {
            let subjects = PolicyEntry::subjects_from_json(value)?;
            policy
                .entry_mut(l)
                .ok_or_else(|| DittoError::entry_not_found(&id, l))?
                .set_subjects(subjects);
            false
        }
        Subject(l, s) => {
            let subject = model::Subject::from_json(s, value)?;
            policy
                .entry_mut(l)
                .ok_or_else(|| DittoError::entry_not_found(&id, l))?
                .put_subject(subject)
        }
        Resources(l) => {
            let resources = PolicyEntry::resources_from_json(value)?;
            policy
                .entry_mut(l)
                .ok_or_else(|| DittoError::entry_not_found(&id, l))?
                .set_resources(resources);
            false
        }
        Resource(l, k) => {
            let resource = model::Resource::from_json(k, value)?;
            policy
                .entry_mut(l)
                .ok_or_else(|| DittoError::entry_not_found(&id, l))?
                .put_resource(resource)
        }
        Imports => {
            let created = policy.imports().is_none();
            policy.set_imports(value)?;
            created
        }
        Import(i) => policy.put_import(i, value)?,
    })
}

/// Applies a delete of `r`.
fn delete(policy: &mut Policy, r: &PolicyResource) -> Result<(), Error> {
    use PolicyResource::*;
    let id = policy.id().to_owned();
    let missing = || -> Error { r.not_found(&id).into() };
    match r {
        Policy | Entries => {
            return Err(Error::UnsupportedTopicPath {
                topic: format!("{id}/policies/commands/delete"),
                path: "/entries".into(),
            })
        }
        Entry(l) => {
            policy.remove_entry(l).ok_or_else(missing)?;
        }
        Subject(l, s) => {
            policy
                .entry_mut(l)
                .ok_or_else(|| DittoError::entry_not_found(&id, l))?
                .remove_subject(s)
                .ok_or_else(missing)?;
        }
        Resource(l, k) => {
            let key = ResourceKey::parse(k)?;
            policy
                .entry_mut(l)
                .ok_or_else(|| DittoError::entry_not_found(&id, l))?
                .remove_resource(&key)
                .ok_or_else(missing)?;
        }
        Import(i) => {
            policy.remove_import(i).ok_or_else(missing)?;
        }
        Subjects(_) | Resources(_) | Imports => {
            return Err(Error::UnsupportedTopicPath {
                topic: format!("{id}/policies/commands/delete"),
                path: r.enforcement_path(),
            })
        }
    }
    Ok(())
}

pub(super) fn response(
    topic: &Topic,
    path: &str,
    cmd: &BusCommand,
    status: u16,
    value: Option<Value>,
    revision: Option<i64>,
    etag: Option<String>,
) -> Envelope {
    let mut h = cmd.envelope.headers.for_response();
    h.remove(names::REQUESTED_ACKS);
    if let Some(e) = etag {
        h.set(names::ETAG, e);
    }
    if let Some(r) = revision {
        h.set(names::ENTITY_REVISION, r);
    }
    if let Some(first) = cmd.subjects.first() {
        h.set(names::DITTO_ORIGINATOR, first.clone());
    }
    h.set(names::CONTENT_TYPE, "application/json");
    Envelope {
        topic: topic.to_string(),
        headers: h,
        path: path.to_owned(),
        value,
        status: Some(status),
        ..Default::default()
    }
}

fn allows_lockout(cmd: &BusCommand) -> bool {
    cmd.envelope
        .headers
        .get_str("allow-policy-lockout")
        .is_some_and(|v| v == "true")
}

pub(crate) fn cache(
    id: &str,
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
        id: id.to_owned(),
        enforcer: Enforcer::new(&policy),
        policy,
        stored,
    })
}

/// Decides what one policies command does to the current policy (None if absent): the response
/// and the change to commit, without writing anything.
pub fn decide(
    cmd: &BusCommand,
    topic: &Topic,
    current: Option<&Arc<CachedPolicy>>,
    now: &str,
    max_bytes: usize,
) -> Result<PolicyDecision, Error> {
    // Policy actions from the gateway (token integration) are decided by `actions`.
    if super::actions::is_action(cmd) {
        return super::actions::decide(cmd, topic, current, now, max_bytes);
    }
    let env = &cmd.envelope;
    let id = topic.entity_id();
    let action = topic.action.ok_or_else(|| Error::UnknownSignal {
        topic: env.topic.clone(),
    })?;
    let resource = PolicyResource::parse(&env.path)?;
    let subjects = &cmd.subjects;
    let unsupported = || Error::UnsupportedTopicPath {
        topic: env.topic.clone(),
        path: env.path.clone(),
    };

    // Creating a policy (create, or modify of the whole policy when it does not exist).
    let creating = matches!(action, Action::Create | Action::Modify)
        && resource == PolicyResource::Policy
        && current.is_none();
    if action == Action::Create && resource != PolicyResource::Policy {
        return Err(unsupported());
    }
    if action == Action::Create && current.is_some() {
        return Err(DittoError::policy_conflict(&id).into());
    }
    if creating {
        let policy = Policy::from_json(&id, value_of(env)?)?;
        policy.ensure_size(max_bytes as u64)?;
        super::expiry::check_not_expired(None, &policy, twinwire_common::clock::now_ms())?;
        let enforcer = Enforcer::new(&policy);
        if !allows_lockout(cmd)
            && !enforcer.has_unrestricted(subjects, "policy", "/", Permission::Write)
        {
            return Err(DittoError::policy_not_creatable(&id).into());
        }
        policy.ensure_policy_writer()?;
        let cached = cache(&id, policy, 1, now, now);
        let create_topic = Topic {
            action: Some(Action::Create),
            ..topic.clone()
        };
        return Ok(PolicyDecision {
            response: response(
                &create_topic,
                &env.path,
                cmd,
                201,
                Some(cached.policy.to_json()),
                Some(1),
                Some(cached.etag()),
            ),
            change: Some(PolicyChange {
                policy: Some(cached),
                id,
            }),
        });
    }

    let Some(current) = current else {
        return Err(DittoError::policy_not_found(&id).into());
    };
    let enforcer = &current.enforcer;
    let path = resource.enforcement_path();
    // A policy the requester may not read at all does not exist for them.
    if !enforcer.has_partial(subjects, "policy", "/", Permission::Read) {
        return Err(DittoError::policy_not_found(&id).into());
    }
    match action {
        Action::Retrieve => {
            if !enforcer.has_partial(subjects, "policy", &path, Permission::Read) {
                return Err(resource.not_found(&id).into());
            }
            let value =
                current_value(&current.policy, &resource).ok_or_else(|| resource.not_found(&id))?;
            let view = enforcer
                .readable_view(subjects, "policy", &path, &value)
                .ok_or_else(|| resource.not_found(&id))?;
            Ok(PolicyDecision {
                response: response(
                    topic,
                    &env.path,
                    cmd,
                    200,
                    Some(view),
                    Some(current.stored.revision),
                    Some(current.etag()),
                ),
                change: None,
            })
        }
        Action::Modify | Action::Delete => {
            if !enforcer.has_unrestricted(subjects, "policy", &path, Permission::Write) {
                return Err(resource.not_modifiable(&id).into());
            }
            let mut policy = current.policy.clone();
            let mut created = false;
            if action == Action::Delete && resource == PolicyResource::Policy {
                return Ok(PolicyDecision {
                    response: response(topic, &env.path, cmd, 204, None, None, None),
                    change: Some(PolicyChange { policy: None, id }),
                });
            }
            if action == Action::Modify {
                if resource == PolicyResource::Policy {
                    policy = Policy::from_json(&id, value_of(env)?)?;
                } else {
                    created = modify(&mut policy, &resource, value_of(env)?)?;
                }
            } else {
                delete(&mut policy, &resource)?;
            }
            super::expiry::check_not_expired(
                Some(&current.policy),
                &policy,
                twinwire_common::clock::now_ms(),
            )?;
            // `if-equal` (Ditto 3.3, things and policies alike): a modify that would change
            // nothing is refused with `skip` (`skip-minimizing-merge` only differs on merges,
            // which policies do not have).
            if action == Action::Modify
                && crate::things::if_equal::IfEqual::from_headers(&env.headers)?
                    != crate::things::if_equal::IfEqual::Update
                && current_value(&current.policy, &resource).is_some()
                && current_value(&current.policy, &resource) == current_value(&policy, &resource)
            {
                return Err(DittoError::policy_if_equal_failed().into());
            }
            policy.ensure_size(max_bytes as u64)?;
            if !allows_lockout(cmd) {
                match resource.label() {
                    Some(l) => policy.ensure_policy_writer_for_entry(l)?,
                    None => policy.ensure_policy_writer()?,
                }
            }
            let value = if created {
                current_value(&policy, &resource)
            } else {
                None
            };
            let revision = current.stored.revision + 1;
            let cached = cache(&id, policy, revision, &current.stored.created, now);
            let etag = (resource == PolicyResource::Policy).then(|| cached.etag());
            Ok(PolicyDecision {
                response: response(
                    topic,
                    &env.path,
                    cmd,
                    if created { 201 } else { 204 },
                    value,
                    Some(revision),
                    etag,
                ),
                change: Some(PolicyChange {
                    policy: Some(cached),
                    id,
                }),
            })
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_paths_are_classified_with_resource_keys_kept_whole() {
        use PolicyResource::*;
        let table = [
            ("/", Policy),
            ("/entries", Entries),
            ("/entries/owner", Entry("owner".into())),
            ("/entries/owner/subjects", Subjects("owner".into())),
            (
                "/entries/owner/subjects/nginx:ditto",
                Subject("owner".into(), "nginx:ditto".into()),
            ),
            ("/entries/owner/resources", Resources("owner".into())),
            (
                "/entries/owner/resources/thing:/attributes/a",
                Resource("owner".into(), "thing:/attributes/a".into()),
            ),
            (
                "/entries/owner/resources/thing:/",
                Resource("owner".into(), "thing:".into()),
            ),
            ("/imports", Imports),
            ("/imports/org.x:p", Import("org.x:p".into())),
        ];
        for (path, expected) in table {
            assert_eq!(PolicyResource::parse(path).unwrap(), expected, "{path}");
        }
        assert!(PolicyResource::parse("/nope").is_err());
    }
}
