//! The credential's lifetime within a session: the timer that ends the session when its JWT
//! expires, and `JWT-TOKEN?jwtToken=…` (reference §1.6), which moves the expiry when the new token
//! is valid for the same subjects and ends the session otherwise.

use super::WsSession;
use crate::auth::{AuthContext, AuthFailure};
use actix::prelude::*;
use std::time::{Duration, SystemTime};
use twinwire_common::Error;

/// Ditto sets no timer for expiries further away than this.
const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(100 * 24 * 3600);

/// The timer ending the session when its credential expires, if armed.
#[derive(Default)]
pub(super) struct JwtExpiry {
    timer: Option<SpawnHandle>,
}

/// How long until a credential expiring at `expires_at` ends the session; `None` when it never
/// does (no expiry, or more than 100 days away, as in Ditto). Unlike Ditto, a token given as
/// `access_token` counts too (§1.7).
fn time_left(expires_at: Option<SystemTime>) -> Option<Duration> {
    let left = crate::auth::jwt::until(expires_at?);
    (left <= MAX_SESSION_TIMEOUT).then_some(left)
}

/// What a refreshed token does to the session.
enum Refresh {
    /// Valid for the same subjects: the session lives until its new expiry.
    Extend(Option<SystemTime>),
    /// Valid, but for other subjects: the session ends.
    SubjectsChanged,
    /// Invalid: the session ends; the failure is counted under its reason.
    Invalid(&'static str),
}

fn refresh(current: &[String], fresh: Result<AuthContext, AuthFailure>) -> Refresh {
    match fresh {
        Ok(fresh) if fresh.subjects == current => Refresh::Extend(fresh.expires_at),
        Ok(_) => Refresh::SubjectsChanged,
        Err(f) => Refresh::Invalid(f.reason),
    }
}

impl WsSession {
    /// Arms (or re-arms) the timer that ends the session when its credential expires.
    pub(super) fn arm_expiry(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.expiry.timer.take() {
            ctx.cancel_future(h);
        }
        let Some(left) = time_left(self.init.auth.expires_at) else {
            return;
        };
        self.expiry.timer = Some(ctx.run_later(left, |act, ctx| {
            act.node
                .metrics
                .auth_failures
                .with_label_values(&["session_expired"])
                .inc();
            act.end_session(ctx, Error::SessionExpired);
        }));
    }

    /// `JWT-TOKEN?jwtToken=…`: other subjects or an invalid token end the session with an error
    /// frame and 1000.
    pub(super) fn refresh_token(&mut self, token: String, ctx: &mut Context<Self>) {
        let node = self.node.clone();
        ctx.wait(
            async move { node.auth.jwt.authenticate(&token).await }
                .into_actor(self)
                .map(
                    |res, act, ctx| match refresh(&act.init.auth.subjects, res) {
                        Refresh::Extend(expires_at) => {
                            act.init.auth.expires_at = expires_at;
                            act.arm_expiry(ctx);
                        }
                        Refresh::SubjectsChanged => act.end_session(
                            ctx,
                            Error::SessionClosed("the authorization context changed".into()),
                        ),
                        Refresh::Invalid(reason) => {
                            act.node
                                .metrics
                                .auth_failures
                                .with_label_values(&[reason])
                                .inc();
                            act.end_session(ctx, Error::SessionClosed("the JWT is invalid".into()))
                        }
                    },
                ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthMethod;

    #[test]
    fn expiries_beyond_a_hundred_days_arm_no_timer() {
        assert_eq!(time_left(None), None);
        let soon = SystemTime::now() + Duration::from_secs(60);
        assert!(time_left(Some(soon)).is_some_and(|d| d <= Duration::from_secs(60)));
        let past = SystemTime::now() - Duration::from_secs(1);
        assert_eq!(time_left(Some(past)), Some(Duration::ZERO));
        let far = SystemTime::now() + MAX_SESSION_TIMEOUT + Duration::from_secs(60);
        assert_eq!(time_left(Some(far)), None);
    }

    #[test]
    fn a_refreshed_token_must_name_the_same_subjects() {
        let ctx = |s: &str| AuthContext {
            subjects: vec![s.into()],
            method: AuthMethod::Jwt,
            expires_at: None,
            audiences: Vec::new(),
        };
        let current = vec!["a".to_string()];
        assert!(matches!(
            refresh(&current, Ok(ctx("a"))),
            Refresh::Extend(None)
        ));
        assert!(matches!(
            refresh(&current, Ok(ctx("b"))),
            Refresh::SubjectsChanged
        ));
        let failed = AuthFailure::new("jwt_invalid", "x", None);
        assert!(matches!(
            refresh(&current, Err(failed)),
            Refresh::Invalid("jwt_invalid")
        ));
    }
}
