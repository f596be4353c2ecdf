//! The named constructors of the Ditto errors raised about policies: the policies service's exceptions
//! (`policies/model/.../PolicyException` subclasses), the JSON exceptions of `json/...` that policy
//! parsing raises and, for v1 ACLs, the removed `things:acl.*` exceptions of Ditto 1.x. They build a
//! [`DittoError`] directly because the policy module is a port of those exception classes, text for text.
//!
//! Ditto formats its messages with `java.text.MessageFormat`, where `''` is a literal quote: the texts
//! below are those templates with the quotes resolved.

use super::DittoError;
use serde_json::Value;

/// `JsonParseException`'s default description (`json/.../JsonParseException.java`).
const JSON_DESCRIPTION: &str =
    "Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format.";
const FIELD_MISSING_DESCRIPTION: &str = "Check if all required JSON fields were set.";
const POLICY_WRITE_DESCRIPTION: &str =
    "There must always be at least one PolicyEntry with 'WRITE' permissions on resource 'policy:/'.";
const CHECK_POLICY_DESCRIPTION: &str =
    "Check if the ID of your requested Policy was correct and you have sufficient permissions.";
const CHECK_ENTRY_DESCRIPTION: &str =
    "Check if the ID of the Policy and the Label of your requested PolicyEntry was \
     correct and you have sufficient permissions.";

impl DittoError {
    // ---- JSON shape errors (json/..., wrapped by DittoJsonException: status 400) ----

    /// `JsonParseException` (`json.invalid`) with its default description.
    pub fn json_invalid(message: impl Into<String>) -> DittoError {
        DittoError::new(400, "json.invalid", message.into(), Some(JSON_DESCRIPTION))
    }

    /// `JsonParseException` with its own description.
    pub fn json_invalid_described(
        message: impl Into<String>,
        description: impl Into<String>,
    ) -> DittoError {
        DittoError::new(
            400,
            "json.invalid",
            message.into(),
            Some(&description.into()),
        )
    }

    /// The type check of `AbstractJsonFieldDefinition.mapValue`.
    pub(crate) fn json_wrong_type(value: &Value, pointer: &str, java_type: &str) -> DittoError {
        DittoError::json_invalid(format!(
            "Value <{value}> for <{pointer}> is not of type <{java_type}>!"
        ))
    }

    /// `ImmutablePolicy`/`ImmutableSubjects`: an entry or subject that is not an object.
    pub(crate) fn not_an_object(value: &Value) -> DittoError {
        DittoError::json_invalid(format!("<{value}> is not a JSON object!"))
    }

    /// `JsonMissingFieldException` (`json.field.missing`) as `getValueOrThrow` raises it.
    pub fn json_field_missing(pointer: &str) -> DittoError {
        DittoError::json_field_missing_message(format!(
            "JSON did not include required <{pointer}> field!"
        ))
    }

    pub(crate) fn json_field_missing_message(message: String) -> DittoError {
        DittoError::new(
            400,
            "json.field.missing",
            message,
            Some(FIELD_MISSING_DESCRIPTION),
        )
    }

    /// `JsonPointerInvalidException.newBuilderForConsecutiveSlashes`.
    pub fn json_pointer_consecutive_slashes(pointer: &str) -> DittoError {
        DittoError::new(
            400,
            "json.pointer.invalid",
            format!("The JSON pointer <{pointer}> is invalid!"),
            Some("Consecutive slashes in JSON pointers are not supported."),
        )
    }

    // ---- model validation (policies/model/...) ----

    /// `PolicyIdInvalidException` (`policies:id.invalid`, 400).
    pub fn policy_id_invalid(policy_id: &str) -> DittoError {
        DittoError {
            href: Some("https://www.eclipse.dev/ditto/basic-namespaces-and-names.html#namespaced-id"),
            ..DittoError::new(
                400,
                "policies:id.invalid",
                format!("Policy ID '{policy_id}' is not valid!"),
                Some("It must conform to the namespaced entity ID notation (see Ditto documentation)"),
            )
        }
    }

    /// `PolicyIdNotExplicitlySettableException` (`policies:id.notsettable`, 400): the body names another
    /// policy than the command (the HTTP route's rule, `PoliciesRoute`).
    pub fn policy_id_not_settable() -> DittoError {
        DittoError::new(
            400,
            "policies:id.notsettable",
            "The Policy ID in the request body is not equal to the Policy ID in the request URL.".into(),
            Some("Either delete the Policy ID from the request body or use the same Policy ID as in the request URL."),
        )
    }

    /// `PolicyEntryInvalidException` (`policies:entry.invalid`, 400) with its default texts.
    pub fn entry_invalid_default() -> DittoError {
        DittoError::new(
            400,
            "policies:entry.invalid",
            "The Policy Entry is invalid.".into(),
            Some("Policy entry does not contain any known permission like 'READ' or 'WRITE'"),
        )
    }

    /// `PolicyEntryInvalidException` with a specific description (default message).
    pub fn entry_invalid(description: impl Into<String>) -> DittoError {
        DittoError {
            description: Some(description.into()),
            ..DittoError::entry_invalid_default()
        }
    }

    /// `PolicyEntryInvalidException` with a specific message and description.
    pub fn entry_invalid_with(
        message: impl Into<String>,
        description: Option<String>,
    ) -> DittoError {
        DittoError {
            message: message.into(),
            description,
            ..DittoError::entry_invalid_default()
        }
    }

    /// `LabelInvalidException` (`policies:label.invalid`, 400): a label with a reserved prefix.
    pub fn label_invalid(label: &str) -> DittoError {
        DittoError::new(
            400,
            "policies:label.invalid",
            format!("Label '{label}' is not valid!"),
            Some("It must not start with the blocklisted 'imported' or 'nsimported' prefix."),
        )
    }

    /// `SubjectIdInvalidException` (`policies:subjectid.invalid`, 400).
    pub fn subject_id_invalid(subject_id: &str, description: Option<&str>) -> DittoError {
        DittoError::new(
            400,
            "policies:subjectid.invalid",
            format!("Subject ID '{subject_id}' is not valid!"),
            Some(description.unwrap_or("It must contain an issuer as prefix separated by a colon ':' from the actual subject")),
        )
    }

    /// `SubjectExpiryInvalidException` (`policies:subjectexpiry.invalid`, 400).
    pub fn subject_expiry_invalid(expiry: &str) -> DittoError {
        DittoError::new(
            400,
            "policies:subjectexpiry.invalid",
            format!("Subject expiry timestamp '{expiry}' is not valid."),
            Some("It must be provided as ISO-8601 formatted char sequence."),
        )
    }

    /// `PolicyImportInvalidException` (`policies:import.invalid`, 400): a policy importing itself.
    pub fn import_invalid() -> DittoError {
        DittoError::new(
            400,
            "policies:import.invalid",
            "The Policy Import is invalid.".into(),
            Some("The Policy Import references the policy where it is defined."),
        )
    }

    /// `PolicyImportInvalidException` for a `transitiveImports` list naming the importing policy.
    pub fn import_transitive_self(policy_id: &str) -> DittoError {
        DittoError::new(
            400,
            "policies:import.invalid",
            "The policy import contains a transitive resolution of the policy itself.".into(),
            Some(&format!(
                "The 'transitiveImports' array must not contain the importing policy's own ID '{policy_id}'."
            )),
        )
    }

    /// `PolicyImportsTooLargeException` (`policies:imports.toolarge`, 400), limit 10
    /// (`ditto.limits.policies.imports-limit`).
    pub fn imports_too_large(policy_id: &str, limit: usize) -> DittoError {
        DittoError::new(
            400,
            "policies:imports.toolarge",
            format!(
                "The Imports of the Policy with ID '{policy_id}' could not be modified as they exceed the allowed \
                 number of '{limit}'."
            ),
            Some(&format!("Please reduce the number of imports you're trying to add to {limit}")),
        )
    }

    /// `PolicyTooLargeException` (`policies:policy.toolarge`, 413); sizes in bytes, printed in kB the way
    /// `MessageFormat` prints a `double`.
    pub fn too_large(actual_bytes: u64, max_bytes: u64) -> DittoError {
        DittoError::new(
            413,
            "policies:policy.toolarge",
            format!(
                "The size of '{}' kB exceeds the maximal allowed Policy size of '{}' kB.",
                crate::format::java_number(actual_bytes as f64 / 1024.0),
                crate::format::java_number(max_bytes as f64 / 1024.0)
            ),
            Some("Reduce the Policy size in the bounds of the specified limit"),
        )
    }

    // ---- command errors of the policies service (policies/model/.../signals/commands/exceptions) ----

    /// `PolicyNotAccessibleException` (`policies:policy.notfound`, 404).
    pub fn policy_not_found(policy_id: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:policy.notfound",
            format!(
                "The Policy with ID '{policy_id}' could not be found or requester had insufficient permissions to \
                 access it."
            ),
            Some(CHECK_POLICY_DESCRIPTION),
        )
    }

    /// `PolicyConflictException` (`policies:policy.conflict`, 409).
    pub fn policy_conflict(policy_id: &str) -> DittoError {
        DittoError::new(
            409,
            "policies:policy.conflict",
            format!("The Policy with ID '{policy_id}' already exists"),
            Some("Choose another Policy ID"),
        )
    }

    /// `PolicyNotModifiableException` (`policies:policy.notmodifiable`, 403).
    pub fn policy_not_modifiable(policy_id: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:policy.notmodifiable",
            format!("The Policy with ID '{policy_id}' could not be modified as the requester had insufficient permissions."),
            Some(CHECK_POLICY_DESCRIPTION),
        )
    }

    /// `PolicyNotCreatableException` (`policies:policy.notcreatable`, 403).
    pub fn policy_not_creatable(policy_id: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:policy.notcreatable",
            format!("The Policy with ID '{policy_id}' could not be created as the requester had insufficient permissions."),
            Some("Check if you have sufficient permissions in the new policy to create."),
        )
    }

    /// `PolicyModificationInvalidException` (`policies:policy.modificationinvalid`, 403): Create/Modify
    /// Policy and ModifyPolicyEntries whose result has no permanent `WRITE` on `policy:/`
    /// (`AbstractPolicyCommandStrategy.policyInvalid`). `reason` is the validator's reason, see
    /// [`crate::policy::Policy::policy_writer_check`].
    pub fn policy_modification_invalid(policy_id: &str, reason: Option<String>) -> DittoError {
        DittoError {
            description: Some(reason.unwrap_or_else(|| POLICY_WRITE_DESCRIPTION.to_owned())),
            ..DittoError::new(
                403,
                "policies:policy.modificationinvalid",
                format!(
                    "The Policy with ID '{policy_id}' could not be modified as the resulting Policy would be invalid."
                ),
                None,
            )
        }
    }

    /// `PolicyEntryModificationInvalidException` (`policies:entry.modificationinvalid`, 403): the entry-,
    /// subject- and resource-level modify/delete commands (`AbstractPolicyCommandStrategy.policyEntryInvalid`).
    pub fn entry_modification_invalid(
        policy_id: &str,
        label: &str,
        reason: Option<String>,
    ) -> DittoError {
        DittoError {
            description: Some(reason.unwrap_or_else(|| POLICY_WRITE_DESCRIPTION.to_owned())),
            ..DittoError::new(
                403,
                "policies:entry.modificationinvalid",
                format!(
                    "The PolicyEntry with Label '{label}' on the Policy with ID '{policy_id}' could not be modified \
                     as the resulting Policy would be invalid."
                ),
                None,
            )
        }
    }

    /// `PolicyEntryNotAccessibleException` (`policies:entry.notfound`, 404).
    pub fn entry_not_found(policy_id: &str, label: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:entry.notfound",
            format!(
                "The PolicyEntry with Label '{label}' on the Policy with ID '{policy_id}' could not be found or \
                 requester had insufficient permissions to access it."
            ),
            Some(CHECK_ENTRY_DESCRIPTION),
        )
    }

    /// `PolicyEntryNotModifiableException` (`policies:entry.notmodifiable`, 403).
    pub fn entry_not_modifiable(policy_id: &str, label: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:entry.notmodifiable",
            format!(
                "The PolicyEntry with Label '{label}' on the Policy with ID '{policy_id}' could not be modified as \
                 the requester had insufficient permissions."
            ),
            Some(CHECK_ENTRY_DESCRIPTION),
        )
    }

    /// `PolicyEntryReferenceConflictException` (`policies:entry.referenceconflict`, 409).
    pub fn entry_reference_conflict(
        policy_id: &str,
        referenced: &str,
        referencing: &str,
    ) -> DittoError {
        DittoError::new(
            409,
            "policies:entry.referenceconflict",
            format!(
                "The entry '{referenced}' of Policy '{policy_id}' cannot be removed because a local reference from \
                 entry '{referencing}' still points to it."
            ),
            Some("Remove the local entry references first before deleting the referenced entry."),
        )
    }

    /// `SubjectNotAccessibleException` (`policies:subject.notfound`, 404).
    pub fn subject_not_found(policy_id: &str, label: &str, subject_id: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:subject.notfound",
            format!(
                "The Subject with ID '{subject_id}' of the PolicyEntry with Label '{label}' on the Policy with ID \
                 '{policy_id}' could not be found or requester had insufficient permissions to access it."
            ),
            Some(
                "Check if the ID of the Policy, the Label of the PolicyEntry and ID of your requested Subject was \
                 correct and you have sufficient permissions.",
            ),
        )
    }

    /// `SubjectNotModifiableException` (`policies:subject.notmodifiable`, 403).
    pub fn subject_not_modifiable(policy_id: &str, label: &str, subject_id: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:subject.notmodifiable",
            format!(
                "The Subject with ID '{subject_id}' of the PolicyEntry with Label '{label}' on the Policy with ID \
                 '{policy_id}' could not be modified as the requester had insufficient permissions."
            ),
            Some(
                "Check if the ID of the Policy, the Label of the PolicyEntry and ID of your requested Subject was \
                 correct and you have sufficient permissions.",
            ),
        )
    }

    /// `SubjectsNotAccessibleException` (`policies:subjects.notfound`, 404).
    pub fn subjects_not_found(policy_id: &str, label: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:subjects.notfound",
            format!(
                "The Subjects of the PolicyEntry with Label '{label}' on the Policy with ID '{policy_id}' could not \
                 be found or requester had insufficient permissions to access it."
            ),
            Some(
                "Check if the ID of the Policy and the Label of the PolicyEntry was correct and you have sufficient \
                 permissions.",
            ),
        )
    }

    /// `SubjectsNotModifiableException` (`policies:subjects.notmodifiable`, 403).
    pub fn subjects_not_modifiable(policy_id: &str, label: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:subjects.notmodifiable",
            format!(
                "The Subjects of the PolicyEntry with Label '{label}' on the Policy with ID '{policy_id}' could not \
                 be modified as the requester had insufficient permissions."
            ),
            Some(
                "Check if the ID of the Policy and the PolicyEntry's Label of your requested Subjects was correct \
                 and you have sufficient permissions.",
            ),
        )
    }

    /// `ResourceNotAccessibleException` (`policies:resource.notfound`, 404); `resource` as `thing:/path`.
    pub fn resource_not_found(policy_id: &str, label: &str, resource: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:resource.notfound",
            format!(
                "The Resource '{resource}' of the PolicyEntry with Label '{label}' on the Policy with ID \
                 '{policy_id}' could not be found or requester had insufficient permissions to access it."
            ),
            Some(
                "Check if the ID of the Policy, the Label of the PolicyEntry and the path of your requested Resource \
                 was correct and you have sufficient permissions.",
            ),
        )
    }

    /// `ResourceNotModifiableException` (`policies:resource.notmodifiable`, 403).
    pub fn resource_not_modifiable(policy_id: &str, label: &str, resource: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:resource.notmodifiable",
            format!(
                "The Resource '{resource}' of the PolicyEntry with Label '{label}' on the Policy with ID \
                 '{policy_id}' could not be modified as the requester had insufficient permissions."
            ),
            Some(
                "Check if the ID of the Policy, the Label of the PolicyEntry and the path of your requested Resource \
                 was correct and you have sufficient permissions.",
            ),
        )
    }

    /// `ResourcesNotAccessibleException` (`policies:resources.notfound`, 404).
    pub fn resources_not_found(policy_id: &str, label: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:resources.notfound",
            format!(
                "The Resources of the PolicyEntry with Label '{label}' on the Policy with ID '{policy_id}' could not \
                 be found or requester had insufficient permissions to access it."
            ),
            Some(
                "Check if the ID of the Policy and the Label of the PolicyEntry was correct and you have sufficient \
                 permissions.",
            ),
        )
    }

    /// `ResourcesNotModifiableException` (`policies:resources.notmodifiable`, 403).
    pub fn resources_not_modifiable(policy_id: &str, label: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:resources.notmodifiable",
            format!(
                "The Resources of the PolicyEntry with Label '{label}' on the Policy with ID '{policy_id}' could not \
                 be modified as the requester had insufficient permissions."
            ),
            Some(
                "Check if the ID of the Policy and the PolicyEntry's Label of your requested Resources was correct \
                 and you have sufficient permissions.",
            ),
        )
    }

    /// `PolicyImportNotAccessibleException` (`policies:import.notfound`, 404).
    pub fn import_not_found(policy_id: &str, imported_policy_id: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:import.notfound",
            format!(
                "The Policy import '{imported_policy_id}' of Policy '{policy_id}' could not be found or requester \
                 had insufficient permissions to access it."
            ),
            Some(
                "Check if the ID of the Policy and the imported Policy was correct and you have sufficient \
                 permissions.",
            ),
        )
    }

    /// `PolicyImportNotModifiableException` (`policies:import.notmodifiable`, 403).
    pub fn import_not_modifiable(policy_id: &str, imported_policy_id: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:import.notmodifiable",
            format!(
                "The Import of the Policy with ID '{imported_policy_id}' in Policy with ID '{policy_id}' could not \
                 be modified as the requester had insufficient permissions."
            ),
            Some(
                "Check if the ID of your requested Policy and imported Policy was correct and you have sufficient \
                 permissions.",
            ),
        )
    }

    /// `PolicyImportsNotAccessibleException` (`policies:imports.notfound`, 404).
    pub fn imports_not_found(policy_id: &str) -> DittoError {
        DittoError::new(
            404,
            "policies:imports.notfound",
            format!(
                "The imports of the Policy with ID '{policy_id}' could not be found or requester had insufficient \
                 permissions to access it."
            ),
            Some("Check if the ID of the Policy was correct and you have sufficient permissions."),
        )
    }

    /// `PolicyImportsNotModifiableException` (`policies:imports.notmodifiable`, 403).
    pub fn imports_not_modifiable(policy_id: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:imports.notmodifiable",
            format!(
                "The Imports of the Policy with ID '{policy_id}' could not be modified as the requester had \
                 insufficient permissions."
            ),
            Some(CHECK_POLICY_DESCRIPTION),
        )
    }

    /// `if-equal: skip` on a policy write that would change nothing (Ditto's
    /// `PoliciesConditionalHeadersValidatorProvider`: `policies:precondition.failed`, 412).
    pub fn policy_if_equal_failed() -> DittoError {
        DittoError::new(
            412,
            "policies:precondition.failed",
            "The previous value was equal to the new value and the 'if-equal' header was set to 'skip'."
                .into(),
            Some("Your changes were not applied, which is probably the expected outcome."),
        )
    }

    /// `PolicyPreconditionFailedException` (`policies:precondition.failed`, 412).
    pub fn precondition_failed(header: &str, header_value: &str, entity_tag: &str) -> DittoError {
        DittoError::new(
            412,
            "policies:precondition.failed",
            format!(
                "The comparison of precondition header '{header}' for the requested Policy resource evaluated to \
                 false. Header value: '{header_value}', actual entity-tag: '{entity_tag}'."
            ),
            Some(
                "The comparison of the provided precondition header with the current ETag value of the requested \
                 Policy resource evaluated to false. Check the value of your conditional header value.",
            ),
        )
    }

    /// `PolicyPreconditionNotModifiedException` (`policies:precondition.notmodified`, 304).
    pub fn precondition_not_modified(expected_not_to_match: &str, matched: &str) -> DittoError {
        DittoError::new(
            304,
            "policies:precondition.notmodified",
            format!(
                "The comparison of precondition header 'if-none-match' for the requested Policy resource evaluated \
                 to false. Expected: '{expected_not_to_match}' not to match actual: '{matched}'."
            ),
            // The template's doubled quotes are inside a plain string constant, not a MessageFormat
            // pattern, so Ditto really sends two quote characters here.
            Some(
                "The comparison of the provided precondition header ''if-none-match'' with the current ETag value of \
                 the requested Policy resource evaluated to false. Check the value of your conditional header value.",
            ),
        )
    }

    /// `PolicyUnavailableException` (`policies:policy.unavailable`, 503).
    pub fn policy_unavailable(policy_id: &str) -> DittoError {
        DittoError::new(
            503,
            "policies:policy.unavailable",
            format!("The Policy with ID '{policy_id}' is not available, please try again later."),
            Some(
                "The requested Policy is temporarily not available, please retry the performed action in order to \
                 improve resiliency.",
            ),
        )
    }

    /// `PolicyTooManyModifyingRequestsException` (`policies:policy.toomanymodifyingrequests`, 429).
    pub fn too_many_modifying_requests(policy_id: &str) -> DittoError {
        DittoError::new(
            429,
            "policies:policy.toomanymodifyingrequests",
            format!("Too many modifying requests are already outstanding to the Policy with ID '{policy_id}'."),
            Some(
                "Throttle your modifying requests to the Policy or re-structure your Policy in multiple Policies if \
                 you really need so many concurrent modifications.",
            ),
        )
    }

    // ---- thing-side errors about a thing's (inline) policy (things/model/...) ----

    /// `things:policy.invalid` (400, `PolicyInvalidException`): the inline `_policy` of a CreateThing grants
    /// nobody permanent `WRITE` on `policy:/` (`ThingEnforcerActor.getInitialPolicy`).
    pub fn thing_policy_invalid(thing_id: &str) -> DittoError {
        DittoError::new(
            400,
            "things:policy.invalid",
            format!("The Policy specified for the Thing with ID '{thing_id}' is invalid."),
            Some(
                "It must contain at least one Subject with the following permission(s): '[WRITE]'!",
            ),
        )
    }

    /// `things:policy.invalid` for an inline policy that did not parse: the description is the cause's
    /// message, as `PolicyInvalidException.newBuilderForCause` does.
    pub fn thing_policy_unparsable(thing_id: &str, cause: &DittoError) -> DittoError {
        DittoError {
            description: Some(cause.message.clone()),
            ..DittoError::thing_policy_invalid(thing_id)
        }
    }

    // ---- v1 ACL errors (Ditto 1.x model/things, removed in 2.0) ----

    /// `things:acl.invalid` (400, `AclInvalidException`).
    pub fn acl_invalid(thing_id: &str, reason: String) -> DittoError {
        DittoError::new(
            400,
            "things:acl.invalid",
            format!("The Access Control List of the Thing with ID '{thing_id}' is invalid."),
            Some(&reason),
        )
    }

    /// `things:acl.entry.invalid` (400, `AclEntryInvalidException`).
    pub fn acl_entry_invalid(message: Option<String>, description: Option<String>) -> DittoError {
        DittoError::new(
            400,
            "things:acl.entry.invalid",
            message.unwrap_or_else(|| "The Access Control List Entry is invalid.".into()),
            Some(&description.unwrap_or_else(|| {
                "Valid Access Control List Entries are 'READ', 'WRITE' or 'ADMINISTRATE'.".into()
            })),
        )
    }
}
