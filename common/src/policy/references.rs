//! The effective entries an enforcer is built from: entry `references` resolved within the policy
//! (`PolicyImporter.resolveReferences`, Ditto 3.9) and entries outside a thing's namespace dropped
//! (`PolicyEnforcer.forNamespace`). References into imported policies resolve to nothing here: imported
//! policies are not loaded by this module (the same as `PoliciesValidator`, which resolves local
//! references only).

use super::entry::{AllowedAddition, Importable, PolicyEntry};
use super::model::Policy;
use super::resource::Resource;
use super::subject::Subject;

/// The policy's entries with their local references resolved, in the policy's order.
pub(crate) fn resolve_local_references(policy: &Policy) -> Vec<PolicyEntry> {
    policy
        .entries()
        .iter()
        .map(|e| {
            if e.references().is_empty() {
                e.clone()
            } else {
                resolve_entry(policy, e)
            }
        })
        .collect()
}

/// `PolicyImporter.resolveAllReferences`, one level deep: each referenced entry contributes its *own*
/// subjects, resources and namespaces (never what it inherits itself); entries marked `importable: never`
/// contribute nothing; the strictest `allowedAdditions` across the referenced entries that declare one
/// decides which of the referencing entry's own subjects/resources/namespaces survive.
fn resolve_entry(policy: &Policy, own: &PolicyEntry) -> PolicyEntry {
    let mut resources: Vec<Resource> = Vec::new();
    let mut subjects: Vec<Subject> = Vec::new();
    let mut namespaces: Vec<String> = Vec::new();
    let mut allowed: Option<Vec<AllowedAddition>> = None;

    for reference in own.references() {
        if reference.import.is_some() {
            continue;
        }
        let Some(target) = policy.entry(&reference.entry) else {
            continue;
        };
        if target.importable() == Importable::Never {
            continue;
        }
        merge_resources(&mut resources, target.resources());
        merge_strings(&mut namespaces, target.namespaces().unwrap_or_default());
        merge_subjects(&mut subjects, target.subjects());
        if let Some(declared) = target.allowed_additions() {
            allowed = Some(match allowed {
                None => declared.to_vec(),
                Some(current) => current
                    .into_iter()
                    .filter(|a| declared.contains(a))
                    .collect(),
            });
        }
    }

    let permits = |a: AllowedAddition| allowed.as_ref().is_none_or(|set| set.contains(&a));
    if permits(AllowedAddition::Resources) {
        merge_resources(&mut resources, own.resources());
    }
    if permits(AllowedAddition::Subjects) {
        merge_subjects(&mut subjects, own.subjects());
    }
    if permits(AllowedAddition::Namespaces) {
        merge_strings(&mut namespaces, own.namespaces().unwrap_or_default());
    }
    let namespaces = if namespaces.is_empty() {
        None
    } else {
        Some(namespaces)
    };
    PolicyEntry::resolved(own, subjects, resources, namespaces, allowed)
}

/// Same key: grants and revokes are united; otherwise appended (`PolicyImporter.mergeResources`).
fn merge_resources(into: &mut Vec<Resource>, more: &[Resource]) {
    for r in more {
        match into.iter_mut().find(|x| x.key() == r.key()) {
            Some(existing) => {
                let grant: Vec<String> = existing
                    .granted()
                    .iter()
                    .chain(r.granted())
                    .cloned()
                    .collect();
                let revoke: Vec<String> = existing
                    .revoked()
                    .iter()
                    .chain(r.revoked())
                    .cloned()
                    .collect();
                *existing = Resource::from_names(existing.key().clone(), grant, revoke);
            }
            None => into.push(r.clone()),
        }
    }
}

/// The first subject with an ID wins (`PolicyImporter.mergeSubjects`).
fn merge_subjects(into: &mut Vec<Subject>, more: &[Subject]) {
    for s in more {
        if !into.iter().any(|x| x.id() == s.id()) {
            into.push(s.clone());
        }
    }
}

fn merge_strings(into: &mut Vec<String>, more: &[String]) {
    for s in more {
        if !into.contains(s) {
            into.push(s.clone());
        }
    }
}

/// The entries an enforcer for things in `namespace` (or for the policy itself, `None`) is built from:
/// references resolved, then entries whose `namespaces` do not match dropped, then entries without
/// subjects or without resources dropped (`PolicyEnforcers.defaultEvaluator`: they cannot decide anything).
pub(crate) fn effective_entries(policy: &Policy, namespace: Option<&str>) -> Vec<PolicyEntry> {
    resolve_local_references(policy)
        .into_iter()
        .filter(|e| namespace.is_none_or(|ns| e.applies_to_namespace(ns)))
        .filter(|e| !e.subjects().is_empty() && !e.resources().is_empty())
        .collect()
}
