//! A permission check (`…/commands/checkPermissions`, one entry of Ditto's `POST
//! /api/2/checkPermissions`): whether the requester holds every permission asked on a resource of
//! the entity's policy, evaluated as Ditto's `PolicyCheckPermissionsStrategy` does
//! (`hasUnrestrictedPermissions`: on the resource and everything below it). The policy is the
//! thing's own for a things topic, the named one for a policies topic; without one the answer is
//! `false`, never an error (Ditto), so the check tells nothing about what exists.

use super::CachedPolicy;
use serde_json::Value;
use twinwire_common::bus::BusCommand;
use twinwire_common::policy::Permission;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::Envelope;
use twinwire_common::Error;

/// The answer frame to a permission check of `cmd` (value `{"resource": "type:/path",
/// "hasPermissions": [...]}`) against `policy`: 200 with `true` or `false`.
pub fn answer(cmd: &BusCommand, policy: Option<&CachedPolicy>) -> Result<String, Error> {
    let env = &cmd.envelope;
    let (rtype, path, perms) = request_of(env.value.as_ref())?;
    let granted = policy.is_some_and(|p| {
        perms.iter().all(|perm| {
            p.enforcer
                .has_unrestricted(&cmd.subjects, &rtype, &path, *perm)
        })
    });
    let mut headers = env.headers.for_response();
    headers.set(names::CONTENT_TYPE, "application/json");
    Ok(Envelope {
        topic: env.topic.clone(),
        headers,
        path: env.path.clone(),
        value: Some(Value::Bool(granted)),
        status: Some(200),
        ..Default::default()
    }
    .to_json_string())
}

/// The resource type, its path and the permissions a check asks about.
fn request_of(value: Option<&Value>) -> Result<(String, String, Vec<Permission>), Error> {
    let invalid = || {
        Error::JsonFormatInvalid(
            "A permission check needs 'resource' (type:/path) and 'hasPermissions'.".into(),
        )
    };
    let value = value.ok_or_else(invalid)?;
    let (rtype, path) = value
        .get("resource")
        .and_then(Value::as_str)
        .and_then(|r| r.split_once(':'))
        .ok_or_else(invalid)?;
    let perms = value
        .get("hasPermissions")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(invalid)?
        .iter()
        .map(|p| p.as_str().and_then(Permission::parse).ok_or_else(invalid))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rtype.to_owned(), path.to_owned(), perms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_check_names_a_resource_and_at_least_one_known_permission() {
        let (t, p, perms) = request_of(Some(
            &json!({"resource": "thing:/a/b", "hasPermissions": ["READ", "WRITE"]}),
        ))
        .unwrap();
        assert_eq!((t.as_str(), p.as_str()), ("thing", "/a/b"));
        assert_eq!(perms, [Permission::Read, Permission::Write]);
        for bad in [
            json!({"resource": "thing:/", "hasPermissions": []}),
            json!({"resource": "thing:/", "hasPermissions": ["FLY"]}),
            json!({"resource": "nocolon", "hasPermissions": ["READ"]}),
            json!({"hasPermissions": ["READ"]}),
        ] {
            assert!(request_of(Some(&bad)).is_err(), "{bad}");
        }
    }
}
