//! Pre-authenticated subjects (`x-ditto-pre-authenticated`, header or query parameter, reference
//! §2.2): accepted only when enabled and only from configured proxy addresses, because whoever
//! can set it chooses their own subjects.

use super::{AuthContext, AuthFailure, AuthMethod};
use actix_web::HttpRequest;
use ipnet::IpNet;

pub const HEADER: &str = "x-ditto-pre-authenticated";

/// The pre-authenticated value from the header or, as Ditto also allows, the query parameter.
pub fn header_or_param(req: &HttpRequest) -> Option<String> {
    if let Some(v) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.to_owned());
    }
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == HEADER)
        .map(|(_, v)| v.into_owned())
}

pub struct PreAuth {
    trusted: Vec<IpNet>,
}

impl PreAuth {
    pub fn new(trusted: &[String]) -> PreAuth {
        // Validated at config load (`GatewayConfig::validate`).
        PreAuth {
            trusted: trusted
                .iter()
                .filter_map(|s| crate::cidr::parse(s))
                .collect(),
        }
    }

    /// `Ok(None)` when the request carries no pre-authenticated subjects.
    pub fn authenticate(&self, req: &HttpRequest) -> Result<Option<AuthContext>, AuthFailure> {
        let Some(value) = header_or_param(req) else {
            return Ok(None);
        };
        let peer = req.peer_addr().map(|a| a.ip());
        if !peer.is_some_and(|ip| self.trusted.iter().any(|n| n.contains(&ip))) {
            return Err(AuthFailure::new(
                "preauth_untrusted",
                "The pre-authenticated header is not accepted from this address.",
                Some("Only configured proxies may send pre-authenticated subjects."),
            ));
        }
        let subjects: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if subjects.is_empty() || subjects.iter().any(|s| !s.contains(':')) {
            return Err(AuthFailure::new(
                "preauth_invalid",
                "The pre-authenticated subjects are invalid.",
                Some("Send a comma-separated list of subjects of the form 'issuer:subject'."),
            ));
        }
        Ok(Some(AuthContext {
            subjects,
            method: AuthMethod::PreAuthenticated,
            expires_at: None,
            audiences: Vec::new(),
        }))
    }
}
