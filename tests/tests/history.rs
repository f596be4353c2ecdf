//! Twin history (ditto-features §4): a thing's events streamed over the WebSocket's streaming
//! subscription protocol (`subscribeForPersistedEvents`, `created`, `request`/`next` with demand,
//! `complete`/`failed`, `cancel`), and retrieves at a past revision or timestamp over the
//! WebSocket and HTTP; judged by the current policy; across a deleted and re-created thing, a hub
//! kill and a Redis restart.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use twinwire_tests::client::Frame;
use twinwire_tests::http::{api_call, http_exchange};
use twinwire_tests::{Client, Cluster, ClusterOptions};

const QUIET: Duration = Duration::from_millis(400);

fn modify(id: &str, n: i64) -> Value {
    let (ns, name) = id.split_once(':').unwrap();
    json!({"topic": format!("{ns}/{name}/things/twin/commands/modify"), "path": "/attributes/n", "value": n})
}

/// Creates `id` (revision 1) and sets `attributes/n` to 2, 3, … `last` (revisions 2 … `last`).
async fn thing_with_revisions(w: &mut Client, id: &str, last: i64) {
    let (ns, name) = id.split_once(':').unwrap();
    let r = w.request(json!({"topic": format!("{ns}/{name}/things/twin/commands/create"), "path": "/", "value": {"attributes": {"n": 1}}})).await;
    assert_eq!(r["status"], 201, "{r}");
    for n in 2..=last {
        let r = w.request(modify(id, n)).await;
        assert_eq!(r["status"], 204, "{r}");
    }
}

fn streaming(id: &str, action: &str, value: Value) -> Value {
    let (ns, name) = id.split_once(':').unwrap();
    json!({"topic": format!("{ns}/{name}/things/twin/streaming/{action}"), "path": "/", "headers": {"correlation-id": "h"}, "value": value})
}

/// Subscribes and returns the subscription id from `created`.
async fn subscribe(c: &mut Client, id: &str, value: Value) -> String {
    c.send_json(&streaming(id, "subscribeForPersistedEvents", value))
        .await;
    let created = c.recv_json().await;
    let (ns, name) = id.split_once(':').unwrap();
    assert_eq!(
        created["topic"],
        format!("{ns}/{name}/things/twin/streaming/created"),
        "{created}"
    );
    assert_eq!(created["path"], "/");
    assert_eq!(created["headers"]["correlation-id"], "h", "{created}");
    created["value"]["subscriptionId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Requests everything at once and collects the items' (topic action, revision, value) until
/// `complete`.
async fn stream_all(c: &mut Client, id: &str, value: Value) -> Vec<(String, i64, Value)> {
    let sub = subscribe(c, id, value).await;
    c.send_json(&streaming(
        id,
        "request",
        json!({"subscriptionId": sub, "demand": 1000}),
    ))
    .await;
    let mut items = Vec::new();
    loop {
        let f = c.recv_json().await;
        let topic = f["topic"].as_str().unwrap();
        if topic.ends_with("/streaming/complete") {
            assert_eq!(f["value"], json!({"subscriptionId": sub}), "{f}");
            return items;
        }
        assert!(topic.ends_with("/streaming/next"), "{f}");
        let item = &f["value"]["item"];
        let action = item["topic"].as_str().unwrap().rsplit('/').next().unwrap();
        items.push((
            action.to_owned(),
            item["revision"].as_i64().unwrap(),
            item["value"].clone(),
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_2_to_5_stream_in_order_with_demand_1_at_a_time() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    thing_with_revisions(&mut w, "org.hist:t", 6).await;
    // The reader is on the other node.
    let mut r = c.connect(1, "ditto").await;
    let sub = subscribe(
        &mut r,
        "org.hist:t",
        json!({"fromHistoricalRevision": 2, "toHistoricalRevision": 5}),
    )
    .await;
    assert_eq!(sub, "0");
    // Nothing before the first request (Ditto's source is lazy).
    r.expect_silence(QUIET).await;
    for rev in 2..=5 {
        r.send_json(&streaming(
            "org.hist:t",
            "request",
            json!({"subscriptionId": "0", "demand": 1}),
        ))
        .await;
        let next = r.recv_json().await;
        assert_eq!(
            next["topic"], "org.hist/t/things/twin/streaming/next",
            "{next}"
        );
        assert_eq!(next["value"]["subscriptionId"], "0");
        let item = &next["value"]["item"];
        assert_eq!(
            item["topic"], "org.hist/t/things/twin/events/modified",
            "{item}"
        );
        assert_eq!(item["path"], "/attributes/n");
        assert_eq!(item["value"], rev);
        assert_eq!(item["revision"], rev);
        assert!(item["timestamp"].as_str().is_some(), "{item}");
        if rev < 5 {
            // No more `next` than demanded.
            r.expect_silence(QUIET).await;
        }
    }
    let done = r.recv_json().await;
    assert_eq!(
        done,
        json!({"topic": "org.hist/t/things/twin/streaming/complete", "headers": {"correlation-id": "h"}, "path": "/", "value": {"subscriptionId": "0"}})
    );
    // A request after the end is Ditto's protocol error; an unknown id is not found.
    r.send_json(&streaming(
        "org.hist:t",
        "request",
        json!({"subscriptionId": "0", "demand": 1}),
    ))
    .await;
    let f = r.recv_json().await;
    assert_eq!(f["topic"], "org.hist/t/things/twin/streaming/failed", "{f}");
    assert_eq!(
        f["value"]["error"]["error"], "streaming.subscription.protocol.error",
        "{f}"
    );
    assert_eq!(f["value"]["error"]["status"], 400, "{f}");
    r.send_json(&streaming(
        "org.hist:t",
        "request",
        json!({"subscriptionId": "7", "demand": 1}),
    ))
    .await;
    let f = r.recv_json().await;
    assert_eq!(
        f["value"],
        json!({"subscriptionId": "7", "error": {"status": 404, "error": "streaming.subscription.not.found", "message": "No subscription with ID '7' exists."}}),
        "{f}"
    );
    // Relative revisions: -2 means the last two events; ids count on per session.
    let got = stream_all(&mut r, "org.hist:t", json!({"fromHistoricalRevision": -2})).await;
    assert_eq!(
        got,
        vec![
            ("modified".to_string(), 5, json!(5)),
            ("modified".to_string(), 6, json!(6))
        ]
    );
    // Cancel: no more items, even with demand outstanding.
    let sub = subscribe(&mut r, "org.hist:t", json!({})).await;
    assert_eq!(sub, "2");
    r.send_json(&streaming(
        "org.hist:t",
        "request",
        json!({"subscriptionId": "2", "demand": 2}),
    ))
    .await;
    let first = r.recv_json().await;
    assert_eq!(first["value"]["item"]["revision"], 1, "{first}");
    assert_eq!(
        first["value"]["item"]["topic"],
        "org.hist/t/things/twin/events/created"
    );
    let second = r.recv_json().await;
    assert_eq!(second["value"]["item"]["revision"], 2, "{second}");
    r.send_json(&streaming(
        "org.hist:t",
        "cancel",
        json!({"subscriptionId": "2"}),
    ))
    .await;
    r.expect_silence(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_judged_by_the_current_policy() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = c.connect(0, "alice").await;
    thing_with_revisions(&mut alice, "org.hist:own", 3).await;
    let mut bob = c.connect(1, "bob").await;
    let sub = subscribe(&mut bob, "org.hist:own", json!({})).await;
    bob.send_json(&streaming(
        "org.hist:own",
        "request",
        json!({"subscriptionId": sub, "demand": 5}),
    ))
    .await;
    let f = bob.recv_json().await;
    assert_eq!(
        f["topic"], "org.hist/own/things/twin/streaming/failed",
        "{f}"
    );
    assert_eq!(f["value"]["error"]["error"], "things:thing.notfound", "{f}");
    let r = bob.request(json!({"topic": "org.hist/own/things/twin/commands/retrieve", "path": "/", "headers": {"at-historical-revision": 2}})).await;
    assert_eq!(r["status"], 404, "{r}");
    assert_eq!(r["value"]["error"], "things:thing.notfound", "{r}");
    // Once the current policy lets bob read, he reads the whole history.
    let r = alice.request(json!({"topic": "org.hist/own/policies/commands/modify", "path": "/entries/bob", "value": {"subjects": {"nginx:bob": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}})).await;
    assert!(r["status"] == 201 || r["status"] == 204, "{r}");
    let got = stream_all(&mut bob, "org.hist:own", json!({})).await;
    let revisions: Vec<i64> = got.iter().map(|(_, r, _)| *r).collect();
    assert_eq!(revisions, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_states_by_revision_and_timestamp_over_the_websocket_and_http() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    let retrieve = |headers: Value| json!({"topic": "org.hist/ts/things/twin/commands/retrieve", "path": "/", "headers": headers, "fields": "attributes,_revision,_modified"});
    // Each revision's `_modified`, read back as it is written.
    let mut stamps = Vec::new();
    let r = w.request(json!({"topic": "org.hist/ts/things/twin/commands/create", "path": "/", "value": {"attributes": {"n": 1}}})).await;
    assert_eq!(r["status"], 201);
    stamps.push(
        w.request(retrieve(json!({}))).await["value"]["_modified"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    for n in 2..=4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(w.request(modify("org.hist:ts", n)).await["status"], 204);
        stamps.push(
            w.request(retrieve(json!({}))).await["value"]["_modified"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // By revision, over the WebSocket: the twin as it was, with its revision's tag.
    let r = w
        .request(retrieve(json!({"at-historical-revision": 2})))
        .await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["value"]["attributes"], json!({"n": 2}), "{r}");
    assert_eq!(r["value"]["_revision"], 2, "{r}");
    assert_eq!(r["headers"]["etag"], "\"rev:2\"", "{r}");
    let r = w
        .request(retrieve(json!({"at-historical-revision": 9})))
        .await;
    assert_eq!(r["status"], 404, "{r}");
    assert_eq!(
        r["value"]["message"],
        "The Thing with ID 'org.hist:ts' at revision '9' could not be found or requester had insufficient permissions to access it."
    );
    assert_eq!(r["value"]["error"], "things:thing.history.notfound");
    let r = w
        .request(retrieve(json!({"at-historical-revision": "two"})))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(400), json!("header.invalid")),
        "{r}"
    );
    // By timestamp: the state built from the events strictly before the instant.
    let r = w
        .request(retrieve(json!({"at-historical-timestamp": stamps[2]})))
        .await;
    assert_eq!(r["value"]["attributes"], json!({"n": 2}), "{r}");
    let r = w
        .request(retrieve(
            json!({"at-historical-timestamp": "2999-01-01T00:00:00Z"}),
        ))
        .await;
    assert_eq!(r["value"]["error"], "things:thing.history.notfound", "{r}");
    // Streaming between two timestamps (both exclusive).
    let got = stream_all(
        &mut w,
        "org.hist:ts",
        json!({"fromHistoricalTimestamp": stamps[0], "toHistoricalTimestamp": stamps[3]}),
    )
    .await;
    let revisions: Vec<i64> = got.iter().map(|(_, r, _)| *r).collect();
    assert_eq!(revisions, vec![2, 3]);
    // A filter on the thing each event left.
    let got = stream_all(
        &mut w,
        "org.hist:ts",
        json!({"filter": "ge(attributes/n,3)"}),
    )
    .await;
    let revisions: Vec<i64> = got.iter().map(|(_, r, _)| *r).collect();
    assert_eq!(revisions, vec![3, 4]);
    // Over HTTP, as a header and as a query parameter.
    let a = api_call(
        &c,
        ("ditto", "ditto"),
        "GET",
        "/api/2/things/org.hist:ts/attributes?at-historical-revision=3",
        None,
    )
    .await;
    assert_eq!((a.status, a.json()), (200, json!({"n": 3})), "{}", a.body);
    let auth = twinwire_tests::http::basic_auth("ditto", "ditto");
    let a = http_exchange(
        "GET",
        &format!("{}/api/2/things/org.hist:ts/attributes", c.http_base(1)),
        &[
            ("Authorization", &auth),
            ("at-historical-timestamp", &stamps[1]),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!((a.status, a.json()), (200, json!({"n": 1})), "{}", a.body);
    let a = api_call(
        &c,
        ("ditto", "ditto"),
        "GET",
        "/api/2/things/org.hist:ts?at-historical-revision=40",
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(a.json()["error"], "things:thing.history.notfound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_and_re_created_thing_starts_its_history_afresh() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    thing_with_revisions(&mut w, "org.hist:again", 2).await;
    let r = w
        .request(json!({"topic": "org.hist/again/things/twin/commands/delete", "path": "/"}))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    // Deleted: its history is not readable (no current policy judges it).
    let sub = subscribe(&mut w, "org.hist:again", json!({})).await;
    w.send_json(&streaming(
        "org.hist:again",
        "request",
        json!({"subscriptionId": sub, "demand": 9}),
    ))
    .await;
    let f = w.recv_json().await;
    assert_eq!(f["value"]["error"]["error"], "things:thing.notfound", "{f}");
    // Re-created: revisions start at 1 again, and so does the history.
    // (Its policy outlived it, so the new thing names it.)
    let r = w.request(json!({"topic": "org.hist/again/things/twin/commands/create", "path": "/", "value": {"policyId": "org.hist:again", "attributes": {"n": 1}}})).await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(w.request(modify("org.hist:again", 2)).await["status"], 204);
    let got = stream_all(&mut w, "org.hist:again", json!({})).await;
    assert_eq!(
        got,
        vec![
            (
                "created".to_string(),
                1,
                json!({"thingId": "org.hist:again", "policyId": "org.hist:again", "attributes": {"n": 1}})
            ),
            ("modified".to_string(), 2, json!(2)),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_hub_kill_and_a_redis_restart() {
    let mut c = Cluster::start(ClusterOptions {
        hubs: 2,
        hub_env: vec![("TWINWIRE_HUB__LEASE_MS".into(), "2000".into())],
        ..Default::default()
    })
    .await;
    let mut w = c.connect(0, "ditto").await;
    let ids: Vec<String> = (0..8).map(|i| format!("org.hist:k{i}")).collect();
    for id in &ids {
        thing_with_revisions(&mut w, id, 3).await;
    }
    c.hubs[0].proc.kill();
    // One more event each, handled by the survivor once it holds every shard.
    for id in &ids {
        let r = w.request(modify(id, 4)).await;
        assert_eq!(r["status"], 204, "{id}: {r}");
    }
    for id in &ids {
        let got = stream_all(&mut w, id, json!({})).await;
        let revisions: Vec<i64> = got.iter().map(|(_, r, _)| *r).collect();
        assert_eq!(revisions, vec![1, 2, 3, 4], "{id}");
    }
    c.redis.restart().await;
    // Once Redis is back (from its AOF), the same history is read.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut r = c.connect(1, "ditto").await;
    loop {
        r.send_json(&json!({"topic": "org.hist/k0/things/twin/commands/retrieve", "path": "/attributes/n", "headers": {"correlation-id": "probe"}})).await;
        match r.recv_within(Duration::from_secs(5)).await {
            Some(Frame::Text(t)) if serde_json::from_str::<Value>(&t).unwrap()["status"] == 200 => {
                break
            }
            other => {
                assert!(Instant::now() < deadline, "no recovery: {other:?}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    // Late answers to earlier probes.
    while r.recv_within(QUIET).await.is_some() {}
    for id in &ids {
        let got = stream_all(&mut r, id, json!({})).await;
        let revisions: Vec<i64> = got.iter().map(|(_, r, _)| *r).collect();
        assert_eq!(revisions, vec![1, 2, 3, 4], "{id}");
    }
}
