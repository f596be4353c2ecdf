//! One labelled policy entry (`ImmutablePolicyEntry`) and its parts Ditto 3.x added: `importable`,
//! `allowedAdditions`, `references` and thing `namespaces`.

use super::ids::{self, ResourceKey};
use super::json::{
    as_object, opt_array, opt_object, opt_string, Rules, SCHEMA_VERSION_KEY, STRICT,
};
use super::resource::Resource;
use super::subject::Subject;
use crate::error::DittoError;
use serde_json::{json, Map, Value};

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

    pub(super) fn parse(s: &str) -> Option<AllowedAddition> {
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
    pub(super) fn from_json(obj: &Map<String, Value>) -> Result<EntryReference, DittoError> {
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

    pub(super) fn to_json(&self) -> Value {
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
    pub(super) label: String,
    pub(super) subjects: Vec<Subject>,
    pub(super) resources: Vec<Resource>,
    pub(super) namespaces: Option<Vec<String>>,
    pub(super) importable: Importable,
    pub(super) allowed_additions: Option<Vec<AllowedAddition>>,
    pub(super) references: Vec<EntryReference>,
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

    pub(super) fn parse(
        label: &str,
        value: &Value,
        rules: Rules,
    ) -> Result<PolicyEntry, DittoError> {
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

pub(super) fn parse_subjects(
    m: &Map<String, Value>,
    rules: Rules,
) -> Result<Vec<Subject>, DittoError> {
    m.iter()
        .filter(|(k, _)| k.as_str() != SCHEMA_VERSION_KEY)
        .map(|(id, v)| Subject::parse(id, v, rules))
        .collect()
}

pub(super) fn parse_resources(m: &Map<String, Value>) -> Result<Vec<Resource>, DittoError> {
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

pub(super) fn parse_namespaces(a: &[Value]) -> Result<Vec<String>, DittoError> {
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

pub(super) fn parse_allowed_additions(a: &[Value]) -> Result<Vec<AllowedAddition>, DittoError> {
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

pub(super) fn parse_references(a: &[Value]) -> Result<Vec<EntryReference>, DittoError> {
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
