//! The one error enum of the Ditto Protocol layer and its mapping to Ditto's wire errors
//! (`{status, error, message, description}`, reference §3.4). Every error a client can see is a
//! variant here, and `Error::to_ditto` is the only place where statuses, codes and descriptions are
//! decided. Messages and descriptions follow Ditto's exception classes so clients that match on them
//! keep working (Ditto says to match on `status`, but users match on `error` too).

use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// A protocol-level failure, as a client will see it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    // --- JSON and envelope (reference §2.6) ---
    #[error("Failed to parse JSON string '{0}'!")]
    JsonNotParsable(String),
    #[error("{0} is not a valid JSON object!")]
    JsonNotAnObject(String),
    #[error("Empty json.")]
    JsonEmpty,
    #[error("JSON did not include required <{0}> field!")]
    JsonFieldMissing(&'static str),
    #[error("Value <{value}> for <{field}> is not of type <{expected}>!")]
    JsonFieldWrongType { field: &'static str, value: String, expected: &'static str },
    #[error("The topic path '{topic}' is not supported.")]
    UnknownTopicPath { topic: String, description: String },
    #[error("The path '{path}' is not supported.")]
    UnknownPath { path: String },
    #[error("The signal with topic '{topic}' is not supported.")]
    UnknownSignal { topic: String },
    #[error("{0}")]
    IllegalAdaptable(String),
    #[error("The header '{name}' has an invalid value: {reason}")]
    HeaderInvalid { name: String, reason: String },
    #[error("The headers are too large: {size} bytes, the limit is {max} bytes.")]
    HeadersTooLarge { size: usize, max: usize },

    // --- WebSocket binding (reference §1) ---
    #[error("{0}")]
    RqlInvalid(String),
    #[error("The field selector '{0}' is invalid.")]
    FieldSelectionInvalid(String),
    #[error("The parameters of '{message}' are malformed: {reason}")]
    ProtocolParameterInvalid { message: String, reason: String },

    // --- authentication and session (reference §1.6, §1.7, §2.1, §2.2) ---
    #[error("{message}")]
    AuthenticationFailed { message: String, description: Option<String> },
    #[error("The requested resource is not supported by version '{0}'.")]
    ApiVersionNotSupported(String),
    #[error("The websocket session expired because the JWT used for authentication has expired.")]
    SessionExpired,
    #[error("The websocket session was closed because {0}.")]
    SessionClosed(String),

    // --- infrastructure ---
    #[error("The Command reached the specified timeout of {0}ms.")]
    CommandTimeout(u64),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("You made too many requests.")]
    TooManyRequests,
    #[error("An unknown error occurred.")]
    Internal(String),

    // --- things (reference §3.3) ---
    #[error("The Thing with ID '{0}' could not be found or requester had insufficient permissions to access it.")]
    ThingNotFound(String),
    #[error("The Thing with ID '{0}' already exists")]
    ThingConflict(String),
    #[error("The size of '{size}' bytes exceeds the maximal allowed Thing size of '{max}' bytes.")]
    ThingTooLarge { size: usize, max: usize },
    #[error("Thing ID '{0}' is not valid!")]
    ThingIdInvalid(String),
    #[error("The Thing ID in the value <{in_value}> does not match the Thing ID <{in_topic}> of the topic.")]
    ThingIdNotSettable { in_topic: String, in_value: String },
    #[error("The Thing with ID '{0}' could not be modified as the requester had insufficient permissions to modify it.")]
    ThingNotModifiable(String),
    #[error("The Policy ID of the Thing with ID '{0}' could not be found or requester had insufficient permissions to access it.")]
    PolicyIdNotFound(String),
    #[error("The Definition of the Thing with ID '{0}' could not be found or the requester had insufficient permissions to access it.")]
    DefinitionNotFound(String),
    #[error("The Attributes of the Thing with ID '{0}' could not be found or the requester had insufficient permissions to access it.")]
    AttributesNotFound(String),
    #[error("The attribute with key '{key}' on the thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    AttributeNotFound { thing: String, key: String },
    #[error("The Features on the Thing with ID '{0}' do not exist or the requester had insufficient permissions to access it.")]
    FeaturesNotFound(String),
    #[error("The Feature with ID '{feature}' on the Thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    FeatureNotFound { thing: String, feature: String },
    #[error("The Definition of the Feature with ID '{feature}' on the Thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    FeatureDefinitionNotFound { thing: String, feature: String },
    #[error("The Properties of the Feature with ID '{feature}' on the Thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    FeaturePropertiesNotFound { thing: String, feature: String },
    #[error("The Property with JSON Pointer '{pointer}' of the Feature with ID '{feature}' on the Thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    FeaturePropertyNotFound { thing: String, feature: String, pointer: String },
    #[error("The desired properties of the Feature with ID '{feature}' on the Thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    FeatureDesiredPropertiesNotFound { thing: String, feature: String },
    #[error("The desired property with JSON Pointer '{pointer}' of the Feature with ID '{feature}' on the Thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    FeatureDesiredPropertyNotFound { thing: String, feature: String, pointer: String },
    #[error("The comparison of precondition header '{header}' for the requested Thing resource evaluated to false. Header value: '{value}', actual entity-tag: '{actual}'.")]
    PreconditionFailed { header: &'static str, value: String, actual: String },
    #[error("The comparison of precondition header '{header}' for the requested Thing resource evaluated to false. Expected: '{value}' not to match actual: '{actual}'.")]
    PreconditionNotModified { header: &'static str, value: String, actual: String },
    #[error("The JSON pointer '{0}' is invalid.")]
    PointerInvalid(String),
    #[error("The value <{0}> is not a valid JSON object.")]
    ValueNotAnObject(String),
    #[error("The Feature ID '{0}' is not valid.")]
    FeatureIdInvalid(String),
    #[error("The definition '{0}' is invalid.")]
    DefinitionInvalid(String),

    // --- policies (reference §3.5); the policy module owns their texts ---
    #[error("{message}")]
    Policy { status: u16, code: Cow<'static, str>, message: String, description: Option<String> },
}

/// A Ditto error as it travels on the wire: the `value` of an error response.
#[derive(Debug, Clone, PartialEq)]
pub struct DittoError {
    pub status: u16,
    pub error: Cow<'static, str>,
    pub message: String,
    pub description: Option<String>,
}

impl DittoError {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status));
        m.insert("error".into(), json!(self.error));
        m.insert("message".into(), json!(self.message));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }
}

fn d(s: &str) -> Option<String> {
    Some(s.to_owned())
}

impl Error {
    /// The only mapping from errors to Ditto's status, code and description.
    pub fn to_ditto(&self) -> DittoError {
        use Error::*;
        let (status, code, description): (u16, &'static str, Option<String>) = match self {
            JsonNotParsable(_) | JsonNotAnObject(_) => (
                400,
                "json.invalid",
                d("Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."),
            ),
            JsonEmpty => (400, "json.format.invalid", d("Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format.")),
            JsonFieldMissing(_) => (400, "json.field.missing", d("Ensure that all required JSON fields are present.")),
            JsonFieldWrongType { .. } => (400, "json.format.invalid", d("Check if the JSON was valid and if it was in required format.")),
            UnknownTopicPath { description, .. } => (400, "protocoladapter:unknown.topicpath", Some(description.clone())),
            UnknownPath { .. } => (400, "protocoladapter:unknown.path", d("Check if the path is correct and valid for the topic.")),
            UnknownSignal { .. } => (400, "protocoladapter:unknown.signal", d("Check if the topic is a supported signal.")),
            IllegalAdaptable(_) => (422, "protocoladapter:illegal.adaptable", d("Check if the message was in the required format.")),
            HeaderInvalid { .. } => (400, "header.invalid", d("Verify that the header has the correct syntax.")),
            HeadersTooLarge { .. } => (431, "headers.too.large", d("Reduce the size of the headers.")),
            RqlInvalid(_) => (
                400,
                "rql.expression.invalid",
                d("Ensure that all opening parentheses have also closing ones and that the RQL expression is valid."),
            ),
            FieldSelectionInvalid(_) => (
                400,
                "things:field.selection.invalid",
                d("Ensure that the field selector is a comma separated list of JSON pointers, e.g. 'attributes/counter,features'."),
            ),
            ProtocolParameterInvalid { .. } => (
                400,
                "gateway:websocket.parameter.invalid",
                d("Send parameters as key=value pairs after '?', separated by '&', each value URL-encoded, each key at most once."),
            ),
            AuthenticationFailed { description, .. } => (
                401,
                "gateway:authentication.failed",
                description.clone().or_else(|| d("Check if all required JSON fields were set.")),
            ),
            ApiVersionNotSupported(_) => (404, "api.version.notsupported", d("Check if you specified the correct version of the API.")),
            SessionExpired => (401, "gateway:websocket.session.expired", d("You need to periodically refresh your websocket session with a new JWT.")),
            SessionClosed(_) => (403, "gateway:websocket.session.closed", None),
            CommandTimeout(_) => (408, "command.timeout", d("Try increasing the command timeout.")),
            ServiceUnavailable(_) => (503, "gateway:service.unavailable", d("The service is temporarily unavailable; retry the request.")),
            TooManyRequests => (429, "too.many.requests", d("Try again soon.")),
            Internal(_) => (500, "gateway:internalerror", d("Please contact the service team.")),
            ThingNotFound(_) => (404, "things:thing.notfound", d("Check if the ID of your requested Thing was correct and you have sufficient permissions.")),
            ThingConflict(_) => (409, "things:thing.conflict", d("Choose another Thing ID")),
            ThingTooLarge { .. } => (413, "things:thing.toolarge", d("Reduce the size of the Thing or store data in another Thing.")),
            ThingIdInvalid(_) => (
                400,
                "things:id.invalid",
                d("It must conform to the namespaced entity ID notation (see Ditto documentation)"),
            ),
            ThingIdNotSettable { .. } => (400, "things:id.notsettable", d("Either delete the Thing ID from the value or use the same Thing ID as in the topic.")),
            ThingNotModifiable(_) => (403, "things:thing.notmodifiable", d("Check if the ID of your requested Thing was correct and you have sufficient permissions.")),
            PolicyIdNotFound(_) => (404, "things:policyid.notfound", d("Check if the ID of your requested Thing was correct and you have sufficient permissions.")),
            DefinitionNotFound(_) => (404, "things:definition.notfound", d("Check if the ID of your requested Thing was correct and you have sufficient permissions.")),
            AttributesNotFound(_) => (404, "things:attributes.notfound", d("Check if the ID of your requested Thing was correct and you have sufficient permissions.")),
            AttributeNotFound { .. } => (
                404,
                "things:attribute.notfound",
                d("Check if the ID of the Thing and the key of your requested attribute was correct and you have sufficient permissions."),
            ),
            FeaturesNotFound(_) => (404, "things:features.notfound", d("Check if the ID of the Thing was correct and you have sufficient permissions.")),
            FeatureNotFound { .. } => (404, "things:feature.notfound", d("Check if the ID of the Thing and the Feature ID was correct and you have sufficient permissions.")),
            FeatureDefinitionNotFound { .. } => (
                404,
                "things:feature.definition.notfound",
                d("Check if the ID of the Thing and the Feature ID was correct and you have sufficient permissions."),
            ),
            FeaturePropertiesNotFound { .. } => (
                404,
                "things:feature.properties.notfound",
                d("Check if the ID of the Thing and the Feature ID was correct and you have sufficient permissions."),
            ),
            FeaturePropertyNotFound { .. } => (
                404,
                "things:feature.property.notfound",
                d("Check if the ID of the Thing, the Feature ID and the key of your requested property was correct and you have sufficient permissions."),
            ),
            FeatureDesiredPropertiesNotFound { .. } => (
                404,
                "things:feature.desiredProperties.notfound",
                d("Check if the ID of the Thing and the Feature ID was correct and you have sufficient permissions."),
            ),
            FeatureDesiredPropertyNotFound { .. } => (
                404,
                "things:feature.desiredProperty.notfound",
                d("Check if the ID of the Thing, the Feature ID and the key of your requested desired property was correct and you have sufficient permissions."),
            ),
            PreconditionFailed { .. } => (412, "things:precondition.failed", d("The comparison of the provided precondition header with the current ETag value of the requested Thing resource evaluated to false. Check the value of your conditional header value.")),
            PreconditionNotModified { .. } => (304, "things:precondition.notmodified", d("The comparison of the provided precondition header with the current ETag value of the requested Thing resource evaluated to false. Check the value of your conditional header value.")),
            PointerInvalid(_) => (400, "json.pointer.invalid", d("Check if the JSON pointer is valid: slash-separated keys, none of them empty.")),
            ValueNotAnObject(_) => (400, "json.invalid", d("Check if the value is a JSON object.")),
            FeatureIdInvalid(_) => (400, "things:feature.id.invalid", d("A Feature ID must not be empty and must not contain a slash.")),
            DefinitionInvalid(_) => (400, "things:definition.identifier.invalid", d("A definition is 'namespace:name:version'.")),
            Policy { status, code, description, .. } => {
                return DittoError { status: *status, error: code.clone(), message: self.to_string(), description: description.clone() }
            }
        };
        DittoError { status, error: Cow::Borrowed(code), message: self.to_string(), description }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapping_gives_a_status_code_and_message_as_ditto_does() {
        let table: Vec<(Error, u16, &str, &str)> = vec![
            (Error::JsonNotParsable("HELLO".into()), 400, "json.invalid", "Failed to parse JSON string 'HELLO'!"),
            (Error::JsonEmpty, 400, "json.format.invalid", "Empty json."),
            (Error::JsonFieldMissing("topic"), 400, "json.field.missing", "JSON did not include required <topic> field!"),
            (Error::RqlInvalid("boom".into()), 400, "rql.expression.invalid", "boom"),
            (Error::ThingNotFound("a:b".into()), 404, "things:thing.notfound", "The Thing with ID 'a:b' could not be found or requester had insufficient permissions to access it."),
            (Error::ThingConflict("a:b".into()), 409, "things:thing.conflict", "The Thing with ID 'a:b' already exists"),
            (Error::CommandTimeout(60000), 408, "command.timeout", "The Command reached the specified timeout of 60000ms."),
            (Error::ApiVersionNotSupported("3".into()), 404, "api.version.notsupported", "The requested resource is not supported by version '3'."),
            (
                Error::Policy { status: 404, code: "policies:policy.notfound".into(), message: "m".into(), description: None },
                404,
                "policies:policy.notfound",
                "m",
            ),
        ];
        for (err, status, code, message) in table {
            let de = err.to_ditto();
            assert_eq!((de.status, de.error.as_ref(), de.message.as_str()), (status, code, message));
            let j = de.to_json();
            assert_eq!(j["status"], status);
            assert_eq!(j["error"], code);
        }
    }

    #[test]
    fn description_is_left_out_of_the_json_when_absent() {
        let j = Error::SessionClosed("the JWT is invalid".into()).to_ditto().to_json();
        assert!(j.get("description").is_none());
        assert_eq!(j["message"], "The websocket session was closed because the JWT is invalid.");
    }
}
