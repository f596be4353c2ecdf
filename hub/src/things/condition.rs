//! The `condition` header (reference ditto-features §1): an RQL expression a command's requester
//! asks to hold on the current twin, else nothing happens and the answer is 412 without an event.
//!
//! Ditto's order, which [`super::command::decide`] follows for twin commands: the condition's
//! syntax (400 `things:condition.invalid`), READ without restriction on every field it names (412,
//! before the command's own permission), the command's permission, the condition's names (400
//! `rql.expression.invalid`), then the condition against the twin, and only then `if-match` /
//! `if-none-match` and `if-equal`. A create, and a thing that does not exist, skip it.
//!
//! Live commands and messages evaluate it on what the requester may read of the twin (Ditto
//! retrieves the thing with the requester's authorization first), after their own permission check.

use super::twin::Twin;
use serde_json::Value;
use twinwire_common::policy::{Enforcer, Permission};
use twinwire_common::rql::{parse_condition, MapPlaceholders, ParsedCondition};
use twinwire_common::Error;

/// The header's name.
pub const CONDITION: &str = "condition";

/// Which kind of signal carries the condition: they differ in the error of an invalid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// Twin and live thing commands: `things:condition.invalid`.
    Command,
    /// Live messages skip Ditto's enforcement step, so their parse fails in the persistence's
    /// RQL factory: `rql.expression.invalid`.
    Message,
}

/// The condition of `headers`, syntax-checked; `None` without one.
pub fn parse(
    headers: &twinwire_common::protocol::Headers,
    carrier: Carrier,
) -> Result<Option<ParsedCondition>, Error> {
    parse_header(headers, CONDITION, carrier)
}

/// The RQL condition in header `name` (`condition` or `live-channel-condition`), syntax-checked.
pub fn parse_header(
    headers: &twinwire_common::protocol::Headers,
    name: &str,
    carrier: Carrier,
) -> Result<Option<ParsedCondition>, Error> {
    let Some(text) = headers.get_str(name) else {
        return Ok(None);
    };
    parse_condition(&text).map(Some).map_err(|e| match carrier {
        Carrier::Command => Error::ConditionInvalid {
            condition: text.into_owned(),
            reason: e.message,
        },
        Carrier::Message => Error::RqlInvalid(e.message),
    })
}

/// Ditto's `enforceReadPermissionOnCondition`: READ without restriction on every field the
/// condition names, else 412 (whatever the command's own permission would have said).
pub fn check_readable(
    condition: &ParsedCondition,
    enforcer: &Enforcer,
    subjects: &[String],
) -> Result<(), Error> {
    for field in condition.fields() {
        if field.contains("//") {
            // Ditto's resource key for the field fails to parse as a JSON pointer.
            return Err(Error::ConditionInvalid {
                condition: field.clone(),
                reason: "Consecutive slashes in JSON pointers are not supported.".into(),
            });
        }
        let path = format!("/{}", field.trim_start_matches('/'));
        if !enforcer.has_unrestricted(subjects, "thing", &path, Permission::Read) {
            return Err(Error::ConditionNotReadable);
        }
    }
    Ok(())
}

/// The twin as `subjects` may read it (nothing when they may read none of it): what conditions on
/// live signals are evaluated on, as Ditto retrieves the thing with the requester's authorization.
pub fn requester_view(enforcer: &Enforcer, subjects: &[String], twin: &Twin) -> Value {
    if enforcer.has_partial(subjects, "thing", "/", Permission::Read) {
        enforcer.retrieve_view(subjects, "thing", "/", &twin.with_special_fields())
    } else {
        Value::Object(serde_json::Map::new())
    }
}

/// The condition against `thing` (with its `_revision`, `_modified`, ... fields), `time:now` being
/// `now` (the batch's timestamp): unknown names are `rql.expression.invalid`, false is 412.
pub fn evaluate(condition: &ParsedCondition, thing: &Value, now: &str) -> Result<(), Error> {
    let compiled = condition
        .compile()
        .map_err(|e| Error::RqlInvalid(e.message))?;
    let now = chrono::DateTime::parse_from_rfc3339(now)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    if compiled.matches(thing, &MapPlaceholders::new(now)) {
        Ok(())
    } else {
        Err(Error::ConditionFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use twinwire_common::policy::Policy;
    use twinwire_common::protocol::Headers;

    fn headers(condition: &str) -> Headers {
        let mut h = Headers::new();
        h.insert(CONDITION, condition);
        h
    }

    #[test]
    fn an_invalid_condition_is_condition_invalid_on_commands_and_rql_invalid_on_messages() {
        let e = parse(&headers("eq(attributes/a,1"), Carrier::Command).unwrap_err();
        let d = e.to_ditto();
        assert_eq!(
            (d.status, d.error.as_ref()),
            (400, "things:condition.invalid")
        );
        assert_eq!(
            d.message,
            "The specified condition 'eq(attributes/a,1' is invalid."
        );
        let e = parse(&headers("eq(attributes/a,1"), Carrier::Message).unwrap_err();
        assert_eq!(e.to_ditto().error, "rql.expression.invalid");
        assert!(parse(&Headers::new(), Carrier::Command).unwrap().is_none());
    }

    #[test]
    fn every_named_field_needs_unrestricted_read() {
        let policy = Policy::from_json(
            "a:b",
            &json!({"entries": {"e": {
                "subjects": {"s:me": {"type": "t"}},
                "resources": {
                    "thing:/attributes": {"grant": ["READ"], "revoke": []},
                    "thing:/attributes/secret": {"grant": [], "revoke": ["READ"]}
                }
            }}}),
        )
        .unwrap();
        let enforcer = Enforcer::new(&policy);
        let me = vec!["s:me".to_owned()];
        let ok = parse(&headers("eq(attributes/a,1)"), Carrier::Command)
            .unwrap()
            .unwrap();
        assert!(check_readable(&ok, &enforcer, &me).is_ok());
        for hidden in [
            "eq(attributes/secret,1)",
            "exists(features/f)",
            "and(eq(attributes/a,1),eq(attributes,1))",
        ] {
            let c = parse(&headers(hidden), Carrier::Command).unwrap().unwrap();
            assert_eq!(
                check_readable(&c, &enforcer, &me),
                Err(Error::ConditionNotReadable),
                "{hidden}"
            );
        }
    }

    #[test]
    fn a_false_condition_is_412_and_an_unknown_name_400() {
        let thing = json!({"thingId": "a:b", "attributes": {"a": 0}});
        let now = "2026-01-01T00:00:00Z";
        let c = |s: &str| parse(&headers(s), Carrier::Command).unwrap().unwrap();
        assert!(evaluate(&c("eq(attributes/a,0)"), &thing, now).is_ok());
        assert_eq!(
            evaluate(&c("eq(attributes/a,1)"), &thing, now),
            Err(Error::ConditionFailed)
        );
        assert_eq!(
            evaluate(&c("eq(foo,1)"), &thing, now)
                .unwrap_err()
                .to_ditto()
                .error,
            "rql.expression.invalid"
        );
    }
}
