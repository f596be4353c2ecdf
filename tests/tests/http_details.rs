//! The public port's HTTP answers outside the happy path: a 401 of the HTTP API challenges for Basic
//! credentials exactly as the WebSocket upgrade's does (so browsers prompt), and `/ws/2` asked
//! without a WebSocket handshake answers 400 with Ditto's JSON error naming the header at fault.

use serde_json::Value;
use twinwire_tests::{http_exchange, Cluster, ClusterOptions};

const UPGRADE: &[(&str, &str)] = &[
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
];
// ditto:ditto
const DITTO: (&str, &str) = ("Authorization", "Basic ZGl0dG86ZGl0dG8=");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_apis_401_challenges_for_basic_like_the_websockets() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let ws = http_exchange("GET", &format!("{}/ws/2", c.http_base(0)), UPGRADE, None)
        .await
        .expect("gateway answers");
    assert_eq!(ws.status, 401, "{}", ws.body);
    let challenge = ws
        .header("www-authenticate")
        .expect("WebSocket 401 challenges");
    assert_eq!(challenge, "Basic realm=\"twinwire\"");
    let bad = ("Authorization", "Basic ZGl0dG86d3Jvbmc="); // ditto:wrong
    for (method, path, headers) in [
        ("GET", "/api/2/things/org.example:lamp", &[][..]),
        ("PUT", "/api/2/things/org.example:lamp", &[bad][..]),
        (
            "POST",
            "/api/2/things/org.example:lamp/inbox/messages/ask",
            &[][..],
        ),
    ] {
        let a = http_exchange(
            method,
            &format!("{}{path}", c.http_base(0)),
            headers,
            Some(b"{}"),
        )
        .await
        .expect("gateway answers");
        assert_eq!(a.status, 401, "{method} {path}: {}", a.body);
        assert_eq!(
            a.header("www-authenticate"),
            Some(challenge),
            "{method} {path}"
        );
        let v: Value = serde_json::from_str(&a.body).expect("JSON error");
        assert_eq!(v["error"], "gateway:authentication.failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_without_a_websocket_handshake_is_a_400_with_dittos_json_error() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let url = format!("{}/ws/2", c.http_base(0));
    // A plain GET (a browser, curl), then handshakes missing one part. (The harness always sends
    // `Connection: close`, so the version and key checks, which come after the connection's, are
    // out of its reach.)
    let without = |skip: &str| -> Vec<(&str, &str)> {
        let mut h: Vec<(&str, &str)> = UPGRADE
            .iter()
            .copied()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(skip))
            .collect();
        h.push(DITTO);
        h
    };
    let plain = [DITTO];
    for (headers, header) in [
        (plain.to_vec(), "upgrade"),
        (without("Upgrade"), "upgrade"),
        (without("Connection"), "connection"),
    ] {
        let a = http_exchange("GET", &url, &headers, None)
            .await
            .expect("gateway answers");
        assert_eq!(a.status, 400, "{headers:?}: {}", a.body);
        assert_eq!(a.header("content-type"), Some("application/json"));
        let v: Value = serde_json::from_str(&a.body)
            .unwrap_or_else(|e| panic!("{headers:?}: body not JSON ({e}): {}", a.body));
        assert_eq!(v["status"], 400, "{v}");
        assert_eq!(v["error"], "header.invalid", "{v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("'{header}'")), "{headers:?}: {v}");
        assert!(
            v["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{v}"
        );
    }
}
