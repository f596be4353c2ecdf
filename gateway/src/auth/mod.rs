//! Who is on the other end of a request: the authentication chain run on the HTTP upgrade (and on
//! HTTP API calls) before anything else, as Ditto's gateway does (reference §2.2). The result is the
//! session's subjects; a failure is an HTTP 401 with Ditto's JSON error.

pub mod basic;
pub mod jwt;
pub mod preauth;
pub mod throttle;

use crate::config::AuthConfig;
use crate::forwarded::Proxies;
use actix_web::HttpRequest;
use basic::Htpasswd;
use jwt::JwtAuth;
use preauth::PreAuth;
use std::time::SystemTime;
use throttle::FailedLogins;
use twinwire_common::Error;

/// How a session authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    PreAuthenticated,
    Jwt,
}

/// The outcome of authentication: what a session or request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// Ditto subjects such as `nginx:ditto` or `issuer:sub`; order matters to Ditto's
    /// `ditto-originator` (the first subject).
    pub subjects: Vec<String>,
    pub method: AuthMethod,
    /// When the credential stops being valid (a JWT's `exp`).
    pub expires_at: Option<SystemTime>,
    /// A JWT's `aud` values (Ditto's `{{jwt:aud}}`, used by token integration); empty otherwise.
    pub audiences: Vec<String>,
}

/// A rejected authentication: the metric label and the error the client gets.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthFailure {
    pub reason: &'static str,
    pub error: Error,
}

impl AuthFailure {
    pub fn new(
        reason: &'static str,
        message: impl Into<String>,
        description: Option<&str>,
    ) -> AuthFailure {
        AuthFailure {
            reason,
            error: Error::AuthenticationFailed {
                message: message.into(),
                description: description.map(str::to_owned),
            },
        }
    }
}

/// The configured providers, tried in Ditto's order: pre-authenticated header, then bearer token,
/// then HTTP Basic (Ditto delegates Basic to its nginx; we check the same htpasswd file ourselves).
pub struct Authenticator {
    basic: Option<Htpasswd>,
    preauth: Option<PreAuth>,
    pub jwt: JwtAuth,
    pub realm: String,
    failed_logins: FailedLogins,
    failed_logins_window_secs: u64,
    proxies: Proxies,
}

impl Authenticator {
    /// `trusted_proxies` (`http.trusted_proxies`) name who may report the client's address.
    pub fn new(config: &AuthConfig, trusted_proxies: &[String]) -> std::io::Result<Authenticator> {
        let basic = if config.basic.htpasswd_file.is_empty() {
            None
        } else {
            Some(Htpasswd::open(&config.basic.htpasswd_file)?)
        };
        let preauth = config
            .pre_authenticated
            .enabled
            .then(|| PreAuth::new(&config.pre_authenticated.trusted_proxies));
        Ok(Authenticator {
            basic,
            preauth,
            jwt: JwtAuth::new(&config.jwt),
            realm: config.basic.realm.clone(),
            failed_logins: FailedLogins::new(&config.failed_logins),
            failed_logins_window_secs: config.failed_logins.window_secs,
            proxies: Proxies::new(trusted_proxies),
        })
    }

    pub fn basic_enabled(&self) -> bool {
        self.basic.is_some()
    }

    pub async fn authenticate(&self, req: &HttpRequest) -> Result<AuthContext, AuthFailure> {
        if let Some(p) = &self.preauth {
            if let Some(ctx) = p.authenticate(req)? {
                return Ok(ctx);
            }
        } else if preauth::header_or_param(req).is_some() {
            // Never trusted unless enabled: a client must not be able to name its own subjects.
            return Err(AuthFailure::new(
                "preauth_untrusted",
                "The pre-authenticated header is not accepted by this gateway.",
                Some("Authenticate with HTTP Basic or a JWT."),
            ));
        }
        let authorization = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let bearer = authorization.and_then(|v| strip_scheme(v, "Bearer"));
        let access_token = form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned());
        if bearer.is_some() && access_token.is_some() {
            return Err(AuthFailure::new(
                "jwt_multiple",
                "Multiple JWTs provided.",
                Some("A JWT was provided both as a header and as query parameter. Only a single JWT is expected."),
            ));
        }
        if let Some(token) = bearer.map(str::to_owned).or(access_token) {
            if !self.jwt.enabled() {
                return Err(AuthFailure::new(
                    "jwt_disabled",
                    "JWT authentication is not configured on this gateway.",
                    Some("Authenticate with HTTP Basic."),
                ));
            }
            return self.jwt.authenticate(&token).await;
        }
        if let (Some(b), Some(value)) = (&self.basic, authorization) {
            if let Some(encoded) = strip_scheme(value, "Basic") {
                return self.basic(b, encoded, req).await;
            }
        }
        Err(AuthFailure::new(
            "missing",
            "No applicable authentication provider was found!",
            Some("Check if you provided the correct credentials: HTTP Basic or a JWT as 'Authorization: Bearer' or 'access_token'."),
        ))
    }
}

impl Authenticator {
    /// HTTP Basic under the failed-login throttle. Credentials verified before pass at once: they
    /// teach a guesser nothing, and their users keep working while their names are under attack.
    async fn basic(
        &self,
        htpasswd: &Htpasswd,
        encoded: &str,
        req: &HttpRequest,
    ) -> Result<AuthContext, AuthFailure> {
        if let Some(ctx) = htpasswd.remembered(encoded) {
            return Ok(ctx);
        }
        let user = basic::user_name(encoded).unwrap_or_default();
        let attempt = self
            .failed_logins
            .begin(
                self.proxies.client_ip(req),
                &user,
                htpasswd.credentials_key(encoded),
            )
            .map_err(|t| {
                // Whole seconds, rounded up: a client retrying on time is not refused again.
                let wait = t.retry_after;
                let retry_after_secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
                AuthFailure {
                    reason: "throttled",
                    error: Error::FailedLoginsThrottled {
                        key: match t.limit {
                            throttle::Limit::PerAddress => "per_address",
                            throttle::Limit::PerUser => "per_user",
                        },
                        limit: t.value,
                        window_secs: self.failed_logins_window_secs,
                        retry_after_secs,
                    },
                }
            })?;
        let result = htpasswd.authenticate(encoded).await;
        if result.is_ok() {
            attempt.succeeded();
        }
        result
    }
}

/// The credentials after an `Authorization` scheme, compared case-insensitively (RFC 7235).
pub fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_schemes_match_case_insensitively() {
        assert_eq!(strip_scheme("Basic abc", "Basic"), Some("abc"));
        assert_eq!(strip_scheme("basic  abc ", "Basic"), Some("abc"));
        assert_eq!(strip_scheme("Bearer abc", "Basic"), None);
        assert_eq!(strip_scheme("Basic", "Basic"), None);
    }
}
