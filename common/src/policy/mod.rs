//! Ditto policies (API 2) and ACLs (API 1, mapped onto policies): the policy document, its validation
//! and serialization, and a compiled enforcer answering permission checks, readable views of retrieves
//! and per-session views of twin events, all with Eclipse Ditto 3.9's semantics.
//!
//! * [`Policy`] (`model`): parse/validate/serialize Ditto policy JSON, entry/subject/resource/import
//!   accessors, the default policy of a new thing, the "someone must be able to write the policy" rule;
//!   its parts each in their own module: [`PolicyEntry`] (`entry`), [`Subject`] (`subject`),
//!   [`Resource`] (`resource`), [`Permission`] (`permission`), and the JSON reading rules (`json`).
//! * [`Enforcer`] (`enforcer`, `views`): compiled once per policy revision (with
//!   [`Enforcer::for_namespace`] for a thing whose policy has entries limited to `namespaces`, 3.9);
//!   `has_unrestricted` / `has_partial` for commands, `readable_view` / `retrieve_view` for responses,
//!   `event_audience` / `event_view` for twin events, `can_receive_live` for live signals and messages.
//! * Every policy-related Ditto error is a [`crate::DittoError`] built by a named constructor in
//!   `crate::error` (its `policies` part), with Ditto's code, status and texts.
//! * [`policy_from_acl`] (`acl`): v1 ACL → equivalent policy.
//!
//! The rules and their Ditto sources are listed on each item; the module's tests are table-driven per
//! rule (`tests`) and randomized against a naive evaluator (`proptests`).

mod acl;
mod enforcer;
mod entry;
mod ids;
mod json;
mod model;
mod permission;
mod references;
mod resource;
mod subject;
mod views;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use acl::{acl_from_policy, default_acl, policy_from_acl};
pub use enforcer::Enforcer;
pub use entry::{AllowedAddition, EntryReference, Importable, PolicyEntry};
pub use ids::{
    is_valid_namespace, namespace_matches, parse_pointer, pointer_to_string, validate_label,
    validate_policy_id, validate_subject_id, ResourceKey,
};
pub use model::{Policy, DEFAULT_ENTRY_LABEL, DEFAULT_MAX_POLICY_SIZE, MAX_IMPORTS};
pub use permission::Permission;
pub use resource::Resource;
pub use subject::Subject;
pub use views::{EventAudience, EventView, ALWAYS_VISIBLE_THING_FIELDS};
