//! A permission of a policy resource and how Ditto reads and orders permission arrays
//! (`ImmutableEffectedPermissions`, `ImmutablePermissions`).

use crate::error::DittoError;
use serde_json::{Map, Value};

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
pub(super) fn java_hash_set_order(permissions: Vec<String>) -> Vec<String> {
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
pub(super) fn read_permissions(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Vec<String>, DittoError> {
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
