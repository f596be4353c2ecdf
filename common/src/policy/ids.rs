//! Syntax rules for the names inside a policy – policy IDs, entry labels, subject IDs, resource keys and
//! namespace patterns – as Ditto's model classes check them (`RegexPatterns`,
//! `NoControlCharacters[NoSlashes]Validator`, `ImmutableLabel`, `ImmutableSubjectId`,
//! `PoliciesModelFactory.newResourceKey`, `PolicyEntryNamespaces`).

use crate::error::DittoError;
use std::fmt;

/// `AbstractPatternValidator.MAX_LENGTH`, counted in UTF-16 units like Java's `String.length()`.
const MAX_LENGTH: usize = 256;

/// `RegexPatterns.CONTROL_CHARS` = `\x00-\x1F\x7F-\xFF`: this also rejects Latin-1 letters such as `ü`.
fn is_control(c: char) -> bool {
    let c = c as u32;
    c <= 0x1F || (0x7F..=0xFF).contains(&c)
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// `NoControlCharactersValidator`: the reason when `s` is not acceptable.
pub(crate) fn no_control_chars(s: &str) -> Result<(), &'static str> {
    if utf16_len(s) > MAX_LENGTH {
        return Err("Not allowed to exceed length of 256.");
    }
    if s.is_empty() || s.chars().any(is_control) {
        return Err("No control characters are allowed.");
    }
    Ok(())
}

/// `NoControlCharactersNoSlashesValidator`.
pub(crate) fn no_control_chars_no_slashes(s: &str) -> Result<(), &'static str> {
    if utf16_len(s) > MAX_LENGTH {
        return Err("Not allowed to exceed length of 256.");
    }
    if s.is_empty() || s.chars().any(|c| c == '/' || is_control(c)) {
        return Err("Neither slashes nor any control characters are allowed.");
    }
    Ok(())
}

/// `RegexPatterns.NAMESPACE_REGEX` (non-empty form): `[a-zA-Z]\w*` segments joined by `.` or `-`.
pub fn is_valid_namespace(ns: &str) -> bool {
    let mut expect_start = true;
    for c in ns.chars() {
        if expect_start {
            if !c.is_ascii_alphabetic() {
                return false;
            }
            expect_start = false;
        } else if c == '.' || c == '-' {
            expect_start = true;
        } else if !(c.is_ascii_alphanumeric() || c == '_') {
            return false;
        }
    }
    !expect_start
}

/// `PolicyId.of`: `<namespace>:<name>` with an optional (possibly empty) namespace and a name without
/// slashes or control characters.
pub fn validate_policy_id(policy_id: &str) -> Result<(), DittoError> {
    let ok = match policy_id.split_once(':') {
        Some((ns, name)) => {
            (ns.is_empty() || is_valid_namespace(ns))
                && !name.is_empty()
                && !name.chars().any(|c| c == '/' || is_control(c))
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(DittoError::policy_id_invalid(policy_id))
    }
}

/// Labels starting with these are reserved for imported entries (`ImmutableImportedLabel`).
const RESERVED_LABEL_PREFIXES: [&str; 2] = ["imported", "nsimported"];

/// `ImmutableLabel.of`: no reserved prefix (`policies:label.invalid`), then no slashes or control
/// characters (`policies:entry.invalid`).
pub fn validate_label(label: &str) -> Result<(), DittoError> {
    if RESERVED_LABEL_PREFIXES.iter().any(|p| label.starts_with(p)) {
        return Err(DittoError::label_invalid(label));
    }
    no_control_chars_no_slashes(label).map_err(|reason| {
        DittoError::entry_invalid_with(
            format!("The Policy Label {label} is invalid"),
            Some(reason.to_owned()),
        )
    })
}

/// `Placeholders.containsAnyPlaceholder`: `{{ … }}` or the legacy `${ … }`.
fn contains_placeholder(s: &str) -> bool {
    let closes_after = |open: &str, close: &str| {
        s.find(open)
            .is_some_and(|i| s[i + open.len()..].contains(close))
    };
    closes_after("{{", "}}") || closes_after("${", "}")
}

/// `ImmutableSubjectId.of`: `<issuer>:<subject>` with a non-empty subject and no control characters; an ID
/// holding a placeholder needs no colon. With `require_issuer = false` (v1 ACL subjects, which are plain
/// authorization subject IDs) only the control-character rule applies.
pub fn validate_subject_id(subject_id: &str, require_issuer: bool) -> Result<(), DittoError> {
    if require_issuer && !contains_placeholder(subject_id) {
        match subject_id.split_once(':') {
            Some((_, subject)) if !subject.is_empty() => {}
            _ => return Err(DittoError::subject_id_invalid(subject_id, None)),
        }
    }
    no_control_chars(subject_id)
        .map_err(|reason| DittoError::subject_id_invalid(subject_id, Some(reason)))
}

/// A resource key: its type (`thing`, `policy`, `message`, or anything else – Ditto's model accepts any type)
/// and the keys of its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    rtype: String,
    path: Vec<String>,
}

impl ResourceKey {
    /// `PoliciesModelFactory.newResourceKey("type:/path")`.
    pub fn parse(key: &str) -> Result<ResourceKey, DittoError> {
        let invalid = |reason: Option<&str>| {
            DittoError::entry_invalid_with(
                format!("The Policy Resource {key} is invalid"),
                reason.map(str::to_owned),
            )
        };
        no_control_chars(key).map_err(|reason| invalid(Some(reason)))?;
        let Some((rtype, path)) = key.split_once(':') else {
            return Err(DittoError::json_invalid(
                "The provided string was not in the expected format 'type:path'",
            ));
        };
        if rtype.is_empty() {
            // Ditto fails with an IllegalArgumentException ("type must not be empty"); report it as an
            // invalid entry, the closest client-facing error.
            return Err(invalid(Some("The resource type must not be empty.")));
        }
        Ok(ResourceKey {
            rtype: rtype.to_owned(),
            path: parse_pointer(path)?,
        })
    }

    /// The root resource of a type (`thing:/`), for types the code names itself.
    pub(crate) fn root(rtype: &'static str) -> ResourceKey {
        ResourceKey {
            rtype: rtype.to_owned(),
            path: Vec::new(),
        }
    }

    /// A key from a type and a slash-separated path.
    pub fn new(rtype: &str, path: &str) -> Result<ResourceKey, DittoError> {
        if rtype.is_empty() {
            return ResourceKey::parse(&format!(":{path}"));
        }
        Ok(ResourceKey {
            rtype: rtype.to_owned(),
            path: parse_pointer(path)?,
        })
    }

    pub fn resource_type(&self) -> &str {
        &self.rtype
    }

    /// The path's keys (`thing:/` has none).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// The path as Ditto prints it (`/`, `/attributes/a`).
    pub fn path_string(&self) -> String {
        pointer_to_string(&self.path)
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.rtype, pointer_to_string(&self.path))
    }
}

/// `ImmutableJsonPointer.ofParsed`: consecutive slashes are an error, a leading/trailing slash is optional,
/// and `~0` decodes to `~`.
pub fn parse_pointer(path: &str) -> Result<Vec<String>, DittoError> {
    if path.contains("//") {
        return Err(DittoError::json_pointer_consecutive_slashes(path));
    }
    Ok(path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~0", "~"))
        .collect())
}

/// `ImmutableJsonPointer.toString`: `/` for the root, `~` escaped as `~0`.
pub fn pointer_to_string(keys: &[String]) -> String {
    if keys.is_empty() {
        return "/".to_owned();
    }
    keys.iter()
        .map(|k| format!("/{}", k.replace('~', "~0")))
        .collect()
}

/// `PolicyEntryNamespaces.validatePattern`: `com.acme` or `com.acme.*`.
pub fn validate_namespace_pattern(pattern: &str) -> Result<(), DittoError> {
    let base = pattern.strip_suffix(".*").unwrap_or(pattern);
    if is_valid_namespace(base) {
        Ok(())
    } else {
        Err(DittoError::entry_invalid(format!(
            "The value '{pattern}' is not a valid namespace pattern. Valid patterns are namespaces like 'com.acme' \
             or wildcard patterns like 'com.acme.*'."
        )))
    }
}

/// `PolicyEntryNamespaces.matches`: no patterns match every namespace; `a.*` matches below `a`, not `a`.
pub fn namespace_matches(patterns: &[String], namespace: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix(".*") {
            Some(prefix) => namespace
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.')),
            None => p == namespace,
        })
}
