//! `/ws/1`: things carry an ACL instead of a policy (the binding page's API version 1), enforced
//! by the same machinery; the same binding messages and events. Other versions are 404.

use serde_json::{json, Value};
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions, USERS};

async fn v1(c: &Cluster, gw: usize, user: &str) -> Client {
    let pass = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    Client::connect_basic(
        &format!("ws://127.0.0.1:{}/ws/1", c.gateways[gw].http_port),
        user,
        pass,
    )
    .await
    .unwrap()
}

fn cmd(action: &str, path: &str, value: Option<Value>) -> Value {
    let mut c = json!({"topic": format!("org.v1/lamp/things/twin/commands/{action}"), "path": path, "headers": {}});
    if let Some(v) = value {
        c["value"] = v;
    }
    c
}

fn all() -> Value {
    json!({"READ": true, "WRITE": true, "ADMINISTRATE": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_1_things_carry_an_acl_that_decides_reads_writes_and_events() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = v1(&c, 0, "alice").await;
    let mut bob_events = v1(&c, 1, "bob").await;
    bob_events
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut carol_events = v1(&c, 1, "carol").await;
    carol_events
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;

    let acl = json!({"nginx:alice": all(), "nginx:bob": {"READ": true, "WRITE": false, "ADMINISTRATE": false}});
    let r = alice
        .request(cmd(
            "create",
            "/",
            Some(json!({"acl": acl, "attributes": {"on": true}})),
        ))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(
        r["value"],
        json!({"thingId": "org.v1:lamp", "acl": acl, "attributes": {"on": true}}),
        "{r}"
    );
    // Bob (READ) receives the event, with the ACL; carol (nothing) does not.
    let e = bob_events.recv_json().await;
    assert_eq!(e["topic"], "org.v1/lamp/things/twin/events/created");
    assert_eq!(e["value"]["acl"], acl, "{e}");
    carol_events
        .expect_silence(Duration::from_millis(300))
        .await;

    let mut bob = v1(&c, 0, "bob").await;
    let r = bob.request(cmd("retrieve", "/", None)).await;
    assert_eq!(r["value"]["attributes"], json!({"on": true}), "{r}");
    let r = bob
        .request(cmd("modify", "/attributes/on", Some(json!(false))))
        .await;
    assert_eq!(r["status"], 403, "READ without WRITE: {r}");
    let r = bob.request(cmd("retrieve", "/acl", None)).await;
    assert_eq!(r["value"], acl, "{r}");

    // Alice (ADMINISTRATE) grants carol READ through /acl/<subject>; carol then receives events.
    let r = alice
        .request(cmd(
            "modify",
            "/acl/nginx:carol",
            Some(json!({"READ": true, "WRITE": false, "ADMINISTRATE": false})),
        ))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let e = bob_events.recv_json().await;
    assert_eq!(
        (e["path"].clone(), e["topic"].clone()),
        (
            json!("/acl/nginx:carol"),
            json!("org.v1/lamp/things/twin/events/created")
        ),
        "{e}"
    );
    alice
        .request(cmd("modify", "/attributes/on", Some(json!(false))))
        .await;
    assert_eq!(carol_events.recv_json().await["path"], "/acl/nginx:carol");
    assert_eq!(carol_events.recv_json().await["value"], false);
    // Without ADMINISTRATE nobody changes the ACL; an ACL without a full subject is refused.
    let r = bob
        .request(cmd("modify", "/acl/nginx:bob", Some(all())))
        .await;
    assert_eq!(r["status"], 403, "{r}");
    let r = alice
        .request(cmd(
            "modify",
            "/acl",
            Some(json!({"nginx:alice": {"READ": true, "WRITE": true, "ADMINISTRATE": false}})),
        ))
        .await;
    assert_eq!(r["status"], 400, "{r}");

    // API 2 clients see the same thing with its policy id, and never the ACL events.
    let mut v2 = c.connect(1, "alice").await;
    let r = v2.request(json!({"topic": "org.v1/lamp/things/twin/commands/retrieve", "path": "/", "headers": {}})).await;
    assert_eq!(r["value"]["policyId"], "org.v1:lamp", "{r}");
    assert!(r["value"].get("acl").is_none(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thing_created_over_api_1_without_acl_gets_the_creator_with_all_permissions() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut alice = v1(&c, 0, "alice").await;
    let r = alice.request(cmd("create", "/", Some(json!({})))).await;
    assert_eq!(r["value"]["acl"], json!({"nginx:alice": all()}), "{r}");
}
