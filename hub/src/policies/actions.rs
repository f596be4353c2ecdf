//! Ditto's token-integration policy actions (`activateTokenIntegration`, `deactivateTokenIntegration`,
//! ditto-features §8), which the gateway sends as a policies command marked with
//! [`names::POLICY_ACTION`] and the subject ids and expiry it resolved from the caller's JWT. They
//! are decided here and committed as any policy change (revision, cache invalidation, the expiry
//! schedule), so an activated subject lapses with the token through `policies::expiry`.
//!
//! As Ditto (`TopLevelPolicyActionCommandStrategy`, `ActivateTokenIntegration.isApplicable`): an
//! entry is eligible when the requester may EXECUTE the action on it
//! (`policy:/entries/{label}/actions/{action}`) and it contains one of the requester's subjects;
//! to activate, it must also grant (and not revoke) READ on some `thing:` resource. The top-level
//! form acts on every eligible entry (404 when there is none); the entry form needs EXECUTE (403)
//! and an eligible entry (404). Success is 204.

use super::command::{cache, response, PolicyChange, PolicyDecision};
use super::CachedPolicy;
use serde_json::{json, Value};
use std::sync::Arc;
use twinwire_common::bus::BusCommand;
use twinwire_common::policy::{Enforcer, Permission, PolicyEntry, Subject};
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::Topic;
use twinwire_common::{DittoError, Error};

const ACTIVATE: &str = "activateTokenIntegration";
const DEACTIVATE: &str = "deactivateTokenIntegration";

/// Whether `cmd` is a policy action rather than an ordinary policies command.
pub fn is_action(cmd: &BusCommand) -> bool {
    cmd.envelope.headers.contains(names::POLICY_ACTION)
}

fn may_execute(enforcer: &Enforcer, subjects: &[String], label: &str, action: &str) -> bool {
    enforcer.has_unrestricted(
        subjects,
        "policy",
        &format!("/entries/{label}/actions/{action}"),
        Permission::Execute,
    )
}

/// Whether the action applies to `entry` for a requester with `subjects`.
fn applicable(entry: &PolicyEntry, subjects: &[String], action: &str) -> bool {
    let contains_requester = entry
        .subjects()
        .iter()
        .any(|s| subjects.iter().any(|r| r == s.id()));
    contains_requester
        && (action != ACTIVATE
            || entry.resources().iter().any(|r| {
                r.key().resource_type() == "thing"
                    && r.grants(Permission::Read)
                    && !r.revokes(Permission::Read)
            }))
}

/// Decides a policy action against the current policy: the 204 and the change to commit.
pub fn decide(
    cmd: &BusCommand,
    topic: &Topic,
    current: Option<&Arc<CachedPolicy>>,
    now: &str,
    max_bytes: usize,
) -> Result<PolicyDecision, Error> {
    let env = &cmd.envelope;
    let id = topic.entity_id();
    let action = match env.headers.get_str(names::POLICY_ACTION) {
        Some(a) if a == ACTIVATE => ACTIVATE,
        Some(a) if a == DEACTIVATE => DEACTIVATE,
        _ => {
            return Err(Error::UnknownSignal {
                topic: env.topic.clone(),
            })
        }
    };
    let Some(current) = current else {
        return Err(DittoError::policy_not_found(&id).into());
    };
    let subjects = &cmd.subjects;
    let enforcer = &current.enforcer;
    let named = env.path.strip_prefix("/entries/").map(str::to_owned);
    let labels: Vec<String> = match &named {
        Some(label) => {
            if !may_execute(enforcer, subjects, label, action) {
                return Err(DittoError::policy_action_not_permitted(action, label).into());
            }
            vec![label.clone()]
        }
        None => current
            .policy
            .entries()
            .iter()
            .map(|e| e.label().to_owned())
            .filter(|l| may_execute(enforcer, subjects, l, action))
            .collect(),
    };
    let labels: Vec<String> = labels
        .into_iter()
        .filter(|l| {
            current
                .policy
                .entry(l)
                .is_some_and(|e| applicable(e, subjects, action))
        })
        .collect();
    if labels.is_empty() {
        return Err(DittoError::policy_action_not_applicable(action, named.is_none()).into());
    }
    let value = env.value.as_ref().ok_or(Error::ValueMissing)?;
    let templates: Vec<&str> = value
        .get("subjectIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut policy = current.policy.clone();
    let mut changed = false;
    for label in &labels {
        let entry = policy
            .entry_mut(label)
            .expect("label taken from the policy");
        for template in &templates {
            let subject_id = template.replace("{{policy-entry:label}}", label);
            if action == ACTIVATE {
                let mut subject = json!({
                    "type": format!("added via action <{action}> at <{now}>"),
                    "expiry": value.get("expiry").cloned().unwrap_or(Value::Null),
                });
                if let Some(a) = value.get("announcement") {
                    subject["announcement"] = a.clone();
                }
                entry.put_subject(Subject::from_json(&subject_id, &subject)?);
                changed = true;
            } else {
                changed |= entry.remove_subject(&subject_id).is_some();
            }
        }
    }
    super::expiry::check_not_expired(
        Some(&current.policy),
        &policy,
        twinwire_common::clock::now_ms(),
    )?;
    policy.ensure_size(max_bytes as u64)?;
    let revision = current.stored.revision + 1;
    let mut answer = response(topic, &env.path, cmd, 204, None, None, None);
    answer.headers.remove(names::POLICY_ACTION);
    if changed {
        answer.headers.set(names::ENTITY_REVISION, revision);
    }
    Ok(PolicyDecision {
        response: answer,
        change: changed.then(|| PolicyChange {
            policy: Some(cache(&id, policy, revision, &current.stored.created, now)),
            id,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: Value) -> PolicyEntry {
        PolicyEntry::from_json("e", &value).unwrap()
    }

    #[test]
    fn activation_needs_the_requester_and_read_on_a_thing_resource_deactivation_only_the_requester()
    {
        let me = vec!["test:alice".to_owned()];
        let reads = entry(json!({"subjects": {"test:alice": {"type": "jwt"}},
            "resources": {"thing:/features": {"grant": ["READ"], "revoke": []}}}));
        let revoked = entry(json!({"subjects": {"test:alice": {"type": "jwt"}},
            "resources": {"thing:/": {"grant": ["READ"], "revoke": ["READ"]}}}));
        let policy_only = entry(json!({"subjects": {"test:alice": {"type": "jwt"}},
            "resources": {"policy:/": {"grant": ["READ"], "revoke": []}}}));
        let someone_else = entry(json!({"subjects": {"test:bob": {"type": "jwt"}},
            "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}));
        assert!(applicable(&reads, &me, ACTIVATE));
        assert!(!applicable(&revoked, &me, ACTIVATE));
        assert!(!applicable(&policy_only, &me, ACTIVATE));
        assert!(!applicable(&someone_else, &me, ACTIVATE));
        assert!(applicable(&policy_only, &me, DEACTIVATE));
        assert!(!applicable(&someone_else, &me, DEACTIVATE));
    }
}
