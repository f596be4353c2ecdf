//! Requests with `Upgrade: websocket` leave actix-http's HTTP/1 dispatcher for the gateway's
//! upgrade service, which must answer them exactly as the app would: another path gets its usual
//! answer, a `/ws` handshake with a wrong part gets Ditto's JSON error naming the header. Either
//! way the connection then closes (`Connection: close`), since only a 101 hands it over.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinwire_tests::{basic_auth, Cluster, ClusterOptions};

/// Sends `head` (the request line and headers, without the blank line) on a fresh connection and
/// returns everything the gateway sends until it closes: (status line, lower-cased headers, body).
async fn exchange(c: &Cluster, head: &str) -> (String, String, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", c.gateways[0].http_port))
        .await
        .unwrap();
    s.write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.unwrap();
    let text = String::from_utf8(all).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (
        status.to_owned(),
        headers.to_ascii_lowercase(),
        body.to_owned(),
    )
}

#[tokio::test]
async fn upgrade_requests_on_other_paths_and_broken_handshakes_are_answered_then_closed() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let auth = basic_auth("ditto", "ditto");
    let upgrade =
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

    let (status, headers, body) = exchange(
        &c,
        &format!("GET /api/2/whoami HTTP/1.1\r\nHost: x\r\n{upgrade}\r\nSec-WebSocket-Version: 13\r\nAuthorization: {auth}"),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{headers}\n{body}");
    assert!(headers.contains("connection: close"), "{headers}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        v,
        json!({"defaultSubject": "nginx:ditto", "subjects": ["nginx:ditto"]})
    );

    let (status, headers, body) = exchange(
        &c,
        &format!("GET /ws/2 HTTP/1.1\r\nHost: x\r\n{upgrade}\r\nSec-WebSocket-Version: 12\r\nAuthorization: {auth}"),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request", "{headers}\n{body}");
    assert!(headers.contains("connection: close"), "{headers}");
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["error"], "header.invalid", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("'sec-websocket-version'")),
        "{v}"
    );
}
