//! Ditto's rule on repeated headers (`RootRouteHeadersStepBuilder`): a request that carries a
//! header field twice, or a query parameter that acts as a header with a value other than the
//! header's, is refused with 400 `gateway:duplicate.header.field` before it becomes a signal.

use actix_web::HttpRequest;
use twinwire_common::Error;

use super::api::QUERY_PARAMS_AS_HEADERS;

/// Refuses a repeated header field, then a query parameter diverging from its header.
pub fn check(req: &HttpRequest) -> Result<(), Error> {
    let headers = req.headers();
    if headers.keys().any(|k| headers.get_all(k).count() > 1) {
        return Err(Error::DuplicateHeaderField(None));
    }
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if !QUERY_PARAMS_AS_HEADERS.contains(&k.as_ref()) {
            continue;
        }
        if let Some(h) = headers.get(k.as_ref()).and_then(|h| h.to_str().ok()) {
            if h != v {
                return Err(Error::DuplicateHeaderField(Some(k.into_owned())));
            }
        }
    }
    Ok(())
}
