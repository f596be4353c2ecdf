//! The structural rules of Ditto's things model that every write is checked against before it is
//! applied: attributes and properties are objects with valid keys, features an object of objects,
//! definitions Ditto's identifiers, a policy id an entity id. Kept apart from `apply`, which decides
//! what a command does, so the model's rules read in one place.

use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;
use twinwire_common::things::keys::{validate_key, validate_keys};
use twinwire_common::things::ThingResource;
use twinwire_common::{DittoError, Error};

/// Ditto's `DefinitionIdentifier`: `namespace:name:version`, or a URL.
static DEFINITION: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, exercised by the tests below.
    Regex::new(r"^([_a-zA-Z0-9\-.]+):([_a-zA-Z0-9\-.]+):([_a-zA-Z0-9\-.]+)$|^https?://\S+$")
        .expect("valid definition regex")
});

pub(super) fn wrong_type(expected: &'static str, v: &Value) -> Error {
    Error::ValueWrongType {
        expected,
        value: v.to_string(),
    }
}

/// Structural rules of the things model: attributes and properties are objects, features an
/// object of objects, a feature definition an array of identifier strings.
pub(super) fn validate_thing(thing: &Value) -> Result<(), Error> {
    if let Some(d) = thing.get("definition") {
        validate_resource(&ThingResource::Definition, d)?;
    }
    if let Some(a) = thing.get("attributes") {
        validate_resource(&ThingResource::Attributes, a)?;
    }
    if let Some(f) = thing.get("features") {
        validate_resource(&ThingResource::Features, f)?;
    }
    Ok(())
}

fn validate_feature(id: &str, f: &Value) -> Result<(), Error> {
    validate_key(id)?;
    let Value::Object(m) = f else {
        return Err(wrong_type("an object", f));
    };
    if let Some(d) = m.get("definition").filter(|d| !d.is_null()) {
        validate_resource(&ThingResource::FeatureDefinition(id.to_owned()), d)?;
    }
    for key in ["properties", "desiredProperties"] {
        if let Some(p) = m.get(key) {
            if !p.is_object() {
                return Err(wrong_type("an object", p));
            }
            validate_keys(p)?;
        }
    }
    Ok(())
}

pub(super) fn validate_resource(resource: &ThingResource, v: &Value) -> Result<(), Error> {
    use ThingResource::*;
    match resource {
        Definition => match v {
            Value::Null => Ok(()),
            Value::String(s) if DEFINITION.is_match(s) => Ok(()),
            Value::String(s) => Err(Error::DefinitionInvalid(s.clone())),
            other => Err(wrong_type("a string", other)),
        },
        PolicyId => match v {
            Value::String(s) if twinwire_common::things::EntityId::parse(s).is_some() => Ok(()),
            Value::String(s) => Err(DittoError::policy_id_invalid(s).into()),
            other => Err(wrong_type("a string", other)),
        },
        Attributes | FeatureProperties(_) | FeatureDesiredProperties(_) => {
            if v.is_object() {
                validate_keys(v)
            } else {
                Err(wrong_type("an object", v))
            }
        }
        Features => {
            let Value::Object(m) = v else {
                return Err(wrong_type("an object", v));
            };
            m.iter().try_for_each(|(id, f)| validate_feature(id, f))
        }
        Feature(id) => validate_feature(id, v),
        FeatureDefinition(_) => match v {
            Value::Array(a) if a.is_empty() => Err(Error::FeatureDefinitionEmpty),
            Value::Array(a) => a.iter().try_for_each(|x| match x {
                Value::String(s) if DEFINITION.is_match(s) => Ok(()),
                Value::String(s) => Err(Error::DefinitionInvalid(s.clone())),
                other => Err(wrong_type("a string", other)),
            }),
            other => Err(wrong_type("an array", other)),
        },
        Thing | Attribute(_) | FeatureProperty(_, _) | FeatureDesiredProperty(_, _) => {
            validate_keys(v)
        }
    }
}
