//! Conditional requests (ditto-features §1, §2) end to end: the `condition` header on every command
//! kind and on live messages, its errors, its READ rule and its order against `if-match`, and
//! `if-equal` with each value; over the WebSocket on node 1 with a subscriber on node 2, and over
//! the HTTP API on one keep-alive connection.

use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinwire_tests::{Client, Cluster, ClusterOptions};

const QUIET: Duration = Duration::from_millis(400);

fn cmd(thing: &str, action: &str, path: &str, value: Option<Value>, headers: Value) -> Value {
    let (ns, name) = thing.split_once(':').unwrap();
    let mut h = json!({"correlation-id": uuid::Uuid::new_v4().to_string()});
    if action == "merge" {
        h["content-type"] = json!("application/merge-patch+json");
    }
    for (k, v) in headers.as_object().unwrap() {
        h[k] = v.clone();
    }
    let mut c = json!({
        "topic": format!("{ns}/{name}/things/twin/commands/{action}"),
        "headers": h,
        "path": path,
    });
    if let Some(v) = value {
        c["value"] = v;
    }
    c
}

fn rw() -> Value {
    json!({"grant": ["READ", "WRITE"], "revoke": []})
}

/// A thing `ditto` owns and `alice` may read and write only under `/attributes/public`, with a
/// subscriber (`ditto`) on node 2.
async fn setup(c: &Cluster, thing: &str) -> (Client, Client) {
    let mut owner = c.connect(0, "ditto").await;
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:ditto": {"type": "t"}}, "resources": {"thing:/": rw(), "policy:/": rw(), "message:/": rw()}},
        "limited": {"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"thing:/attributes/public": rw(), "message:/": rw()}}}});
    let thing_json = json!({
        "_policy": policy,
        "attributes": {"a": 0, "public": 1, "secret": 2},
        "features": {"f": {"properties": {"p": 1, "q": 1}}}
    });
    let r = owner
        .request(cmd(thing, "create", "/", Some(thing_json), json!({})))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let mut sub = c.connect(1, "ditto").await;
    sub.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    (owner, sub)
}

async fn expect_event(sub: &mut Client, action: &str, path: &str) -> Value {
    let e = sub.recv_json().await;
    assert!(
        e["topic"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/things/twin/events/{action}")),
        "event {action}: {e}"
    );
    assert_eq!(e["path"], path, "{e}");
    e
}

fn assert_error(r: &Value, status: u16, code: &str) {
    assert_eq!(r["status"], status, "{r}");
    assert_eq!(r["value"]["error"], code, "{r}");
}

const NOT_MET: &str = "The specified condition does not match the state of the requested Thing.";
const NOT_READABLE: &str = "The specified resource in the condition could not be found or the requester had insufficient permissions to access it.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_condition_changes_nothing_and_emits_nothing_and_a_true_one_applies() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let t = "org.cond:one";
    let (mut ws, mut sub) = setup(&c, t).await;
    let no = json!({"condition": "eq(attributes/a,1)"});
    let yes = json!({"condition": "eq(attributes/a,0)"});

    // Each command kind, on the thing and on sub-resources, with a false condition: 412, nothing.
    let refused = [
        cmd(t, "modify", "/attributes/a", Some(json!(5)), no.clone()),
        cmd(
            t,
            "modify",
            "/",
            Some(json!({"attributes": {}})),
            no.clone(),
        ),
        cmd(
            t,
            "merge",
            "/features/f/properties",
            Some(json!({"p": 2})),
            no.clone(),
        ),
        cmd(t, "delete", "/features/f/properties/q", None, no.clone()),
        cmd(t, "delete", "/", None, no.clone()),
        cmd(t, "retrieve", "/attributes", None, no.clone()),
    ];
    for c in refused {
        let r = ws.request(c.clone()).await;
        assert_error(&r, 412, "things:condition.failed");
        assert_eq!(r["value"]["message"], NOT_MET, "{r}");
        assert_eq!(
            r["value"]["description"],
            "The provided condition did not match the actual Thing state. Please check your provided condition."
        );
        assert!(
            r["topic"]
                .as_str()
                .unwrap()
                .ends_with("/things/twin/errors"),
            "{r}"
        );
    }
    sub.expect_silence(QUIET).await;
    let r = ws.request(cmd(t, "retrieve", "/", None, json!({}))).await;
    assert_eq!(
        r["value"]["attributes"],
        json!({"a": 0, "public": 1, "secret": 2})
    );
    assert_eq!(
        r["value"]["features"]["f"]["properties"],
        json!({"p": 1, "q": 1})
    );
    assert_eq!(r["headers"]["entity-revision"], 1, "{r}");

    // True: applied, with its event on the other node.
    let r = ws
        .request(cmd(t, "retrieve", "/attributes/a", None, yes.clone()))
        .await;
    assert_eq!(
        (r["status"].clone(), r["value"].clone()),
        (json!(200), json!(0)),
        "{r}"
    );
    let r = ws
        .request(cmd(
            t,
            "merge",
            "/features/f/properties",
            Some(json!({"p": 2})),
            yes.clone(),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    expect_event(&mut sub, "merged", "/features/f/properties").await;
    let r = ws
        .request(cmd(
            t,
            "delete",
            "/features/f/properties/q",
            None,
            yes.clone(),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    expect_event(&mut sub, "deleted", "/features/f/properties/q").await;
    let r = ws
        .request(cmd(
            t,
            "modify",
            "/attributes/a",
            Some(json!(1)),
            yes.clone(),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    let e = expect_event(&mut sub, "modified", "/attributes/a").await;
    assert_eq!(e["value"], 1);
    // The condition sees the new state: the same condition now fails.
    let r = ws
        .request(cmd(
            t,
            "modify",
            "/attributes/a",
            Some(json!(2)),
            yes.clone(),
        ))
        .await;
    assert_error(&r, 412, "things:condition.failed");
    // Metadata fields and time:now work as in Ditto.
    let r = ws
        .request(cmd(
            t,
            "modify",
            "/attributes/a",
            Some(json!(3)),
            json!({"condition": "and(eq(_revision,4),lt(_modified,time:now))"}),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    expect_event(&mut sub, "modified", "/attributes/a").await;
    sub.expect_silence(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_conditions_unreadable_fields_and_the_order_against_if_match() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let t = "org.cond:two";
    let (mut ws, mut sub) = setup(&c, t).await;
    let modify_a = |v: i64, h: Value| cmd(t, "modify", "/attributes/a", Some(json!(v)), h);

    // Invalid syntax: 400 things:condition.invalid, naming the condition.
    let r = ws
        .request(modify_a(1, json!({"condition": "eq(attributes/a,1"})))
        .await;
    assert_error(&r, 400, "things:condition.invalid");
    assert_eq!(
        r["value"]["message"],
        "The specified condition 'eq(attributes/a,1' is invalid."
    );
    // A name conditions do not know: 400 rql.expression.invalid.
    let r = ws
        .request(modify_a(1, json!({"condition": "eq(foo,1)"})))
        .await;
    assert_error(&r, 400, "rql.expression.invalid");

    // alice may read and write /attributes/public only.
    let mut alice = c.connect(0, "alice").await;
    let r = alice
        .request(cmd(
            t,
            "modify",
            "/attributes/public",
            Some(json!(7)),
            json!({"condition": "eq(attributes/public,1)"}),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    expect_event(&mut sub, "modified", "/attributes/public").await;
    // A condition on a field she cannot read: 412 with Ditto's other message, whether or not the
    // command itself would be allowed (no 403 for the write she lacks).
    for (path, cond) in [
        ("/attributes/public", "eq(attributes/secret,2)"),
        ("/attributes/secret", "eq(attributes/secret,2)"),
        ("/attributes/public", "exists(features)"),
    ] {
        let r = alice
            .request(cmd(
                t,
                "modify",
                path,
                Some(json!(8)),
                json!({"condition": cond}),
            ))
            .await;
        assert_error(&r, 412, "things:condition.failed");
        assert_eq!(r["value"]["message"], NOT_READABLE, "{r}");
    }
    // Without a condition, the same write is her 403.
    let r = alice
        .request(cmd(
            t,
            "modify",
            "/attributes/secret",
            Some(json!(8)),
            json!({}),
        ))
        .await;
    assert_eq!(r["status"], 403, "{r}");

    // Order: the condition is checked before if-match.
    let r = ws
        .request(modify_a(
            1,
            json!({"condition": "eq(attributes/a,9)", "if-match": "\"rev:99\""}),
        ))
        .await;
    assert_error(&r, 412, "things:condition.failed");
    let r = ws
        .request(modify_a(
            1,
            json!({"condition": "eq(attributes/a,0)", "if-match": "\"rev:99\""}),
        ))
        .await;
    assert_error(&r, 412, "things:precondition.failed");
    let r = ws
        .request(modify_a(
            1,
            json!({"condition": "eq(attributes/a,0)", "if-match": "\"rev:2\""}),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    expect_event(&mut sub, "modified", "/attributes/a").await;
    // A create ignores the condition.
    let r = ws
        .request(cmd(
            "org.cond:new",
            "create",
            "/",
            Some(json!({})),
            json!({"condition": "eq(attributes/a,1)"}),
        ))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    sub.recv_json().await;
    sub.expect_silence(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_equal_skips_writes_that_change_nothing_and_minimizes_merges() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let t = "org.cond:three";
    let (mut ws, mut sub) = setup(&c, t).await;
    let skip = json!({"if-equal": "skip"});
    let modify_a = |v: i64, h: Value| cmd(t, "modify", "/attributes/a", Some(json!(v)), h);
    let merge_props = |v: Value, h: Value| cmd(t, "merge", "/features/f/properties", Some(v), h);

    // skip, same value: 412 precondition.failed, no event.
    let r = ws.request(modify_a(0, skip.clone())).await;
    assert_error(&r, 412, "things:precondition.failed");
    assert_eq!(
        r["value"]["message"],
        "The previous value was equal to the new value and the 'if-equal' header was set to 'skip'."
    );
    assert_eq!(
        r["value"]["description"],
        "Your changes were not applied, which is probably the expected outcome."
    );
    let r = ws.request(merge_props(json!({"p": 1}), skip.clone())).await;
    assert_error(&r, 412, "things:precondition.failed");
    sub.expect_silence(QUIET).await;
    // skip, a real change: applied with its event.
    let r = ws.request(modify_a(1, skip.clone())).await;
    assert_eq!(r["status"], 204, "{r}");
    expect_event(&mut sub, "modified", "/attributes/a").await;
    // update (and no header): applied with an event even when equal.
    for h in [json!({"if-equal": "update"}), json!({})] {
        let r = ws.request(modify_a(1, h)).await;
        assert_eq!(r["status"], 204, "{r}");
        expect_event(&mut sub, "modified", "/attributes/a").await;
    }
    // skip-minimizing-merge: equal merge 412; a partial change carries only the change.
    let smm = json!({"if-equal": "skip-minimizing-merge"});
    let r = ws
        .request(merge_props(json!({"p": 1, "q": 1}), smm.clone()))
        .await;
    assert_error(&r, 412, "things:precondition.failed");
    let r = ws
        .request(merge_props(json!({"p": 1, "q": 5, "r": 6}), smm.clone()))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    let e = expect_event(&mut sub, "merged", "/features/f/properties").await;
    assert_eq!(e["value"], json!({"q": 5, "r": 6}));
    let r = ws
        .request(cmd(
            t,
            "retrieve",
            "/features/f/properties",
            None,
            json!({}),
        ))
        .await;
    assert_eq!(r["value"], json!({"p": 1, "q": 5, "r": 6}));
    // On a modify, Ditto's code treats skip-minimizing-merge like update.
    let r = ws.request(modify_a(1, smm.clone())).await;
    assert_eq!(r["status"], 204, "{r}");
    expect_event(&mut sub, "modified", "/attributes/a").await;
    // Other values: 400 header.invalid.
    let r = ws
        .request(modify_a(2, json!({"if-equal": "sometimes"})))
        .await;
    assert_error(&r, 400, "header.invalid");
    assert_eq!(
        r["value"]["description"],
        "The value must either be one of: <update>, <skip>, <skip-minimizing-merge>."
    );
    sub.expect_silence(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_message_with_a_false_condition_is_not_delivered() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let t = "org.cond:four";
    let (mut ws, _sub) = setup(&c, t).await;
    let mut device = c.connect(1, "ditto").await;
    device
        .subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;
    let msg = |cid: &str, cond: &str| {
        json!({"topic": "org.cond/four/things/live/messages/ask", "path": "/inbox/messages/ask",
            "headers": {"correlation-id": cid, "condition": cond, "timeout": "2s"}, "value": 1})
    };
    ws.send_json(&msg("m1", "eq(attributes/a,1)")).await;
    let r = ws.recv_json().await;
    assert_error(&r, 412, "things:condition.failed");
    device.expect_silence(QUIET).await;
    // An invalid one is Ditto's rql.expression.invalid for messages.
    ws.send_json(&msg("m2", "eq(attributes/a,1")).await;
    let r = ws.recv_json().await;
    assert_error(&r, 400, "rql.expression.invalid");
    device.expect_silence(QUIET).await;
    ws.send_json(&msg("m3", "eq(attributes/a,0)")).await;
    let m = device.recv_json().await;
    assert_eq!(m["headers"]["correlation-id"], "m3", "{m}");
}

/// One HTTP/1.1 request on an open connection (as `ditto`); the answer's status and body.
async fn http(
    s: &mut tokio::net::TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ZGl0dG86ZGl0dG8=\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    (
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    )
}

fn error_code(body: &str) -> Value {
    serde_json::from_str::<Value>(body).unwrap()["error"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_takes_the_condition_as_query_parameter_or_header_and_if_equal_as_header() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let t = "org.cond:five";
    let (_ws, mut sub) = setup(&c, t).await;
    let addr = c.http_base(0).trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let url = "/api/2/things/org.cond:five/attributes/a";
    let json_ct = ("Content-Type", "application/json");
    let false_q = format!("{url}?condition=eq(attributes%2Fa,1)");

    let (st, body) = http(&mut s, "PUT", &false_q, &[json_ct], Some("5")).await;
    assert_eq!(
        (st, error_code(&body)),
        (412, json!("things:condition.failed")),
        "{body}"
    );
    let cond_header = ("condition", "eq(attributes/a,1)");
    let (st, body) = http(&mut s, "PUT", url, &[json_ct, cond_header], Some("5")).await;
    assert_eq!(
        (st, error_code(&body)),
        (412, json!("things:condition.failed")),
        "{body}"
    );
    let (st, body) = http(&mut s, "GET", &false_q, &[], None).await;
    assert_eq!(st, 412, "{body}");
    let invalid_q = format!("{url}?condition=eq(attributes%2Fa,1");
    let (st, body) = http(&mut s, "PUT", &invalid_q, &[json_ct], Some("5")).await;
    assert_eq!(
        (st, error_code(&body)),
        (400, json!("things:condition.invalid")),
        "{body}"
    );
    sub.expect_silence(QUIET).await;

    let true_q = format!("{url}?condition=eq(attributes%2Fa,0)");
    let (st, body) = http(&mut s, "PUT", &true_q, &[json_ct], Some("5")).await;
    assert_eq!(st, 204, "{body}");
    expect_event(&mut sub, "modified", "/attributes/a").await;
    let (st, body) = http(
        &mut s,
        "PUT",
        url,
        &[json_ct, ("if-equal", "skip")],
        Some("5"),
    )
    .await;
    assert_eq!(
        (st, error_code(&body)),
        (412, json!("things:precondition.failed")),
        "{body}"
    );
    let merge_ct = ("Content-Type", "application/merge-patch+json");
    let (st, body) = http(
        &mut s,
        "PATCH",
        "/api/2/things/org.cond:five/attributes",
        &[merge_ct, ("if-equal", "skip-minimizing-merge")],
        Some(r#"{"a":5,"b":1}"#),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    let e = expect_event(&mut sub, "merged", "/attributes").await;
    assert_eq!(e["value"], json!({"b": 1}));
    let (st, body) = http(&mut s, "GET", url, &[], None).await;
    assert_eq!((st, body.as_str()), (200, "5"));
    sub.expect_silence(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_equal_skip_refuses_policy_writes_that_change_nothing() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut owner = c.connect(0, "ditto").await;
    let entry = json!({"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}});
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:ditto": {"type": "t"}}, "resources": {"policy:/": rw(), "thing:/": rw()}},
        "guest": entry}});
    let r = owner
        .request(
            json!({"topic": "org.ifeq/p/policies/commands/create", "path": "/", "value": policy}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let modify = |path: &str, value: Value, if_equal: &str| json!({"topic": "org.ifeq/p/policies/commands/modify", "path": path, "value": value, "headers": {"if-equal": if_equal}});
    // The same entry again: 412 with `skip`, applied with `update`.
    let r = owner
        .request(modify("/entries/guest", entry.clone(), "skip"))
        .await;
    assert_eq!(
        r["value"],
        json!({"status": 412, "error": "policies:precondition.failed",
               "message": "The previous value was equal to the new value and the 'if-equal' header was set to 'skip'.",
               "description": "Your changes were not applied, which is probably the expected outcome."}),
        "{r}"
    );
    let r = owner
        .request(modify("/entries/guest", entry.clone(), "update"))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    // The whole policy, unchanged: 412, and no new revision.
    let r = owner.request(modify("/", policy.clone(), "skip")).await;
    assert_eq!(r["status"], 412, "{r}");
    let r = owner
        .request(json!({"topic": "org.ifeq/p/policies/commands/retrieve", "path": "/"}))
        .await;
    assert_eq!(r["headers"]["etag"], "\"rev:2\"", "{r}");
    // A real change goes through with `skip`.
    let mut changed = entry.clone();
    changed["resources"]["thing:/"]["grant"] = json!(["READ", "WRITE"]);
    let r = owner
        .request(modify("/entries/guest", changed, "skip"))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    // A new entry is never equal to nothing.
    let r = owner.request(modify("/entries/other", entry, "skip")).await;
    assert_eq!(r["status"], 201, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_given_twice_or_diverging_from_its_query_parameter_is_refused() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let t = "org.cond:dup";
    let (_ws, mut sub) = setup(&c, t).await;
    let addr = c.http_base(0).trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let url = "/api/2/things/org.cond:dup/attributes/a";
    let json_ct = ("Content-Type", "application/json");
    let (status, body) = http(
        &mut s,
        "PUT",
        url,
        &[
            json_ct,
            ("condition", "eq(attributes/a,0)"),
            ("condition", "eq(attributes/a,0)"),
        ],
        Some("5"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": 400, "error": "gateway:duplicate.header.field",
               "message": "The send request contains headers which include a duplicate header field!",
               "description": "A request must not contain multiple header fields with the same field name. For more information see RFC 7230 section 3.2.2.",
               "href": "https://tools.ietf.org/rfc/rfc7230.txt"})
    );
    let q = format!("{url}?condition=eq(attributes%2Fa,1)");
    let (status, body) = http(
        &mut s,
        "PUT",
        &q,
        &[json_ct, ("condition", "eq(attributes/a,0)")],
        Some("5"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        "<condition> was provided as header as well as query parameter with divergent values!"
    );
    // The same value both ways is one header.
    let q = format!("{url}?condition=eq(attributes%2Fa,0)");
    let (status, body) = http(
        &mut s,
        "PUT",
        &q,
        &[json_ct, ("condition", "eq(attributes/a,0)")],
        Some("5"),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let e = expect_event(&mut sub, "modified", "/attributes/a").await;
    assert_eq!(e["value"], 5, "{e}");
    // Nothing of the refused ones happened.
    sub.expect_silence(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieve_things_leaves_out_things_whose_condition_does_not_hold() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let (mut owner, _sub) = setup(&c, "org.cond:r1").await;
    let r = owner
        .request(cmd(
            "org.cond:r2",
            "create",
            "/",
            Some(json!({"policyId": "org.cond:r1", "attributes": {"a": 5, "public": 1}})),
            json!({}),
        ))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let retrieve = |condition: &str| {
        json!({"topic": "org.cond/_/things/twin/commands/retrieve", "path": "/",
               "headers": {"condition": condition}, "fields": "thingId",
               "value": {"thingIds": ["org.cond:r1", "org.cond:r2"]}})
    };
    let r = owner.request(retrieve("gt(attributes/a,1)")).await;
    assert_eq!(r["value"], json!([{"thingId": "org.cond:r2"}]), "{r}");
    let r = owner.request(retrieve("exists(attributes/public)")).await;
    assert_eq!(
        r["value"],
        json!([{"thingId": "org.cond:r1"}, {"thingId": "org.cond:r2"}]),
        "{r}"
    );
    let r = owner.request(retrieve("gt(attributes/a")).await;
    assert_error(&r, 400, "things:condition.invalid");
    // A condition on fields the requester may not read holds for none.
    let mut alice = c.connect(0, "alice").await;
    let r = alice.request(retrieve("exists(attributes/secret)")).await;
    assert_eq!(r["value"], json!([]), "{r}");
    let r = alice
        .request(json!({"topic": "org.cond/_/things/twin/commands/retrieve", "path": "/",
                        "headers": {"condition": "eq(attributes/public,1)"}, "fields": "attributes/public",
                        "value": {"thingIds": ["org.cond:r1", "org.cond:r2"]}}))
        .await;
    assert_eq!(
        r["value"],
        json!([{"attributes": {"public": 1}}, {"attributes": {"public": 1}}]),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_patch_conditions_drop_the_parts_whose_condition_does_not_hold() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let t = "org.cond:patch";
    let (mut owner, mut sub) = setup(&c, t).await;
    let conditions =
        json!({"attributes/a": "eq(attributes/a,0)", "attributes/public": "eq(attributes/a,99)"});
    let r = owner
        .request(cmd(
            t,
            "merge",
            "/",
            Some(json!({"attributes": {"a": 7, "public": 9}})),
            json!({"merge-thing-patch-conditions": conditions}),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    let e = expect_event(&mut sub, "merged", "/").await;
    assert_eq!(e["value"], json!({"attributes": {"a": 7}}), "{e}");
    let r = owner
        .request(cmd(t, "retrieve", "/attributes", None, json!({})))
        .await;
    assert_eq!(r["value"], json!({"a": 7, "public": 1, "secret": 2}), "{r}");
    // Nothing left: 204 without a change or an event.
    let r = owner
        .request(cmd(
            t,
            "merge",
            "/attributes",
            Some(json!({"a": 8})),
            json!({"merge-thing-patch-conditions": {"a": "eq(attributes/a,0)"}}),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    sub.expect_silence(QUIET).await;
    let r = owner
        .request(cmd(t, "retrieve", "/attributes/a", None, json!({})))
        .await;
    assert_eq!(r["value"], 7, "{r}");
    // An invalid condition, and one on a field the requester may not read.
    let r = owner
        .request(cmd(
            t,
            "merge",
            "/attributes",
            Some(json!({"a": 8})),
            json!({"merge-thing-patch-conditions": {"a": "eq(attributes/a"}}),
        ))
        .await;
    assert_error(&r, 400, "rql.expression.invalid");
    let mut alice = c.connect(0, "alice").await;
    let r = alice
        .request(cmd(
            t,
            "merge",
            "/attributes/public",
            Some(json!(3)),
            json!({"merge-thing-patch-conditions": {"": "eq(attributes/secret,2)"}}),
        ))
        .await;
    assert_error(&r, 412, "things:condition.failed");
    assert_eq!(r["value"]["message"], NOT_READABLE, "{r}");
    sub.expect_silence(QUIET).await;
}
