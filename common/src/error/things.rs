//! The "not modifiable" errors of a thing's resources (Ditto's `ThingCommandToModifyExceptionRegistry`,
//! 403): one code and message per resource, kept with the rest of the catalogue.

use super::Error;
use crate::things::ThingResource;

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
