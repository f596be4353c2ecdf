//! The one catalogue of Ditto errors: every error a client can see is built here, by name, and
//! nowhere else.
//!
//! * [`Error`] is the error enum of the Ditto Protocol layer: one variant per error the gateway and
//!   the hub raise themselves, and [`Error::to_ditto`] is the only place where their statuses, codes
//!   and descriptions are decided (reference §3.4).
//! * [`DittoError`] is an error in Ditto's wire form (`{status, error, message, description?, href?}`,
//!   reference §2.6). The policy module, a port of Ditto's policy exceptions, raises these directly
//!   through the named constructors in [`policies`]; they travel through [`Error::Ditto`] unchanged,
//!   `href` included.
//! * [`crate::things::ThingResource::not_modifiable`] (in `things`) names the 403 of each thing
//!   resource.
//!
//! Messages and descriptions follow Ditto's exception classes so clients that match on them keep
//! working (Ditto says to match on `status`, but users match on `error` too).

mod ditto;
mod policies;
mod policy_actions;

pub use ditto::DittoError;

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
    #[error("JSON did not include required </{0}> field!")]
    JsonFieldMissing(&'static str),
    /// A command that needs a `value` had none (Ditto's `JsonParseException` without message).
    #[error("")]
    ValueMissing,
    /// Ditto's fallback for malformed input, carrying the underlying message.
    #[error("{0}")]
    JsonFormatInvalid(String),
    /// A value of the wrong JSON type (Ditto's fallback `json.format.invalid` with the Java text).
    #[error("This JSON value is not {expected}: {value}")]
    ValueWrongType {
        expected: &'static str,
        value: String,
    },
    #[error("Value <{value}> for <{field}> is not of type <{expected}>!")]
    JsonFieldWrongType {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("The topic path '{topic}' is not supported.")]
    UnknownTopicPath { topic: String, description: String },
    #[error("The path '{path}' does not correspond to any known command, response or event.")]
    UnknownPath { path: String },
    #[error("The topic '{topic}' is not supported in combination with the path '{path}'")]
    UnsupportedTopicPath { topic: String, path: String },
    #[error("The signal with topic '{topic}' is not supported.")]
    UnknownSignal { topic: String },
    #[error("{0}")]
    IllegalAdaptable(String),
    #[error("The value '{value}' of the header '{name}' is not a valid {kind}.")]
    HeaderInvalid {
        name: String,
        value: String,
        kind: String,
    },
    #[error("The headers are too large: {size} bytes, the limit is {max} bytes.")]
    HeadersTooLarge { size: usize, max: usize },
    #[error("The headers are too many: {count} headers, the limit is {max} headers.")]
    HeadersTooMany { count: usize, max: usize },
    #[error("The Content-Type header was empty or not present. Please set Content-Type header to \"application/merge-patch+json\" for this resource")]
    MergeContentTypeMissing,
    #[error("The Media-Type <{0}> is not supported for this resource.")]
    MediaTypeUnsupported(String),

    // --- WebSocket binding (reference §1) ---
    #[error("{0}")]
    RqlInvalid(String),
    #[error("The field selector '{0}' is invalid.")]
    FieldSelectionInvalid(String),
    /// A selector over one of the limits of `things::selector` (not echoed: it may be huge).
    #[error("The field selector exceeds the limit of {max} {limit}.")]
    FieldSelectionLimit { limit: &'static str, max: usize },
    #[error("The parameters of '{message}' are malformed: {reason}")]
    ProtocolParameterInvalid { message: String, reason: String },
    /// A resume token that is malformed, too long or fails its integrity check (issue 16).
    #[error("The resume token is invalid: {0}.")]
    ResumeInvalid(String),
    /// A resume token older than what the journals retain (issue 16): never a partial replay.
    #[error("The resume position is no longer retained: {0}.")]
    ResumeExpired(String),

    // --- authentication and session (reference §1.6, §1.7, §2.1, §2.2) ---
    #[error("{message}")]
    AuthenticationFailed {
        message: String,
        description: Option<String>,
    },
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
    #[error("For WebSocket, it is forbidden to request acknowledgements while 'response-required' is set to false.")]
    AcksWithoutResponse,
    #[error("One or more declared acknowledgement labels are taken by other subscribers.")]
    AckLabelNotUnique,
    #[error("Cannot send acknowledgement with label <{0}>, which is not declared.")]
    AckLabelNotDeclared(String),
    #[error("Acknowledgement label <{0}> is invalid.")]
    AckLabelInvalid(String),
    #[error("Correlation-id header for acknowledgement is missing.")]
    AckCorrelationIdMissing,
    #[error("The acknowledgement request reached the specified timeout of {}ms.", crate::format::java_number(*.0 as f64))]
    AckRequestTimeout(u64),
    #[error("The timeout <{ms}ms> is not inside its allowed bounds <0ms - {max_ms}ms>")]
    TimeoutInvalid { ms: u64, max_ms: u64 },
    #[error("An unknown error occurred.")]
    Internal(String),

    // --- hostile HTTP clients (issue 19): the gateway's HTTP limits ---
    /// A browser page from an origin not in `http.allowed_origins` (cross-site request).
    #[error("Requests from the origin '{0}' are not allowed.")]
    OriginNotAllowed(String),
    #[error(
        "The request body was not received within the limit of {0} ms (http.body_timeout_ms)."
    )]
    RequestBodyTimeout(u64),
    #[error("The request body exceeds the limit of {0} bytes (http.max_body_bytes).")]
    RequestBodyTooLarge(usize),
    /// Ditto's `too.many.requests` for failed logins; the HTTP answer carries `retry_after_secs` as
    /// `Retry-After`.
    #[error("Too many failed logins for this {}: the limit is {limit} per {window_secs} s (auth.failed_logins.{key}).", if *key == "per_address" { "address" } else { "user name" })]
    FailedLoginsThrottled {
        /// The limit that refused: `per_address` or `per_user`.
        key: &'static str,
        limit: u32,
        window_secs: u64,
        retry_after_secs: u64,
    },
    // --- subscription parameter limits (the gateway's `ws.subscription_limits`) ---
    /// An `extraFields` selector over the size limit; refused before it is parsed.
    #[error("The field selector is {size} bytes long, over the limit of {max} bytes.")]
    FieldSelectionTooLarge { size: usize, max: usize },

    /// An HTTP header given twice, or as header and query parameter with different values
    /// (`GatewayDuplicateHeaderException`; `Some(key)`: the latter).
    #[error("{}", match .0 {
        Some(key) => format!("<{key}> was provided as header as well as query parameter with divergent values!"),
        None => "The send request contains headers which include a duplicate header field!".to_owned(),
    })]
    DuplicateHeaderField(Option<String>),

    // --- streaming subscriptions (ditto-features §4) ---
    #[error("No subscription with ID '{0}' exists.")]
    StreamingSubscriptionNotFound(String),
    #[error("{0}")]
    StreamingProtocolError(String),

    // --- things (reference §3.3) ---
    #[error("The Thing with ID '{0}' could not be found or requester had insufficient permissions to access it.")]
    ThingNotFound(String),
    /// A retrieve at a revision or timestamp the history does not hold (`at` names which).
    #[error("The Thing with ID '{thing}' at {at} could not be found or requester had insufficient permissions to access it.")]
    ThingHistoryNotFound { thing: String, at: String },
    #[error("The Thing with ID '{thing}' could not be accessed as its Policy with ID '{policy}' is not or no longer existing.")]
    ThingPolicyMissing { thing: String, policy: String },
    #[error("The Thing with ID '{0}' already exists")]
    ThingConflict(String),
    #[error("The size of '{}' kB exceeds the maximal allowed Thing size of '{}' kB.", kb(*size), kb(*max))]
    ThingTooLarge { size: usize, max: usize },
    #[error("Thing ID '{0}' is not valid!")]
    ThingIdInvalid(String),
    #[error("The Thing ID in the thing JSON is not equal to the Thing ID in the topic path.")]
    ThingIdNotSettable { in_topic: String, in_value: String },
    #[error("The Thing ID of a Thing cannot be deleted.")]
    ThingIdNotDeletable,
    #[error("The Policy ID of a Thing cannot be deleted.")]
    PolicyIdNotDeletable,
    #[error("{0}")]
    MergeInvalid(String),
    #[error("The Thing with ID '{0}' could not be modified as the requester had insufficient permissions to modify it.")]
    ThingNotModifiable(String),
    #[error("The Policy ID of the Thing with ID <{0}> could not be found or requester had insufficient permissions to access it.")]
    PolicyIdNotFound(String),
    #[error("The Definition of the Thing with ID <{0}> could not be found or the requester had insufficient permissions to access it.")]
    DefinitionNotFound(String),
    #[error("The Attributes of the Thing with ID '{0}' could not be found or the requester had insufficient permissions to access it.")]
    AttributesNotFound(String),
    #[error("The attribute with key '{key}' on the thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    AttributeNotFound { thing: String, key: String },
    #[error("The Features on the Thing with ID '{0}' do not exist or the requester had insufficient permissions to access it.")]
    FeaturesNotFound(String),
    #[error("The Feature with ID '{feature}' on the Thing with ID '{thing}' could not be found or the requester had insufficient permissions to access it.")]
    FeatureNotFound { thing: String, feature: String },
    #[error("The Definition of the Feature with ID '{feature}' on the Thing with ID '{thing}' does not exist or the requester had insufficient permissions to access it.")]
    FeatureDefinitionNotFound { thing: String, feature: String },
    #[error("The Properties of the Feature with ID '{feature}' on the Thing with ID '{thing}' do not exist or the requester had insufficient permissions to access it.")]
    FeaturePropertiesNotFound { thing: String, feature: String },
    #[error("The Property with JSON Pointer '{pointer}' of the Feature with ID '{feature}' on the Thing with ID '{thing}' does not exist or the requester had insufficient permissions to access it.")]
    FeaturePropertyNotFound {
        thing: String,
        feature: String,
        pointer: String,
    },
    #[error("The desired properties of the Feature with ID '{feature}' on the Thing with ID '{thing}' do not exist or the requester had insufficient permissions to access it.")]
    FeatureDesiredPropertiesNotFound { thing: String, feature: String },
    #[error("The desired property with JSON Pointer '{pointer}' of the Feature with ID '{feature}' on the Thing with ID '{thing}' does not exist or the requester had insufficient permissions to access it.")]
    FeatureDesiredPropertyNotFound {
        thing: String,
        feature: String,
        pointer: String,
    },
    #[error("The comparison of precondition header '{header}' for the requested Thing resource evaluated to false. Header value: '{value}', actual entity-tag: '{actual}'.")]
    PreconditionFailed {
        header: &'static str,
        value: String,
        actual: String,
    },
    #[error("The comparison of precondition header '{header}' for the requested Thing resource evaluated to false. Expected: '{value}' not to match actual: '{actual}'.")]
    PreconditionNotModified {
        header: &'static str,
        value: String,
        actual: String,
    },
    #[error("{message}")]
    NotModifiable { code: &'static str, message: String },
    #[error("The JSON pointer <{0}> is invalid!")]
    PointerInvalid(String),
    /// A pointer over one of the limits of `things::pointer` (not echoed: it may be huge).
    #[error("The JSON pointer exceeds the limit of {max} {limit}.")]
    PointerLimit { limit: &'static str, max: usize },
    #[error("The JSON key <{key}> is invalid!")]
    JsonKeyInvalid { key: String, reason: &'static str },
    #[error("Feature Definition must not be empty!")]
    FeatureDefinitionEmpty,
    #[error("Definition identifier <{0}> is invalid!")]
    DefinitionInvalid(String),
    #[error("The required list of thing ids was missing.")]
    ThingIdsMissing,

    // --- Things search (ditto-features §6) ---
    /// Ditto's `InvalidOptionException`: a bad `option` (syntax, size, sort, cursor).
    #[error("{0}")]
    SearchOptionInvalid(String),
    /// Ditto's `QueryTimeExceededException`: a query whose candidates exceed the scan bound.
    #[error("The request took too long to process.")]
    SearchTooExpensive,
    /// A search `request`/`cancel` naming no subscription of the session.
    #[error("No subscription with ID '{0}' exists.")]
    SearchSubscriptionNotFound(String),
    /// A search subscription with no `request` for the idle timeout.
    #[error("The subscription '{0}' stopped due to a lack of interaction.")]
    SearchSubscriptionTimeout(String),
    /// A `request` with a demand of 0 or less (reactive streams rule 3.9, as Ditto words it).
    #[error("Rule 3.9: While the Subscription is not cancelled, Subscription.request(long n) MUST signal onError with a java.lang.IllegalArgumentException if the argument is <= 0. The cause message SHOULD explain that non-positive request signals are illegal.")]
    SearchDemandNotPositive,

    #[error("The ACL of the Thing with ID '{0}' could not be modified as the requester had insufficient permissions ('ADMINISTRATE' is required).")]
    AclNotModifiable(String),
    #[error("The Thing with ID '{thing}' could not be accessed as its Policy with ID '{policy}' is not or no longer existing.")]
    ThingNotModifiablePolicyMissing { thing: String, policy: String },
    /// Ditto 1.x's `AclEntryNotAccessibleException`: the retrieve names the thing, the delete does not.
    #[error("{}", acl_entry_not_found_message(thing.as_deref(), subject))]
    AclEntryNotFound {
        thing: Option<String>,
        subject: String,
    },
    #[error("The Thing with ID '{0}' could not be created because creation of its implicit Policy ID '{0}' failed.")]
    ThingNotCreatableImplicitPolicyExists(String),
    #[error("The Thing with ID '{thing}' could not be created as the Policy with ID '{policy}' is not existing.")]
    ThingNotCreatablePolicyMissing { thing: String, policy: String },
    #[error("Thing could not be created via channel <live>.")]
    ThingNotCreatableViaLive,
    #[error("The Thing with ID '{0}' could not be modified as it contained an inline Policy with an ID or a Policy ID and a Policy")]
    InlinePolicyWithPolicyId(String),
    #[error("The Thing with ID '{0}' could not be modified as it contained an inline Policy")]
    InlinePolicyNotAllowed(String),
    #[error("The Thing with ID '{thing}' could not be modified as the Policy with ID '{policy}' is not existing.")]
    PolicyIdNotExisting { thing: String, policy: String },
    /// The requester could not write a new thing under the policy it would get.
    #[error("The Policy specified for the Thing with ID '{0}' is invalid.")]
    NewThingPolicyNotWritable(String),

    // --- conditional requests (ditto-features §1, §2) ---
    #[error("The specified condition does not match the state of the requested Thing.")]
    ConditionFailed,
    /// The requester may not READ every field the condition names (checked before the command's
    /// own permission, so it wins over a 403).
    #[error("The specified resource in the condition could not be found or the requester had insufficient permissions to access it.")]
    ConditionNotReadable,
    /// The condition's syntax is invalid; `reason` (the parser's message) becomes the description.
    #[error("The specified condition '{condition}' is invalid.")]
    ConditionInvalid { condition: String, reason: String },
    /// `if-equal: skip` (or `skip-minimizing-merge` on a merge) and the write would change nothing.
    #[error("The previous value was equal to the new value and the 'if-equal' header was set to 'skip'.")]
    IfEqualFailed,
    /// A header value outside its enum. Ditto's `EnumValueValidator` names
    /// `live-channel-timeout-strategy` as the expected type for every enum header; kept.
    #[error(
        "The value '{value}' of the header '{name}' is not a valid live-channel-timeout-strategy."
    )]
    HeaderEnumInvalid {
        name: String,
        value: String,
        allowed: &'static [&'static str],
    },

    /// `live-channel-condition` on a thing command that is not a retrieve (ditto-features §3).
    #[error("The specified 'live-channel-condition' is only allowed to be used for retrieving API calls.")]
    LiveChannelConditionNotAllowed,

    // --- messages (reference §3.6) ---
    #[error("You are not allowed to send messages for the Thing with id '{0}'!")]
    MessageSendNotAllowed(String),
    #[error("The message payload size of '{}' kB exceeds the maximal allowed size of '{}' kB.", kb(*size), kb(*max))]
    MessagePayloadTooLarge { size: usize, max: usize },

    // --- policies (reference §3.5): built by the constructors in `policies` ---
    #[error("{0}")]
    Ditto(DittoError),
}

impl From<DittoError> for Error {
    fn from(e: DittoError) -> Error {
        Error::Ditto(e)
    }
}

/// Sizes in kB as Ditto's messages print `chars / 1024.0`.
fn kb(n: usize) -> String {
    crate::format::java_number(n as f64 / 1024.0)
}

fn d(s: &str) -> Option<String> {
    Some(s.to_owned())
}

const NOT_MODIFIABLE_DESCRIPTION: &str =
    "Check if the ID of the Thing and the resource was correct and you have sufficient permissions.";

fn acl_entry_not_found_message(thing: Option<&str>, subject: &str) -> String {
    match thing {
        Some(thing) => format!("The ACL entry for the Authorization Subject '{subject}' on the Thing with ID '{thing}' could not be found."),
        None => format!("The ACL entry for the Authorization Subject '{subject}' could not be found."),
    }
}

impl Error {
    /// `protocoladapter:unknown.topicpath` with Ditto's generic description, for a topic that parses
    /// but is not supported in its form (the parser's own errors say which part is wrong).
    pub fn unknown_topic_path(topic: impl Into<String>) -> Error {
        Error::UnknownTopicPath {
            topic: topic.into(),
            description: "Check if the topic path is correct.".into(),
        }
    }

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
            JsonFieldMissing(_) => (400, "json.field.missing", d("Check if all required JSON fields were set.")),
            JsonFieldWrongType { .. } => (400, "json.format.invalid", d("Check if the JSON was valid and if it was in required format.")),
            ValueMissing => (
                400,
                "json.invalid",
                d("Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."),
            ),
            ValueWrongType { .. } | JsonFormatInvalid(_) => (400, "json.format.invalid", None),
            MergeContentTypeMissing | MediaTypeUnsupported(_) => (415, "mediatype.unsupported", d("Allowed Media-Type is: <application/merge-patch+json>.")),
            UnknownTopicPath { description, .. } => (400, "protocoladapter:unknown.topicpath", Some(description.clone())),
            UnknownPath { .. } => (400, "protocoladapter:unknown.path", d("Check if the path is correct.")),
            UnsupportedTopicPath { .. } => (400, "protocoladapter:unknown.topicpath", d("Check if the topic path is correct.")),
            UnknownSignal { .. } => (400, "protocoladapter:unknown.signal", d("Check if the topic is a supported signal.")),
            IllegalAdaptable(_) => (422, "protocoladapter:illegal.adaptable", d("Check if the message was in the required format.")),
            HeaderInvalid { name, kind, .. } => {
                (400, "header.invalid", Some(format!("Verify that the value of the header '{name}' is a valid '{kind}' and try again.")))
            }
            HeadersTooLarge { .. } => (431, "headers.too.large", d("Reduce the size of the headers.")),
            HeadersTooMany { .. } => (431, "headers.too.large", d("Reduce the number of headers.")),
            RqlInvalid(_) => (
                400,
                "rql.expression.invalid",
                d("Ensure that all opening parentheses have also closing ones and that the RQL expression is valid."),
            ),
            FieldSelectionInvalid(_) | FieldSelectionLimit { .. } => (
                400,
                "things:field.selection.invalid",
                d("Ensure that the field selector is a comma separated list of JSON pointers, e.g. 'attributes/counter,features'."),
            ),
            ProtocolParameterInvalid { .. } => (
                400,
                "gateway:websocket.parameter.invalid",
                d("Send parameters as key=value pairs after '?', separated by '&', each value URL-encoded, each key at most once."),
            ),
            ResumeInvalid(_) => (
                400,
                "gateway:resume.invalid",
                d("Resume with a 'twinwire-resume' header value exactly as received, or subscribe without 'resume'."),
            ),
            ResumeExpired(_) => (
                410,
                "gateway:resume.expired",
                d("Subscribe without 'resume' and load the current state: the events since this token are no longer retained."),
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
            TimeoutInvalid { .. } => (400, "timeout.invalid", d("Please choose a valid timeout.")),
            AcksWithoutResponse => (400, "header.invalid", d("Please set 'requested-acks' to [] or 'response-required' to true.")),
            AckLabelNotUnique => (
                409,
                "acknowledgement:label.not.unique",
                d("Please ensure all other subscribers with the declared acknowledgement labels are offline."),
            ),
            AckLabelNotDeclared(_) => (
                400,
                "acknowledgement:label.not.declared",
                d("Each connection may only send acknowledgements whose label matches one declared for the connection."),
            ),
            AckLabelInvalid(_) => (400, "acknowledgement:label.invalid", d("Labels must match [a-zA-Z0-9-_:]{3,100}.")),
            AckCorrelationIdMissing => (
                400,
                "acknowledgement:correlation-id.missing",
                d("Please provide the mandatory header 'correlation-id' as part of your acknowledgement"),
            ),
            AckRequestTimeout(_) => (
                408,
                "acknowledgement:request.timeout",
                d("Try increasing the timeout and make sure that the requested acknowledgement is sent back in time."),
            ),
            Internal(_) => (500, "gateway:internalerror", d("Please contact the service team.")),
            OriginNotAllowed(_) => (
                403,
                "gateway:origin.notallowed",
                d("Open the page from an origin listed in the gateway's http.allowed_origins, or connect without a browser."),
            ),
            RequestBodyTimeout(_) => (408, "gateway:request.timeout", d("Send the request body without pausing.")),
            RequestBodyTooLarge(_) => (413, "gateway:request.toolarge", d("Reduce the size of the request body.")),
            FailedLoginsThrottled { .. } => (429, "too.many.requests", d("Try again after the time given in the 'Retry-After' header.")),
            FieldSelectionTooLarge { .. } => (
                400,
                "things:field.selection.invalid",
                d("Select fewer or shorter fields."),
            ),
            ThingNotFound(_) | ThingPolicyMissing { .. } => {
                (404, "things:thing.notfound", d("Check if the ID of your requested Thing was correct and you have sufficient permissions."))
            }
            ThingHistoryNotFound { .. } => (
                404,
                "things:thing.history.notfound",
                d("Check if the ID of your requested Thing was correct, you have sufficient permissions and ensure that the asked for revision/timestamp does not exceed the history-retention-duration."),
            ),
            DuplicateHeaderField(_) => (
                400,
                "gateway:duplicate.header.field",
                d("A request must not contain multiple header fields with the same field name. For more information see RFC 7230 section 3.2.2."),
            ),
            StreamingSubscriptionNotFound(_) => (404, "streaming.subscription.not.found", None),
            StreamingProtocolError(_) => (400, "streaming.subscription.protocol.error", None),
            ThingConflict(_) => (409, "things:thing.conflict", d("Choose another Thing ID")),
            ThingTooLarge { .. } => (413, "things:thing.toolarge", d("Reduce the Thing size in the bounds of the specified limit")),
            ThingIdInvalid(_) => (
                400,
                "things:id.invalid",
                d("It must conform to the namespaced entity ID notation (see Ditto documentation)"),
            ),
            ThingIdNotSettable { .. } => (
                400,
                "things:id.notsettable",
                d("Either delete the Thing ID from the thing JSON or use the same Thing ID as in the topic path."),
            ),
            ThingIdNotDeletable => (400, "things:id.notdeletable", d("Remove the Thing ID entry from the request body and retry the request.")),
            PolicyIdNotDeletable => (400, "things:policyId.notdeletable", d("Remove Policy ID entry from the request body and retry the request.")),
            MergeInvalid(_) => (400, "things:merge.invalid", None),
            ThingNotModifiable(_) => (403, "things:thing.notmodifiable", d("Check if the ID of your requested Thing was correct and you have sufficient permissions.")),
            PolicyIdNotFound(_) => (404, "things:policyId.notfound", d("Check if the ID of your requested Thing was correct and you have sufficient permissions.")),
            DefinitionNotFound(_) => (
                404,
                "things:definition.notfound",
                d("Check if the ID of the thing and the key of your requested definition was correct and you have sufficient permissions."),
            ),
            AttributesNotFound(_) => (404, "things:attributes.notfound", d("Check if the ID of the Thing was correct and you have sufficient permissions.")),
            AttributeNotFound { .. } => (
                404,
                "things:attribute.notfound",
                d("Check if the ID of the thing and the key of your requested attribute was correct and you have sufficient permissions."),
            ),
            FeaturesNotFound(_) => (404, "things:features.notfound", d("Check if the ID of the Thing was correct and you have sufficient permissions.")),
            FeatureNotFound { .. } => (
                404,
                "things:feature.notfound",
                d("Check if the ID of the Thing and the ID of your requested Feature was correct and you have sufficient permissions."),
            ),
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
            NotModifiable { code, .. } => (403, code, d(NOT_MODIFIABLE_DESCRIPTION)),
            PointerInvalid(_) => (400, "json.pointer.invalid", d("Consecutive slashes in JSON pointers are not supported.")),
            PointerLimit { .. } => (400, "json.pointer.invalid", d("Use a shorter JSON pointer with fewer levels.")),
            JsonKeyInvalid { reason, .. } => (400, "json.key.invalid", d(reason)),
            FeatureDefinitionEmpty => (
                400,
                "things:feature.definition.empty",
                d("A Feature Definition must contain at least one element. It can however also be set to null or deleted completely."),
            ),
            DefinitionInvalid(_) => (
                400,
                "things:definition.identifier.invalid",
                d("An identifier is a string of the form 'namespace:name:version' or a URL."),
            ),
            ThingIdsMissing => (400, "things:things.ids.missing", d("Please provide at least one thing id and try again.")),
            SearchOptionInvalid(_) => (400, "thing-search:search.option.invalid", d("At least one provided option is invalid.")),
            SearchSubscriptionNotFound(_) => (404, "thing-search:subscription.not.found", None),
            SearchSubscriptionTimeout(_) => (408, "thing-search:subscription.timeout", None),
            SearchDemandNotPositive => (
                400,
                "thing-search:subscription.protocol.error",
                d("The intent of this rule is to prevent faulty implementations to proceed operation without any exceptions being raised. Requesting a negative or 0 number of elements, since requests are additive, most likely to be the result of an erroneous calculation on the behalf of the Subscriber."),
            ),
            SearchTooExpensive => (504, "thing-search:query.time.exceeded", d("Optimize the request and try again later.")),
            AclNotModifiable(_) => (403, "things:acl.notmodifiable", d(NOT_MODIFIABLE_DESCRIPTION)),
            ThingNotModifiablePolicyMissing { .. } => (403, "things:thing.notmodifiable", d(NOT_MODIFIABLE_DESCRIPTION)),
            AclEntryNotFound { .. } => (404, "things:acl.notfound", d("Check if the Authorization Subject was correct.")),
            ThingNotCreatableImplicitPolicyExists(_) => (
                400,
                "things:thing.notcreatable",
                d("If you want to use an existing Policy, specify it as 'policyId' in the Thing JSON you create."),
            ),
            ThingNotCreatablePolicyMissing { .. } => (
                400,
                "things:thing.notcreatable",
                d("Check if the ID of the Policy you created the Thing with is correct and that the Policy is existing."),
            ),
            ThingNotCreatableViaLive => (
                405,
                "things:thing.notcreatable",
                d("Creating a thing via <live> channel is not supported. If you want to create a digital twin instead, please use channel <twin>."),
            ),
            InlinePolicyWithPolicyId(_) => (
                400,
                "things:policy.id.notallowed",
                d("If you want to use an existing Policy, specify it as 'policyId' in the Thing JSON. If you want to create a Thing with inline Policy, no Policy ID is allowed as it will be created with the Thing ID."),
            ),
            InlinePolicyNotAllowed(_) => (
                400,
                "things:policy.notallowed",
                d("Once a Thing with inline Policy is created it can't be modified with another Policy. Use the Policy resources to modify the existing Policy."),
            ),
            PolicyIdNotExisting { .. } => (400, "things:policy.notallowed", d("Create the Policy first, then set the Thing's policyId to it.")),
            // The policy module's `thing_policy_invalid` says '[WRITE]' (a failed parse of an inline
            // policy); this check has always said 'WRITE'. Both texts are kept as clients saw them.
            NewThingPolicyNotWritable(_) => (
                400,
                "things:policy.invalid",
                d("It must contain at least one Subject with the following permission(s): 'WRITE'!"),
            ),
            ConditionFailed => (
                412,
                "things:condition.failed",
                d("The provided condition did not match the actual Thing state. Please check your provided condition."),
            ),
            ConditionNotReadable => (
                412,
                "things:condition.failed",
                d("Check if you have sufficient permissions to access the specified resource (READ permission is required)."),
            ),
            ConditionInvalid { reason, .. } => (
                400,
                "things:condition.invalid",
                if reason.is_empty() {
                    d("The provided condition is not valid. Please check the value of your condition header.")
                } else {
                    Some(reason.clone())
                },
            ),
            IfEqualFailed => (412, "things:precondition.failed", d("Your changes were not applied, which is probably the expected outcome.")),
            HeaderEnumInvalid { allowed, .. } => (
                400,
                "header.invalid",
                Some(format!("The value must either be one of: <{}>.", allowed.join(">, <"))),
            ),
            LiveChannelConditionNotAllowed => (405, "things:live.channelcondition.notallowed", None),
            MessageSendNotAllowed(_) => (
                403,
                "messages:send.notallowed",
                d("Please make sure that the Thing exists and that you have WRITE permissions on the message resource in the policy of the Thing."),
            ),
            MessagePayloadTooLarge { .. } => (413, "messages:payload.toolarge", d("Reduce the message payload in the bounds of the specified limit")),
            Ditto(e) => return e.clone(),
        };
        DittoError {
            status,
            error: Cow::Borrowed(code),
            message: self.to_string(),
            description,
            href: matches!(self, DuplicateHeaderField(_))
                .then_some("https://tools.ietf.org/rfc/rfc7230.txt"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_mapping_gives_a_status_code_and_message_as_ditto_does() {
        let table: Vec<(Error, u16, &str, &str)> = vec![
            (Error::JsonNotParsable("HELLO".into()), 400, "json.invalid", "Failed to parse JSON string 'HELLO'!"),
            (Error::JsonEmpty, 400, "json.format.invalid", "Empty json."),
            (Error::JsonFieldMissing("topic"), 400, "json.field.missing", "JSON did not include required </topic> field!"),
            (
                Error::ThingTooLarge { size: 102401, max: 102400 },
                413,
                "things:thing.toolarge",
                "The size of '100.001' kB exceeds the maximal allowed Thing size of '100' kB.",
            ),
            (Error::ThingTooLarge { size: 2048 * 1024, max: 102400 }, 413, "things:thing.toolarge", "The size of '2,048' kB exceeds the maximal allowed Thing size of '100' kB."),
            (Error::RqlInvalid("boom".into()), 400, "rql.expression.invalid", "boom"),
            (Error::HeadersTooMany { count: 300, max: 100 }, 431, "headers.too.large", "The headers are too many: 300 headers, the limit is 100 headers."),
            (
                Error::FieldSelectionLimit { limit: "levels of nesting", max: 16 },
                400,
                "things:field.selection.invalid",
                "The field selector exceeds the limit of 16 levels of nesting.",
            ),
            (
                Error::PointerLimit { limit: "segments", max: 100 },
                400,
                "json.pointer.invalid",
                "The JSON pointer exceeds the limit of 100 segments.",
            ),
            (
                Error::FieldSelectionTooLarge { size: 5000, max: 4096 },
                400,
                "things:field.selection.invalid",
                "The field selector is 5000 bytes long, over the limit of 4096 bytes.",
            ),
            (Error::ThingNotFound("a:b".into()), 404, "things:thing.notfound", "The Thing with ID 'a:b' could not be found or requester had insufficient permissions to access it."),
            (Error::ThingConflict("a:b".into()), 409, "things:thing.conflict", "The Thing with ID 'a:b' already exists"),
            (Error::CommandTimeout(60000), 408, "command.timeout", "The Command reached the specified timeout of 60000ms."),
            (Error::OriginNotAllowed("null".into()), 403, "gateway:origin.notallowed", "Requests from the origin 'null' are not allowed."),
            (Error::RequestBodyTimeout(500), 408, "gateway:request.timeout", "The request body was not received within the limit of 500 ms (http.body_timeout_ms)."),
            (
                Error::FailedLoginsThrottled { key: "per_user", limit: 5, window_secs: 60, retry_after_secs: 7 },
                429,
                "too.many.requests",
                "Too many failed logins for this user name: the limit is 5 per 60 s (auth.failed_logins.per_user).",
            ),
            (Error::ApiVersionNotSupported("3".into()), 404, "api.version.notsupported", "The requested resource is not supported by version '3'."),
            (
                DittoError::policy_not_found("ns:p").into(),
                404,
                "policies:policy.notfound",
                "The Policy with ID 'ns:p' could not be found or requester had insufficient permissions to access it.",
            ),
        ];
        for (err, status, code, message) in table {
            let de = err.to_ditto();
            assert_eq!(
                (de.status, de.error.as_ref(), de.message.as_str()),
                (status, code, message)
            );
            let j = de.to_json();
            assert_eq!(j["status"], status);
            assert_eq!(j["error"], code);
        }
    }

    #[test]
    fn the_thing_and_message_errors_keep_dittos_texts() {
        let table: Vec<(Error, u16, &str, &str, &str)> = vec![
            (
                Error::MessageSendNotAllowed("a:b".into()),
                403,
                "messages:send.notallowed",
                "You are not allowed to send messages for the Thing with id 'a:b'!",
                "Please make sure that the Thing exists and that you have WRITE permissions on the message resource in the policy of the Thing.",
            ),
            (
                Error::MessagePayloadTooLarge { size: 2048, max: 1024 },
                413,
                "messages:payload.toolarge",
                "The message payload size of '2' kB exceeds the maximal allowed size of '1' kB.",
                "Reduce the message payload in the bounds of the specified limit",
            ),
            (
                Error::ThingNotCreatableViaLive,
                405,
                "things:thing.notcreatable",
                "Thing could not be created via channel <live>.",
                "Creating a thing via <live> channel is not supported. If you want to create a digital twin instead, please use channel <twin>.",
            ),
            (
                Error::ThingNotCreatableImplicitPolicyExists("a:b".into()),
                400,
                "things:thing.notcreatable",
                "The Thing with ID 'a:b' could not be created because creation of its implicit Policy ID 'a:b' failed.",
                "If you want to use an existing Policy, specify it as 'policyId' in the Thing JSON you create.",
            ),
            (
                Error::ThingNotCreatablePolicyMissing { thing: "a:b".into(), policy: "a:p".into() },
                400,
                "things:thing.notcreatable",
                "The Thing with ID 'a:b' could not be created as the Policy with ID 'a:p' is not existing.",
                "Check if the ID of the Policy you created the Thing with is correct and that the Policy is existing.",
            ),
            (
                Error::InlinePolicyWithPolicyId("a:b".into()),
                400,
                "things:policy.id.notallowed",
                "The Thing with ID 'a:b' could not be modified as it contained an inline Policy with an ID or a Policy ID and a Policy",
                "If you want to use an existing Policy, specify it as 'policyId' in the Thing JSON. If you want to create a Thing with inline Policy, no Policy ID is allowed as it will be created with the Thing ID.",
            ),
            (
                Error::InlinePolicyNotAllowed("a:b".into()),
                400,
                "things:policy.notallowed",
                "The Thing with ID 'a:b' could not be modified as it contained an inline Policy",
                "Once a Thing with inline Policy is created it can't be modified with another Policy. Use the Policy resources to modify the existing Policy.",
            ),
            (
                Error::PolicyIdNotExisting { thing: "a:b".into(), policy: "a:p".into() },
                400,
                "things:policy.notallowed",
                "The Thing with ID 'a:b' could not be modified as the Policy with ID 'a:p' is not existing.",
                "Create the Policy first, then set the Thing's policyId to it.",
            ),
            (
                Error::NewThingPolicyNotWritable("a:b".into()),
                400,
                "things:policy.invalid",
                "The Policy specified for the Thing with ID 'a:b' is invalid.",
                "It must contain at least one Subject with the following permission(s): 'WRITE'!",
            ),
            (
                Error::ThingNotModifiablePolicyMissing { thing: "a:b".into(), policy: "a:p".into() },
                403,
                "things:thing.notmodifiable",
                "The Thing with ID 'a:b' could not be accessed as its Policy with ID 'a:p' is not or no longer existing.",
                NOT_MODIFIABLE_DESCRIPTION,
            ),
            (
                Error::AclNotModifiable("a:b".into()),
                403,
                "things:acl.notmodifiable",
                "The ACL of the Thing with ID 'a:b' could not be modified as the requester had insufficient permissions ('ADMINISTRATE' is required).",
                NOT_MODIFIABLE_DESCRIPTION,
            ),
            (
                Error::AclEntryNotFound { thing: Some("a:b".into()), subject: "s:x".into() },
                404,
                "things:acl.notfound",
                "The ACL entry for the Authorization Subject 's:x' on the Thing with ID 'a:b' could not be found.",
                "Check if the Authorization Subject was correct.",
            ),
            (
                Error::AclEntryNotFound { thing: None, subject: "s:x".into() },
                404,
                "things:acl.notfound",
                "The ACL entry for the Authorization Subject 's:x' could not be found.",
                "Check if the Authorization Subject was correct.",
            ),
        ];
        for (err, status, code, message, description) in table {
            let j = err.to_ditto().to_json();
            assert_eq!(
                (&j["status"], &j["error"], &j["message"], &j["description"]),
                (
                    &json!(status),
                    &json!(code),
                    &json!(message),
                    &json!(description)
                ),
            );
            assert!(j.get("href").is_none());
        }
    }

    #[test]
    fn the_conditional_request_errors_keep_dittos_texts() {
        let table: Vec<(Error, u16, &str, &str, &str)> = vec![
            (
                Error::ConditionFailed,
                412,
                "things:condition.failed",
                "The specified condition does not match the state of the requested Thing.",
                "The provided condition did not match the actual Thing state. Please check your provided condition.",
            ),
            (
                Error::ConditionNotReadable,
                412,
                "things:condition.failed",
                "The specified resource in the condition could not be found or the requester had insufficient permissions to access it.",
                "Check if you have sufficient permissions to access the specified resource (READ permission is required).",
            ),
            (
                Error::ConditionInvalid { condition: "eq(a".into(), reason: "boom".into() },
                400,
                "things:condition.invalid",
                "The specified condition 'eq(a' is invalid.",
                "boom",
            ),
            (
                Error::IfEqualFailed,
                412,
                "things:precondition.failed",
                "The previous value was equal to the new value and the 'if-equal' header was set to 'skip'.",
                "Your changes were not applied, which is probably the expected outcome.",
            ),
            (
                Error::HeaderEnumInvalid { name: "if-equal".into(), value: "x".into(), allowed: &["update", "skip"] },
                400,
                "header.invalid",
                "The value 'x' of the header 'if-equal' is not a valid live-channel-timeout-strategy.",
                "The value must either be one of: <update>, <skip>.",
            ),
        ];
        for (err, status, code, message, description) in table {
            let j = err.to_ditto().to_json();
            assert_eq!(
                (&j["status"], &j["error"], &j["message"], &j["description"]),
                (
                    &json!(status),
                    &json!(code),
                    &json!(message),
                    &json!(description)
                ),
            );
        }
    }

    #[test]
    fn a_policy_errors_href_reaches_the_json() {
        let j = Error::from(DittoError::policy_id_invalid("nope"))
            .to_ditto()
            .to_json();
        assert_eq!(j["error"], "policies:id.invalid");
        assert_eq!(j["message"], "Policy ID 'nope' is not valid!");
        assert_eq!(
            j["href"],
            "https://www.eclipse.dev/ditto/basic-namespaces-and-names.html#namespaced-id"
        );
    }

    #[test]
    fn a_missing_value_is_json_invalid_without_a_message_as_in_ditto() {
        let j = Error::ValueMissing.to_ditto().to_json();
        assert_eq!(j["error"], "json.invalid");
        assert!(j.get("message").is_none());
    }

    #[test]
    fn description_is_left_out_of_the_json_when_absent() {
        let j = Error::SessionClosed("the JWT is invalid".into())
            .to_ditto()
            .to_json();
        assert!(j.get("description").is_none());
        assert_eq!(
            j["message"],
            "The websocket session was closed because the JWT is invalid."
        );
    }
}
