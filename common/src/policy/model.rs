//! The policy document (`policies/model/.../ImmutablePolicy`): its ordered entries and imports, parsed
//! and validated from Ditto's JSON and serialized back the way Ditto does, plus the accessors and
//! mutators the policies command group needs, the default policy of a new thing and the policy-writer
//! rule. Its parts (entries, subjects, resources, permissions) each have their own module.

use super::entry::PolicyEntry;
use super::ids::{self, ResourceKey};
use super::json::{
    as_object, opt_array, opt_object, opt_string, Rules, LENIENT, SCHEMA_VERSION_KEY, STRICT,
};
use super::permission::Permission;
use super::references;
use super::resource::Resource;
use super::subject::Subject;
use crate::error::DittoError;
use serde_json::{json, Map, Value};

/// `ditto.limits.policies.imports-limit`.
pub const MAX_IMPORTS: usize = 10;

/// `ditto.limits.policies.max-size` = `100k` (HOCON: 100 × 1024 bytes), checked against the length of the
/// policy's compact JSON (`PolicyCommandSizeValidator`).
pub const DEFAULT_MAX_POLICY_SIZE: u64 = 100 * 1024;

/// The label of the entry Ditto creates for a thing without policy (`ThingEnforcerActor`).
pub const DEFAULT_ENTRY_LABEL: &str = "DEFAULT";

/// `PoliciesValidator`'s reason when nobody may write the policy any more.
const NO_POLICY_WRITER_REASON: &str =
    "It must contain at least one permanent Subject with permission(s) <[WRITE]> on resource <policy:/>!";

/// A policy: its ID, its ordered entries and its imports (kept verbatim – imported policies are resolved
/// elsewhere). The revision lives with the stored document, not here.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(super) id: String,
    pub(super) entries: Vec<PolicyEntry>,
    pub(super) imports: Option<Map<String, Value>>,
}

impl Policy {
    /// An empty policy.
    pub fn new(policy_id: &str) -> Result<Policy, DittoError> {
        ids::validate_policy_id(policy_id)?;
        Ok(Policy {
            id: policy_id.to_owned(),
            entries: Vec::new(),
            imports: None,
        })
    }

    /// Parses and validates a policy as a create/modify command carries it. A `policyId` in the body must
    /// equal `policy_id` (`policies:id.notsettable`, the HTTP route's rule; Ditto's WebSocket adapter would
    /// silently take the body's ID for CreatePolicy). Unknown top-level fields (`_revision`, ...) are ignored.
    pub fn from_json(policy_id: &str, value: &Value) -> Result<Policy, DittoError> {
        Policy::parse(Some(policy_id), value, STRICT)
    }

    /// Parses a policy this service stored itself (ID taken from `policyId`), accepting subject IDs without
    /// issuer as v1 ACL policies have them.
    pub fn from_stored_json(value: &Value) -> Result<Policy, DittoError> {
        Policy::parse(None, value, LENIENT)
    }

    pub(super) fn parse(
        policy_id: Option<&str>,
        value: &Value,
        rules: Rules,
    ) -> Result<Policy, DittoError> {
        let obj = as_object(value)?;
        let body_id = opt_string(obj, "policyId")?;
        let id = match (policy_id, body_id) {
            (Some(expected), Some(given)) if given != expected => {
                ids::validate_policy_id(given)?;
                return Err(DittoError::policy_id_not_settable());
            }
            (Some(expected), _) => expected,
            (None, Some(given)) => given,
            (None, None) => return Err(DittoError::json_field_missing("/policyId")),
        };
        ids::validate_policy_id(id)?;
        let mut policy = Policy {
            id: id.to_owned(),
            entries: Vec::new(),
            imports: None,
        };
        if let Some(imports) = obj.get("imports") {
            policy.set_imports(imports)?;
        }
        if let Some(entries) = opt_object(obj, "entries")? {
            policy.entries = parse_entries(entries, rules)?;
        }
        Ok(policy)
    }

    /// Serializes as Ditto's regular fields: `policyId`, `imports` (when the policy has them), `entries`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("policyId".into(), json!(self.id));
        if let Some(i) = &self.imports {
            m.insert("imports".into(), Value::Object(i.clone()));
        }
        m.insert("entries".into(), self.entries_to_json());
        Value::Object(m)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The namespace of the policy ID (`""` when it has none).
    pub fn namespace(&self) -> &str {
        self.id.split_once(':').map_or("", |(ns, _)| ns)
    }

    // --- entries ---

    pub fn entries(&self) -> &[PolicyEntry] {
        &self.entries
    }

    pub fn entry(&self, label: &str) -> Option<&PolicyEntry> {
        self.entries.iter().find(|e| e.label == label)
    }

    pub fn entry_mut(&mut self, label: &str) -> Option<&mut PolicyEntry> {
        self.entries.iter_mut().find(|e| e.label == label)
    }

    /// Sets (creates or replaces, keeping its position) one entry; true when it was created.
    pub fn put_entry(&mut self, entry: PolicyEntry) -> bool {
        match self.entries.iter_mut().find(|e| e.label == entry.label) {
            Some(existing) => {
                *existing = entry;
                false
            }
            None => {
                self.entries.push(entry);
                true
            }
        }
    }

    pub fn remove_entry(&mut self, label: &str) -> Option<PolicyEntry> {
        let i = self.entries.iter().position(|e| e.label == label)?;
        Some(self.entries.remove(i))
    }

    /// Replaces all entries (ModifyPolicyEntries).
    pub fn set_entries(&mut self, entries: Vec<PolicyEntry>) {
        self.entries = entries;
    }

    /// Parses an `entries` object (a ModifyPolicyEntries value).
    pub fn entries_from_json(value: &Value) -> Result<Vec<PolicyEntry>, DittoError> {
        parse_entries(as_object(value)?, STRICT)
    }

    pub fn entries_to_json(&self) -> Value {
        Value::Object(
            self.entries
                .iter()
                .map(|e| (e.label.clone(), e.to_json()))
                .collect(),
        )
    }

    /// The label of an entry whose local `references` point at `label`, if any: deleting `label` is then a
    /// `policies:entry.referenceconflict` (409).
    pub fn referencing_entry(&self, label: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| {
                e.label != label
                    && e.references
                        .iter()
                        .any(|r| r.import.is_none() && r.entry == label)
            })
            .map(|e| e.label.as_str())
    }

    // --- imports (verbatim) ---

    pub fn imports(&self) -> Option<&Map<String, Value>> {
        self.imports.as_ref()
    }

    pub fn import(&self, imported_policy_id: &str) -> Option<&Value> {
        self.imports.as_ref()?.get(imported_policy_id)
    }

    /// Sets all imports (ModifyPolicyImports), checking what the model checks: an object of objects keyed
    /// by valid policy IDs, at most [`MAX_IMPORTS`], none naming this policy, directly or in its
    /// `transitiveImports` (`ImmutablePolicy.of`, `PolicyImportsValidator`).
    pub fn set_imports(&mut self, imports: &Value) -> Result<(), DittoError> {
        let m = match imports {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
            other => return Err(DittoError::json_wrong_type(other, "/imports", "JsonObject")),
        };
        for (imported, value) in &m {
            self.check_import(imported, value)?;
        }
        if m.len() > MAX_IMPORTS {
            return Err(DittoError::imports_too_large(&self.id, MAX_IMPORTS));
        }
        self.imports = Some(m);
        Ok(())
    }

    /// Sets one import (ModifyPolicyImport); true when it was created.
    pub fn put_import(
        &mut self,
        imported_policy_id: &str,
        value: &Value,
    ) -> Result<bool, DittoError> {
        self.check_import(imported_policy_id, value)?;
        let imports = self.imports.get_or_insert_with(Map::new);
        let created = !imports.contains_key(imported_policy_id);
        if created && imports.len() >= MAX_IMPORTS {
            return Err(DittoError::imports_too_large(&self.id, MAX_IMPORTS));
        }
        imports.insert(imported_policy_id.to_owned(), value.clone());
        Ok(created)
    }

    pub fn remove_import(&mut self, imported_policy_id: &str) -> Option<Value> {
        self.imports.as_mut()?.remove(imported_policy_id)
    }

    pub(super) fn check_import(&self, imported: &str, value: &Value) -> Result<(), DittoError> {
        ids::validate_policy_id(imported)?;
        let obj = as_object(value)?;
        if imported == self.id {
            return Err(DittoError::import_invalid());
        }
        if let Some(t) = opt_array(obj, "transitiveImports")? {
            if t.iter().any(|v| v.as_str() == Some(self.id.as_str())) {
                return Err(DittoError::import_transitive_self(&self.id));
            }
        }
        Ok(())
    }

    pub(super) fn has_imports(&self) -> bool {
        self.imports.as_ref().is_some_and(|m| !m.is_empty())
    }

    // --- Ditto rules over the whole policy ---

    /// The policy Ditto creates for a new thing that names no policy (`ThingEnforcerActor.getDefaultPolicy`):
    /// ID = thing ID, one entry `DEFAULT` in which the *first* authorization subject (type `generated`) is
    /// granted READ and WRITE on `thing:/`, `policy:/` and `message:/`. Ditto refuses the creation when the
    /// session has no subject (`things:thing.notcreatable`, 400); with `subjects` empty the entry here has no
    /// subject and [`Policy::has_policy_writer`] is false, so the caller must check.
    pub fn default_for_thing(thing_id: &str, subjects: &[String]) -> Policy {
        let mut entry = PolicyEntry::unchecked(DEFAULT_ENTRY_LABEL);
        if let Some(first) = subjects.first() {
            entry.subjects.push(Subject::generated(first));
        }
        for rtype in ["thing", "policy", "message"] {
            let key = ResourceKey::root(rtype);
            entry.resources.push(Resource::new(
                key,
                &[Permission::Read, Permission::Write],
                &[],
            ));
        }
        Policy {
            id: thing_id.to_owned(),
            entries: vec![entry],
            imports: None,
        }
    }

    /// Ditto's lockout rule (`PoliciesValidator`): some subject without `expiry` is granted `WRITE` on
    /// exactly `policy:/` by an entry, and no entry revoking `WRITE` on `policy:/` names the same subject.
    /// Local `references` are resolved first; policies with imports always pass (the imported policy may
    /// supply the writer). Namespaces and revokes on sub-paths play no part.
    pub fn has_policy_writer(&self) -> bool {
        if self.has_imports() {
            return true;
        }
        let resolved;
        let entries: &[PolicyEntry] = if self.entries.iter().any(|e| !e.references.is_empty()) {
            resolved = references::resolve_local_references(self);
            &resolved
        } else {
            &self.entries
        };
        let on_policy_root = |e: &PolicyEntry, revoke: bool| {
            e.resources.iter().any(|r| {
                r.key.resource_type() == "policy"
                    && r.key.path().is_empty()
                    && if revoke {
                        r.revokes(Permission::Write)
                    } else {
                        r.grants(Permission::Write)
                    }
            })
        };
        let revoked: Vec<&Subject> = entries
            .iter()
            .filter(|e| on_policy_root(e, true))
            .flat_map(|e| e.subjects.iter())
            .collect();
        entries
            .iter()
            .filter(|e| on_policy_root(e, false))
            .flat_map(|e| e.subjects.iter())
            .any(|s| s.expiry.is_none() && !revoked.contains(&s))
    }

    /// [`Policy::has_policy_writer`] with Ditto's reason when it fails.
    pub fn policy_writer_check(&self) -> Result<(), String> {
        if self.has_policy_writer() {
            Ok(())
        } else {
            Err(NO_POLICY_WRITER_REASON.to_owned())
        }
    }

    /// The error CreatePolicy, ModifyPolicy and ModifyPolicyEntries answer when the result has no writer.
    pub fn ensure_policy_writer(&self) -> Result<(), DittoError> {
        self.policy_writer_check()
            .map_err(|r| DittoError::policy_modification_invalid(&self.id, Some(r)))
    }

    /// The error the entry/subject/resource-level modify and delete commands answer (on entry `label`).
    pub fn ensure_policy_writer_for_entry(&self, label: &str) -> Result<(), DittoError> {
        self.policy_writer_check()
            .map_err(|r| DittoError::entry_modification_invalid(&self.id, label, Some(r)))
    }

    /// The length Ditto's size limit measures: the compact JSON, in UTF-16 units like Java's `String.length()`.
    pub fn json_size(&self) -> u64 {
        let text = self.to_json().to_string();
        text.encode_utf16().count() as u64
    }

    /// `policies:policy.toolarge` (413) when the policy exceeds `max_bytes` (default [`DEFAULT_MAX_POLICY_SIZE`]).
    pub fn ensure_size(&self, max_bytes: u64) -> Result<(), DittoError> {
        let size = self.json_size();
        if size > max_bytes {
            Err(DittoError::too_large(size, max_bytes))
        } else {
            Ok(())
        }
    }

    /// Builds a policy from parts already validated (the v1 ACL mapping).
    pub(crate) fn from_parts(id: &str, entries: Vec<PolicyEntry>) -> Policy {
        Policy {
            id: id.to_owned(),
            entries,
            imports: None,
        }
    }

    pub(crate) fn entry_with_parts(
        label: &str,
        subjects: Vec<Subject>,
        resources: Vec<Resource>,
    ) -> PolicyEntry {
        PolicyEntry {
            subjects,
            resources,
            ..PolicyEntry::unchecked(label)
        }
    }
}

pub(super) fn parse_entries(
    m: &Map<String, Value>,
    rules: Rules,
) -> Result<Vec<PolicyEntry>, DittoError> {
    m.iter()
        .filter(|(k, _)| k.as_str() != SCHEMA_VERSION_KEY)
        .map(|(label, v)| PolicyEntry::parse(label, v, rules))
        .collect()
}
