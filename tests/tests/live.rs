//! Messages and the live channel across nodes (reference §6): a sender on one node, receivers on
//! another, answers routed back to the sender, timeouts, permissions, filters, limits.

use serde_json::{json, Value};
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions};

fn frame(topic: &str, path: &str, headers: Value, value: Option<Value>) -> Value {
    let mut f = json!({"topic": topic, "path": path, "headers": headers});
    if let Some(v) = value {
        f["value"] = v;
    }
    f
}

/// A thing owned by alice; bob may read and send messages; carol may read the thing but not the messages.
async fn setup(c: &Cluster) -> Client {
    let mut alice = c.connect(0, "alice").await;
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}, "message:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "device": {"subjects": {"nginx:bob": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "message:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "viewer": {"subjects": {"nginx:carol": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}}}});
    let r = alice.request(json!({"topic": "org.live/lamp/policies/commands/create", "path": "/", "value": policy})).await;
    assert_eq!(r["status"], 201, "{r}");
    let r = alice.request(json!({"topic": "org.live/lamp/things/twin/commands/create", "path": "/", "value": {"policyId": "org.live:lamp", "attributes": {"on": true}}})).await;
    assert_eq!(r["status"], 201, "{r}");
    alice
}

async fn device(c: &Cluster, gw: usize, user: &str, frames: &[&str]) -> Client {
    let mut d = c.connect(gw, user).await;
    for f in frames {
        let ack = format!("{}:ACK", f.split('?').next().unwrap());
        d.subscribe(f, &ack).await;
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_every_entitled_receiver_and_the_first_answer_goes_back() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = setup(&c).await;
    let mut bob = device(&c, 1, "bob", &["START-SEND-MESSAGES"]).await;
    let mut bob2 = device(&c, 0, "bob", &["START-SEND-MESSAGES"]).await;
    let mut carol = device(&c, 1, "carol", &["START-SEND-MESSAGES"]).await;
    let msg = frame(
        "org.live/lamp/things/live/messages/ask",
        "/inbox/messages/ask",
        json!({"correlation-id": "m1", "content-type": "application/json"}),
        Some(json!({"q": "hello"})),
    );
    alice.send_json(&msg).await;
    for d in [&mut bob, &mut bob2] {
        let m = d.recv_json().await;
        assert_eq!(m["topic"], "org.live/lamp/things/live/messages/ask", "{m}");
        assert_eq!(m["value"], json!({"q": "hello"}));
        assert_eq!(m["headers"]["correlation-id"], "m1");
        assert_eq!(m["headers"]["ditto-originator"], "nginx:alice");
    }
    carol.expect_silence(Duration::from_millis(300)).await;
    // Both devices answer; only the first answer reaches alice.
    bob.send_json(
        &frame(
            "org.live/lamp/things/live/messages/ask",
            "/outbox/messages/ask",
            json!({"correlation-id": "m1", "content-type": "application/json"}),
            Some(json!({"a": 42})),
        )
        .as_object()
        .map(|o| {
            let mut o = o.clone();
            o.insert("status".into(), json!(418));
            Value::Object(o)
        })
        .unwrap(),
    )
    .await;
    let r = alice.recv_json().await;
    assert_eq!(
        (r["status"].clone(), r["value"].clone()),
        (json!(418), json!({"a": 42})),
        "{r}"
    );
    let mut second = frame(
        "org.live/lamp/things/live/messages/ask",
        "/outbox/messages/ask",
        json!({"correlation-id": "m1"}),
        Some(json!({"a": 43})),
    );
    second["status"] = json!(200);
    bob2.send_json(&second).await;
    alice.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_answering_ends_in_command_timeout_and_a_wrong_answer_is_named() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = setup(&c).await;
    let ask = |cid: &str| {
        frame(
            "org.live/lamp/things/live/messages/ask",
            "/inbox/messages/ask",
            json!({"correlation-id": cid, "timeout": "1s"}),
            Some(json!(1)),
        )
    };
    let started = std::time::Instant::now();
    alice.send_json(&ask("t1")).await;
    let r = alice.recv_json().await;
    assert_eq!(r["topic"], "org.live/lamp/things/live/errors", "{r}");
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(408), json!("command.timeout")),
        "{r}"
    );
    assert_eq!(
        r["value"]["message"],
        "The Command reached the specified timeout of 1000ms."
    );
    assert_eq!(r["headers"]["correlation-id"], "t1");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    // A live retrieve answered with a modify response: discarded, and the 408 says why.
    let mut bob = device(&c, 1, "bob", &["START-SEND-LIVE-COMMANDS"]).await;
    alice
        .send_json(&frame(
            "org.live/lamp/things/live/commands/retrieve",
            "/",
            json!({"correlation-id": "t2", "timeout": "1s"}),
            None,
        ))
        .await;
    let cmd = bob.recv_json().await;
    assert_eq!(cmd["topic"], "org.live/lamp/things/live/commands/retrieve");
    let mut wrong = frame(
        "org.live/lamp/things/live/commands/modify",
        "/attributes/on",
        json!({"correlation-id": "t2"}),
        None,
    );
    wrong["status"] = json!(204);
    bob.send_json(&wrong).await;
    let r = alice.recv_json().await;
    assert_eq!(r["status"], 408, "{r}");
    assert_eq!(
        r["value"]["description"],
        "Received no appropriate live response within the specified timeout. An invalid response was received, though: Type of live response <things.responses:modifyAttribute> is not related to type of command <things.commands:retrieveThing>."
    );
    // A timeout beyond the 60 s maximum is refused.
    alice
        .send_json(&frame(
            "org.live/lamp/things/live/messages/ask",
            "/inbox/messages/ask",
            json!({"correlation-id": "t3", "timeout": "61s"}),
            None,
        ))
        .await;
    let r = alice.recv_json().await;
    assert_eq!(r["value"]["error"], "timeout.invalid", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_needs_write_and_payloads_over_250_kb_are_refused() {
    let c = Cluster::start(ClusterOptions::default()).await;
    setup(&c).await;
    let mut carol = c.connect(0, "carol").await;
    let r = carol
        .request(frame(
            "org.live/lamp/things/live/messages/ask",
            "/inbox/messages/ask",
            json!({}),
            Some(json!(1)),
        ))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(403), json!("messages:send.notallowed")),
        "{r}"
    );
    let mut ditto = c.connect(0, "ditto").await;
    let r = ditto
        .request(frame(
            "org.live/lamp/things/live/messages/ask",
            "/inbox/messages/ask",
            json!({}),
            Some(json!(1)),
        ))
        .await;
    assert_eq!(
        r["value"]["error"], "messages:send.notallowed",
        "unknown to the policy: {r}"
    );
    let mut bob = c.connect(1, "bob").await;
    let big = "x".repeat(260_000);
    let r = bob
        .request(frame(
            "org.live/lamp/things/live/messages/ask",
            "/inbox/messages/ask",
            json!({"content-type": "text/plain"}),
            Some(json!(big)),
        ))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(413), json!("messages:payload.toolarge")),
        "{r}"
    );
    let r = bob
        .request(frame(
            "org.live/lamp/things/live/messages/ask",
            "/inbox/messages/other",
            json!({}),
            Some(json!(1)),
        ))
        .await;
    assert_eq!(r["value"]["error"], "protocoladapter:unknown.path", "{r}");
    // Live commands need the twin command's permission: carol may read, not write.
    let r = carol
        .request(frame(
            "org.live/lamp/things/live/commands/modify",
            "/attributes/on",
            json!({}),
            Some(json!(false)),
        ))
        .await;
    assert_eq!(r["value"]["error"], "things:attribute.notmodifiable", "{r}");
    let r = carol
        .request(frame(
            "org.live/lamp/things/live/commands/create",
            "/",
            json!({}),
            Some(json!({})),
        ))
        .await;
    assert_eq!(r["status"], 405, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_topic_subject_and_live_events_and_response_required_false() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = setup(&c).await;
    let mut only_ask = device(
        &c,
        1,
        "bob",
        &["START-SEND-MESSAGES?filter=eq(topic:subject,%22ask%22)"],
    )
    .await;
    let mut events = device(&c, 0, "carol", &["START-SEND-LIVE-EVENTS"]).await;
    for subject in ["tell", "ask"] {
        alice
            .send_json(&frame(
                &format!("org.live/lamp/things/live/messages/{subject}"),
                &format!("/inbox/messages/{subject}"),
                json!({"response-required": false}),
                Some(json!(subject)),
            ))
            .await;
    }
    let m = only_ask.recv_json().await;
    assert_eq!(m["value"], "ask", "{m}");
    only_ask.expect_silence(Duration::from_millis(300)).await;
    // No response was wanted, so none came and no timeout either.
    alice.expect_silence(Duration::from_millis(300)).await;
    // A device emits a live event; subscribers with READ get it.
    let mut bob = c.connect(1, "bob").await;
    bob.send_json(&frame(
        "org.live/lamp/things/live/events/modified",
        "/attributes/on",
        json!({"correlation-id": "e1"}),
        Some(json!(false)),
    ))
    .await;
    let e = events.recv_json().await;
    assert_eq!(
        (e["topic"].clone(), e["value"].clone()),
        (
            json!("org.live/lamp/things/live/events/modified"),
            json!(false)
        ),
        "{e}"
    );
    bob.expect_silence(Duration::from_millis(300)).await;
}
