//! Ditto's policy actions on HTTP (`…/actions/(activate|deactivate)TokenIntegration`, at the
//! policy and at an entry): a caller without a JWT gets Ditto's 400 `policies:action.failed`;
//! only POST is taken. A JWT caller activates `integration:{label}:{aud}` with the token's `exp`
//! in the eligible entries (their subjects include the caller, they grant READ on `thing:`, the
//! caller may EXECUTE the action), the subject grants what the entry grants (seen through a
//! pre-authenticated request acting as it) and lapses with the token; deactivation removes it.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use twinwire_tests::{api_call, http_exchange, Cluster, ClusterOptions, HttpAnswer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_integration_without_a_jwt_is_dittos_400() {
    let c = Cluster::start(ClusterOptions::default()).await;
    for (path, action) in [
        (
            "/api/2/policies/org.pa:p/actions/activateTokenIntegration",
            "activateTokenIntegration",
        ),
        (
            "/api/2/policies/org.pa:p/actions/deactivateTokenIntegration",
            "deactivateTokenIntegration",
        ),
        (
            "/api/2/policies/org.pa:p/entries/owner/actions/activateTokenIntegration",
            "activateTokenIntegration",
        ),
        (
            "/api/2/policies/org.pa:p/entries/owner/actions/deactivateTokenIntegration",
            "deactivateTokenIntegration",
        ),
    ] {
        let a = api_call(&c, ("ditto", "ditto"), "POST", path, Some("{}")).await;
        assert_eq!(
            (a.status, a.json()),
            (
                400,
                json!({"status": 400, "error": "policies:action.failed",
                    "message": format!("Failed to execute action '{action}'."),
                    "description": "Policy action is only possible with JWT authentication."})
            ),
            "{path}"
        );
        let a = api_call(&c, ("ditto", "ditto"), "GET", path, None).await;
        assert_eq!((a.status, a.header("allow")), (405, Some("POST")), "{path}");
    }
}

const SECRET: &str = "token-integration-test-secret";
const SUBJECT: &str = "integration:reader:twinwire";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(exp: u64) -> String {
    encode(
        &Header::default(),
        &json!({"iss": "https://issuer.test", "sub": "alice", "exp": exp, "aud": "twinwire"}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

fn instant(exp: u64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(exp as i64, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A cluster taking HS256 tokens from `https://issuer.test` (subjects `test:…`) and
/// pre-authenticated subjects from loopback, with the policy `org.pa:tok` and its thing.
async fn cluster() -> Cluster {
    let config = format!(
        "[auth.pre_authenticated]\nenabled = true\ntrusted_proxies = [\"127.0.0.1\"]\n\n\
         [auth.jwt]\nleeway_secs = 0\n\n[[auth.jwt.issuers]]\nissuer = \"https://issuer.test\"\n\
         subject_prefix = \"test\"\naudiences = [\"twinwire\"]\nalgorithms = [\"HS256\"]\n\
         hs256_secret = \"{SECRET}\"\n"
    );
    let c = Cluster::start(ClusterOptions {
        gateway_config: Some(config),
        ..Default::default()
    })
    .await;
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:ditto": {"type": "basic"}},
            "resources": {"policy:/": {"grant": ["READ", "WRITE"], "revoke": []},
                "thing:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "reader": {"subjects": {"test:alice": {"type": "jwt"}},
            "resources": {"thing:/features": {"grant": ["READ"], "revoke": []},
                "policy:/entries/reader/actions": {"grant": ["EXECUTE"], "revoke": []}}},
        // alice, READ on things, but no EXECUTE: never touched.
        "viewer": {"subjects": {"test:alice": {"type": "jwt"}},
            "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []}}},
        // alice may execute, but no READ on a thing: deactivation only.
        "notes": {"subjects": {"test:alice": {"type": "jwt"}},
            "resources": {"message:/": {"grant": ["READ"], "revoke": []},
                "policy:/entries/notes/actions": {"grant": ["EXECUTE"], "revoke": []}}}
    }});
    let a = api_call(
        &c,
        ("ditto", "ditto"),
        "PUT",
        "/api/2/policies/org.pa:tok",
        Some(&policy.to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let thing = json!({"policyId": "org.pa:tok", "attributes": {"a": 1}, "features": {"f": {"properties": {"x": 1}}}});
    let a = api_call(
        &c,
        ("ditto", "ditto"),
        "PUT",
        "/api/2/things/org.pa:t",
        Some(&thing.to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    c
}

async fn with_token(c: &Cluster, tok: &str, path: &str, body: Option<&str>) -> HttpAnswer {
    let auth = format!("Bearer {tok}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    http_exchange(
        "POST",
        &format!("{}{path}", c.http_base(0)),
        &headers,
        body.map(str::as_bytes),
    )
    .await
    .expect("gateway answers")
}

/// A GET acting as `subject` (pre-authenticated from loopback).
async fn as_subject(c: &Cluster, subject: &str, path: &str) -> HttpAnswer {
    http_exchange(
        "GET",
        &format!("{}{path}", c.http_base(0)),
        &[("x-ditto-pre-authenticated", subject)],
        None,
    )
    .await
    .expect("gateway answers")
}

async fn subjects_of(c: &Cluster, label: &str) -> Value {
    let a = api_call(
        c,
        ("ditto", "ditto"),
        "GET",
        &format!("/api/2/policies/org.pa:tok/entries/{label}/subjects"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

fn failed(status: u16, action: &str, description: &str) -> Value {
    json!({"status": status, "error": "policies:action.failed",
        "message": format!("Failed to execute action '{action}'."), "description": description})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_integration_activates_a_subject_expiring_with_the_token_and_deactivates_it() {
    let c = cluster().await;
    let exp = now() + 3600;
    let tok = token(exp);
    let features = "/api/2/things/org.pa:t/features";
    assert_eq!(as_subject(&c, SUBJECT, features).await.status, 404);

    // Top level: only `reader` is eligible (viewer: no EXECUTE; notes: no READ on a thing).
    let a = with_token(
        &c,
        &tok,
        "/api/2/policies/org.pa:tok/actions/activateTokenIntegration",
        None,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (204, ""));
    let subjects = subjects_of(&c, "reader").await;
    let added = &subjects[SUBJECT];
    assert_eq!(added["expiry"], json!(instant(exp)), "{subjects}");
    assert!(
        added["type"]
            .as_str()
            .unwrap()
            .starts_with("added via action <activateTokenIntegration> at <"),
        "{subjects}"
    );
    assert_eq!(subjects.as_object().unwrap().len(), 2, "{subjects}");
    for label in ["viewer", "notes"] {
        assert_eq!(
            subjects_of(&c, label).await.as_object().unwrap().len(),
            1,
            "{label}"
        );
    }
    // The subject is granted what its entry grants, and no more.
    let a = as_subject(&c, SUBJECT, features).await;
    assert_eq!(
        (a.status, a.json()),
        (200, json!({"f": {"properties": {"x": 1}}}))
    );
    let a = as_subject(&c, SUBJECT, "/api/2/things/org.pa:t/attributes").await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (404, json!("things:attributes.notfound"))
    );

    // Deactivate at the top level removes it.
    let a = with_token(
        &c,
        &tok,
        "/api/2/policies/org.pa:tok/actions/deactivateTokenIntegration",
        None,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (204, ""));
    assert!(subjects_of(&c, "reader").await.get(SUBJECT).is_none());
    assert_eq!(as_subject(&c, SUBJECT, features).await.status, 404);

    // Entry level, with an announcement.
    let body = json!({"announcement": {"whenDeleted": true}}).to_string();
    let a = with_token(
        &c,
        &tok,
        "/api/2/policies/org.pa:tok/entries/reader/actions/activateTokenIntegration",
        Some(&body),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (204, ""));
    let subjects = subjects_of(&c, "reader").await;
    assert_eq!(subjects[SUBJECT]["expiry"], json!(instant(exp)));
    assert_eq!(
        subjects[SUBJECT]["announcement"],
        json!({"whenDeleted": true})
    );
    assert_eq!(as_subject(&c, SUBJECT, features).await.status, 200);
    let a = with_token(
        &c,
        &tok,
        "/api/2/policies/org.pa:tok/entries/reader/actions/deactivateTokenIntegration",
        None,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (204, ""));
    assert!(subjects_of(&c, "reader").await.get(SUBJECT).is_none());

    // Errors: an entry without READ on a thing (404), one without EXECUTE (403), no eligible
    // entry at the top level (404).
    let a = with_token(
        &c,
        &tok,
        "/api/2/policies/org.pa:tok/entries/notes/actions/activateTokenIntegration",
        None,
    )
    .await;
    assert_eq!((a.status, a.json()), (404, failed(404, "activateTokenIntegration",
        "The policy entry does not contain an authenticated subject of the requester, or (to activate) does not grant READ on a 'thing:' resource.")));
    let a = with_token(
        &c,
        &tok,
        "/api/2/policies/org.pa:tok/entries/notes/actions/deactivateTokenIntegration",
        None,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (204, ""));
    let a = with_token(
        &c,
        &tok,
        "/api/2/policies/org.pa:tok/entries/viewer/actions/activateTokenIntegration",
        None,
    )
    .await;
    assert_eq!((a.status, a.json()), (403, failed(403, "activateTokenIntegration",
        "Permission 'EXECUTE' on 'policy:/entries/viewer/actions/activateTokenIntegration' is required.")));
    let bob = encode(
        &Header::default(),
        &json!({"iss": "https://issuer.test", "sub": "bob", "exp": exp, "aud": "twinwire"}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let a = with_token(
        &c,
        &bob,
        "/api/2/policies/org.pa:tok/actions/activateTokenIntegration",
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (
            404,
            failed(
                404,
                "activateTokenIntegration",
                "No policy entry found for which the top level action could be applied."
            )
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activated_subject_lapses_with_the_token() {
    let c = cluster().await;
    let exp = now() + 3;
    let a = with_token(
        &c,
        &token(exp),
        "/api/2/policies/org.pa:tok/actions/activateTokenIntegration",
        None,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (204, ""));
    let features = "/api/2/things/org.pa:t/features";
    assert_eq!(
        subjects_of(&c, "reader").await[SUBJECT]["expiry"],
        json!(instant(exp))
    );
    assert_eq!(as_subject(&c, SUBJECT, features).await.status, 200);
    // Subject expiry removes it once the token's `exp` has passed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while subjects_of(&c, "reader").await.get(SUBJECT).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the subject never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(now() >= exp);
    assert_eq!(as_subject(&c, SUBJECT, features).await.status, 404);
}
