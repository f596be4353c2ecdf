//! CORS for the HTTP API, so that a browser dashboard on an allowed origin (see [`super::origin`])
//! can call it with credentials: preflights from allowed origins are answered with the
//! `Access-Control-Allow-*` headers, those from any other origin refused with 403, and answers to
//! allowed origins name them in `Access-Control-Allow-Origin`.

use super::error_response;
use crate::origin::Verdict;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use twinwire_common::Error;

/// Methods the HTTP API answers.
const METHODS: &str = "GET, PUT, PATCH, DELETE, POST";
/// Request headers a page may send: credentials, and the ones that become Ditto headers.
const ALLOWED_HEADERS: &str = "authorization, content-type, correlation-id, if-match, if-none-match, response-required, requested-acks, timeout, allow-policy-lockout";
/// Response headers a page may read.
const EXPOSED_HEADERS: &str = "correlation-id, etag, retry-after";
/// How long a browser may keep a preflight's answer.
const MAX_AGE_SECS: u32 = 600;

/// A CORS preflight: an `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight.
pub fn preflight(verdict: &Verdict) -> HttpResponse {
    let Some(origin) = verdict.cors_origin() else {
        return refused(verdict);
    };
    let mut resp = HttpResponse::NoContent().finish();
    allow(&mut resp, origin);
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(MAX_AGE_SECS),
    );
    resp
}

/// The 403 for an origin the policy refuses (`Absent` never gets here).
pub fn refused(verdict: &Verdict) -> HttpResponse {
    let origin = match verdict {
        Verdict::Refused(o) => o.clone(),
        _ => String::new(),
    };
    let mut resp = error_response(&Error::OriginNotAllowed(origin));
    vary(&mut resp);
    resp
}

/// Marks an answer to an allowed cross-origin request as readable by that origin.
pub fn allow(resp: &mut HttpResponse, origin: &str) {
    let Ok(v) = HeaderValue::from_str(origin) else {
        return;
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    vary(resp);
}

/// The answer depends on `Origin`: caches must not hand it to another origin.
fn vary(resp: &mut HttpResponse) {
    resp.headers_mut().append(
        HeaderName::from_static("vary"),
        HeaderValue::from_static("Origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflights_name_the_allowed_origin_and_refusals_carry_no_cors_headers() {
        let ok = preflight(&Verdict::Allowed("https://dash.example.com".into()));
        assert_eq!(ok.status(), 204);
        let h = ok.headers();
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
            "https://dash.example.com"
        );
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).unwrap(),
            "true"
        );
        assert!(h.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
        assert!(h.contains_key(header::ACCESS_CONTROL_ALLOW_HEADERS));

        let refused = preflight(&Verdict::Refused("null".into()));
        assert_eq!(refused.status(), 403);
        assert!(!refused
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(refused.headers().get("vary").unwrap(), "Origin");
    }
}
