//! Ditto's policy actions on HTTP: `POST /api/2/policies/{id}[/entries/{label}]/actions/
//! (activate|deactivate)TokenIntegration` (ditto-features §8). Activation adds a subject derived
//! from the caller's JWT whose `expiry` is the token's; twinwire does not enforce policy subject
//! expiry, so such a subject would keep its grants after the token lapsed. The routes therefore
//! answer Ditto's `policies:action.failed`: 400 for a caller without a JWT (as Ditto does), 501
//! for one with a JWT (README, deviations).

use super::error_response;
use crate::auth::{AuthContext, AuthMethod};
use actix_web::HttpResponse;
use twinwire_common::{DittoError, Error};

const ACTIONS: [&str; 2] = ["activateTokenIntegration", "deactivateTokenIntegration"];

/// The action named by `rest` (below the policy: `actions/{a}` or `entries/{label}/actions/{a}`).
fn action_of(rest: &str) -> Option<&'static str> {
    let name = match rest.strip_prefix("actions/") {
        Some(a) => a,
        None => {
            let (_, tail) = rest.strip_prefix("entries/")?.split_once('/')?;
            tail.strip_prefix("actions/")?
        }
    };
    ACTIONS.iter().copied().find(|a| *a == name)
}

/// The answer to a POST below a policy.
pub fn answer(rest: &str, auth: &AuthContext) -> HttpResponse {
    let Some(action) = action_of(rest) else {
        return error_response(&Error::UnknownPath {
            path: format!("/{rest}"),
        });
    };
    let error = match auth.method {
        AuthMethod::Jwt => DittoError::policy_action_unavailable(action),
        _ => DittoError::policy_action_needs_jwt(action),
    };
    error_response(&error.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_at_the_policy_or_an_entry() {
        let table = [
            ("actions/activateTokenIntegration", Some(ACTIONS[0])),
            ("actions/deactivateTokenIntegration", Some(ACTIONS[1])),
            (
                "entries/owner/actions/activateTokenIntegration",
                Some(ACTIONS[0]),
            ),
            ("entries/owner/actions/other", None),
            ("actions/", None),
            ("entries/owner", None),
        ];
        for (rest, action) in table {
            assert_eq!(action_of(rest), action, "{rest}");
        }
    }

    #[test]
    fn a_jwt_caller_is_told_the_action_is_unavailable_and_others_that_it_needs_a_jwt() {
        let auth = |method| AuthContext {
            subjects: vec!["issuer:sub".into()],
            method,
            expires_at: None,
        };
        let rest = "entries/owner/actions/activateTokenIntegration";
        assert_eq!(answer(rest, &auth(AuthMethod::Jwt)).status().as_u16(), 501);
        assert_eq!(
            answer(rest, &auth(AuthMethod::Basic)).status().as_u16(),
            400
        );
        assert_eq!(
            answer("actions/x", &auth(AuthMethod::Jwt))
                .status()
                .as_u16(),
            400
        );
    }
}
