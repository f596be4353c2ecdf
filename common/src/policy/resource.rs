//! A resource of a policy entry (`ImmutableResource`): its key and the permissions granted and revoked
//! on it.

use super::ids::ResourceKey;
use super::permission::{java_hash_set_order, read_permissions, Permission};
use crate::error::DittoError;
use serde_json::{json, Value};

/// A resource of an entry: its key and the permissions granted and revoked on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub(super) key: ResourceKey,
    pub(super) grant: Vec<String>,
    pub(super) revoke: Vec<String>,
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
