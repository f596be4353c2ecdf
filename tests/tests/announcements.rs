//! Policy subject expiry and `subjectDeletion` announcements (ditto-features §5), with two hubs and
//! two gateway nodes: a subject whose expiry is 3 s ahead loses access on every hub once it has
//! expired (the policy's next revision, without it), and the sessions of affected subjects that
//! asked for announcements get them: `beforeExpiry` ahead of the expiry, `whenDeleted` when the
//! subject is removed without an announcement before it (by its expiry or by a policy change).

use serde_json::{json, Value};
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions};

const THINGS: usize = 6;

/// An expiry at least `secs` ahead, on a whole second (as Ditto prints it then).
fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs) + chrono::Duration::milliseconds(999))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn announcements(c: &Cluster, gw: usize, user: &str) -> Client {
    let mut s = c.connect(gw, user).await;
    s.subscribe(
        "START-SEND-POLICY-ANNOUNCEMENTS",
        "START-SEND-POLICY-ANNOUNCEMENTS:ACK",
    )
    .await;
    s
}

async fn retrieve_status(c: &mut Client, i: usize) -> Value {
    let r = c
        .request(json!({"topic": format!("org.exp/t{i}/things/twin/commands/retrieve"), "path": "/attributes"}))
        .await;
    r["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_subject_is_announced_and_loses_access_on_every_hub() {
    let c = Cluster::start(ClusterOptions {
        hubs: 2,
        ..Default::default()
    })
    .await;
    let mut alice = c.connect(0, "alice").await;
    // Margins that hold on a loaded machine: the set-up below (creates, subscriptions, reads) must
    // finish before bob's announcement (3 s after creation), and bob reads once more after it.
    let expiry = in_secs(8);
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "guests": {"subjects": {
            "nginx:bob": {"type": "t", "expiry": expiry, "announcement": {"beforeExpiry": "5s", "whenDeleted": true}},
            "nginx:carol": {"type": "t", "expiry": expiry, "announcement": {"whenDeleted": true}}},
          "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}}});
    let r = alice
        .request(
            json!({"topic": "org.exp/p/policies/commands/create", "path": "/", "value": policy}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
    // Things of several shards (so of both hubs) under the policy.
    for i in 0..THINGS {
        let r = alice.request(json!({"topic": format!("org.exp/t{i}/things/twin/commands/create"), "path": "/", "value": {"policyId": "org.exp:p", "attributes": {"i": i}}})).await;
        assert_eq!(r["status"], 201, "{r}");
    }
    let mut bob = announcements(&c, 1, "bob").await;
    let mut carol = announcements(&c, 0, "carol").await;
    // Nobody else hears of it.
    let mut dave = announcements(&c, 1, "ditto").await;
    for i in 0..THINGS {
        assert_eq!(retrieve_status(&mut bob, i).await, 200);
        assert_eq!(retrieve_status(&mut carol, i).await, 200);
    }
    // bob: announced ahead of the expiry.
    let a = bob.recv_json().await;
    assert_eq!(
        a["topic"], "org.exp/p/policies/announcements/subjectDeletion",
        "{a}"
    );
    assert_eq!(a["path"], "/");
    assert_eq!(
        a["value"],
        json!({"deleteAt": expiry, "subjectIds": ["nginx:bob"]}),
        "{a}"
    );
    assert!(a["headers"]["correlation-id"].is_string(), "{a}");
    // bob can still read until the expiry.
    assert_eq!(retrieve_status(&mut bob, 0).await, 200);
    // carol: announced when the expiry removed her (her subject has no `beforeExpiry`).
    let a = carol.recv_json().await;
    assert_eq!(
        a["value"],
        json!({"deleteAt": expiry, "subjectIds": ["nginx:carol"]}),
        "{a}"
    );
    // Both lost access, on every hub, through both nodes.
    for i in 0..THINGS {
        assert_eq!(retrieve_status(&mut bob, i).await, 404, "t{i}");
        assert_eq!(retrieve_status(&mut carol, i).await, 404, "t{i}");
    }
    let mut bob0 = c.connect(0, "bob").await;
    for i in 0..THINGS {
        assert_eq!(retrieve_status(&mut bob0, i).await, 404, "t{i}");
    }
    // The removal is the policy's next revision.
    let r = alice.request(json!({"topic": "org.exp/p/policies/commands/retrieve", "path": "/entries/guests/subjects"})).await;
    assert_eq!(
        (r["status"].clone(), r["value"].clone()),
        (json!(200), json!({})),
        "{r}"
    );
    assert_eq!(r["headers"]["etag"], "\"rev:2\"", "{r}");
    // One announcement each, and none for the others.
    bob.expect_silence(Duration::from_millis(500)).await;
    carol.expect_silence(Duration::from_millis(100)).await;
    dave.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_removed_by_a_policy_change_is_announced_when_deleted() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = c.connect(0, "alice").await;
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "guests": {"subjects": {
            "nginx:bob": {"type": "t", "expiry": in_secs(3600), "announcement": {"whenDeleted": true, "requestedAcks": {"labels": ["bob-ack"], "timeout": "5s"}}}},
          "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}}});
    let r = alice
        .request(
            json!({"topic": "org.exp/q/policies/commands/create", "path": "/", "value": policy}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let mut bob = announcements(&c, 1, "bob").await;
    let r = alice.request(json!({"topic": "org.exp/q/policies/commands/delete", "path": "/entries/guests/subjects/nginx:bob"})).await;
    assert_eq!(r["status"], 204, "{r}");
    let a = bob.recv_json().await;
    assert_eq!(
        a["topic"], "org.exp/q/policies/announcements/subjectDeletion",
        "{a}"
    );
    assert_eq!(a["value"]["subjectIds"], json!(["nginx:bob"]), "{a}");
    assert!(
        a["value"]["deleteAt"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z')),
        "{a}"
    );
    // The subject's acknowledgement settings ride along.
    assert_eq!(a["headers"]["requested-acks"], json!(["bob-ack"]), "{a}");
    assert_eq!(a["headers"]["timeout"], "5s", "{a}");
    bob.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_asking_for_acknowledgements_is_redelivered_until_acknowledged() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = c.connect(0, "alice").await;
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "guests": {"subjects": {
            "nginx:bob": {"type": "t", "expiry": in_secs(3600), "announcement": {"whenDeleted": true, "requestedAcks": {"labels": ["bob-ack"], "timeout": "1s"}}}},
          "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}}});
    let r = alice.request(json!({"topic": "org.exp/acked/policies/commands/create", "path": "/", "value": policy})).await;
    assert_eq!(r["status"], 201, "{r}");
    let pass = twinwire_tests::USERS
        .iter()
        .find(|(u, _)| *u == "bob")
        .unwrap()
        .1;
    let mut bob = Client::connect_basic(
        &format!("{}?declared-acks=bob-ack", c.ws_url(1)),
        "bob",
        pass,
    )
    .await
    .unwrap();
    bob.subscribe(
        "START-SEND-POLICY-ANNOUNCEMENTS",
        "START-SEND-POLICY-ANNOUNCEMENTS:ACK",
    )
    .await;
    let r = alice.request(json!({"topic": "org.exp/acked/policies/commands/delete", "path": "/entries/guests/subjects/nginx:bob"})).await;
    assert_eq!(r["status"], 204, "{r}");
    let first = bob.recv_json().await;
    assert_eq!(
        first["headers"]["requested-acks"],
        json!(["bob-ack"]),
        "{first}"
    );
    // Not acknowledged within its timeout: delivered again, under a new correlation-id.
    let again = bob.recv_json().await;
    assert_eq!(again["topic"], first["topic"], "{again}");
    assert_eq!(again["value"], first["value"], "{again}");
    assert_ne!(
        again["headers"]["correlation-id"],
        first["headers"]["correlation-id"]
    );
    // A failed acknowledgement asks for it once more.
    bob.send_json(
        &json!({"topic": "org.exp/acked/things/twin/acks/bob-ack", "path": "/", "status": 503,
                          "headers": {"correlation-id": again["headers"]["correlation-id"]}}),
    )
    .await;
    let third = bob.recv_json().await;
    assert_eq!(third["value"], first["value"], "{third}");
    // Acknowledged: no more.
    bob.send_json(
        &json!({"topic": "org.exp/acked/things/twin/acks/bob-ack", "path": "/", "status": 200,
                          "headers": {"correlation-id": third["headers"]["correlation-id"]}}),
    )
    .await;
    bob.expect_silence(Duration::from_secs(5)).await;
}
