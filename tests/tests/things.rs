//! Every twin-channel thing command of reference §3.3, end to end: a command on node 1, its exact
//! response, and the event a subscriber on node 2 (and another on node 1) receives.

use serde_json::{json, Value};
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions};

fn command(thing: &str, action: &str, path: &str, value: Option<Value>) -> Value {
    let (ns, name) = thing.split_once(':').unwrap();
    let mut c = json!({
        "topic": format!("{ns}/{name}/things/twin/commands/{action}"),
        "headers": {"version": 2, "Content-Type": "application/json", "correlation-id": uuid::Uuid::new_v4().to_string()},
        "path": path,
    });
    if let Some(v) = value {
        c["value"] = v;
    }
    if action == "merge" {
        // Ditto requires this media type on every merge (415 otherwise), as the JS client sends it.
        c["headers"]["Content-Type"] = json!("application/merge-patch+json");
    }
    c
}

/// Asserts an event frame: topic, path, value, revision, timestamp and the copied correlation-id.
fn assert_event(
    e: &Value,
    thing: &str,
    action: &str,
    path: &str,
    value: Option<&Value>,
    revision: i64,
    cid: &Value,
) {
    let (ns, name) = thing.split_once(':').unwrap();
    assert_eq!(
        e["topic"],
        format!("{ns}/{name}/things/twin/events/{action}"),
        "event topic: {e}"
    );
    assert_eq!(e["path"], path, "event path: {e}");
    assert_eq!(e.get("value"), value, "event value: {e}");
    assert_eq!(e["revision"], revision, "event revision: {e}");
    assert!(
        e["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() >= 20),
        "event timestamp: {e}"
    );
    assert_eq!(
        &e["headers"]["correlation-id"], cid,
        "events carry the command's correlation-id: {e}"
    );
    assert!(e.get("status").is_none(), "events carry no status: {e}");
}

struct Row {
    action: &'static str,
    path: &'static str,
    value: Option<Value>,
    status: u16,
    response: Option<Value>,
    event: Option<(&'static str, Option<Value>)>,
}

fn row(
    action: &'static str,
    path: &'static str,
    value: Option<Value>,
    status: u16,
    response: Option<Value>,
    event: Option<(&'static str, Option<Value>)>,
) -> Row {
    Row {
        action,
        path,
        value,
        status,
        response,
        event,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_thing_command_answers_as_ditto_and_notifies_both_nodes() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let id = "org.example:table-thing";
    let mut writer = c.connect(0, "ditto").await;
    let mut far = c.connect(1, "ditto").await;
    let mut near = c.connect(0, "ditto").await;
    far.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    near.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;

    let thing = json!({"thingId": id, "policyId": id, "attributes": {"location": "lab"}});
    let lamp = json!({"properties": {"on": false}});
    let rows = vec![
        row(
            "create",
            "/",
            Some(json!({"attributes": {"location": "lab"}})),
            201,
            Some(thing.clone()),
            Some(("created", Some(thing.clone()))),
        ),
        row("retrieve", "/", None, 200, Some(thing.clone()), None),
        row(
            "modify",
            "/attributes",
            Some(json!({"location": "office", "floor": 2})),
            204,
            None,
            Some(("modified", Some(json!({"location": "office", "floor": 2})))),
        ),
        row(
            "modify",
            "/attributes/location",
            Some(json!("hall")),
            204,
            None,
            Some(("modified", Some(json!("hall")))),
        ),
        row(
            "modify",
            "/attributes/geo/lat",
            Some(json!(47.1)),
            201,
            Some(json!(47.1)),
            Some(("created", Some(json!(47.1)))),
        ),
        row(
            "retrieve",
            "/attributes",
            None,
            200,
            Some(json!({"location": "hall", "floor": 2, "geo": {"lat": 47.1}})),
            None,
        ),
        row(
            "retrieve",
            "/attributes/geo/lat",
            None,
            200,
            Some(json!(47.1)),
            None,
        ),
        row(
            "modify",
            "/definition",
            Some(json!("org.example:lamp:1.0.0")),
            201,
            Some(json!("org.example:lamp:1.0.0")),
            Some(("created", Some(json!("org.example:lamp:1.0.0")))),
        ),
        row(
            "modify",
            "/definition",
            Some(json!("org.example:lamp:2.0.0")),
            204,
            None,
            Some(("modified", Some(json!("org.example:lamp:2.0.0")))),
        ),
        row(
            "retrieve",
            "/definition",
            None,
            200,
            Some(json!("org.example:lamp:2.0.0")),
            None,
        ),
        row(
            "modify",
            "/policyId",
            Some(json!(id)),
            204,
            None,
            Some(("modified", Some(json!(id)))),
        ),
        row("retrieve", "/policyId", None, 200, Some(json!(id)), None),
        row(
            "modify",
            "/features",
            Some(json!({"lamp": lamp})),
            201,
            Some(json!({"lamp": lamp})),
            Some(("created", Some(json!({"lamp": lamp})))),
        ),
        row(
            "modify",
            "/features/lamp",
            Some(json!({"properties": {"on": true}})),
            204,
            None,
            Some(("modified", Some(json!({"properties": {"on": true}})))),
        ),
        row(
            "modify",
            "/features/fan",
            Some(json!({})),
            201,
            Some(json!({})),
            Some(("created", Some(json!({})))),
        ),
        row(
            "retrieve",
            "/features/lamp",
            None,
            200,
            Some(json!({"properties": {"on": true}})),
            None,
        ),
        row(
            "modify",
            "/features/lamp/definition",
            Some(json!(["org.example:switch:1"])),
            201,
            Some(json!(["org.example:switch:1"])),
            Some(("created", Some(json!(["org.example:switch:1"])))),
        ),
        row(
            "retrieve",
            "/features/lamp/definition",
            None,
            200,
            Some(json!(["org.example:switch:1"])),
            None,
        ),
        row(
            "modify",
            "/features/lamp/properties",
            Some(json!({"on": false, "level": 3})),
            204,
            None,
            Some(("modified", Some(json!({"on": false, "level": 3})))),
        ),
        row(
            "modify",
            "/features/lamp/properties/level",
            Some(json!(4)),
            204,
            None,
            Some(("modified", Some(json!(4)))),
        ),
        row(
            "modify",
            "/features/lamp/properties/color/r",
            Some(json!(255)),
            201,
            Some(json!(255)),
            Some(("created", Some(json!(255)))),
        ),
        row(
            "retrieve",
            "/features/lamp/properties",
            None,
            200,
            Some(json!({"on": false, "level": 4, "color": {"r": 255}})),
            None,
        ),
        row(
            "retrieve",
            "/features/lamp/properties/color/r",
            None,
            200,
            Some(json!(255)),
            None,
        ),
        row(
            "modify",
            "/features/lamp/desiredProperties",
            Some(json!({"on": true})),
            201,
            Some(json!({"on": true})),
            Some(("created", Some(json!({"on": true})))),
        ),
        row(
            "modify",
            "/features/lamp/desiredProperties/on",
            Some(json!(false)),
            204,
            None,
            Some(("modified", Some(json!(false)))),
        ),
        row(
            "retrieve",
            "/features/lamp/desiredProperties",
            None,
            200,
            Some(json!({"on": false})),
            None,
        ),
        row(
            "retrieve",
            "/features/lamp/desiredProperties/on",
            None,
            200,
            Some(json!(false)),
            None,
        ),
        row(
            "merge",
            "/",
            Some(json!({"attributes": {"floor": null, "room": "b12"}})),
            204,
            None,
            Some((
                "merged",
                Some(json!({"attributes": {"floor": null, "room": "b12"}})),
            )),
        ),
        row(
            "merge",
            "/attributes",
            Some(json!({"geo": {"lon": 8.5}})),
            204,
            None,
            Some(("merged", Some(json!({"geo": {"lon": 8.5}})))),
        ),
        row(
            "merge",
            "/attributes/location",
            Some(json!("roof")),
            204,
            None,
            Some(("merged", Some(json!("roof")))),
        ),
        row(
            "merge",
            "/features/lamp/properties",
            Some(json!({"level": 9})),
            204,
            None,
            Some(("merged", Some(json!({"level": 9})))),
        ),
        row(
            "retrieve",
            "/attributes",
            None,
            200,
            Some(json!({"location": "roof", "geo": {"lat": 47.1, "lon": 8.5}, "room": "b12"})),
            None,
        ),
        row(
            "delete",
            "/features/lamp/desiredProperties/on",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/features/lamp/desiredProperties",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/features/lamp/properties/color",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/features/lamp/properties",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/features/lamp/definition",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/features/lamp",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/features",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/attributes/geo",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/attributes",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "delete",
            "/definition",
            None,
            204,
            None,
            Some(("deleted", None)),
        ),
        row(
            "retrieve",
            "/",
            None,
            200,
            Some(json!({"thingId": id, "policyId": id})),
            None,
        ),
        row("delete", "/", None, 204, None, Some(("deleted", None))),
    ];
    let mut revision = 0;
    for r in rows {
        let cmd = command(id, r.action, r.path, r.value.clone());
        let cid = cmd["headers"]["correlation-id"].clone();
        let resp = writer.request(cmd).await;
        let what = format!("{} {}", r.action, r.path);
        assert_eq!(resp["status"], r.status, "{what}: {resp}");
        assert_eq!(
            resp["topic"],
            format!("org.example/table-thing/things/twin/commands/{}", r.action),
            "{what}: {resp}"
        );
        assert_eq!(resp["path"], r.path, "{what}: {resp}");
        assert_eq!(resp.get("value"), r.response.as_ref(), "{what}: {resp}");
        if let Some((action, value)) = r.event {
            revision += 1;
            for sub in [&mut far, &mut near] {
                let e = sub.recv_json().await;
                assert_event(&e, id, action, r.path, value.as_ref(), revision, &cid);
            }
        }
    }
    // The writer never received its own events: every frame it read above was its response.
    writer.expect_silence(Duration::from_millis(300)).await;
    far.expect_silence(Duration::from_millis(300)).await;

    // The thing is gone.
    let resp = writer.request(command(id, "retrieve", "/", None)).await;
    assert_eq!(resp["status"], 404);
    assert_eq!(resp["topic"], "org.example/table-thing/things/twin/errors");
    assert_eq!(resp["value"]["error"], "things:thing.notfound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thing_errors_have_dittos_status_code_and_topic() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let id = "org.example:errors";
    let mut s = c.connect(0, "ditto").await;
    let ok = s
        .request(command(
            id,
            "create",
            "/",
            Some(json!({"attributes": {"a": 1}})),
        ))
        .await;
    assert_eq!(ok["status"], 201);
    let big = "x".repeat(110_000);
    let if_match = |action, path, value, etag: &str| {
        let mut c = command(id, action, path, value);
        c["headers"]["if-match"] = json!(etag);
        c
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            command(id, "create", "/", Some(json!({}))),
            409,
            "things:thing.conflict",
        ),
        (
            command(id, "retrieve", "/attributes/nope", None),
            404,
            "things:attribute.notfound",
        ),
        (
            command(id, "retrieve", "/features", None),
            404,
            "things:features.notfound",
        ),
        (
            command(id, "retrieve", "/features/x/properties", None),
            404,
            "things:feature.notfound",
        ),
        (
            command(id, "modify", "/features/x/properties/y", Some(json!(1))),
            404,
            "things:feature.notfound",
        ),
        (
            command(id, "delete", "/definition", None),
            404,
            "things:definition.notfound",
        ),
        (
            command("org.example:missing", "retrieve", "/", None),
            404,
            "things:thing.notfound",
        ),
        (
            command(
                "org.example:missing",
                "modify",
                "/attributes/x",
                Some(json!(1)),
            ),
            404,
            "things:thing.notfound",
        ),
        (
            command(id, "modify", "/attributes/big", Some(json!(big))),
            413,
            "things:thing.toolarge",
        ),
        (
            command(id, "modify", "/attributes", Some(json!([1, 2]))),
            400,
            "json.format.invalid",
        ),
        (
            command(id, "modify", "/attributes/x", None),
            400,
            "json.invalid",
        ),
        (
            command(id, "modify", "/nonsense", Some(json!(1))),
            400,
            "protocoladapter:unknown.path",
        ),
        (
            command(id, "modify", "/attributes/a//b", Some(json!(1))),
            400,
            "json.pointer.invalid",
        ),
        (
            command(id, "modify", "/attributes/a", Some(json!({"bad/key": 1}))),
            400,
            "json.key.invalid",
        ),
        (
            command(id, "create", "/attributes", Some(json!({}))),
            400,
            "protocoladapter:unknown.topicpath",
        ),
        (
            command(id, "delete", "/policyId", None),
            400,
            "protocoladapter:unknown.topicpath",
        ),
        (
            command(id, "merge", "/", Some(json!({}))),
            400,
            "things:merge.invalid",
        ),
        (
            {
                let mut c = command(id, "merge", "/attributes", Some(json!({"x": 1})));
                c["headers"]["Content-Type"] = json!("application/json");
                c
            },
            415,
            "mediatype.unsupported",
        ),
        (
            command("org.example:_", "modify", "/", Some(json!({}))),
            400,
            "protocoladapter:unknown.topicpath",
        ),
        (
            command(
                "org.example:_",
                "retrieve",
                "/",
                Some(json!({"thingIds": []})),
            ),
            400,
            "things:things.ids.missing",
        ),
        (
            command(
                "org.example:_",
                "retrieve",
                "/",
                Some(json!({"thingIds": ["other.ns:x"]})),
            ),
            400,
            "json.format.invalid",
        ),
        (
            command(
                "org.example:fresh",
                "create",
                "/",
                Some(json!({"policyId": "org.example:no-such-policy"})),
            ),
            400,
            "things:thing.notcreatable",
        ),
        (
            command(
                "org.example:other",
                "create",
                "/",
                Some(json!({"thingId": "org.example:different"})),
            ),
            400,
            "things:id.notsettable",
        ),
        (
            if_match("modify", "/attributes/a", Some(json!(2)), "\"rev:99\""),
            412,
            "things:precondition.failed",
        ),
    ];
    for (cmd, status, code) in cases {
        let what = format!("{} {}", cmd["topic"], cmd["path"]);
        let r = s.request(cmd).await;
        assert_eq!(r["status"], status, "{what}: {r}");
        assert_eq!(r["value"]["status"], status, "{what}: {r}");
        assert_eq!(r["value"]["error"], code, "{what}: {r}");
        // Ditto's missing-value error is the one without a message.
        if code != "json.invalid" {
            assert!(
                r["value"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{what}: {r}"
            );
        }
        assert_eq!(r["path"], "/", "{what}: {r}");
        assert!(
            r["topic"]
                .as_str()
                .unwrap()
                .ends_with("/things/twin/errors"),
            "{what}: {r}"
        );
    }
    // A matching if-match goes through; responses carry the new revision.
    let r = s
        .request(if_match(
            "modify",
            "/attributes/a",
            Some(json!(2)),
            "\"rev:1\"",
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    assert_eq!(r["headers"]["entity-revision"], 2, "{r}");
    assert_eq!(r["headers"]["content-type"], "application/json", "{r}");
    let r = s.request(command(id, "retrieve", "/", None)).await;
    assert_eq!(r["headers"]["etag"], "\"rev:2\"", "{r}");
    // An unquoted entity tag is not one.
    let r = s
        .request(if_match("modify", "/attributes/a", Some(json!(3)), "rev:2"))
        .await;
    assert_eq!(r["value"]["error"], "header.invalid", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_or_merge_of_a_missing_thing_answers_as_a_create() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    let mut sub = c.connect(1, "ditto").await;
    sub.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let r = w
        .request(command(
            "org.example:by-modify",
            "modify",
            "/",
            Some(json!({"attributes": {"a": 1}})),
        ))
        .await;
    assert_eq!(
        (r["status"].clone(), r["topic"].clone()),
        (
            json!(201),
            json!("org.example/by-modify/things/twin/commands/create")
        ),
        "{r}"
    );
    assert_eq!(
        sub.recv_json().await["topic"],
        "org.example/by-modify/things/twin/events/created"
    );
    let r = w
        .request(command(
            "org.example:by-merge",
            "merge",
            "/",
            Some(json!({"attributes": {"a": 1, "gone": null}})),
        ))
        .await;
    assert_eq!(
        (r["status"].clone(), r["topic"].clone()),
        (
            json!(201),
            json!("org.example/by-merge/things/twin/commands/create")
        ),
        "{r}"
    );
    assert_eq!(
        r["value"]["attributes"],
        json!({"a": 1}),
        "nulls are dropped: {r}"
    );
    let e = sub.recv_json().await;
    assert_eq!(
        e["topic"],
        "org.example/by-merge/things/twin/events/created"
    );
    // Re-creating a deleted thing without policyId fails: its implicit policy still exists (Ditto).
    w.request(command("org.example:by-modify", "delete", "/", None))
        .await;
    sub.recv_json().await;
    let r = w
        .request(command(
            "org.example:by-modify",
            "create",
            "/",
            Some(json!({})),
        ))
        .await;
    assert_eq!(r["value"]["error"], "things:thing.notcreatable", "{r}");
    let r = w
        .request(command(
            "org.example:by-modify",
            "create",
            "/",
            Some(json!({"policyId": "org.example:by-modify"})),
        ))
        .await;
    assert_eq!(r["status"], 201, "naming the existing policy works: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieve_things_with_the_wildcard_returns_the_listed_things_in_order() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut s = c.connect(0, "ditto").await;
    for i in 0..5 {
        let r = s
            .request(command(
                &format!("org.example:many-{i}"),
                "create",
                "/",
                Some(json!({"attributes": {"i": i}})),
            ))
            .await;
        assert_eq!(r["status"], 201);
    }
    let ids = json!([
        "org.example:many-3",
        "org.example:missing",
        "org.example:many-0",
        "org.example:many-4"
    ]);
    let r = s
        .request(command(
            "org.example:_",
            "retrieve",
            "/",
            Some(json!({"thingIds": ids})),
        ))
        .await;
    assert_eq!(r["status"], 200, "{r}");
    let got: Vec<Value> = r["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["attributes"]["i"].clone())
        .collect();
    assert_eq!(got, vec![json!(3), json!(0), json!(4)]);
    assert_eq!(r["topic"], "org.example/_/things/twin/commands/retrieve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieve_with_fields_selects_parts_and_revision_metadata() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let id = "org.example:fields";
    let mut s = c.connect(0, "ditto").await;
    s.request(command(
        id,
        "create",
        "/",
        Some(json!({"attributes": {"a": 1, "b": 2}})),
    ))
    .await;
    s.request(command(id, "modify", "/attributes/a", Some(json!(5))))
        .await;
    let mut cmd = command(id, "retrieve", "/", None);
    cmd["fields"] = json!("thingId,attributes/a,_revision,_created,_modified");
    let r = s.request(cmd).await;
    assert_eq!(r["status"], 200, "{r}");
    let v = &r["value"];
    assert_eq!(v["thingId"], id);
    assert_eq!(v["attributes"], json!({"a": 5}));
    assert_eq!(v["_revision"], 2);
    assert!(
        v["_created"].as_str().is_some() && v["_modified"].as_str().is_some(),
        "{r}"
    );
    assert!(v["_created"].as_str() < v["_modified"].as_str(), "{r}");
}

/// Connects, subscribes, and returns the client (for tests that need many).
pub async fn subscriber(c: &Cluster, gw: usize, frame: &str) -> Client {
    let mut s = c.connect(gw, "ditto").await;
    let ack = format!("{}:ACK", frame.split('?').next().unwrap());
    s.subscribe(frame, &ack).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_namespaces_and_extra_fields_shape_what_each_subscriber_gets() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    let mut all = subscriber(&c, 1, "START-SEND-EVENTS").await;
    let mut ns = subscriber(&c, 1, "START-SEND-EVENTS?namespaces=org.other").await;
    let mut hot = subscriber(&c, 1, "START-SEND-EVENTS?filter=gt(attributes/temp,30)").await;
    let mut created_only = subscriber(
        &c,
        0,
        "START-SEND-EVENTS?filter=eq(topic:action,%22created%22)",
    )
    .await;
    let mut extra = subscriber(
        &c,
        1,
        "START-SEND-EVENTS?extraFields=attributes/name&filter=eq(attributes/name,%22boiler%22)",
    )
    .await;

    let id = "org.example:filtered";
    w.request(command(
        id,
        "create",
        "/",
        Some(json!({"attributes": {"name": "boiler", "temp": 20}})),
    ))
    .await;
    w.request(command(id, "modify", "/attributes/temp", Some(json!(35))))
        .await;
    w.request(command(id, "modify", "/attributes/temp", Some(json!(25))))
        .await;
    w.request(command("org.other:x", "create", "/", Some(json!({}))))
        .await;

    // Everyone-subscriber: all four events, in order.
    let actions: Vec<(String, String)> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            let e = all.recv_json().await;
            v.push((
                e["topic"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
            ));
        }
        v
    };
    assert_eq!(
        actions,
        vec![
            (
                "org.example/filtered/things/twin/events/created".to_owned(),
                "/".to_owned()
            ),
            (
                "org.example/filtered/things/twin/events/modified".to_owned(),
                "/attributes/temp".to_owned()
            ),
            (
                "org.example/filtered/things/twin/events/modified".to_owned(),
                "/attributes/temp".to_owned()
            ),
            (
                "org.other/x/things/twin/events/created".to_owned(),
                "/".to_owned()
            ),
        ]
    );
    // Namespace org.other only.
    let e = ns.recv_json().await;
    assert_eq!(e["topic"], "org.other/x/things/twin/events/created");
    // The filter sees only the changed data (§5.3): the create (temp 20) and the 25 do not match.
    let e = hot.recv_json().await;
    assert_eq!(
        (e["path"].clone(), e["value"].clone()),
        (json!("/attributes/temp"), json!(35))
    );
    // topic:action placeholder.
    let e = created_only.recv_json().await;
    assert_eq!(
        e["topic"],
        "org.example/filtered/things/twin/events/created"
    );
    let e = created_only.recv_json().await;
    assert_eq!(e["topic"], "org.other/x/things/twin/events/created");
    // extraFields make the name visible to the filter and add it as `extra`.
    for expected in [json!(20), json!(35), json!(25)] {
        let e = extra.recv_json().await;
        let v = if e["path"] == "/" {
            e["value"]["attributes"]["temp"].clone()
        } else {
            e["value"].clone()
        };
        assert_eq!(v, expected, "{e}");
        assert_eq!(e["extra"], json!({"attributes": {"name": "boiler"}}), "{e}");
    }
    for s in [&mut all, &mut ns, &mut hot, &mut created_only, &mut extra] {
        s.expect_silence(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_send_events_ends_delivery_and_a_second_start_replaces_the_first() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    let mut s = subscriber(&c, 1, "START-SEND-EVENTS?filter=eq(attributes/x,1)").await;
    // Replacing the subscription: now only x=2 matches.
    s.subscribe(
        "START-SEND-EVENTS?filter=eq(attributes/x,2)",
        "START-SEND-EVENTS:ACK",
    )
    .await;
    let id = "org.example:replace";
    w.request(command(
        id,
        "create",
        "/",
        Some(json!({"attributes": {"x": 1}})),
    ))
    .await;
    w.request(command(id, "modify", "/attributes/x", Some(json!(2))))
        .await;
    let e = s.recv_json().await;
    assert_eq!(e["value"], 2, "{e}");
    s.subscribe("STOP-SEND-EVENTS", "STOP-SEND-EVENTS:ACK")
        .await;
    w.request(command(id, "modify", "/attributes/x", Some(json!(2))))
        .await;
    s.expect_silence(Duration::from_millis(500)).await;
    // STOP is acknowledged even when nothing is subscribed.
    s.subscribe("STOP-SEND-EVENTS", "STOP-SEND-EVENTS:ACK")
        .await;
}
