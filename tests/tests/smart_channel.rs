//! The smart live channel (ditto-features §3) across nodes: a twin retrieve with
//! `live-channel-condition` from a requester on one node, answered by a device on the other when
//! the condition holds on the twin, by the twin when it does not, and on timeout as
//! `live-channel-timeout-strategy` says.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use twinwire_tests::{Client, Cluster, ClusterOptions};

/// A thing owned by alice; bob (the device) may read and write it.
async fn setup(c: &Cluster) -> Client {
    let mut alice = c.connect(0, "alice").await;
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "device": {"subjects": {"nginx:bob": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}}}}});
    let r = alice.request(json!({"topic": "org.smart/lamp/policies/commands/create", "path": "/", "value": policy})).await;
    assert_eq!(r["status"], 201, "{r}");
    let r = alice.request(json!({"topic": "org.smart/lamp/things/twin/commands/create", "path": "/", "value": {"policyId": "org.smart:lamp", "attributes": {"on": true}}})).await;
    assert_eq!(r["status"], 201, "{r}");
    alice
}

/// The device, on the other node, receiving live commands.
async fn device(c: &Cluster) -> Client {
    let mut bob = c.connect(1, "bob").await;
    bob.subscribe("START-SEND-LIVE-COMMANDS", "START-SEND-LIVE-COMMANDS:ACK")
        .await;
    bob
}

fn retrieve(cid: &str, condition: &str, extra: Value) -> Value {
    let mut headers = json!({"correlation-id": cid, "live-channel-condition": condition});
    for (k, v) in extra.as_object().unwrap() {
        headers[k] = v.clone();
    }
    json!({"topic": "org.smart/lamp/things/twin/commands/retrieve", "path": "/", "headers": headers})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_on_the_other_node_answers_when_the_condition_holds() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = setup(&c).await;
    let mut bob = device(&c).await;
    alice
        .send_json(&retrieve(
            "s1",
            "eq(attributes/on,true)",
            json!({"timeout": "5s"}),
        ))
        .await;
    let cmd = bob.recv_json().await;
    assert_eq!(
        cmd["topic"], "org.smart/lamp/things/live/commands/retrieve",
        "{cmd}"
    );
    assert!(
        cmd["headers"].get("live-channel-condition").is_none(),
        "{cmd}"
    );
    assert_eq!(cmd["headers"]["correlation-id"], "s1");
    bob.send_json(&json!({
        "topic": "org.smart/lamp/things/live/commands/retrieve", "path": "/", "status": 200,
        "headers": {"correlation-id": "s1"},
        "value": {"thingId": "org.smart:lamp", "attributes": {"on": "from-device"}}}))
        .await;
    let r = alice.recv_json().await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["value"]["attributes"]["on"], "from-device", "{r}");
    assert_eq!(
        r["headers"]["live-channel-condition-matched"], "true",
        "{r}"
    );
    assert_eq!(r["headers"]["channel"], "live", "{r}");
    // The twin's own response is not written as a second answer.
    alice.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_condition_is_answered_by_the_twin_and_reaches_no_device() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = setup(&c).await;
    let mut bob = device(&c).await;
    alice
        .send_json(&retrieve("s2", "eq(attributes/on,false)", json!({})))
        .await;
    let r = alice.recv_json().await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["topic"], "org.smart/lamp/things/twin/commands/retrieve");
    assert_eq!(r["value"]["attributes"]["on"], true, "{r}");
    assert_eq!(
        r["headers"]["live-channel-condition-matched"], "false",
        "{r}"
    );
    assert_eq!(r["headers"]["channel"], "twin", "{r}");
    bob.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_timeout_use_twin_answers_from_the_twin_and_fail_is_408() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = setup(&c).await;
    let mut bob = device(&c).await;

    let started = Instant::now();
    alice
        .send_json(&retrieve(
            "s3",
            "eq(attributes/on,true)",
            json!({"timeout": "1s", "live-channel-timeout-strategy": "use-twin"}),
        ))
        .await;
    let cmd = bob.recv_json().await;
    assert_eq!(cmd["topic"], "org.smart/lamp/things/live/commands/retrieve");
    let r = alice.recv_json().await;
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["value"]["attributes"]["on"], true, "{r}");
    assert_eq!(
        r["headers"]["live-channel-condition-matched"], "true",
        "{r}"
    );
    assert_eq!(r["headers"]["channel"], "twin", "{r}");
    // A late device answer is dropped.
    bob.send_json(&json!({
        "topic": "org.smart/lamp/things/live/commands/retrieve", "path": "/", "status": 200,
        "headers": {"correlation-id": "s3"}, "value": {}}))
        .await;
    alice.expect_silence(Duration::from_millis(500)).await;

    let started = Instant::now();
    alice
        .send_json(&retrieve(
            "s4",
            "eq(attributes/on,true)",
            json!({"timeout": "1s"}),
        ))
        .await;
    let _ = bob.recv_json().await;
    let r = alice.recv_json().await;
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(r["status"], 408, "{r}");
    assert_eq!(r["value"]["error"], "command.timeout", "{r}");
    assert_eq!(
        r["value"]["message"],
        "The Command reached the specified timeout of 1000ms."
    );
    assert_eq!(r["headers"]["correlation-id"], "s4");
    assert_eq!(r["headers"]["channel"], "live", "{r}");
    assert_eq!(
        r["headers"]["live-channel-condition-matched"], "true",
        "{r}"
    );
    alice.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_strategies_conditions_and_commands_are_refused() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = setup(&c).await;
    let r = alice
        .request(retrieve(
            "b1",
            "eq(attributes/on,true)",
            json!({"live-channel-timeout-strategy": "twin"}),
        ))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(400), json!("header.invalid")),
        "{r}"
    );
    let r = alice
        .request(retrieve("b2", "eq(attributes/on,true", json!({})))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(400), json!("things:condition.invalid")),
        "{r}"
    );
    let r = alice
        .request(json!({"topic": "org.smart/lamp/things/twin/commands/modify", "path": "/attributes/on", "value": false,
            "headers": {"correlation-id": "b3", "live-channel-condition": "eq(attributes/on,true)"}}))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(405), json!("things:live.channelcondition.notallowed")),
        "{r}"
    );
}
