//! The resources of a thing a command path can address (reference §3.3), and the "not found" and
//! "not modifiable" errors each of them has (Ditto's `ThingCommandToModifyExceptionRegistry`). They
//! live here, beside the resource enum, rather than in `crate::error`: the catalogue must not import
//! `things` (which imports the catalogue).

use super::pointer::Pointer;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThingResource {
    Thing,
    PolicyId,
    Definition,
    Attributes,
    Attribute(Pointer),
    Features,
    Feature(String),
    FeatureDefinition(String),
    FeatureProperties(String),
    FeatureProperty(String, Pointer),
    FeatureDesiredProperties(String),
    FeatureDesiredProperty(String, Pointer),
}

impl ThingResource {
    /// Classifies a command path; anything not in the table of §3.3 is `protocoladapter:unknown.path`.
    /// Consecutive slashes are `json.pointer.invalid` (Ditto re-parses the path strictly); a
    /// trailing slash is ignored.
    pub fn parse(path: &str) -> Result<ThingResource, Error> {
        if path.contains("//") {
            return Err(Error::PointerInvalid(path.to_owned()));
        }
        let p = Pointer::parse(path);
        for seg in p.segments() {
            super::keys::validate_key(seg)?;
        }
        let s = p.segments();
        let unknown = || Error::UnknownPath {
            path: path.to_owned(),
        };
        Ok(match s {
            [] => ThingResource::Thing,
            [a] if a == "policyId" => ThingResource::PolicyId,
            [a] if a == "definition" => ThingResource::Definition,
            [a] if a == "attributes" => ThingResource::Attributes,
            [a, ..] if a == "attributes" => ThingResource::Attribute(p.skip(1)),
            [a] if a == "features" => ThingResource::Features,
            [a, f] if a == "features" => ThingResource::Feature(f.clone()),
            [a, f, b] if a == "features" && b == "definition" => {
                ThingResource::FeatureDefinition(f.clone())
            }
            [a, f, b] if a == "features" && b == "properties" => {
                ThingResource::FeatureProperties(f.clone())
            }
            [a, f, b, ..] if a == "features" && b == "properties" => {
                ThingResource::FeatureProperty(f.clone(), p.skip(3))
            }
            [a, f, b] if a == "features" && b == "desiredProperties" => {
                ThingResource::FeatureDesiredProperties(f.clone())
            }
            [a, f, b, ..] if a == "features" && b == "desiredProperties" => {
                ThingResource::FeatureDesiredProperty(f.clone(), p.skip(3))
            }
            _ => return Err(unknown()),
        })
    }

    /// Where the resource lives inside the thing JSON.
    pub fn pointer(&self) -> Pointer {
        use ThingResource::*;
        match self {
            Thing => Pointer::root(),
            PolicyId => Pointer::parse("/policyId"),
            Definition => Pointer::parse("/definition"),
            Attributes => Pointer::parse("/attributes"),
            Attribute(p) => Pointer::parse("/attributes").join(p),
            Features => Pointer::parse("/features"),
            Feature(f) => Pointer::from_segments(["features", f.as_str()]),
            FeatureDefinition(f) => Pointer::from_segments(["features", f.as_str(), "definition"]),
            FeatureProperties(f) => Pointer::from_segments(["features", f.as_str(), "properties"]),
            FeatureProperty(f, p) => {
                Pointer::from_segments(["features", f.as_str(), "properties"]).join(p)
            }
            FeatureDesiredProperties(f) => {
                Pointer::from_segments(["features", f.as_str(), "desiredProperties"])
            }
            FeatureDesiredProperty(f, p) => {
                Pointer::from_segments(["features", f.as_str(), "desiredProperties"]).join(p)
            }
        }
    }

    /// The error for a missing resource on thing `thing_id`.
    pub fn not_found(&self, thing_id: &str) -> Error {
        use ThingResource::*;
        let thing = thing_id.to_owned();
        match self {
            Thing => Error::ThingNotFound(thing),
            PolicyId => Error::PolicyIdNotFound(thing),
            Definition => Error::DefinitionNotFound(thing),
            Attributes => Error::AttributesNotFound(thing),
            Attribute(p) => Error::AttributeNotFound {
                thing,
                key: p.to_string(),
            },
            Features => Error::FeaturesNotFound(thing),
            Feature(f) => Error::FeatureNotFound {
                thing,
                feature: f.clone(),
            },
            FeatureDefinition(f) => Error::FeatureDefinitionNotFound {
                thing,
                feature: f.clone(),
            },
            FeatureProperties(f) => Error::FeaturePropertiesNotFound {
                thing,
                feature: f.clone(),
            },
            FeatureProperty(f, p) => Error::FeaturePropertyNotFound {
                thing,
                feature: f.clone(),
                pointer: p.to_string(),
            },
            FeatureDesiredProperties(f) => Error::FeatureDesiredPropertiesNotFound {
                thing,
                feature: f.clone(),
            },
            FeatureDesiredProperty(f, p) => Error::FeatureDesiredPropertyNotFound {
                thing,
                feature: f.clone(),
                pointer: p.to_string(),
            },
        }
    }

    /// The feature a resource belongs to, if any.
    pub fn feature_id(&self) -> Option<&str> {
        use ThingResource::*;
        match self {
            Feature(f)
            | FeatureDefinition(f)
            | FeatureProperties(f)
            | FeatureProperty(f, _)
            | FeatureDesiredProperties(f)
            | FeatureDesiredProperty(f, _) => Some(f),
            _ => None,
        }
    }
}

impl ThingResource {
    /// The error for a resource the requester may see but not change (Ditto's
    /// `ThingCommandToModifyExceptionRegistry`, 403). `delete` picks the thing's delete wording.
    pub fn not_modifiable(&self, thing_id: &str, delete: bool) -> Error {
        use ThingResource::*;
        let req = "could not be modified as the requester had insufficient permissions ('WRITE' is required).";
        let (code, message) = match self {
            Thing if delete => (
                "things:thing.notdeletable",
                format!("The Thing with ID '{thing_id}' could not be deleted as the requester had insufficient permissions ( 'WRITE' on root resource is required)."),
            ),
            Thing => ("things:thing.notmodifiable", format!("The Thing with ID '{thing_id}' {req}")),
            PolicyId => ("things:policyId.notmodifiable", format!("The Policy ID of the Thing with ID '{thing_id}' {req}")),
            Definition => ("things:definition.notmodifiable", format!("The Definition of the Thing with ID '{thing_id}' {req}")),
            Attributes => ("things:attributes.notmodifiable", format!("The Attributes on the Thing with ID '{thing_id}' {req}")),
            Attribute(p) => ("things:attribute.notmodifiable", format!(" The Attribute with name '/attributes{p}' on the Thing with ID '{thing_id}' {req}")),
            Features => ("things:features.notmodifiable", format!("The Features on the Thing with ID '{thing_id}' {req}")),
            Feature(f) => ("things:feature.notmodifiable", format!("The Feature with ID '{f}' on the Thing with ID '{thing_id}' {req}")),
            FeatureDefinition(f) => ("things:feature.definition.notmodifiable", format!("The Definition of the Feature with ID '{f}' on the Thing with ID '{thing_id}' {req}")),
            FeatureProperties(f) => ("things:feature.properties.notmodifiable", format!("The Properties of the Feature with ID '{f}' on the Thing with ID '{thing_id}' {req}")),
            FeatureProperty(f, p) => (
                "things:feature.property.notmodifiable",
                format!("The Property with JSON Pointer '{p}' of the Feature with ID '{f}' on the Thing with ID '{thing_id}' {req}"),
            ),
            FeatureDesiredProperties(f) => (
                "things:feature.desiredProperties.notmodifiable",
                format!("The desired properties of the Feature with ID '{f}' on the Thing with ID '{thing_id}' {req}"),
            ),
            FeatureDesiredProperty(f, p) => (
                "things:feature.desiredProperty.notmodifiable",
                format!("The desired property with JSON Pointer '{p}' of the Feature with ID '{f}' on the Thing with ID '{thing_id}' {req}"),
            ),
        };
        Error::NotModifiable { code, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ThingResource::*;

    #[test]
    fn every_path_of_the_command_table_is_classified() {
        let table = [
            ("/", Thing),
            ("/policyId", PolicyId),
            ("/definition", Definition),
            ("/attributes", Attributes),
            (
                "/attributes/location/lat",
                Attribute(Pointer::parse("/location/lat")),
            ),
            ("/features", Features),
            ("/features/lamp", Feature("lamp".into())),
            (
                "/features/lamp/definition",
                FeatureDefinition("lamp".into()),
            ),
            (
                "/features/lamp/properties",
                FeatureProperties("lamp".into()),
            ),
            (
                "/features/lamp/properties/on",
                FeatureProperty("lamp".into(), Pointer::parse("/on")),
            ),
            (
                "/features/lamp/desiredProperties",
                FeatureDesiredProperties("lamp".into()),
            ),
            (
                "/features/lamp/desiredProperties/a/b",
                FeatureDesiredProperty("lamp".into(), Pointer::parse("/a/b")),
            ),
            ("/attributes/x/", Attribute(Pointer::parse("/x"))),
            ("", Thing),
        ];
        for (path, expected) in table {
            let r = ThingResource::parse(path).unwrap();
            assert_eq!(r, expected, "{path}");
            assert_eq!(r.pointer(), Pointer::parse(path), "{path}");
        }
    }

    #[test]
    fn consecutive_slashes_are_an_invalid_pointer() {
        assert_eq!(
            ThingResource::parse("/features/f/properties/slash//es"),
            Err(Error::PointerInvalid(
                "/features/f/properties/slash//es".into()
            ))
        );
    }

    #[test]
    fn other_paths_are_unknown() {
        for path in [
            "/thingId",
            "/foo",
            "/features/lamp/other",
            "/policyId/x",
            "/definition/x",
            "/features/lamp/definition/x",
        ] {
            assert_eq!(
                ThingResource::parse(path),
                Err(Error::UnknownPath { path: path.into() }),
                "{path}"
            );
        }
    }

    #[test]
    fn not_found_errors_name_the_resource() {
        let e = ThingResource::parse("/features/lamp/properties/on")
            .unwrap()
            .not_found("a:b");
        assert_eq!(e.to_ditto().error, "things:feature.property.notfound");
        assert!(e.to_string().contains("'/on'"));
        assert_eq!(
            ThingResource::parse("/attributes/x")
                .unwrap()
                .not_found("a:b")
                .to_ditto()
                .error,
            "things:attribute.notfound"
        );
    }
}
