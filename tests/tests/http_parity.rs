//! The HTTP API where it must answer as Ditto's does (issue 20): path parts percent-decoded exactly
//! once (an encoded policy resource grants what it names), a 304 without a body on a keep-alive
//! connection, `fields` on things (with `_policy`), their sub-resources and policies, `Location` on 201, and 404
//! for a message to a thing that does not exist.

use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use twinwire_tests::{api_call, basic_auth, Cluster, ClusterOptions, HttpAnswer};

async fn call(c: &Cluster, method: &str, path: &str, body: Option<&str>) -> HttpAnswer {
    api_call(c, ("ditto", "ditto"), method, path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_path_parts_mean_what_the_plain_ones_do() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let thing = json!({"attributes": {"location": {"lat": 1, "lon": 2}, "a b": 3, "a%20b": 4},
        "features": {"f": {"properties": {"x": {"y": 5}}}}});
    let a = call(&c, "PUT", "/api/2/things/org.p:t", Some(&thing.to_string())).await;
    assert_eq!(a.status, 201, "{}", a.body);
    // Each route, plain and with parts of its path encoded: the same answer.
    let pairs = [
        ("/api/2/things/org.p:t", "/api/2/thing%73/org.p%3At"),
        (
            "/api/2/things/org.p:t/attributes/location/lat",
            "/api/2/things/org.p:t/attributes/location%2Flat",
        ),
        (
            "/api/2/things/org.p:t/attributes/location/lat",
            "/api/2/things/org.p:t/attributes%2Flocation%2Flat",
        ),
        (
            "/api/2/things/org.p:t/attributes/location",
            "/api/2/things/org.p:t/%61ttributes/locatio%6E/",
        ),
        (
            "/api/2/things/org.p:t/features/f/properties/x/y",
            "/api/2/things/org.p:t/features/%66/properties%2Fx%2Fy",
        ),
        (
            "/api/2/things/org.p:t/features/f/properties",
            "/api/2/things/org.p:t/features%2Ff%2Fproperties",
        ),
        (
            "/api/2/policies/org.p:t/entries/DEFAULT/subjects",
            "/api/2/policies/org.p%3At/entries%2FDEFAULT%2Fsubjects",
        ),
        (
            "/api/2/policies/org.p:t/entries/DEFAULT/resources/thing:/",
            "/api/2/policies/org.p:t/entries/DEFAULT/resources/thing:%2F",
        ),
        (
            "/api/2/things/org.p:t/attributes/nope",
            "/api/2/things/org.p:t/attributes%2Fnope",
        ),
    ];
    for (plain, encoded) in pairs {
        let p = call(&c, "GET", plain, None).await;
        let e = call(&c, "GET", encoded, None).await;
        assert_eq!(
            (e.status, e.json()),
            (p.status, p.json()),
            "{encoded} answers as {plain}"
        );
        assert!(
            p.status == 200 || plain.ends_with("nope"),
            "{plain}: {}",
            p.body
        );
    }
    // Decoded once: `%20` is a space, `%2520` a literal `%20`.
    let a = call(&c, "GET", "/api/2/things/org.p:t/attributes/a%20b", None).await;
    assert_eq!((a.status, a.json()), (200, json!(3)));
    let a = call(&c, "GET", "/api/2/things/org.p:t/attributes/a%2520b", None).await;
    assert_eq!((a.status, a.json()), (200, json!(4)));
    // Writes too: an encoded `/` in a PUT is a level of the pointer.
    let a = call(
        &c,
        "PUT",
        "/api/2/things/org.p:t/attributes/location%2Falt",
        Some("7"),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = call(&c, "GET", "/api/2/things/org.p:t/attributes/location", None).await;
    assert_eq!(a.json(), json!({"lat": 1, "lon": 2, "alt": 7}));
    // Messages: an encoded `/` in the subject is a `/` of the subject, the feature id decoded.
    let mut device = c.connect(1, "ditto").await;
    device
        .subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;
    for (path, topic, at) in [
        (
            "/api/2/things/org.p:t/inbox/messages/a%2Fb%2520c?timeout=0",
            "org.p/t/things/live/messages/a/b%20c",
            "/inbox/messages/a/b%20c",
        ),
        (
            "/api/2/things/org.p:t/features/%66/inbox%2Fmessages%2Fon?timeout=0",
            "org.p/t/things/live/messages/on",
            "/features/f/inbox/messages/on",
        ),
    ] {
        let a = call(&c, "POST", path, Some("1")).await;
        assert_eq!(a.status, 202, "{path}: {}", a.body);
        let m = device.recv_json().await;
        assert_eq!(
            (m["topic"].as_str(), m["path"].as_str()),
            (Some(topic), Some(at)),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoded_policy_resource_grants_what_it_names() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let bob = ("bob", "bob-pw");
    let a = call(
        &c,
        "PUT",
        "/api/2/things/org.p:g",
        Some(r#"{"attributes":{"secret":1}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = api_call(&c, bob, "GET", "/api/2/things/org.p:g/attributes", None).await;
    assert_eq!(a.status, 404, "bob may not read yet: {}", a.body);
    let a = call(
        &c,
        "PUT",
        "/api/2/policies/org.p:g/entries/reader",
        Some(r#"{"subjects":{"nginx:bob":{"type":"test"}},"resources":{}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    // `thing:/attributes` as an HTTP client sends it: the `/` inside the key encoded.
    let a = call(
        &c,
        "PUT",
        "/api/2/policies/org.p:g/entries/reader/resources/thing:%2Fattributes",
        Some(r#"{"grant":["READ"],"revoke":[]}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = call(
        &c,
        "GET",
        "/api/2/policies/org.p:g/entries/reader/resources",
        None,
    )
    .await;
    assert_eq!(
        a.json(),
        json!({"thing:/attributes": {"grant": ["READ"], "revoke": []}}),
        "stored under the resource it names"
    );
    let a = api_call(&c, bob, "GET", "/api/2/things/org.p:g/attributes", None).await;
    assert_eq!(
        (a.status, a.json()),
        (200, json!({"secret": 1})),
        "the grant is in force"
    );
}

/// Reads until `buf` holds at least `upto` bytes.
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, upto: usize) {
    while buf.len() < upto {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("a body in time")
            .expect("read");
        assert!(n > 0, "connection closed in a body");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One HTTP/1.1 response read off a kept-alive connection: by its length, chunks, or none.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> HttpAnswer {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if status == 304 || status == 204 {
        String::new()
    } else if let Some(n) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        fill(s, buf, n).await;
        String::from_utf8_lossy(&buf.drain(..n).collect::<Vec<u8>>()).into_owned()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        loop {
            while !buf.windows(2).any(|w| w == b"\r\n") {
                let len = buf.len() + 1;
                fill(s, buf, len).await;
            }
            let i = buf.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
            let size = usize::from_str_radix(String::from_utf8_lossy(&buf[..i]).trim(), 16)
                .expect("a chunk size");
            fill(s, buf, i + 2 + size + 2).await;
            out.extend_from_slice(&buf[i + 2..i + 2 + size]);
            buf.drain(..i + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        panic!("a {status} without a length on a kept-alive connection: {head}")
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_has_no_body_and_the_connection_survives_it() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let a = call(
        &c,
        "PUT",
        "/api/2/things/org.p:k",
        Some(r#"{"attributes":{"a":1}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let etag = call(&c, "GET", "/api/2/things/org.p:k", None)
        .await
        .header("etag")
        .expect("an ETag")
        .to_owned();
    let host = c.http_base(0).trim_start_matches("http://").to_owned();
    let auth = basic_auth("ditto", "ditto");
    let mut s = TcpStream::connect(&host).await.unwrap();
    let mut buf = Vec::new();
    let get = |extra: &str| {
        format!("GET /api/2/things/org.p:k HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n{extra}\r\n")
    };
    s.write_all(get(&format!("If-None-Match: {etag}\r\n")).as_bytes())
        .await
        .unwrap();
    let a = read_response(&mut s, &mut buf).await;
    assert_eq!(a.status, 304);
    assert!(
        a.header("content-length").is_none_or(|l| l == "0"),
        "a 304 declares no body"
    );
    assert!(a.header("transfer-encoding").is_none());
    assert_eq!(a.header("etag"), Some(etag.as_str()), "{:?}", a.headers);
    // Nothing of a body arrives after the 304: the next answer on the connection is the next
    // response's status line.
    s.write_all(get("").as_bytes()).await.unwrap();
    let a = read_response(&mut s, &mut buf).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["attributes"], json!({"a": 1}));
    // A 412 has its error body, and the connection goes on after it too.
    let put = format!(
        "PUT /api/2/things/org.p:k/attributes/a HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
         If-Match: \"rev:99\"\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n2"
    );
    s.write_all(put.as_bytes()).await.unwrap();
    let a = read_response(&mut s, &mut buf).await;
    assert_eq!(a.status, 412, "{}", a.body);
    assert_eq!(a.json()["error"], "things:precondition.failed");
    assert_eq!(
        a.header("etag"),
        Some(etag.as_str()),
        "412 names the current tag"
    );
    s.write_all(get("").as_bytes()).await.unwrap();
    let a = read_response(&mut s, &mut buf).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["attributes"], json!({"a": 1}));
    // A message answered 204 with a payload: no body either, and the connection goes on.
    let mut device = c.connect(1, "ditto").await;
    device
        .subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;
    let post = format!(
        "POST /api/2/things/org.p:k/inbox/messages/ask?timeout=10 HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: {auth}\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nq"
    );
    s.write_all(post.as_bytes()).await.unwrap();
    let m = device.recv_json().await;
    device
        .send_json(&json!({"topic": m["topic"], "path": "/outbox/messages/ask",
            "headers": {"correlation-id": m["headers"]["correlation-id"], "content-type": "text/plain"},
            "value": "ignored", "status": 204}))
        .await;
    let a = read_response(&mut s, &mut buf).await;
    assert_eq!(a.status, 204);
    assert!(a.header("content-length").is_none_or(|l| l == "0"));
    s.write_all(get("").as_bytes()).await.unwrap();
    let a = read_response(&mut s, &mut buf).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_select_on_things_their_parts_and_policies() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let thing = json!({"attributes": {"a": 1, "b": {"c": 2, "d": 3}},
        "features": {"f": {"properties": {"x": 1, "y": 2}}, "g": {"properties": {"x": 3}}}});
    let a = call(&c, "PUT", "/api/2/things/org.p:f", Some(&thing.to_string())).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let cases = [
        (
            "/api/2/things/org.p:f?fields=thingId,attributes/b/c",
            json!({"thingId": "org.p:f", "attributes": {"b": {"c": 2}}}),
        ),
        (
            "/api/2/things/org.p:f?fields=attributes(a,b/d)",
            json!({"attributes": {"a": 1, "b": {"d": 3}}}),
        ),
        (
            "/api/2/things/org.p:f/attributes?fields=b(c)",
            json!({"b": {"c": 2}}),
        ),
        (
            "/api/2/things/org.p:f/features?fields=*/properties/x",
            json!({"f": {"properties": {"x": 1}}, "g": {"properties": {"x": 3}}}),
        ),
        (
            "/api/2/things/org.p:f/features/f/properties?fields=y",
            json!({"y": 2}),
        ),
        (
            "/api/2/policies/org.p:f?fields=entries/DEFAULT/subjects",
            json!({"entries": {"DEFAULT": {"subjects": {"nginx:ditto": {"type": "generated"}}}}}),
        ),
        (
            "/api/2/policies/org.p:f/entries?fields=DEFAULT/subjects",
            json!({"DEFAULT": {"subjects": {"nginx:ditto": {"type": "generated"}}}}),
        ),
        (
            "/api/2/policies/org.p:f/entries/DEFAULT?fields=subjects",
            json!({"subjects": {"nginx:ditto": {"type": "generated"}}}),
        ),
    ];
    for (path, expected) in cases {
        let a = call(&c, "GET", path, None).await;
        assert_eq!((a.status, a.json()), (200, expected), "{path}");
    }
    let a = call(&c, "GET", "/api/2/things/org.p:f?fields=_revision", None).await;
    assert!(a.json()["_revision"].is_number(), "{}", a.body);
    // `_policy`: the thing's policy joins the answer, whole or in part.
    let policy = HttpAnswer::json(&call(&c, "GET", "/api/2/policies/org.p:f", None).await);
    assert!(policy["entries"].is_object(), "{policy}");
    let a = call(
        &c,
        "GET",
        "/api/2/things/org.p:f?fields=thingId,_policy",
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (200, json!({"thingId": "org.p:f", "_policy": policy}))
    );
    let a = call(
        &c,
        "GET",
        "/api/2/things/org.p:f?fields=_policy/entries/DEFAULT/subjects,attributes/a",
        None,
    )
    .await;
    assert_eq!(
        a.json(),
        json!({"attributes": {"a": 1},
            "_policy": {"entries": {"DEFAULT": {"subjects": {"nginx:ditto": {"type": "generated"}}}}}})
    );
    // Who may read the thing but not its policy gets the thing without it.
    let a = call(
        &c,
        "PUT",
        "/api/2/policies/org.p:f/entries/reader",
        Some(r#"{"subjects":{"nginx:bob":{"type":"test"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = api_call(
        &c,
        ("bob", "bob-pw"),
        "GET",
        "/api/2/things/org.p:f?fields=thingId,_policy",
        None,
    )
    .await;
    assert_eq!((a.status, a.json()), (200, json!({"thingId": "org.p:f"})));
    for path in [
        "/api/2/things/org.p:f?fields=a(",
        "/api/2/policies/org.p:f?fields=a(",
    ] {
        let a = call(&c, "GET", path, None).await;
        assert_eq!(
            (a.status, a.json()["error"].clone()),
            (400, json!("things:field.selection.invalid")),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_answers_carry_location_and_a_missing_thing_takes_no_messages() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let base = c.http_base(0);
    for (path, body) in [
        ("/api/2/things/org.p:l?timeout=10", "{}"),
        ("/api/2/things/org.p:l/attributes/a%20b", "1"),
        (
            "/api/2/policies/org.p:lp",
            r#"{"entries":{"o":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}"#,
        ),
    ] {
        let a = call(&c, "PUT", path, Some(body)).await;
        assert_eq!(a.status, 201, "{path}: {}", a.body);
        let without_query = path.split('?').next().unwrap_or(path);
        assert_eq!(
            a.header("location"),
            Some(format!("{base}{without_query}").as_str()),
            "{path}"
        );
    }
    let a = call(
        &c,
        "PUT",
        "/api/2/things/org.p:l/attributes/a%20b",
        Some("2"),
    )
    .await;
    assert_eq!(a.status, 204);
    assert_eq!(a.header("location"), None, "only a 201 has a Location");
    // A message to a thing that does not exist: not found (Ditto), not "not allowed".
    let a = call(
        &c,
        "POST",
        "/api/2/things/org.p:nothing/inbox/messages/ask?timeout=1",
        Some("1"),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (404, json!("things:thing.notfound")),
        "{}",
        a.body
    );
}
