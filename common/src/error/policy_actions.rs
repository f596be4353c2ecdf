//! The named constructors of `policies:action.failed` (Ditto's `PolicyActionFailedException`), raised
//! by the policy actions (token integration): beside the other policy errors in `policies.rs`, split
//! off by job so each file stays one catalogue.

use super::DittoError;

impl DittoError {
    /// A token-integration action asked for by a caller who did not authenticate with a JWT
    /// (`newBuilderForInappropriateAuthenticationMethod`, 400).
    pub fn policy_action_needs_jwt(action: &str) -> DittoError {
        DittoError::new(
            400,
            "policies:action.failed",
            format!("Failed to execute action '{action}'."),
            Some("Policy action is only possible with JWT authentication."),
        )
    }

    /// A policy action whose subject id or expiry could not be resolved from the token (Ditto's
    /// 400 for unresolvable placeholders).
    pub fn policy_action_unresolved(action: &str, placeholder: &str) -> DittoError {
        DittoError::new(
            400,
            "policies:action.failed",
            format!("Failed to execute action '{action}'."),
            Some(&format!(
                "The placeholder '{placeholder}' could not be resolved from the token."
            )),
        )
    }

    /// A policy action on an entry the requester may not execute it on (Ditto's 403).
    pub fn policy_action_not_permitted(action: &str, label: &str) -> DittoError {
        DittoError::new(
            403,
            "policies:action.failed",
            format!("Failed to execute action '{action}'."),
            Some(&format!(
                "Permission 'EXECUTE' on 'policy:/entries/{label}/actions/{action}' is required."
            )),
        )
    }

    /// A policy action that applies to no entry (Ditto's 404): the top-level form found no entry
    /// the requester may execute it on that contains one of their subjects (and, to activate,
    /// grants READ on a `thing:` resource), or the named entry is not such an entry.
    pub fn policy_action_not_applicable(action: &str, top_level: bool) -> DittoError {
        DittoError::new(
            404,
            "policies:action.failed",
            format!("Failed to execute action '{action}'."),
            Some(if top_level {
                "No policy entry found for which the top level action could be applied."
            } else {
                "The policy entry does not contain an authenticated subject of the requester, \
                 or (to activate) does not grant READ on a 'thing:' resource."
            }),
        )
    }
}
