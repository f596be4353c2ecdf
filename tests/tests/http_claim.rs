//! Ditto's claim message on HTTP (`POST /api/2/things/{id}/inbox/claim`, ditto-features §8): an
//! inbox message with the subject `claim` that a caller without any permission on the thing may
//! send (the thing must exist), answered by a device like any message.

use serde_json::json;
use twinwire_tests::{api_call, basic_auth, http_exchange, Cluster, ClusterOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_permissions_claims_a_thing_and_the_device_answers() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let owner = json!({"entries": {"owner": {"subjects": {"nginx:alice": {"type": "t"}},
        "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []},
                      "policy:/": {"grant": ["READ", "WRITE"], "revoke": []},
                      "message:/": {"grant": ["READ", "WRITE"], "revoke": []}}}}});
    let alice = ("alice", "alice-pw");
    let a = api_call(
        &c,
        alice,
        "PUT",
        "/api/2/policies/org.cl:lamp",
        Some(&owner.to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = api_call(
        &c,
        alice,
        "PUT",
        "/api/2/things/org.cl:lamp",
        Some(r#"{"policyId":"org.cl:lamp"}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let mut device = c.connect(1, "alice").await;
    device
        .subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;

    let base = c.http_base(0);
    let auth = basic_auth("carol", "carol-pw");
    let claimed = tokio::spawn(async move {
        http_exchange(
            "POST",
            &format!("{base}/api/2/things/org.cl:lamp/inbox/claim?timeout=10"),
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            Some(b"mine, please"),
        )
        .await
        .unwrap()
    });
    let m = device.recv_json().await;
    assert_eq!(
        (
            m["topic"].clone(),
            m["path"].clone(),
            m["value"].clone(),
            m["headers"]["ditto-originator"].clone()
        ),
        (
            json!("org.cl/lamp/things/live/messages/claim"),
            json!("/inbox/messages/claim"),
            json!("mine, please"),
            json!("nginx:carol")
        ),
        "{m}"
    );
    device
        .send_json(&json!({"topic": m["topic"], "path": "/outbox/messages/claim", "status": 200,
            "headers": {"correlation-id": m["headers"]["correlation-id"], "content-type": "application/json"},
            "value": {"granted": true}}))
        .await;
    let a = claimed.await.unwrap();
    assert_eq!((a.status, a.json()), (200, json!({"granted": true})));

    // Any other message still needs WRITE on it.
    let carol = ("carol", "carol-pw");
    let a = api_call(
        &c,
        carol,
        "POST",
        "/api/2/things/org.cl:lamp/inbox/messages/claim-ish",
        Some("1"),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (403, json!("messages:send.notallowed")),
        "{}",
        a.body
    );
    // The thing must exist; fire and forget answers 202; a claim may wait up to 600 s.
    let a = api_call(
        &c,
        carol,
        "POST",
        "/api/2/things/org.cl:nope/inbox/claim",
        Some("1"),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (404, json!("things:thing.notfound")),
        "{}",
        a.body
    );
    let a = api_call(
        &c,
        carol,
        "POST",
        "/api/2/things/org.cl:lamp/inbox/claim?timeout=0",
        Some("1"),
    )
    .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let _fired = device.recv_json().await;
    let a = api_call(
        &c,
        carol,
        "POST",
        "/api/2/things/org.cl:lamp/inbox/claim?timeout=601",
        Some("1"),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
}
