//! The HTTP API (Ditto's `/api/2`): messages answered by WebSocket devices on another node, and
//! twin routes mapping to the same commands as the WebSocket, with Ditto's statuses.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use twinwire_tests::{basic_auth, http_request, Client, Cluster, ClusterOptions};

async fn call(
    c: &Cluster,
    gw: usize,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, String) {
    let auth = basic_auth("ditto", "ditto");
    let mut h: Vec<(&str, &str)> = vec![("Authorization", &auth)];
    h.extend_from_slice(headers);
    http_request(method, &format!("{}{path}", c.http_base(gw)), &h, body)
        .await
        .expect("gateway answers")
}

/// A device on node 2 that answers every message with `reply(message)`.
async fn device(c: &Cluster) -> Client {
    let mut d = c.connect(1, "ditto").await;
    d.subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;
    d
}

async fn answer(d: &mut Client, status: u16, content_type: &str, value: Value) -> Value {
    let m = d.recv_json().await;
    let reply = json!({"topic": m["topic"], "path": m["path"].as_str().unwrap().replace("inbox", "outbox"),
        "headers": {"correlation-id": m["headers"]["correlation-id"], "content-type": content_type}, "value": value, "status": status});
    d.send_json(&reply).await;
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_message_is_answered_by_a_websocket_device_on_another_node() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let (s, _) = call(
        &c,
        0,
        "PUT",
        "/api/2/things/org.http:lamp",
        &[("Content-Type", "application/json")],
        Some(b"{}"),
    )
    .await;
    assert_eq!(s, 201);
    let mut d = device(&c).await;

    // JSON in, JSON out, with the device's status.
    let req = tokio::spawn({
        let base = c.http_base(0);
        async move {
            http_request(
                "POST",
                &format!("{base}/api/2/things/org.http:lamp/inbox/messages/switch?timeout=10"),
                &[
                    ("Authorization", &basic_auth("ditto", "ditto")),
                    ("Content-Type", "application/json"),
                ],
                Some(b"{\"on\":true}"),
            )
            .await
        }
    });
    let m = answer(&mut d, 202, "application/json", json!({"switched": true})).await;
    assert_eq!(m["topic"], "org.http/lamp/things/live/messages/switch");
    assert_eq!(m["path"], "/inbox/messages/switch");
    assert_eq!(m["value"], json!({"on": true}));
    let (status, body) = req.await.unwrap().unwrap();
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (202, json!({"switched": true}))
    );

    // Text and binary payloads, on a feature's inbox.
    let req = tokio::spawn({
        let base = c.http_base(0);
        async move {
            http_request(
                "POST",
                &format!("{base}/api/2/things/org.http:lamp/features/bulb/inbox/messages/blink"),
                &[
                    ("Authorization", &basic_auth("ditto", "ditto")),
                    ("Content-Type", "application/octet-stream"),
                    ("timeout", "10s"),
                ],
                Some(&[0u8, 1, 2, 255]),
            )
            .await
        }
    });
    let m = answer(&mut d, 200, "text/plain", json!("blinked")).await;
    assert_eq!(m["path"], "/features/bulb/inbox/messages/blink");
    assert_eq!(
        m["value"], "AAEC/w==",
        "binary payloads travel base64-encoded"
    );
    let (status, body) = req.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "blinked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_messages_time_out_fire_and_forget_and_need_permission() {
    let c = Cluster::start(ClusterOptions::default()).await;
    call(
        &c,
        0,
        "PUT",
        "/api/2/things/org.http:quiet",
        &[("Content-Type", "application/json")],
        Some(b"{}"),
    )
    .await;
    // Nobody answers: 408 after the timeout.
    let started = Instant::now();
    let (status, body) = call(
        &c,
        0,
        "POST",
        "/api/2/things/org.http:quiet/inbox/messages/ask?timeout=1",
        &[("Content-Type", "text/plain")],
        Some(b"hi"),
    )
    .await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "command.timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(950));
    // timeout=0: 202 at once, and the device still gets it.
    let mut d = device(&c).await;
    let (status, _) = call(
        &c,
        0,
        "POST",
        "/api/2/things/org.http:quiet/inbox/messages/note?timeout=0",
        &[("Content-Type", "text/plain")],
        Some(b"fyi"),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(d.recv_json().await["value"], "fyi");
    // Without WRITE on message:/ (bob is not in the default policy): 403.
    let auth = basic_auth("bob", "bob-pw");
    let (status, body) = http_request(
        "POST",
        &format!(
            "{}/api/2/things/org.http:quiet/inbox/messages/ask",
            c.http_base(0)
        ),
        &[("Authorization", &auth)],
        Some(b"x"),
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "messages:send.notallowed"
    );
    // Without credentials: 401 with Ditto's error.
    let (status, body) = http_request(
        "POST",
        &format!(
            "{}/api/2/things/org.http:quiet/inbox/messages/ask",
            c.http_base(0)
        ),
        &[],
        Some(b"x"),
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "gateway:authentication.failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twin_routes_map_to_the_websocket_commands_with_dittos_statuses() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut sub = c.connect(1, "ditto").await;
    sub.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let json_ct = [("Content-Type", "application/json")];
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        u16,
        Option<Value>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "PUT",
            "/api/2/things/org.http:t",
            Some(r#"{"attributes":{"a":1}}"#),
            &json_ct,
            201,
            Some(
                json!({"thingId": "org.http:t", "policyId": "org.http:t", "attributes": {"a": 1}}),
            ),
            Some("created"),
        ),
        (
            "GET",
            "/api/2/things/org.http:t",
            None,
            &[],
            200,
            Some(
                json!({"thingId": "org.http:t", "policyId": "org.http:t", "attributes": {"a": 1}}),
            ),
            None,
        ),
        (
            "PUT",
            "/api/2/things/org.http:t/attributes/b",
            Some("2"),
            &json_ct,
            201,
            Some(json!(2)),
            Some("created"),
        ),
        (
            "PUT",
            "/api/2/things/org.http:t/attributes/b",
            Some("3"),
            &json_ct,
            204,
            None,
            Some("modified"),
        ),
        (
            "PATCH",
            "/api/2/things/org.http:t/attributes",
            Some(r#"{"a":null,"c":4}"#),
            &[("Content-Type", "application/merge-patch+json")],
            204,
            None,
            Some("merged"),
        ),
        (
            "PATCH",
            "/api/2/things/org.http:t/attributes",
            Some(r#"{"a":5}"#),
            &json_ct,
            415,
            None,
            None,
        ),
        (
            "GET",
            "/api/2/things/org.http:t/attributes",
            None,
            &[],
            200,
            Some(json!({"b": 3, "c": 4})),
            None,
        ),
        (
            "GET",
            "/api/2/things/org.http:t/attributes/nope",
            None,
            &[],
            404,
            None,
            None,
        ),
        (
            "DELETE",
            "/api/2/things/org.http:t/attributes/b",
            None,
            &[],
            204,
            None,
            Some("deleted"),
        ),
        (
            "GET",
            "/api/2/policies/org.http:t/entries/DEFAULT/subjects",
            None,
            &[],
            200,
            Some(json!({"nginx:ditto": {"type": "generated"}})),
            None,
        ),
        (
            "DELETE",
            "/api/2/things/org.http:t",
            None,
            &[],
            204,
            None,
            Some("deleted"),
        ),
        (
            "GET",
            "/api/2/things/org.http:t",
            None,
            &[],
            404,
            None,
            None,
        ),
        ("GET", "/api/2/things/not-an-id", None, &[], 400, None, None),
    ];
    for (method, path, body, headers, status, expected, event) in cases {
        let (s, b) = call(&c, 0, method, path, headers, body.map(str::as_bytes)).await;
        assert_eq!(s, status, "{method} {path}: {b}");
        if let Some(e) = expected {
            assert_eq!(
                serde_json::from_str::<Value>(&b).unwrap(),
                e,
                "{method} {path}"
            );
        }
        if s >= 400 {
            let v: Value = serde_json::from_str(&b).unwrap_or(Value::Null);
            assert_eq!(
                v["status"], s,
                "{method} {path}: errors are Ditto's JSON: {b}"
            );
        }
        if let Some(action) = event {
            let e = sub.recv_json().await;
            assert!(
                e["topic"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/events/{action}")),
                "{method} {path}: {e}"
            );
        }
    }
    sub.expect_silence(Duration::from_millis(300)).await;
}
