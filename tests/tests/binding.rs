//! The WebSocket binding itself: authentication on the upgrade, versions, control frames, bad
//! input answered with Ditto's error frames (reference §1, §2), heartbeats, and that one bad
//! session never disturbs another.

use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinwire_tests::{basic_auth, http_request, Client, Cluster, ClusterOptions, Frame};

const UPGRADE: &[(&str, &str)] = &[
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_without_valid_credentials_get_401_with_dittos_json_error() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let url = format!("{}/ws/2", c.http_base(0));
    let wrong = basic_auth("ditto", "wrong");
    let unknown = basic_auth("mallory", "x");
    let garbage = "Basic !!!not-base64".to_string();
    for auth in [
        None,
        Some(wrong.as_str()),
        Some(unknown.as_str()),
        Some(garbage.as_str()),
    ] {
        let mut headers: Vec<(&str, &str)> = UPGRADE.to_vec();
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let (status, body) = http_request("GET", &url, &headers, None)
            .await
            .expect("gateway answers");
        assert_eq!(status, 401, "{auth:?}: {body}");
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{auth:?}: body not JSON ({e}): {body}"));
        assert_eq!(v["status"], 401);
        assert_eq!(v["error"], "gateway:authentication.failed");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The JS client's failure mode for this is a 401 on the upgrade; a real WebSocket client too.
    let e = Client::connect_basic(&c.ws_url(0), "ditto", "nope")
        .await
        .err()
        .expect("refused");
    assert!(e.contains("401"), "{e}");
    // Pre-authenticated subjects are never trusted unless enabled.
    let mut headers: Vec<(&str, &str)> = UPGRADE.to_vec();
    headers.push(("x-ditto-pre-authenticated", "nginx:ditto"));
    let (status, _) = http_request("GET", &url, &headers, None).await.unwrap();
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_api_versions_get_404_api_version_notsupported() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let auth = basic_auth("ditto", "ditto");
    for v in ["3", "0", "x"] {
        let mut headers: Vec<(&str, &str)> = UPGRADE.to_vec();
        headers.push(("Authorization", &auth));
        let (status, body) =
            http_request("GET", &format!("{}/ws/{v}", c.http_base(0)), &headers, None)
                .await
                .unwrap();
        assert_eq!(status, 404, "{v}: {body}");
        let j: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(j["error"], "api.version.notsupported");
        assert_eq!(
            j["message"],
            format!("The requested resource is not supported by version '{v}'.")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_frames_are_acknowledged_with_the_exact_identifier() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut s = c.connect(0, "ditto").await;
    for kind in ["EVENTS", "MESSAGES", "LIVE-COMMANDS", "LIVE-EVENTS"] {
        s.subscribe(
            &format!("START-SEND-{kind}"),
            &format!("START-SEND-{kind}:ACK"),
        )
        .await;
        s.subscribe(
            &format!("START-SEND-{kind}?namespaces=a,b&extraFields=attributes"),
            &format!("START-SEND-{kind}:ACK"),
        )
        .await;
        s.subscribe(
            &format!("STOP-SEND-{kind}"),
            &format!("STOP-SEND-{kind}:ACK"),
        )
        .await;
    }
    // Ditto's startsWith: a strange appendix is still START-SEND-EVENTS, and the ACK is bare.
    s.subscribe("START-SEND-EVENTSfoo", "START-SEND-EVENTS:ACK")
        .await;
}

/// Sends `frame` and returns the error frame it gets.
async fn error_for(s: &mut Client, frame: &str) -> Value {
    s.send(frame).await;
    let v = s.recv_json().await;
    assert!(
        v["topic"].as_str().is_some_and(|t| t.ends_with("/errors")),
        "{frame}: {v}"
    );
    assert_eq!(v["path"], "/", "{frame}: {v}");
    assert_eq!(v["status"], v["value"]["status"], "{frame}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_dittos_error_frames_and_the_session_lives_on() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut s = c.connect(0, "ditto").await;
    let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
        ("HELLO".into(), 400, "json.invalid", None),
        ("start-send-events".into(), 400, "json.invalid", None),
        ("[1,2,3]".into(), 400, "json.invalid", None),
        (json!({"path": "/", "headers": {"correlation-id": "c-topic"}}).to_string(), 400, "json.field.missing", Some("c-topic")),
        (json!({"topic": "a/b/things/twin/commands/retrieve", "headers": {"correlation-id": "c-path"}}).to_string(), 400, "json.field.missing", Some("c-path")),
        (json!({"topic": "a/b/thingz/twin/commands/retrieve", "path": "/", "headers": {"correlation-id": "c-group"}}).to_string(), 400, "protocoladapter:unknown.topicpath", Some("c-group")),
        (json!({"topic": "a/b/things/twin/commands/explode", "path": "/", "headers": {"correlation-id": "c-act"}}).to_string(), 400, "protocoladapter:unknown.topicpath", Some("c-act")),
        (json!({"topic": "bad id/b/things/twin/commands/retrieve", "path": "/", "headers": {"correlation-id": "c-id"}}).to_string(), 400, "things:id.invalid", Some("c-id")),
        (json!({"topic": "a/b/things/twin/commands/retrieve", "path": "/", "headers": {"correlation-id": "c-h", "x": "y".repeat(6000)}}).to_string(), 431, "headers.too.large", Some("c-h")),
        ("START-SEND-EVENTS?filter=eq(attributes/a".into(), 400, "rql.expression.invalid", None),
        ("START-SEND-EVENTS?filter=eq(nonsense,1)".into(), 400, "rql.expression.invalid", None),
        ("START-SEND-EVENTS?filter=".into(), 400, "rql.expression.invalid", None),
        ("START-SEND-EVENTS?extraFields=attributes(".into(), 400, "things:field.selection.invalid", None),
        ("START-SEND-EVENTS?namespaces".into(), 400, "gateway:websocket.parameter.invalid", None),
        ("START-SEND-EVENTS?".into(), 400, "gateway:websocket.parameter.invalid", None),
        ("START-SEND-EVENTS?namespaces=a&namespaces=b".into(), 400, "gateway:websocket.parameter.invalid", None),
        ("START-SEND-EVENTS?filter=%zz".into(), 400, "gateway:websocket.parameter.invalid", None),
        ("JWT-TOKEN?jwtToken".into(), 400, "gateway:websocket.parameter.invalid", None),
    ];
    for (frame, status, code, cid) in cases {
        let v = error_for(&mut s, &frame).await;
        assert_eq!(v["status"], status, "{frame}: {v}");
        assert_eq!(v["value"]["error"], code, "{frame}: {v}");
        if let Some(cid) = cid {
            assert_eq!(v["headers"]["correlation-id"], cid, "{frame}: {v}");
        }
    }
    // The exact frame for a non-JSON text, as in reference §2.6.
    s.send("HELLO").await;
    assert_eq!(
        s.recv_json().await,
        json!({"topic": "unknown/unknown/things/twin/errors", "headers": {"content-type": "application/json"}, "path": "/", "value": {"status": 400, "error": "json.invalid",
            "message": "Failed to parse JSON string 'HELLO'!",
            "description": "Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."}, "status": 400})
    );
    // An invalid filter gets no ACK and leaves the session unsubscribed; binary frames are dropped.
    s.send_binary(b"\x00\x01").await;
    s.expect_silence(Duration::from_millis(300)).await;
    // And the session still works.
    s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let r = s.request(json!({"topic": "org.example/alive/things/twin/commands/create", "path": "/", "value": {}})).await;
    assert_eq!(r["status"], 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_filter_keeps_the_previous_subscription() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut s = c.connect(1, "ditto").await;
    s.subscribe(
        "START-SEND-EVENTS?namespaces=org.keep",
        "START-SEND-EVENTS:ACK",
    )
    .await;
    let v = error_for(&mut s, "START-SEND-EVENTS?filter=oops(").await;
    assert_eq!(v["value"]["error"], "rql.expression.invalid");
    let mut w = c.connect(0, "ditto").await;
    w.request(json!({"topic": "org.keep/t/things/twin/commands/create", "path": "/", "value": {}}))
        .await;
    let e = s.recv_json().await;
    assert_eq!(e["topic"], "org.keep/t/things/twin/events/created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_without_correlation_id_gets_one_and_response_required_false_gets_nothing() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut s = c.connect(0, "ditto").await;
    s.send_json(&json!({"topic": "org.example/nocid/things/twin/commands/create", "path": "/", "value": {}})).await;
    let r = s.recv_json().await;
    assert_eq!(r["status"], 201);
    assert!(
        r["headers"]["correlation-id"]
            .as_str()
            .is_some_and(|c| c.len() >= 32),
        "{r}"
    );
    s.send_json(&json!({"topic": "org.example/nocid/things/twin/commands/modify", "path": "/attributes/a", "value": 1,
        "headers": {"response-required": false}}))
    .await;
    s.expect_silence(Duration::from_millis(500)).await;
    let r = s.request(json!({"topic": "org.example/nocid/things/twin/commands/retrieve", "path": "/attributes/a"})).await;
    assert_eq!(
        r["value"], 1,
        "the command without response was applied: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_close_with_1009_and_other_sessions_are_untouched() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: vec![("TWINWIRE_WS__MAX_MESSAGE_BYTES".into(), "65536".into())],
        ..Default::default()
    })
    .await;
    let mut other = c.connect(0, "ditto").await;
    other
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut s = c.connect(0, "ditto").await;
    s.send(&"x".repeat(70_000)).await;
    let close = s.recv_close(Duration::from_secs(5)).await;
    assert_eq!(close.map(|c| c.0), Some(1009));
    let mut w = c.connect(0, "ditto").await;
    w.request(
        json!({"topic": "org.example/still/things/twin/commands/create", "path": "/", "value": {}}),
    )
    .await;
    assert_eq!(
        other.recv_json().await["topic"],
        "org.example/still/things/twin/events/created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_pinged_and_silent_ones_are_closed() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: vec![
            ("TWINWIRE_WS__PING_IDLE_SECS".into(), "1".into()),
            ("TWINWIRE_WS__CLIENT_TIMEOUT_SECS".into(), "2".into()),
        ],
        ..Default::default()
    })
    .await;
    // A well-behaved client (tungstenite answers pings) stays connected past the timeout.
    let mut good = c.connect(0, "ditto").await;
    good.expect_silence(Duration::from_secs(13)).await;
    good.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;

    // A raw socket that completes the handshake and then never answers: it sees pings, then the
    // gateway ends the connection.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", c.gateways[0].http_port))
        .await
        .unwrap();
    let req = format!(
        "GET /ws/2 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: {}\r\n\r\n",
        basic_auth("ditto", "ditto")
    );
    raw.write_all(req.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(
        closed,
        "the gateway must close a session that does not answer pings"
    );
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    // An empty ping frame is 0x89 0x00.
    assert!(
        seen.windows(2).any(|w| w == [0x89, 0x00]),
        "no ping frame seen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_close_is_echoed_with_its_code() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut s = c.connect(0, "ditto").await;
    s.close().await;
    match s.recv_within(Duration::from_secs(5)).await {
        Some(Frame::Close(Some((code, _)))) => assert_eq!(code, 1000),
        Some(Frame::Close(None)) | None => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_just_before_a_hang_up_are_still_handled() {
    // A device that sends its last command (or its answer to a live command) and hangs up at once
    // must not lose it: the frame arrives before the end of the TCP stream.
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let n = 30;
    for i in 0..n {
        let s = c.connect(0, "ditto").await;
        let cmd = json!({"topic": format!("org.example/hangup-{i}/things/twin/commands/create"),
            "headers": {"correlation-id": format!("hangup-{i}")}, "path": "/", "value": {"attributes": {"i": i}}});
        s.send_then_hang_up(&cmd.to_string()).await;
    }
    let mut check = c.connect(0, "ditto").await;
    for i in 0..n {
        let r = check
            .request(json!({"topic": format!("org.example/hangup-{i}/things/twin/commands/retrieve"), "path": "/attributes/i"}))
            .await;
        assert_eq!(
            (r["status"].clone(), r["value"].clone()),
            (json!(200), json!(i)),
            "{r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let mut s = c.connect(0, "ditto").await;
    s.send_raw_text(b"{\"topic\": \"\xff\xfe\"}").await;
    match s.recv_within(Duration::from_secs(5)).await {
        Some(Frame::Close(Some((code, _)))) => assert_eq!(code, 1007),
        other => panic!("expected close 1007, got {other:?}"),
    }
}
