//! The API 1 parts of a thing command (`/ws/1`): a new thing's policy from its ACL, and the `/acl`
//! resources, which read or rewrite the thing's ACL policy. Split from `command.rs`, which keeps the
//! API 2 path and calls these.

use super::command::{event_headers, requested_custom_acks, success, ThingChange, ThingDecision};
use super::twin::Twin;
use super::v1;
use crate::policies::{CachedPolicy, PolicyCache};
use serde_json::Value;
use std::sync::Arc;
use twinwire_common::bus::{BusCommand, EventRecord};
use twinwire_common::policy::Permission;
use twinwire_common::protocol::{Action, Channel, Criterion, Topic};
use twinwire_common::things::Pointer;
use twinwire_common::Error;

/// A new API 1 thing's policy: its ACL (or the creator's default ACL) as a policy under the thing's
/// id. A leftover policy of that id (from a deleted thing) is replaced only by someone allowed to
/// write it, so a v1 create can never take over another owner's policy.
pub(super) fn v1_policy_for_new_thing(
    thing_id: &str,
    value: Option<&Value>,
    subjects: &[String],
    policies: &PolicyCache,
    now: &str,
) -> Result<(Arc<CachedPolicy>, bool), Error> {
    let policy = v1::creation_policy(thing_id, value, subjects)?;
    if let Some(existing) = policies.get(thing_id) {
        if !v1::may_administrate(&existing.enforcer, subjects) {
            return Err(Error::ThingNotCreatableImplicitPolicyExists(
                thing_id.to_owned(),
            ));
        }
        return Ok((
            v1::cached(
                thing_id,
                policy,
                existing.stored.revision + 1,
                &existing.stored.created,
                now,
            ),
            true,
        ));
    }
    Ok((v1::cached(thing_id, policy, 1, now, now), true))
}

/// `/acl` and `/acl/<subject>` of an API 1 thing: retrieving needs READ on the thing, changing
/// needs ADMINISTRATE; a change rewrites the thing's ACL policy and is a `modified` event of the thing.
pub(super) fn decide_acl(
    cmd: &BusCommand,
    topic: &Topic,
    twin: Option<&Twin>,
    policies: &PolicyCache,
    now: &str,
    path: v1::AclPath,
) -> Result<ThingDecision, Error> {
    let env = &cmd.envelope;
    let thing_id = topic.entity_id();
    let not_found = || Error::ThingNotFound(thing_id.clone());
    let twin = twin.ok_or_else(not_found)?;
    let policy = twin
        .policy_id()
        .and_then(|p| policies.get(p))
        .ok_or_else(not_found)?;
    if !policy
        .enforcer
        .has_partial(&cmd.subjects, "thing", "/", Permission::Read)
    {
        return Err(not_found());
    }
    let action = topic.action.unwrap_or(Action::Retrieve);
    let acl = twinwire_common::policy::acl_from_policy(&policy.policy);
    if action == Action::Retrieve {
        let value = match &path {
            v1::AclPath::Whole => acl,
            v1::AclPath::Entry(s) => {
                acl.get(s).cloned().ok_or_else(|| Error::AclEntryNotFound {
                    thing: Some(thing_id.clone()),
                    subject: s.clone(),
                })?
            }
        };
        return Ok(ThingDecision {
            response: success(
                topic,
                &env.path,
                &env.headers,
                &cmd.subjects,
                200,
                Some(value),
                Some(twin.revision),
                None,
                false,
            ),
            change: None,
        });
    }
    if !matches!(action, Action::Modify | Action::Delete) {
        return Err(Error::UnsupportedTopicPath {
            topic: env.topic.clone(),
            path: env.path.clone(),
        });
    }
    if !v1::may_administrate(&policy.enforcer, &cmd.subjects) {
        return Err(Error::AclNotModifiable(thing_id));
    }
    let value = if action == Action::Modify {
        Some(env.value.as_ref().ok_or(Error::ValueMissing)?)
    } else {
        None
    };
    let existed = match &path {
        v1::AclPath::Whole => true,
        v1::AclPath::Entry(s) => acl.get(s).is_some(),
    };
    let new_acl = v1::changed_acl(&policy.policy, &path, value)?;
    let new_policy = twinwire_common::policy::policy_from_acl(&thing_id, &new_acl)?;
    let cached = v1::cached(
        &thing_id,
        new_policy,
        policy.stored.revision + 1,
        &policy.stored.created,
        now,
    );
    let new_twin = Twin {
        thing: twin.thing.clone(),
        revision: twin.revision + 1,
        created: twin.created.clone(),
        modified: now.to_owned(),
    };
    let (status, event) = match (action, existed) {
        (Action::Delete, _) => (204, Action::Deleted),
        (_, true) => (204, Action::Modified),
        (_, false) => (201, Action::Created),
    };
    let event_value = value.cloned();
    let record = EventRecord {
        thing_id: thing_id.clone(),
        topic: Topic::thing(
            &topic.namespace,
            &topic.name,
            Channel::Twin,
            Criterion::Events,
            event,
        )
        .to_string(),
        path: Pointer::parse(&env.path).to_string(),
        headers: event_headers(&env.headers, &cmd.subjects, event, event_value.is_some()),
        value: event_value.clone(),
        revision: new_twin.revision,
        timestamp: now.to_owned(),
        acks: requested_custom_acks(&env.headers),
    };
    let response_value = if status == 201 { event_value } else { None };
    Ok(ThingDecision {
        response: success(
            topic,
            &env.path,
            &env.headers,
            &cmd.subjects,
            status,
            response_value,
            Some(new_twin.revision),
            None,
            false,
        ),
        change: Some(ThingChange {
            thing_id,
            twin: Some(new_twin),
            new_policy: Some(cached),
            event: record,
        }),
    })
}
