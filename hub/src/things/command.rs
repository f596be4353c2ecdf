//! A thing command end to end inside the hub: which policy governs it (the thing's, or for a new
//! thing an inline `_policy`, a referenced `policyId` or Ditto's default policy), the access check
//! through that policy, the semantics of `apply`, and the response and event it produces.

use super::apply::{apply, patch_leaves, Access, FullAccess, Limits, Outcome, Request};
use super::condition::{self, Carrier};
use super::twin::Twin;
use super::v1;
use super::v1_commands::{decide_acl, v1_policy_for_new_thing};
use crate::policies::{CachedPolicy, PolicyCache, StoredPolicy};
use serde_json::Value;
use std::sync::Arc;
use twinwire_common::bus::{BusCommand, EventRecord};
use twinwire_common::policy::{Enforcer, Permission, Policy};
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{acks, Action, Channel, Criterion, Envelope, Headers, Topic};
use twinwire_common::things::{FieldSelector, Pointer, ThingResource};
use twinwire_common::Error;

/// A thing's access through its policy for one requester.
pub struct PolicyAccess<'a> {
    pub enforcer: &'a Enforcer,
    pub subjects: &'a [String],
}

impl Access for PolicyAccess<'_> {
    fn read_partial(&self, ptr: &Pointer) -> bool {
        self.enforcer
            .has_partial(self.subjects, "thing", &ptr.to_string(), Permission::Read)
    }
    fn write(&self, ptr: &Pointer) -> bool {
        self.enforcer
            .has_unrestricted(self.subjects, "thing", &ptr.to_string(), Permission::Write)
    }
    fn retrieve_view(&self, ptr: &Pointer, value: &Value) -> Value {
        self.enforcer
            .retrieve_view(self.subjects, "thing", &ptr.to_string(), value)
    }
}

/// A thing whose policy is gone: nobody may do anything (Ditto treats it as inaccessible).
pub struct NoAccess;

impl Access for NoAccess {
    fn read_partial(&self, _: &Pointer) -> bool {
        false
    }
    fn write(&self, _: &Pointer) -> bool {
        false
    }
    fn retrieve_view(&self, _: &Pointer, _: &Value) -> Value {
        Value::Object(serde_json::Map::new())
    }
}

/// What a command changed.
pub struct ThingChange {
    pub thing_id: String,
    /// The twin afterwards; None when deleted.
    pub twin: Option<Twin>,
    /// A policy created together with the thing.
    pub new_policy: Option<Arc<CachedPolicy>>,
    pub event: EventRecord,
}

pub struct ThingDecision {
    /// The success response (errors are the caller's to build).
    pub response: Envelope,
    pub change: Option<ThingChange>,
}

/// The custom acknowledgement labels a command asks for (only when it wants a response: the
/// WebSocket refuses acks without one).
pub fn requested_custom_acks(headers: &Headers) -> Vec<String> {
    if !headers.response_required() {
        return Vec::new();
    }
    acks::requested(headers)
        .map(|l| acks::custom(&l))
        .unwrap_or_default()
}

/// Headers of an event caused by a command: the command's own (Ditto builds events with the
/// command's headers, correlation-id included), the originator, and the content type Ditto forces
/// for events with a value. `requested-acks` is left to acknowledgement handling.
pub fn event_headers(
    cmd_headers: &Headers,
    subjects: &[String],
    action: Action,
    has_value: bool,
) -> Headers {
    let mut h = cmd_headers.for_response();
    h.remove(names::REQUESTED_ACKS);
    if has_value {
        let ct = if action == Action::Merged {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        h.set(names::CONTENT_TYPE, ct);
    }
    if let Some(first) = subjects.first() {
        h.set(names::DITTO_ORIGINATOR, first.clone());
    }
    h
}

/// A success response: the command's headers echoed, plus what Ditto adds (`etag`,
/// `entity-revision`, `ditto-originator`, a forced content type).
#[allow(clippy::too_many_arguments)]
pub(super) fn success(
    topic: &Topic,
    path: &str,
    headers: &Headers,
    subjects: &[String],
    status: u16,
    value: Option<Value>,
    revision: Option<i64>,
    etag: Option<String>,
    merge: bool,
) -> Envelope {
    let mut h = headers.for_response();
    h.remove(names::REQUESTED_ACKS);
    if let Some(e) = etag {
        h.set(names::ETAG, e);
    }
    if let Some(r) = revision {
        h.set(names::ENTITY_REVISION, r);
    }
    if let Some(first) = subjects.first() {
        h.set(names::DITTO_ORIGINATOR, first.clone());
    }
    h.set(
        names::CONTENT_TYPE,
        if merge {
            "application/merge-patch+json"
        } else {
            "application/json"
        },
    );
    Envelope {
        topic: topic.to_string(),
        headers: h,
        path: path.to_owned(),
        value,
        status: Some(status),
        ..Default::default()
    }
}

/// Which policy a new thing gets (reference: Ditto's `ThingEnforcerActor` / policy creation):
/// an inline `_policy` (created with the thing's id), a referenced existing `policyId`, or a new
/// default policy with the thing's id, which must not exist yet.
fn policy_for_new_thing(
    thing_id: &str,
    value: Option<&Value>,
    subjects: &[String],
    policies: &PolicyCache,
    now: &str,
) -> Result<(Arc<CachedPolicy>, bool), Error> {
    let named = value
        .and_then(|v| v.get("policyId"))
        .and_then(Value::as_str);
    let inline = value.and_then(|v| v.get("_policy"));
    if let Some(inline) = inline {
        if named.is_some() {
            return Err(Error::InlinePolicyWithPolicyId(thing_id.to_owned()));
        }
        if policies.get(thing_id).is_some() {
            return Err(Error::ThingNotCreatableImplicitPolicyExists(
                thing_id.to_owned(),
            ));
        }
        let policy = Policy::from_json(thing_id, inline)?;
        return Ok((Arc::new(new_cached(thing_id, policy, now)), true));
    }
    if let Some(policy_id) = named {
        return match policies.get(policy_id) {
            Some(existing) => Ok((existing, false)),
            None => Err(Error::ThingNotCreatablePolicyMissing {
                thing: thing_id.to_owned(),
                policy: policy_id.to_owned(),
            }),
        };
    }
    if policies.get(thing_id).is_some() {
        return Err(Error::ThingNotCreatableImplicitPolicyExists(
            thing_id.to_owned(),
        ));
    }
    let policy = Policy::default_for_thing(thing_id, subjects);
    Ok((Arc::new(new_cached(thing_id, policy, now)), true))
}

/// A change that moves a thing to another policy (`modify /policyId`, or a whole-thing modify or
/// merge naming a new one) needs what creating the thing under that policy needs: the policy must
/// exist and grant the requester WRITE on the thing's root, with the same errors as create.
/// Otherwise anyone could attach a thing to any policy they know the id of.
fn check_policy_move(
    before: Option<&Twin>,
    after: &Twin,
    policies: &PolicyCache,
    subjects: &[String],
    thing_id: &str,
) -> Result<(), Error> {
    let Some(target) = after.policy_id() else {
        return Ok(());
    };
    if before.and_then(Twin::policy_id) == Some(target) {
        return Ok(());
    }
    let Some(policy) = policies.get(target) else {
        return Err(Error::PolicyIdNotExisting {
            thing: thing_id.to_owned(),
            policy: target.to_owned(),
        });
    };
    let access = PolicyAccess {
        enforcer: &policy.enforcer,
        subjects,
    };
    if !access.write(&Pointer::root()) {
        // Create's error for a thing under an existing policy that does not let it write.
        return Err(ThingResource::Thing.not_modifiable(thing_id, false));
    }
    Ok(())
}

fn new_cached(id: &str, policy: Policy, now: &str) -> CachedPolicy {
    let stored = StoredPolicy {
        json: policy.to_json(),
        revision: 1,
        created: now.to_owned(),
        modified: now.to_owned(),
    };
    CachedPolicy {
        id: id.to_owned(),
        enforcer: Enforcer::new(&policy),
        policy,
        stored,
    }
}

/// Decides what one twin-channel thing command does to `twin` (the current state, None if
/// absent): the response and the change to commit, without writing anything.
pub fn decide(
    cmd: &BusCommand,
    topic: &Topic,
    twin: Option<&Twin>,
    policies: &PolicyCache,
    now: &str,
    limits: &Limits,
) -> Result<ThingDecision, Error> {
    decide_governed(
        cmd,
        topic,
        twin,
        twin.and_then(Twin::policy_id),
        policies,
        now,
        limits,
    )
}

/// [`decide`] with the policy that governs the command named apart from `twin`: a retrieve of a
/// past twin is judged by the thing's current policy (history, as in Ditto).
pub fn decide_governed(
    cmd: &BusCommand,
    topic: &Topic,
    twin: Option<&Twin>,
    governing: Option<&str>,
    policies: &PolicyCache,
    now: &str,
    limits: &Limits,
) -> Result<ThingDecision, Error> {
    let env = &cmd.envelope;
    let thing_id = topic.entity_id();
    let action = topic.action.ok_or_else(|| Error::UnknownSignal {
        topic: env.topic.clone(),
    })?;
    let api1 = cmd.api_version == 1;
    if api1 {
        if let Some(acl) = v1::acl_path(&env.path) {
            return decide_acl(cmd, topic, twin, policies, now, acl);
        }
    }
    let resource = ThingResource::parse(&env.path)?;
    let fields = env
        .fields
        .as_deref()
        .map(FieldSelector::parse)
        .transpose()?;
    let creating = twin.is_none()
        && resource == ThingResource::Thing
        && matches!(action, Action::Create | Action::Modify | Action::Merge);
    let req = Request {
        topic: &env.topic,
        thing_id: &thing_id,
        action,
        resource: &resource,
        value: env.value.as_ref(),
        headers: &env.headers,
        fields: fields.as_ref(),
    };
    if twin.is_some()
        && resource == ThingResource::Thing
        && env
            .value
            .as_ref()
            .is_some_and(|v| v.get("_policy").is_some())
    {
        return Err(Error::InlinePolicyNotAllowed(thing_id));
    }

    let (outcome, new_policy) = if creating {
        let (policy, is_new) = if api1 {
            v1_policy_for_new_thing(&thing_id, env.value.as_ref(), &cmd.subjects, policies, now)?
        } else {
            policy_for_new_thing(&thing_id, env.value.as_ref(), &cmd.subjects, policies, now)?
        };
        // The requester must be allowed to write the new thing under the policy it will have.
        let access = PolicyAccess {
            enforcer: &policy.enforcer,
            subjects: &cmd.subjects,
        };
        if !access.write(&Pointer::root()) {
            return Err(if is_new {
                Error::NewThingPolicyNotWritable(thing_id)
            } else {
                resource.not_modifiable(&thing_id, false)
            });
        }
        let mut value = env.value.clone();
        if let Some(Value::Object(m)) = value.as_mut() {
            m.remove("_policy");
            m.remove("acl");
            m.insert("policyId".into(), Value::String(policy.id.clone()));
        }
        if action == Action::Merge {
            if let Some(Value::Object(m)) = value.as_mut() {
                m.insert("policyId".into(), Value::String(policy.id.clone()));
            }
        }
        let req = Request {
            value: value.as_ref(),
            ..req
        };
        (
            apply(None, &req, &FullAccess, now, limits)?,
            is_new.then_some(policy),
        )
    } else {
        let policy_id = governing;
        let cached = policy_id.and_then(|p| policies.get(p));
        let outcome = match (&cached, twin) {
            (Some(p), _) => {
                let access = PolicyAccess {
                    enforcer: &p.enforcer,
                    subjects: &cmd.subjects,
                };
                if let Some(current) = twin.filter(|_| action != Action::Create) {
                    check_condition(cmd, &req, current, &access, now)?;
                }
                let filtered = match twin.filter(|_| action == Action::Merge) {
                    Some(current) => super::patch_conditions::filter(
                        &env.headers,
                        env.value.as_ref(),
                        current,
                        &p.enforcer,
                        &cmd.subjects,
                        now,
                    )?,
                    None => None,
                };
                match &filtered {
                    None => apply(twin, &req, &access, now, limits)?,
                    Some(patch) => {
                        // Ditto enforces the whole patch before its conditions filter it.
                        apply(twin, &req, &access, now, limits)?;
                        if patch.as_object().is_some_and(|m| m.is_empty()) {
                            return Ok(ThingDecision {
                                response: success(
                                    topic,
                                    &env.path,
                                    &env.headers,
                                    &cmd.subjects,
                                    204,
                                    None,
                                    twin.map(|t| t.revision),
                                    None,
                                    true,
                                ),
                                change: None,
                            });
                        }
                        let req = Request {
                            value: Some(patch),
                            ..req
                        };
                        apply(twin, &req, &access, now, limits)?
                    }
                }
            }
            (None, Some(_)) => {
                // The thing exists but its policy is gone: Ditto makes it inaccessible.
                let policy = policy_id.unwrap_or_default().to_owned();
                return Err(match action {
                    Action::Retrieve => Error::ThingPolicyMissing {
                        thing: thing_id,
                        policy,
                    },
                    _ => Error::ThingNotModifiablePolicyMissing {
                        thing: thing_id,
                        policy,
                    },
                });
            }
            (None, None) => apply(None, &req, &NoAccess, now, limits)?,
        };
        if let Outcome::Changed { twin: Some(t), .. } = &outcome {
            check_policy_move(twin, t, policies, &cmd.subjects, &thing_id)?;
        }
        (outcome, None)
    };

    let merge = action == Action::Merge;
    // API 1 clients see whole things with their `acl` in place of the `policyId`.
    let outcome = if api1 && resource == ThingResource::Thing {
        let policy = new_policy
            .clone()
            .or_else(|| twin.and_then(Twin::policy_id).and_then(|p| policies.get(p)));
        let v1 = |v: Value| v1::to_v1_thing(&v, policy.as_ref().map(|p| &p.policy));
        match outcome {
            Outcome::Read { value, etag } => Outcome::Read {
                value: v1(value),
                etag,
            },
            Outcome::Changed {
                status,
                value,
                twin,
                event,
                event_value,
            } => Outcome::Changed {
                status,
                value: value.map(v1),
                twin,
                event,
                event_value,
            },
        }
    } else {
        outcome
    };
    Ok(match outcome {
        Outcome::Read { value, etag } => {
            let revision = twin.map(|t| t.revision);
            ThingDecision {
                response: success(
                    topic,
                    &env.path,
                    &env.headers,
                    &cmd.subjects,
                    200,
                    Some(value),
                    revision,
                    Some(etag),
                    false,
                ),
                change: None,
            }
        }
        Outcome::Changed {
            status,
            value,
            twin: new_twin,
            event,
            event_value,
        } => {
            let (revision, timestamp) = match &new_twin {
                Some(t) => (t.revision, t.modified.clone()),
                None => (twin.map(|t| t.revision + 1).unwrap_or(1), now.to_owned()),
            };
            let etag = new_twin
                .as_ref()
                .filter(|_| resource == ThingResource::Thing)
                .map(Twin::etag);
            let event_topic = Topic::thing(
                &topic.namespace,
                &topic.name,
                Channel::Twin,
                Criterion::Events,
                event,
            );
            // A modify or merge that created the thing answers as a create (Ditto's
            // ModifyToCreateThingTransformer).
            let response_topic = if creating {
                Topic::thing(
                    &topic.namespace,
                    &topic.name,
                    Channel::Twin,
                    Criterion::Commands,
                    Action::Create,
                )
            } else {
                topic.clone()
            };
            let record = EventRecord {
                thing_id: thing_id.clone(),
                topic: event_topic.to_string(),
                path: Pointer::parse(&env.path).to_string(),
                headers: event_headers(&env.headers, &cmd.subjects, event, event_value.is_some()),
                value: event_value,
                revision,
                timestamp,
                acks: requested_custom_acks(&env.headers),
            };
            let deleted = new_twin.is_none();
            ThingDecision {
                response: success(
                    &response_topic,
                    &env.path,
                    &env.headers,
                    &cmd.subjects,
                    status,
                    value,
                    (!deleted).then_some(revision),
                    etag,
                    merge && !creating,
                ),
                change: Some(ThingChange {
                    thing_id,
                    twin: new_twin,
                    new_policy,
                    event: record,
                }),
            }
        }
    })
}

/// The `condition` header of a command on an existing twin, in Ditto's order (see
/// [`condition`]): its syntax, READ on its fields, then, only if the command itself is permitted
/// (else `apply` answers its own 403/404), its names and its value on the twin.
fn check_condition(
    cmd: &BusCommand,
    req: &Request,
    current: &Twin,
    access: &PolicyAccess,
    now: &str,
) -> Result<(), Error> {
    let Some(cond) = condition::parse(req.headers, Carrier::Command)? else {
        return Ok(());
    };
    condition::check_readable(&cond, access.enforcer, &cmd.subjects)?;
    let ptr = req.resource.pointer();
    let permitted = match req.action {
        Action::Retrieve => access.read_partial(&ptr),
        Action::Merge => {
            access.write(&ptr) || {
                let mut leaves = Vec::new();
                if let Some(patch) = req.value {
                    patch_leaves(patch, &ptr, &mut leaves);
                }
                !leaves.is_empty() && leaves.iter().all(|l| access.write(l))
            }
        }
        _ => access.write(&ptr),
    };
    if !permitted {
        return Ok(());
    }
    condition::evaluate(&cond, &current.with_special_fields(), now)
}
