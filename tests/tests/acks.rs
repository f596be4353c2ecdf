//! Acknowledgements (reference §7): declared labels unique in the cluster, requested labels
//! acknowledged by sessions on other nodes, the aggregated response (200, 424, 408 entries), weak
//! acknowledgements for subscribers that filtered the event out, and the WebSocket's rules.

use serde_json::{json, Value};
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions, Frame, USERS};

async fn declaring(c: &Cluster, gw: usize, user: &str, labels: &str) -> Client {
    let pass = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    Client::connect_basic(
        &format!("{}?declared-acks={labels}", c.ws_url(gw)),
        user,
        pass,
    )
    .await
    .unwrap()
}

fn modify(cid: &str, acks: Value, timeout: &str) -> Value {
    json!({"topic": "org.acks/lamp/things/twin/commands/modify", "path": "/attributes/on", "value": true,
        "headers": {"correlation-id": cid, "requested-acks": acks, "timeout": timeout}})
}

async fn thing(c: &Cluster) -> Client {
    let mut w = c.connect(0, "ditto").await;
    let r = w.request(json!({"topic": "org.acks/lamp/things/twin/commands/create", "path": "/", "value": {"attributes": {"on": false}}})).await;
    assert_eq!(r["status"], 201);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_label_is_unique_in_the_cluster() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut a = declaring(&c, 0, "ditto", "lamp-ack").await;
    a.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut b = declaring(&c, 1, "ditto", "other-ack,lamp-ack").await;
    let e = b.recv_json().await;
    assert_eq!(
        (e["status"].clone(), e["value"]["error"].clone()),
        (json!(409), json!("acknowledgement:label.not.unique")),
        "{e}"
    );
    assert_eq!(
        b.recv_close(Duration::from_secs(5)).await.map(|c| c.0),
        Some(1000)
    );
    // Once the holder leaves, the label is free again (b's partial claim took nothing).
    a.close().await;
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = declaring(&c, 1, "ditto", "lamp-ack").await;
    again
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut free = declaring(&c, 0, "ditto", "other-ack").await;
    free.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    // Invalid labels are refused at the upgrade.
    let err = Client::connect_basic(
        &format!("{}?declared-acks=x", c.ws_url(0)),
        "ditto",
        "ditto",
    )
    .await
    .err()
    .unwrap();
    assert!(err.contains("400"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_acks_are_collected_from_other_nodes_into_an_aggregated_response() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = thing(&c).await;
    let mut acker = declaring(&c, 1, "ditto", "lamp-ack").await;
    acker
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut plain = c.connect(1, "ditto").await;
    plain
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;

    w.send_json(&modify("a1", json!(["twin-persisted", "lamp-ack"]), "10s"))
        .await;
    // The declaring subscriber sees only its own label requested; others see none.
    let e = acker.recv_json().await;
    assert_eq!(e["headers"]["requested-acks"], json!(["lamp-ack"]), "{e}");
    let p = plain.recv_json().await;
    assert!(p["headers"].get("requested-acks").is_none(), "{p}");
    acker.send_json(&json!({"topic": "org.acks/lamp/things/twin/acks/lamp-ack", "path": "/", "headers": {"correlation-id": "a1"}, "status": 202, "value": "done"})).await;
    let r = w.recv_json().await;
    assert_eq!(r["topic"], "org.acks/lamp/things/twin/acks", "{r}");
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["headers"]["correlation-id"], "a1");
    assert_eq!(r["value"]["twin-persisted"]["status"], 204, "{r}");
    assert_eq!(r["value"]["lamp-ack"]["status"], 202, "{r}");
    assert_eq!(r["value"]["lamp-ack"]["payload"], "done", "{r}");

    // A negative acknowledgement makes the whole 424.
    w.send_json(&modify("a2", json!(["twin-persisted", "lamp-ack"]), "10s"))
        .await;
    acker.recv_json().await;
    plain.recv_json().await;
    acker.send_json(&json!({"topic": "org.acks/lamp/things/twin/acks/lamp-ack", "path": "/", "headers": {"correlation-id": "a2"}, "status": 400, "value": "You better try harder"})).await;
    let r = w.recv_json().await;
    assert_eq!(
        (
            r["status"].clone(),
            r["value"]["lamp-ack"]["status"].clone()
        ),
        (json!(424), json!(400)),
        "{r}"
    );

    // Only a custom label: the aggregation has one entry and its status.
    w.send_json(&modify("a3", json!(["lamp-ack"]), "10s")).await;
    acker.recv_json().await;
    plain.recv_json().await;
    acker.send_json(&json!({"topic": "org.acks/lamp/things/twin/acks/lamp-ack", "path": "/", "headers": {"correlation-id": "a3"}, "status": 201})).await;
    let r = w.recv_json().await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["value"].as_object().unwrap().len(), 1, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_acks_time_out_as_408_entries_and_filtered_subscribers_ack_weakly() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = thing(&c).await;
    w.send_json(&modify("t1", json!(["twin-persisted", "nobody-ack"]), "1s"))
        .await;
    let r = w.recv_json().await;
    assert_eq!(r["status"], 424, "{r}");
    assert_eq!(r["value"]["twin-persisted"]["status"], 204, "{r}");
    let missing = &r["value"]["nobody-ack"];
    assert_eq!(missing["status"], 408, "{r}");
    assert_eq!(
        missing["payload"]["error"], "acknowledgement:request.timeout",
        "{r}"
    );
    assert_eq!(
        missing["payload"]["message"],
        "The acknowledgement request reached the specified timeout of 1,000ms.",
        "{r}"
    );

    // A subscriber whose filter drops the event acknowledges weakly, at once.
    let mut filtered = declaring(&c, 1, "ditto", "weak-ack").await;
    filtered
        .subscribe(
            "START-SEND-EVENTS?filter=eq(attributes/on,%22never%22)",
            "START-SEND-EVENTS:ACK",
        )
        .await;
    w.send_json(&modify("t2", json!(["twin-persisted", "weak-ack"]), "10s"))
        .await;
    let r = w.recv_json().await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["value"]["weak-ack"]["status"], 200, "{r}");
    assert_eq!(
        r["value"]["weak-ack"]["headers"]["ditto-weak-ack"], true,
        "{r}"
    );
    filtered.expect_silence(Duration::from_millis(300)).await;
    // A failing command answers with its error: nobody will acknowledge an event that never was.
    let r = w
        .request(json!({"topic": "org.acks/missing/things/twin/commands/modify", "path": "/attributes/on", "value": true,
            "headers": {"requested-acks": ["twin-persisted", "weak-ack"]}}))
        .await;
    assert_eq!(r["value"]["error"], "things:thing.notfound", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_rules_for_acknowledgements() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut w = thing(&c).await;
    // Requesting acks while refusing a response is refused (Ditto's WebSocket rule).
    w.send_json(&json!({"topic": "org.acks/lamp/things/twin/commands/modify", "path": "/attributes/on", "value": true,
        "headers": {"correlation-id": "h1", "requested-acks": ["twin-persisted"], "response-required": false}}))
        .await;
    match w.recv_within(Duration::from_secs(2)).await {
        Some(Frame::Text(t)) => {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["value"]["error"], "header.invalid", "{v}");
            assert_eq!(v["value"]["message"], "For WebSocket, it is forbidden to request acknowledgements while 'response-required' is set to false.");
        }
        other => panic!("{other:?}"),
    }
    let mut s = declaring(&c, 0, "ditto", "mine-ack").await;
    let r = s
        .request(
            json!({"topic": "org.acks/lamp/things/twin/acks/not-mine", "path": "/", "status": 200}),
        )
        .await;
    assert_eq!(
        r["value"]["error"], "acknowledgement:label.not.declared",
        "{r}"
    );
    s.send_json(&json!({"topic": "org.acks/lamp/things/twin/acks/mine-ack", "path": "/", "status": 200, "headers": {}})).await;
    let r = s.recv_json().await;
    assert_eq!(
        r["value"]["error"], "acknowledgement:correlation-id.missing",
        "{r}"
    );
}
