//! The HTTP API's methods and channels as Ditto's (issue 20): a wrong method on a known route is
//! Pekko's 405 with `Allow`, the query parameters Ditto takes as headers act as them, and
//! `channel=live` and the smart live channel (`live-channel-condition`) reach a device on the
//! other node, with the timeout strategies of ditto-features §3.

use serde_json::{json, Value};
use twinwire_tests::{
    api_call, basic_auth, http_exchange, Client, Cluster, ClusterOptions, HttpAnswer,
};

async fn call(c: &Cluster, method: &str, path: &str, body: Option<&str>) -> HttpAnswer {
    api_call(c, ("alice", "alice-pw"), method, path, body).await
}

/// A thing owned by alice; bob (the device) may read and write it.
async fn setup(c: &Cluster) {
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:alice": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "device": {"subjects": {"nginx:bob": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}}}}});
    let a = call(
        c,
        "PUT",
        "/api/2/policies/org.ch:lamp",
        Some(&policy.to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let thing = json!({"policyId": "org.ch:lamp", "attributes": {"on": true}});
    let a = call(
        c,
        "PUT",
        "/api/2/things/org.ch:lamp",
        Some(&thing.to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
}

/// The device, on the other node, receiving live commands.
async fn device(c: &Cluster) -> Client {
    let mut bob = c.connect(1, "bob").await;
    bob.subscribe("START-SEND-LIVE-COMMANDS", "START-SEND-LIVE-COMMANDS:ACK")
        .await;
    bob
}

/// The device answers the next live command with `status` and `value`; returns the command.
async fn answer(bob: &mut Client, status: u16, value: Value) -> Value {
    let cmd = bob.recv_json().await;
    bob.send_json(
        &json!({"topic": cmd["topic"], "path": cmd["path"], "status": status,
        "headers": {"correlation-id": cmd["headers"]["correlation-id"]}, "value": value}),
    )
    .await;
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_on_a_known_route_is_405_with_the_routes_methods() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let table = [
        ("POST", "/api/2/things/org.ch:x", "GET, PUT, PATCH, DELETE"),
        (
            "POST",
            "/api/2/things/org.ch:x/attributes/a",
            "GET, PUT, PATCH, DELETE",
        ),
        ("PATCH", "/api/2/policies/org.ch:x", "GET, PUT, DELETE"),
        (
            "PATCH",
            "/api/2/policies/org.ch:x/entries/e",
            "GET, PUT, DELETE",
        ),
        ("GET", "/api/2/things/org.ch:x/inbox/messages/ask", "POST"),
        (
            "PUT",
            "/api/2/things/org.ch:x/features/f/outbox/messages/a",
            "POST",
        ),
        ("GET", "/api/2/things/org.ch:x/inbox/claim", "POST"),
        (
            "GET",
            "/api/2/policies/org.ch:x/actions/activateTokenIntegration",
            "POST",
        ),
        ("DELETE", "/api/2/whoami", "GET"),
        ("GET", "/api/2/checkPermissions", "POST"),
        ("PUT", "/api/2/things", "GET, POST"),
    ];
    for (method, path, allowed) in table {
        let a = call(&c, method, path, None).await;
        assert_eq!(
            (a.status, a.header("allow"), a.body.as_str()),
            (
                405,
                Some(allowed),
                format!("HTTP method not allowed, supported methods: {allowed}").as_str()
            ),
            "{method} {path}"
        );
    }
    // Authentication comes first, as in Ditto.
    let a = http_exchange(
        "POST",
        &format!("{}/api/2/things/org.ch:x", c.http_base(0)),
        &[],
        None,
    )
    .await
    .unwrap();
    assert_eq!(a.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_act_as_the_headers_of_their_name() {
    let c = Cluster::start(ClusterOptions::default()).await;
    setup(&c).await;
    let a = call(
        &c,
        "GET",
        "/api/2/things/org.ch:lamp?correlation-id=q-1",
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.header("correlation-id")),
        (200, Some("q-1")),
        "{}",
        a.body
    );
    let a = call(
        &c,
        "PUT",
        "/api/2/things/org.ch:lamp/attributes/on?response-required=false",
        Some("false"),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (202, ""));
    let a = call(&c, "GET", "/api/2/things/org.ch:lamp/attributes/on", None).await;
    assert_eq!((a.status, a.json()), (200, json!(false)));
    let a = call(&c, "GET", "/api/2/things/org.ch:lamp?timeout=61s", None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = call(
        &c,
        "GET",
        "/api/2/things/org.ch:lamp?live-channel-timeout-strategy=sometimes&live-channel-condition=eq(attributes/on,false)",
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (400, json!("header.invalid")),
        "{}",
        a.body
    );
    // A live-channel condition is for retrieves only (Ditto's 405).
    let a = call(
        &c,
        "PUT",
        "/api/2/things/org.ch:lamp/attributes/on?live-channel-condition=eq(attributes/on,false)",
        Some("true"),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (405, json!("things:live.channelcondition.notallowed")),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_live_is_answered_by_the_device_on_the_other_node() {
    let c = Cluster::start(ClusterOptions::default()).await;
    setup(&c).await;
    let mut bob = device(&c).await;
    let base = c.http_base(0);
    let auth = basic_auth("alice", "alice-pw");
    let asked = tokio::spawn(async move {
        http_exchange(
            "GET",
            &format!("{base}/api/2/things/org.ch:lamp/attributes/on?channel=live&timeout=10s"),
            &[("Authorization", &auth)],
            None,
        )
        .await
        .unwrap()
    });
    let cmd = answer(&mut bob, 200, json!("from-device")).await;
    assert_eq!(cmd["topic"], "org.ch/lamp/things/live/commands/retrieve");
    assert_eq!(cmd["path"], "/attributes/on");
    let a = asked.await.unwrap();
    assert_eq!((a.status, a.json()), (200, json!("from-device")));
    // A live modify, as a header this time: the twin is untouched.
    let base = c.http_base(0);
    let auth = basic_auth("alice", "alice-pw");
    let asked = tokio::spawn(async move {
        http_exchange(
            "PUT",
            &format!("{base}/api/2/things/org.ch:lamp/attributes/on"),
            &[
                ("Authorization", &auth),
                ("channel", "live"),
                ("Content-Type", "application/json"),
            ],
            Some(b"false"),
        )
        .await
        .unwrap()
    });
    let cmd = answer(&mut bob, 204, Value::Null).await;
    assert_eq!(cmd["topic"], "org.ch/lamp/things/live/commands/modify");
    assert_eq!(cmd["value"], false);
    assert_eq!(asked.await.unwrap().status, 204);
    let a = call(&c, "GET", "/api/2/things/org.ch:lamp/attributes/on", None).await;
    assert_eq!(a.json(), json!(true));
    // Nobody answers: 408.
    let a = call(
        &c,
        "GET",
        "/api/2/things/org.ch:lamp?channel=live&timeout=1s",
        None,
    )
    .await;
    let _unanswered = bob.recv_json().await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (408, json!("command.timeout")),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smart_channel_on_http_takes_the_devices_answer_or_the_strategys() {
    let c = Cluster::start(ClusterOptions::default()).await;
    setup(&c).await;
    let mut bob = device(&c).await;
    let smart = |cond: &str, extra: &str| {
        format!("/api/2/things/org.ch:lamp/attributes?live-channel-condition={cond}{extra}")
    };

    // The condition holds: the device answers, marked as the live channel's.
    let base = c.http_base(0);
    let auth = basic_auth("alice", "alice-pw");
    let path = smart("eq(attributes/on,true)", "&timeout=10s");
    let asked = tokio::spawn(async move {
        http_exchange(
            "GET",
            &format!("{base}{path}"),
            &[("Authorization", &auth)],
            None,
        )
        .await
        .unwrap()
    });
    let cmd = answer(&mut bob, 200, json!({"on": "from-device"})).await;
    assert_eq!(cmd["topic"], "org.ch/lamp/things/live/commands/retrieve");
    assert!(cmd["headers"].get("live-channel-condition").is_none());
    let a = asked.await.unwrap();
    assert_eq!(
        (
            a.status,
            a.json(),
            a.header("channel"),
            a.header("live-channel-condition-matched")
        ),
        (
            200,
            json!({"on": "from-device"}),
            Some("live"),
            Some("true")
        )
    );

    // It does not: the twin answers and no device is asked.
    let a = call(&c, "GET", &smart("eq(attributes/on,false)", ""), None).await;
    assert_eq!(
        (
            a.status,
            a.json(),
            a.header("channel"),
            a.header("live-channel-condition-matched")
        ),
        (200, json!({"on": true}), Some("twin"), Some("false"))
    );

    // It holds and the device stays silent: use-twin answers from the twin, fail is 408.
    let a = call(
        &c,
        "GET",
        &smart(
            "eq(attributes/on,true)",
            "&timeout=1s&live-channel-timeout-strategy=use-twin",
        ),
        None,
    )
    .await;
    let _unanswered = bob.recv_json().await;
    assert_eq!(
        (
            a.status,
            a.json(),
            a.header("channel"),
            a.header("live-channel-condition-matched")
        ),
        (200, json!({"on": true}), Some("twin"), Some("true"))
    );
    let a = call(
        &c,
        "GET",
        &smart("eq(attributes/on,true)", "&timeout=1s"),
        None,
    )
    .await;
    let _unanswered = bob.recv_json().await;
    assert_eq!(
        (
            a.status,
            a.json()["error"].clone(),
            a.header("channel"),
            a.header("live-channel-condition-matched")
        ),
        (408, json!("command.timeout"), Some("live"), Some("true")),
        "{}",
        a.body
    );
}
