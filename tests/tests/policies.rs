//! Policies over the WebSocket (reference §3.5) and what they mean for commands and events across
//! nodes (reference §5.1, §5.2): partial reads, hidden existence, revokes, partial events, and
//! policy changes taking effect at once.

use serde_json::{json, Value};
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions};

fn cmd(topic: &str, path: &str, value: Option<Value>) -> Value {
    let mut c = json!({"topic": topic, "path": path, "headers": {"correlation-id": uuid::Uuid::new_v4().to_string()}});
    if let Some(v) = value {
        c["value"] = v;
    }
    c
}

fn pol(id: &str, action: &str) -> String {
    let (ns, name) = id.split_once(':').unwrap();
    format!("{ns}/{name}/policies/commands/{action}")
}

fn thing(id: &str, action: &str) -> String {
    let (ns, name) = id.split_once(':').unwrap();
    format!("{ns}/{name}/things/twin/commands/{action}")
}

fn entry(subject: &str, resources: Value) -> Value {
    json!({"subjects": {subject: {"type": "test"}}, "resources": resources})
}

/// An entry as Ditto writes it back: `importable` is always present.
fn stored(mut e: Value) -> Value {
    e["importable"] = json!("implicit");
    e
}

fn rw() -> Value {
    json!({"grant": ["READ", "WRITE"], "revoke": []})
}

/// A policy: alice owns everything; bob reads only attributes; carol nothing.
fn shared_policy() -> Value {
    json!({"entries": {
        "owner": entry("nginx:alice", json!({"thing:/": rw(), "policy:/": rw(), "message:/": rw()})),
        "reader": entry("nginx:bob", json!({"thing:/attributes": {"grant": ["READ"], "revoke": []}})),
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policies_command_group_answers_as_ditto() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut a = c.connect(0, "alice").await;
    let id = "org.pol:p1";
    type Row = (
        &'static str,
        &'static str,
        Option<Value>,
        u16,
        Option<Value>,
    );
    let rows: Vec<Row> = vec![
        ("create", "/", Some(shared_policy()), 201, None),
        (
            "retrieve",
            "/entries/reader/resources",
            None,
            200,
            Some(json!({"thing:/attributes": {"grant": ["READ"], "revoke": []}})),
        ),
        (
            "modify",
            "/entries/extra",
            Some(entry(
                "nginx:carol",
                json!({"thing:/features": {"grant": ["READ"], "revoke": []}}),
            )),
            201,
            Some(stored(entry(
                "nginx:carol",
                json!({"thing:/features": {"grant": ["READ"], "revoke": []}}),
            ))),
        ),
        (
            "modify",
            "/entries/extra",
            Some(entry(
                "nginx:carol",
                json!({"thing:/": {"grant": ["READ"], "revoke": []}}),
            )),
            204,
            None,
        ),
        (
            "retrieve",
            "/entries/extra/subjects",
            None,
            200,
            Some(json!({"nginx:carol": {"type": "test"}})),
        ),
        (
            "modify",
            "/entries/extra/subjects/nginx:dave",
            Some(json!({"type": "test"})),
            201,
            Some(json!({"type": "test"})),
        ),
        (
            "modify",
            "/entries/extra/subjects/nginx:dave",
            Some(json!({"type": "other"})),
            204,
            None,
        ),
        (
            "retrieve",
            "/entries/extra/subjects/nginx:dave",
            None,
            200,
            Some(json!({"type": "other"})),
        ),
        (
            "delete",
            "/entries/extra/subjects/nginx:dave",
            None,
            204,
            None,
        ),
        (
            "modify",
            "/entries/extra/resources/thing:/attributes/x",
            Some(json!({"grant": [], "revoke": ["READ"]})),
            201,
            Some(json!({"grant": [], "revoke": ["READ"]})),
        ),
        (
            "retrieve",
            "/entries/extra/resources/thing:/attributes/x",
            None,
            200,
            Some(json!({"grant": [], "revoke": ["READ"]})),
        ),
        (
            "delete",
            "/entries/extra/resources/thing:/attributes/x",
            None,
            204,
            None,
        ),
        (
            "modify",
            "/entries/extra/subjects",
            Some(json!({"nginx:erin": {"type": "test"}})),
            204,
            None,
        ),
        (
            "modify",
            "/entries/extra/resources",
            Some(json!({"thing:/": {"grant": ["READ"], "revoke": []}})),
            204,
            None,
        ),
        ("delete", "/entries/extra", None, 204, None),
        ("retrieve", "/entries/extra", None, 404, None),
        ("modify", "/", Some(shared_policy()), 204, None),
        ("create", "/", Some(shared_policy()), 409, None),
        ("retrieve", "/entries/nope", None, 404, None),
        ("delete", "/entries/nope", None, 404, None),
        // Removing the only writer of policy:/ is refused (Ditto's lockout rule).
        ("delete", "/entries/owner", None, 403, None),
        (
            "modify",
            "/entries/owner/resources/policy:/",
            Some(json!({"grant": ["READ"], "revoke": []})),
            403,
            None,
        ),
    ];
    let codes = [
        (409, "policies:policy.conflict"),
        (403, "policies:entry.modificationinvalid"),
    ];
    let mut rev = 0;
    for (action, path, value, status, expected_value) in rows {
        let r = a.request(cmd(&pol(id, action), path, value)).await;
        assert_eq!(r["status"], status, "{action} {path}: {r}");
        if status < 300 {
            if action != "retrieve" {
                rev += 1;
                assert_eq!(r["headers"]["entity-revision"], rev, "{action} {path}: {r}");
            }
            assert_eq!(
                r.get("value"),
                expected_value.as_ref().or(if action == "create" {
                    r.get("value")
                } else {
                    None
                }),
                "{action} {path}: {r}"
            );
        } else {
            assert!(
                r["topic"].as_str().unwrap().ends_with("/policies/errors"),
                "{r}"
            );
            if let Some((_, code)) = codes.iter().find(|(s, _)| *s == status) {
                assert_eq!(r["value"]["error"], *code, "{action} {path}: {r}");
            }
        }
    }
    let r = a.request(cmd(&pol(id, "retrieve"), "/", None)).await;
    assert_eq!(r["value"]["policyId"], id);
    assert_eq!(
        r["value"]["entries"]["reader"]["subjects"],
        json!({"nginx:bob": {"type": "test"}})
    );
    // A policy that would not let its creator write it cannot be created.
    let r = a
        .request(cmd(
            &pol("org.pol:p2", "create"),
            "/",
            Some(json!({"entries": {"x": entry("nginx:bob", json!({"policy:/": rw()}))}})),
        ))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(403), json!("policies:policy.notcreatable")),
        "{r}"
    );
    // Others cannot see it; a reader of the policy cannot change it.
    let mut b = c.connect(0, "bob").await;
    let r = b.request(cmd(&pol(id, "retrieve"), "/", None)).await;
    assert_eq!(r["value"]["error"], "policies:policy.notfound", "{r}");
    let r = a.request(cmd(&pol(id, "delete"), "/", None)).await;
    assert_eq!(r["status"], 204);
    let r = a.request(cmd(&pol(id, "retrieve"), "/", None)).await;
    assert_eq!(r["value"]["error"], "policies:policy.notfound");
}

async fn subscribed(c: &Cluster, gw: usize, user: &str) -> Client {
    let mut s = c.connect(gw, user).await;
    s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_writes_and_events_follow_the_policy_on_every_node() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = c.connect(0, "alice").await;
    let pid = "org.pol:shared";
    let tid = "org.pol:lamp";
    assert_eq!(
        alice
            .request(cmd(&pol(pid, "create"), "/", Some(shared_policy())))
            .await["status"],
        201
    );
    let mut bob_events = subscribed(&c, 1, "bob").await;
    let mut carol_events = subscribed(&c, 1, "carol").await;
    let mut alice_events = subscribed(&c, 1, "alice").await;

    let created = alice
        .request(cmd(&thing(tid, "create"), "/", Some(json!({"policyId": pid, "attributes": {"room": "lab"}, "features": {"f": {"properties": {"on": true}}}}))))
        .await;
    assert_eq!(created["status"], 201, "{created}");
    // Alice sees all of it; bob only the attributes (with the thing id); carol nothing.
    let full = json!({"thingId": tid, "policyId": pid, "attributes": {"room": "lab"}, "features": {"f": {"properties": {"on": true}}}});
    assert_eq!(alice_events.recv_json().await["value"], full);
    let e = bob_events.recv_json().await;
    assert_eq!(
        e["value"],
        json!({"thingId": tid, "attributes": {"room": "lab"}}),
        "bob's partial event: {e}"
    );

    let mut bob = c.connect(0, "bob").await;
    let mut carol = c.connect(1, "carol").await;
    let r = bob.request(cmd(&thing(tid, "retrieve"), "/", None)).await;
    assert_eq!(
        r["value"],
        json!({"thingId": tid, "attributes": {"room": "lab"}}),
        "{r}"
    );
    let r = bob
        .request(cmd(&thing(tid, "retrieve"), "/features", None))
        .await;
    assert_eq!(r["value"]["error"], "things:features.notfound", "{r}");
    let r = bob
        .request(cmd(
            &thing(tid, "modify"),
            "/attributes/room",
            Some(json!("hall")),
        ))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(403), json!("things:attribute.notmodifiable")),
        "{r}"
    );
    // Carol cannot learn that the thing exists.
    for (action, path, value) in [
        ("retrieve", "/", None),
        ("modify", "/attributes/x", Some(json!(1))),
        ("delete", "/", None),
    ] {
        let r = carol.request(cmd(&thing(tid, action), path, value)).await;
        assert_eq!(
            (r["status"].clone(), r["value"]["error"].clone()),
            (json!(404), json!("things:thing.notfound")),
            "{action}: {r}"
        );
    }

    // Changes: a feature change reaches alice only; an attribute change reaches bob too.
    alice
        .request(cmd(
            &thing(tid, "modify"),
            "/features/f/properties/on",
            Some(json!(false)),
        ))
        .await;
    alice
        .request(cmd(
            &thing(tid, "modify"),
            "/attributes/room",
            Some(json!("hall")),
        ))
        .await;
    assert_eq!(
        alice_events.recv_json().await["path"],
        "/features/f/properties/on"
    );
    assert_eq!(alice_events.recv_json().await["path"], "/attributes/room");
    let e = bob_events.recv_json().await;
    assert_eq!(
        (e["path"].clone(), e["value"].clone()),
        (json!("/attributes/room"), json!("hall")),
        "{e}"
    );
    carol_events
        .expect_silence(Duration::from_millis(300))
        .await;
    bob_events.expect_silence(Duration::from_millis(100)).await;

    // Alice takes bob's entry away: at once, bob neither reads nor receives.
    let r = alice
        .request(cmd(&pol(pid, "delete"), "/entries/reader", None))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    let r = bob.request(cmd(&thing(tid, "retrieve"), "/", None)).await;
    assert_eq!(r["value"]["error"], "things:thing.notfound", "{r}");
    alice
        .request(cmd(
            &thing(tid, "modify"),
            "/attributes/room",
            Some(json!("roof")),
        ))
        .await;
    assert_eq!(alice_events.recv_json().await["value"], "roof");
    bob_events.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_below_a_grant_hides_that_part_from_reads_and_events() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = c.connect(0, "alice").await;
    let pid = "org.pol:secret";
    let policy = json!({"entries": {
        "owner": entry("nginx:alice", json!({"thing:/": rw(), "policy:/": rw()})),
        "viewer": entry("nginx:bob", json!({"thing:/": {"grant": ["READ"], "revoke": []}, "thing:/attributes/secret": {"grant": [], "revoke": ["READ"]}})),
    }});
    alice
        .request(cmd(&pol(pid, "create"), "/", Some(policy)))
        .await;
    let mut bob_events = subscribed(&c, 1, "bob").await;
    let tid = "org.pol:safe";
    alice
        .request(cmd(
            &thing(tid, "create"),
            "/",
            Some(json!({"policyId": pid, "attributes": {"secret": 42, "public": 1}})),
        ))
        .await;
    let e = bob_events.recv_json().await;
    assert_eq!(
        e["value"],
        json!({"thingId": tid, "policyId": pid, "attributes": {"public": 1}}),
        "{e}"
    );
    alice
        .request(cmd(
            &thing(tid, "modify"),
            "/attributes/secret",
            Some(json!(43)),
        ))
        .await;
    alice
        .request(cmd(
            &thing(tid, "modify"),
            "/attributes/public",
            Some(json!(2)),
        ))
        .await;
    let e = bob_events.recv_json().await;
    assert_eq!(
        (e["path"].clone(), e["value"].clone()),
        (json!("/attributes/public"), json!(2)),
        "the secret change was not delivered: {e}"
    );
    let mut bob = c.connect(0, "bob").await;
    let r = bob
        .request(cmd(&thing(tid, "retrieve"), "/attributes/secret", None))
        .await;
    assert_eq!(r["value"]["error"], "things:attribute.notfound", "{r}");
    let r = bob
        .request(cmd(&thing(tid, "retrieve"), "/attributes", None))
        .await;
    assert_eq!(r["value"], json!({"public": 2}), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn things_created_without_policy_get_dittos_default_policy() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut alice = c.connect(0, "alice").await;
    let tid = "org.pol:mine";
    alice
        .request(cmd(&thing(tid, "create"), "/", Some(json!({}))))
        .await;
    let r = alice.request(cmd(&pol(tid, "retrieve"), "/", None)).await;
    assert_eq!(
        r["value"],
        json!({"policyId": tid, "entries": {"DEFAULT": {"subjects": {"nginx:alice": {"type": "generated"}},
            "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}, "message:/": {"grant": ["READ", "WRITE"], "revoke": []}},
            "importable": "implicit"}}}),
        "{r}"
    );
    // An inline policy is created with the thing, under the thing's id.
    let inline = json!({"entries": {"own": entry("nginx:alice", json!({"thing:/": rw(), "policy:/": rw()}))}});
    let r = alice
        .request(cmd(
            &thing("org.pol:inline", "create"),
            "/",
            Some(json!({"_policy": inline})),
        ))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["value"]["policyId"], "org.pol:inline");
    let r = alice
        .request(cmd(
            &pol("org.pol:inline", "retrieve"),
            "/entries/own/subjects",
            None,
        ))
        .await;
    assert_eq!(r["value"], json!({"nginx:alice": {"type": "test"}}), "{r}");
    // Referencing a policy that does not exist.
    let r = alice
        .request(cmd(
            &thing("org.pol:orphan", "create"),
            "/",
            Some(json!({"policyId": "org.pol:none"})),
        ))
        .await;
    assert_eq!(r["value"]["error"], "things:thing.notcreatable", "{r}");
}
