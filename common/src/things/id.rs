//! Namespaced entity ids (`namespace:name`) as Ditto validates them for things and policies.

use crate::error::Error;
use regex::Regex;
use std::sync::LazyLock;

/// Ditto's limit on the length of an entity id.
pub const MAX_ID_LENGTH: usize = 256;

/// Ditto `RegexPatterns`: a namespace is empty or segments starting with a letter, separated by
/// `.` or `-`; a name is one or more characters outside control characters, U+007F–U+00FF and `/`.
static ID: LazyLock<Regex> = LazyLock::new(|| {
    // The pattern is a constant; it is checked by the tests below.
    Regex::new(
        r"^(|[a-zA-Z][A-Za-z0-9_]*(?:[.-][a-zA-Z][A-Za-z0-9_]*)*):([^\x00-\x1F\x7F-\u{FF}/]+)$",
    )
    .expect("valid id regex")
});

/// A validated `namespace:name` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityId {
    pub namespace: String,
    pub name: String,
}

impl EntityId {
    pub fn parse(id: &str) -> Option<EntityId> {
        if id.len() > MAX_ID_LENGTH {
            return None;
        }
        let caps = ID.captures(id)?;
        Some(EntityId {
            namespace: caps[1].to_owned(),
            name: caps[2].to_owned(),
        })
    }

    pub fn parse_thing(id: &str) -> Result<EntityId, Error> {
        EntityId::parse(id).ok_or_else(|| Error::ThingIdInvalid(id.to_owned()))
    }

    pub fn from_parts(namespace: &str, name: &str) -> String {
        format!("{namespace}:{name}")
    }
}

impl std::fmt::Display for EntityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_ids() {
        let valid = [
            "org.example:demo-thing",
            ":no-namespace",
            "a:b:c",
            "org.eclipse.ditto:fancy_car-1",
            "x1.y_2:name@with&chars",
            "org-x.y:z",
            "a:€",
        ];
        for id in valid {
            assert!(EntityId::parse(id).is_some(), "{id}");
        }
        let invalid = [
            "no-colon",
            "org.example:",
            "1org:x",
            "org..x:y",
            "org.example:a/b",
            "org.example:tab\t",
            "-x:y",
            "",
            "_:x",
            "a:é",
            "a.-b:c",
        ];
        for id in invalid {
            assert!(EntityId::parse(id).is_none(), "{id}");
        }
        assert!(EntityId::parse(&format!("a:{}", "n".repeat(MAX_ID_LENGTH))).is_none());
    }

    #[test]
    fn the_first_colon_splits_namespace_and_name() {
        let id = EntityId::parse("org.example:a:b").unwrap();
        assert_eq!(
            (id.namespace.as_str(), id.name.as_str()),
            ("org.example", "a:b")
        );
    }
}
