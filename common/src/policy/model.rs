//! The policy document: entries of subjects and resources, parsed and validated from Ditto's JSON and
//! serialized back the way Ditto does (`policies/model/.../ImmutablePolicy`, `ImmutablePolicyEntry`,
//! `ImmutableSubject`, `ImmutableResource`, `ImmutableEffectedPermissions`), plus the accessors and mutators
//! the policies command group needs, the default policy of a new thing and the policy-writer rule.

use super::ids::{self, ResourceKey};
use super::references;
use crate::error::DittoError;
use serde_json::{json, Map, Value};

/// Ditto skips this key wherever it iterates entries, subjects or resources (`JsonSchemaVersion.getJsonKey()`).
const SCHEMA_VERSION_KEY: &str = "__schemaVersion";

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

/// How strictly names are checked while parsing.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// Subject IDs need an `issuer:` prefix (policies from clients); v1 ACL subjects do not.
    require_issuer: bool,
}

const STRICT: Rules = Rules {
    require_issuer: true,
};
const LENIENT: Rules = Rules {
    require_issuer: false,
};

// ---------------------------------------------------------------------------------------------------
// small JSON helpers mirroring Ditto's `JsonObject.getValue(fieldDefinition)`: absent and `null` read as
// absent, any other wrong type is `json.invalid` "Value <..> for </key> is not of type <..>!".

fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, DittoError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(v) => Err(DittoError::json_wrong_type(
            v,
            &format!("/{key}"),
            "JsonObject",
        )),
    }
}

fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Vec<Value>>, DittoError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(v) => Err(DittoError::json_wrong_type(
            v,
            &format!("/{key}"),
            "JsonArray",
        )),
    }
}

fn opt_string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, DittoError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(DittoError::json_wrong_type(v, &format!("/{key}"), "String")),
    }
}

fn as_object(value: &Value) -> Result<&Map<String, Value>, DittoError> {
    value
        .as_object()
        .ok_or_else(|| DittoError::not_an_object(value))
}

// ---------------------------------------------------------------------------------------------------

/// A permission of a policy resource. Ditto knows `READ`, `WRITE` and `EXECUTE` (policy actions,
/// `basic-policy.md` "Actions"); the model keeps any other string verbatim and it grants nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    Execute,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Write, Permission::Execute];

    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "READ" => Some(Permission::Read),
            "WRITE" => Some(Permission::Write),
            "EXECUTE" => Some(Permission::Execute),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::Execute => "EXECUTE",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Java's `String.hashCode` (over UTF-16 units) with `HashMap`'s spreading, so that permission arrays come
/// out in the order a `java.util.HashSet` iterates them (`ImmutablePermissions` is a `HashSet`): READ,
/// EXECUTE, WRITE – clients comparing JSON see what Ditto sends.
fn java_hash_set_order(permissions: Vec<String>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::with_capacity(permissions.len());
    for p in permissions {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    // `new HashSet<>(collection)` sizes its table to max(n / .75 + 1, 16), rounded up to a power of two.
    let wanted = ((unique.len() as f64 / 0.75) as usize + 1).max(16);
    let buckets = wanted.next_power_of_two();
    let bucket = |s: &str| {
        let h = s
            .encode_utf16()
            .fold(0u32, |h, u| h.wrapping_mul(31).wrapping_add(u32::from(u)));
        ((h ^ (h >> 16)) as usize) & (buckets - 1)
    };
    // Within a bucket Java keeps insertion order; a stable sort does the same.
    unique.sort_by_key(|s| bucket(s));
    unique
}

/// Reads a `grant`/`revoke` array: required, `null` reads as empty, non-string items are dropped
/// (`ImmutableEffectedPermissions.getPermissionsFor`).
fn read_permissions(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, DittoError> {
    match obj.get(key) {
        None => Err(DittoError::json_field_missing(&format!("/{key}"))),
        Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(java_hash_set_order(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )),
        Some(v) => Err(DittoError::json_wrong_type(
            v,
            &format!("/{key}"),
            "JsonArray",
        )),
    }
}

// ---------------------------------------------------------------------------------------------------

/// A subject of an entry: `{"type": "...", "expiry"?: ISO-8601, "announcement"?: {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    id: String,
    subject_type: String,
    expiry: Option<String>,
    announcement: Option<Value>,
}

impl Subject {
    /// A subject as Ditto creates it implicitly (`Subject.newInstance(id)`: type `generated`).
    pub fn generated(id: &str) -> Subject {
        Subject::new(id, "generated")
    }

    pub fn new(id: &str, subject_type: &str) -> Subject {
        Subject {
            id: id.to_owned(),
            subject_type: subject_type.to_owned(),
            expiry: None,
            announcement: None,
        }
    }

    /// Parses one subject (`ImmutableSubject.fromJson`); `id` is its key in the `subjects` object.
    pub fn from_json(id: &str, value: &Value) -> Result<Subject, DittoError> {
        Subject::parse(id, value, STRICT)
    }

    fn parse(id: &str, value: &Value, rules: Rules) -> Result<Subject, DittoError> {
        let obj = as_object(value)?;
        let subject_type = opt_string(obj, "type")?.ok_or_else(|| {
            DittoError::json_field_missing_message(
                "The 'type' for the 'subject' is missing.".into(),
            )
        })?;
        let expiry = opt_string(obj, "expiry")?
            .map(normalize_expiry)
            .transpose()?;
        let announcement = opt_object(obj, "announcement")?.map(|m| Value::Object(m.clone()));
        ids::validate_subject_id(id, rules.require_issuer)?;
        Ok(Subject {
            id: id.to_owned(),
            subject_type: subject_type.to_owned(),
            expiry,
            announcement,
        })
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.subject_type));
        if let Some(e) = &self.expiry {
            m.insert("expiry".into(), json!(e));
        }
        if let Some(a) = &self.announcement {
            m.insert("announcement".into(), a.clone());
        }
        Value::Object(m)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn subject_type(&self) -> &str {
        &self.subject_type
    }

    /// The expiry as Ditto prints an `Instant` (UTC, `Z`). Rounding it up to the configured granularity
    /// and rejecting past timestamps are the policies service's job, not the model's.
    pub fn expiry(&self) -> Option<&str> {
        self.expiry.as_deref()
    }

    pub fn announcement(&self) -> Option<&Value> {
        self.announcement.as_ref()
    }
}

/// `Instant.parse` accepts ISO-8601 instants; `Instant.toString` prints them in UTC with `Z` and 0, 3, 6
/// or 9 fraction digits.
fn normalize_expiry(expiry: &str) -> Result<String, DittoError> {
    chrono::DateTime::parse_from_rfc3339(expiry)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .map_err(|_| DittoError::subject_expiry_invalid(expiry))
}

// ---------------------------------------------------------------------------------------------------

/// A resource of an entry: its key and the permissions granted and revoked on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    key: ResourceKey,
    grant: Vec<String>,
    revoke: Vec<String>,
}

impl Resource {
    pub fn new(key: ResourceKey, grant: &[Permission], revoke: &[Permission]) -> Resource {
        let names = |ps: &[Permission]| {
            java_hash_set_order(ps.iter().map(|p| p.as_str().to_owned()).collect())
        };
        Resource {
            key,
            grant: names(grant),
            revoke: names(revoke),
        }
    }

    /// A resource from permission names (merging during reference resolution keeps unknown names too).
    pub(crate) fn from_names(
        key: ResourceKey,
        grant: Vec<String>,
        revoke: Vec<String>,
    ) -> Resource {
        Resource {
            key,
            grant: java_hash_set_order(grant),
            revoke: java_hash_set_order(revoke),
        }
    }

    /// Parses one resource (`ImmutableResource.of(key, value)`); `key` is `type:/path`.
    pub fn from_json(key: &str, value: &Value) -> Result<Resource, DittoError> {
        let key = ResourceKey::parse(key)?;
        Resource::from_key_and_json(key, value)
    }

    pub fn from_key_and_json(key: ResourceKey, value: &Value) -> Result<Resource, DittoError> {
        let Some(obj) = value.as_object() else {
            return Err(DittoError::json_invalid(format!(
                "The JSON object for the 'permissions' (grant/revoke) of the 'resource' '{key}' is missing or not an \
                 object."
            )));
        };
        let grant = read_permissions(obj, "grant")?;
        let revoke = read_permissions(obj, "revoke")?;
        Ok(Resource { key, grant, revoke })
    }

    /// The `{"grant": [...], "revoke": [...]}` object.
    pub fn to_json(&self) -> Value {
        json!({ "grant": self.grant, "revoke": self.revoke })
    }

    pub fn key(&self) -> &ResourceKey {
        &self.key
    }

    /// The granted permission names as stored (unknown names included).
    pub fn granted(&self) -> &[String] {
        &self.grant
    }

    pub fn revoked(&self) -> &[String] {
        &self.revoke
    }

    pub fn grants(&self, p: Permission) -> bool {
        self.grant.iter().any(|g| g == p.as_str())
    }

    pub fn revokes(&self, p: Permission) -> bool {
        self.revoke.iter().any(|r| r == p.as_str())
    }
}

// ---------------------------------------------------------------------------------------------------

/// `importable` of an entry (`ImportableType`): whether other policies importing this one get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Importable {
    #[default]
    Implicit,
    Explicit,
    Never,
}

impl Importable {
    pub fn as_str(self) -> &'static str {
        match self {
            Importable::Implicit => "implicit",
            Importable::Explicit => "explicit",
            Importable::Never => "never",
        }
    }
}

/// `allowedAdditions` values (`AllowedAddition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedAddition {
    Subjects,
    Resources,
    Namespaces,
}

impl AllowedAddition {
    pub fn as_str(self) -> &'static str {
        match self {
            AllowedAddition::Subjects => "subjects",
            AllowedAddition::Resources => "resources",
            AllowedAddition::Namespaces => "namespaces",
        }
    }

    fn parse(s: &str) -> Option<AllowedAddition> {
        match s {
            "subjects" => Some(AllowedAddition::Subjects),
            "resources" => Some(AllowedAddition::Resources),
            "namespaces" => Some(AllowedAddition::Namespaces),
            _ => None,
        }
    }
}

/// An entry of `references`: `{"entry": label}` (local) or `{"import": policyId, "entry": label}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryReference {
    pub import: Option<String>,
    pub entry: String,
}

impl EntryReference {
    /// `ImmutableEntryReference.fromJson`.
    fn from_json(obj: &Map<String, Value>) -> Result<EntryReference, DittoError> {
        let entry =
            opt_string(obj, "entry")?.ok_or_else(|| DittoError::json_field_missing("/entry"))?;
        ids::validate_label(entry)?;
        let import = match obj.get("import") {
            None => None,
            Some(raw) => {
                let bad = |received: String, details: &str| {
                    DittoError::json_invalid_described(
                        format!(
                            "The 'import' field of an entry reference must be a non-empty string. Received: {received}."
                        ),
                        format!("To create a local reference, omit the 'import' field entirely. {details}"),
                    )
                };
                match raw {
                    Value::Null => return Err(bad("null".into(), "Null is not accepted.")),
                    Value::String(s) if s.is_empty() => {
                        return Err(bad("\"\"".into(), "Empty string is not accepted."))
                    }
                    Value::String(s) => {
                        ids::validate_policy_id(s)?;
                        Some(s.clone())
                    }
                    other => return Err(bad(
                        other.to_string(),
                        "Only non-empty string values are accepted (e.g. \"policy:identifier\").",
                    )),
                }
            }
        };
        Ok(EntryReference {
            import,
            entry: entry.to_owned(),
        })
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(i) = &self.import {
            m.insert("import".into(), json!(i));
        }
        m.insert("entry".into(), json!(self.entry));
        Value::Object(m)
    }
}

/// One labelled entry: who (subjects) may do what (resources), optionally limited to thing namespaces.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyEntry {
    label: String,
    subjects: Vec<Subject>,
    resources: Vec<Resource>,
    namespaces: Option<Vec<String>>,
    importable: Importable,
    allowed_additions: Option<Vec<AllowedAddition>>,
    references: Vec<EntryReference>,
}

impl PolicyEntry {
    /// An empty entry (Ditto accepts entries without subjects or resources; they just grant nothing).
    pub fn new(label: &str) -> Result<PolicyEntry, DittoError> {
        ids::validate_label(label)?;
        Ok(PolicyEntry::unchecked(label))
    }

    pub(crate) fn unchecked(label: &str) -> PolicyEntry {
        PolicyEntry {
            label: label.to_owned(),
            subjects: Vec::new(),
            resources: Vec::new(),
            namespaces: None,
            importable: Importable::Implicit,
            allowed_additions: None,
            references: Vec::new(),
        }
    }

    /// Parses an entry (`ImmutablePolicyEntry.fromJson`): a ModifyPolicyEntry's value, or one member of a
    /// policy's `entries`. Since Ditto 3.9 `subjects` and `resources` are optional (entries may inherit
    /// them through `references`).
    pub fn from_json(label: &str, value: &Value) -> Result<PolicyEntry, DittoError> {
        PolicyEntry::parse(label, value, STRICT)
    }

    fn parse(label: &str, value: &Value, rules: Rules) -> Result<PolicyEntry, DittoError> {
        // ImmutablePolicy checks the value's type before the label.
        let obj = as_object(value)?;
        ids::validate_label(label)?;
        let subjects = match opt_object(obj, "subjects")? {
            Some(m) => parse_subjects(m, rules)?,
            None => Vec::new(),
        };
        let resources = match opt_object(obj, "resources")? {
            Some(m) => parse_resources(m)?,
            None => Vec::new(),
        };
        let namespaces = opt_array(obj, "namespaces")?
            .map(|a| parse_namespaces(a))
            .transpose()?;
        let importable = match opt_string(obj, "importable")? {
            None => Importable::Implicit,
            Some("implicit") => Importable::Implicit,
            Some("explicit") => Importable::Explicit,
            Some("never") => Importable::Never,
            Some(other) => {
                return Err(DittoError::entry_invalid(format!(
                    "The value '{other}' of field '/importable' is not valid. Valid values are: [implicit, explicit, \
                     never]"
                )))
            }
        };
        let allowed_additions = opt_array(obj, "allowedAdditions")?
            .map(|a| parse_allowed_additions(a))
            .transpose()?;
        let references = match opt_array(obj, "references")? {
            Some(a) => parse_references(a)?,
            None => Vec::new(),
        };
        Ok(PolicyEntry {
            label: label.to_owned(),
            subjects,
            resources,
            namespaces,
            importable,
            allowed_additions,
            references,
        })
    }

    /// Serializes as `ImmutablePolicyEntry.toJson`: subjects, resources, namespaces (when set),
    /// `importable` (always), allowedAdditions (when set), references (when any).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("subjects".into(), self.subjects_to_json());
        m.insert("resources".into(), self.resources_to_json());
        if let Some(ns) = &self.namespaces {
            m.insert("namespaces".into(), json!(ns));
        }
        m.insert("importable".into(), json!(self.importable.as_str()));
        if let Some(a) = &self.allowed_additions {
            m.insert(
                "allowedAdditions".into(),
                Value::Array(a.iter().map(|x| json!(x.as_str())).collect()),
            );
        }
        if !self.references.is_empty() {
            m.insert(
                "references".into(),
                Value::Array(
                    self.references
                        .iter()
                        .map(EntryReference::to_json)
                        .collect(),
                ),
            );
        }
        Value::Object(m)
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    // --- subjects ---

    pub fn subjects(&self) -> &[Subject] {
        &self.subjects
    }

    pub fn subject(&self, id: &str) -> Option<&Subject> {
        self.subjects.iter().find(|s| s.id == id)
    }

    /// Sets (creates or replaces) one subject; true when it was created.
    pub fn put_subject(&mut self, subject: Subject) -> bool {
        match self.subjects.iter_mut().find(|s| s.id == subject.id) {
            Some(existing) => {
                *existing = subject;
                false
            }
            None => {
                self.subjects.push(subject);
                true
            }
        }
    }

    pub fn remove_subject(&mut self, id: &str) -> Option<Subject> {
        let i = self.subjects.iter().position(|s| s.id == id)?;
        Some(self.subjects.remove(i))
    }

    pub fn set_subjects(&mut self, subjects: Vec<Subject>) {
        self.subjects = subjects;
    }

    /// Parses a `subjects` object (a ModifySubjects value).
    pub fn subjects_from_json(value: &Value) -> Result<Vec<Subject>, DittoError> {
        parse_subjects(as_object(value)?, STRICT)
    }

    pub fn subjects_to_json(&self) -> Value {
        Value::Object(
            self.subjects
                .iter()
                .map(|s| (s.id.clone(), s.to_json()))
                .collect(),
        )
    }

    // --- resources ---

    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    pub fn resource(&self, key: &ResourceKey) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.key == key)
    }

    /// Sets (creates or replaces) one resource; true when it was created.
    pub fn put_resource(&mut self, resource: Resource) -> bool {
        match self.resources.iter_mut().find(|r| r.key == resource.key) {
            Some(existing) => {
                *existing = resource;
                false
            }
            None => {
                self.resources.push(resource);
                true
            }
        }
    }

    pub fn remove_resource(&mut self, key: &ResourceKey) -> Option<Resource> {
        let i = self.resources.iter().position(|r| &r.key == key)?;
        Some(self.resources.remove(i))
    }

    pub fn set_resources(&mut self, resources: Vec<Resource>) {
        self.resources = resources;
    }

    /// Parses a `resources` object (a ModifyResources value).
    pub fn resources_from_json(value: &Value) -> Result<Vec<Resource>, DittoError> {
        parse_resources(as_object(value)?)
    }

    pub fn resources_to_json(&self) -> Value {
        Value::Object(
            self.resources
                .iter()
                .map(|r| (r.key.to_string(), r.to_json()))
                .collect(),
        )
    }

    // --- the 3.9 fields ---

    /// Namespace patterns restricting the entry to matching thing namespaces (`None`: field absent).
    pub fn namespaces(&self) -> Option<&[String]> {
        self.namespaces.as_deref()
    }

    /// Sets the namespace patterns (a ModifyPolicyEntryNamespaces value), validating them.
    pub fn set_namespaces_json(&mut self, value: &Value) -> Result<(), DittoError> {
        let Value::Array(a) = value else {
            return Err(DittoError::json_wrong_type(
                value,
                "/namespaces",
                "JsonArray",
            ));
        };
        self.namespaces = Some(parse_namespaces(a)?);
        Ok(())
    }

    /// Whether the entry applies to things in `namespace` (`PolicyEntry.appliesToNamespace`).
    pub fn applies_to_namespace(&self, namespace: &str) -> bool {
        ids::namespace_matches(self.namespaces.as_deref().unwrap_or_default(), namespace)
    }

    pub fn importable(&self) -> Importable {
        self.importable
    }

    pub fn allowed_additions(&self) -> Option<&[AllowedAddition]> {
        self.allowed_additions.as_deref()
    }

    pub fn references(&self) -> &[EntryReference] {
        &self.references
    }

    /// Builds a resolved entry (reference resolution) without re-validating.
    pub(crate) fn resolved(
        template: &PolicyEntry,
        subjects: Vec<Subject>,
        resources: Vec<Resource>,
        namespaces: Option<Vec<String>>,
        allowed_additions: Option<Vec<AllowedAddition>>,
    ) -> PolicyEntry {
        PolicyEntry {
            subjects,
            resources,
            namespaces,
            allowed_additions,
            ..template.clone()
        }
    }
}

fn parse_subjects(m: &Map<String, Value>, rules: Rules) -> Result<Vec<Subject>, DittoError> {
    m.iter()
        .filter(|(k, _)| k.as_str() != SCHEMA_VERSION_KEY)
        .map(|(id, v)| Subject::parse(id, v, rules))
        .collect()
}

fn parse_resources(m: &Map<String, Value>) -> Result<Vec<Resource>, DittoError> {
    let mut out: Vec<Resource> = Vec::with_capacity(m.len());
    for (k, v) in m.iter().filter(|(k, _)| k.as_str() != SCHEMA_VERSION_KEY) {
        let r = Resource::from_json(k, v)?;
        // `thing:/a` and `thing:a/` are one key after normalisation (`ImmutableResources.of`).
        if out.iter().any(|o| o.key == r.key) {
            return Err(DittoError::entry_invalid_with(
                format!(
                    "There is more than one Resource with the path <{}>!",
                    r.key.path_string()
                ),
                None,
            ));
        }
        out.push(r);
    }
    Ok(out)
}

fn parse_namespaces(a: &[Value]) -> Result<Vec<String>, DittoError> {
    let mut out: Vec<String> = Vec::with_capacity(a.len());
    for v in a {
        let Some(s) = v.as_str() else {
            return Err(DittoError::entry_invalid(format!(
                "The 'namespaces' array must only contain string values, but contained: {v}."
            )));
        };
        ids::validate_namespace_pattern(s)?;
        // ImmutablePolicyEntry keeps them as a LinkedHashSet.
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

fn parse_allowed_additions(a: &[Value]) -> Result<Vec<AllowedAddition>, DittoError> {
    let mut out = Vec::new();
    for (i, v) in a.iter().enumerate() {
        let Some(s) = v.as_str() else {
            return Err(DittoError::entry_invalid(format!(
                "The 'allowedAdditions' array contains a non-string element at index {i}: {v}. Every element must \
                 be a string from [subjects, resources, namespaces]."
            )));
        };
        let Some(x) = AllowedAddition::parse(s) else {
            return Err(DittoError::entry_invalid(format!(
                "The value '{s}' is not a valid allowedAddition. Valid values are: [subjects, resources, namespaces]."
            )));
        };
        if !out.contains(&x) {
            out.push(x);
        }
    }
    Ok(out)
}

fn parse_references(a: &[Value]) -> Result<Vec<EntryReference>, DittoError> {
    a.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(o) => EntryReference::from_json(o),
            other => Err(DittoError::entry_invalid(format!(
                "The 'references' array contains a non-object element at index {i}: {other}. Every element must be \
                 a JSON object with at least an 'entry' field."
            ))),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------

/// A policy: its ID, its ordered entries and its imports (kept verbatim – imported policies are resolved
/// elsewhere). The revision lives with the stored document, not here.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    id: String,
    entries: Vec<PolicyEntry>,
    imports: Option<Map<String, Value>>,
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

    fn parse(policy_id: Option<&str>, value: &Value, rules: Rules) -> Result<Policy, DittoError> {
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

    fn check_import(&self, imported: &str, value: &Value) -> Result<(), DittoError> {
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

    fn has_imports(&self) -> bool {
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

fn parse_entries(m: &Map<String, Value>, rules: Rules) -> Result<Vec<PolicyEntry>, DittoError> {
    m.iter()
        .filter(|(k, _)| k.as_str() != SCHEMA_VERSION_KEY)
        .map(|(label, v)| PolicyEntry::parse(label, v, rules))
        .collect()
}
