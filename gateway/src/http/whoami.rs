//! `GET /api/2/whoami`: who the gateway takes the caller for, in Ditto's `UserInformation` shape
//! (`{"defaultSubject": …, "subjects": […]}`, the default being the first subject, the one Ditto
//! names as `ditto-originator`). Answered here: it needs no entity.

use super::api::guarded;
use super::auth_failure_response;
use crate::node::Node;
use crate::origin::OriginPolicy;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn whoami(
    req: HttpRequest,
    node: web::Data<Arc<Node>>,
    origins: web::Data<OriginPolicy>,
) -> HttpResponse {
    guarded(&req, &origins, async {
        match node.auth.authenticate(&req).await {
            Ok(auth) => {
                super::methods::check(&req, super::methods::GET_ONLY).unwrap_or_else(|| {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(user_information(&auth.subjects).to_string())
                })
            }
            Err(f) => auth_failure_response(&node, &f, true),
        }
    })
    .await
}

/// Ditto's `UserInformation` of an authenticated caller.
fn user_information(subjects: &[String]) -> Value {
    json!({
        "defaultSubject": subjects.first(),
        "subjects": subjects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_subject_is_the_default() {
        let subjects = vec!["nginx:ditto".to_owned(), "group:admins".to_owned()];
        assert_eq!(
            user_information(&subjects),
            json!({"defaultSubject": "nginx:ditto", "subjects": ["nginx:ditto", "group:admins"]})
        );
    }
}
