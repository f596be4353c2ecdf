//! The HTTP API's utility and collection routes (issue 20, item 6), answered as Ditto's are:
//! `whoami`, `checkPermissions` (each check answered by the entity's policy, `false` when
//! not granted or not there), the multi-get `GET /api/2/things?ids=…` (order kept, missing and unreadable things
//! left out, `fields` applied) and `POST /api/2/things` (a generated id, 201 with `Location`).

use serde_json::json;
use twinwire_tests::{api_call, http_exchange, Cluster, ClusterOptions, HttpAnswer};

async fn call(c: &Cluster, method: &str, path: &str, body: Option<&str>) -> HttpAnswer {
    api_call(c, ("ditto", "ditto"), method, path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_callers_subjects() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let a = call(&c, "GET", "/api/2/whoami", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"defaultSubject": "nginx:ditto", "subjects": ["nginx:ditto"]})
    );
    let a = api_call(&c, ("bob", "bob-pw"), "GET", "/api/2/whoami", None).await;
    assert_eq!(a.json()["defaultSubject"], "nginx:bob", "{}", a.body);
    let a = http_exchange(
        "GET",
        &format!("{}/api/2/whoami", c.http_base(0)),
        &[],
        None,
    )
    .await
    .expect("gateway answers");
    assert_eq!(a.status, 401, "unauthenticated: {}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_things_in_the_order_asked_without_missing_or_unreadable_ones() {
    let c = Cluster::start(ClusterOptions::default()).await;
    for (id, n) in [("org.m:a", 1), ("org.m:b", 2), ("org.m:c", 3)] {
        let body = json!({"attributes": {"n": n, "other": true}}).to_string();
        let a = call(&c, "PUT", &format!("/api/2/things/{id}"), Some(&body)).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    // bob may read org.m:c only.
    let a = call(
        &c,
        "PUT",
        "/api/2/policies/org.m:c/entries/reader",
        Some(r#"{"subjects":{"nginx:bob":{"type":"test"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);

    let a = call(
        &c,
        "GET",
        "/api/2/things?ids=org.m:c,org.m:missing,org.m:a&fields=thingId,attributes/n",
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!([
            {"thingId": "org.m:c", "attributes": {"n": 3}},
            {"thingId": "org.m:a", "attributes": {"n": 1}}
        ])
    );
    // Repeated `ids` are joined; without `fields` whole things come back.
    let a = call(&c, "GET", "/api/2/things?ids=org.m:b&ids=org.m%3Aa", None).await;
    let got = a.json();
    let ids: Vec<_> = got
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| t["thingId"].clone())
        .collect();
    assert_eq!(ids, [json!("org.m:b"), json!("org.m:a")], "{}", a.body);
    assert_eq!(got[0]["attributes"], json!({"n": 2, "other": true}));

    let a = api_call(
        &c,
        ("bob", "bob-pw"),
        "GET",
        "/api/2/things?ids=org.m:a,org.m:b,org.m:c&fields=thingId",
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (200, json!([{"thingId": "org.m:c"}])),
        "unreadable things are left out"
    );
    let a = api_call(
        &c,
        ("bob", "bob-pw"),
        "GET",
        "/api/2/things?ids=org.m:a",
        None,
    )
    .await;
    assert_eq!((a.status, a.json()), (200, json!([])));
    let a = call(&c, "GET", "/api/2/things", None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.json()["error"], "things:things.ids.missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_thing_gets_a_generated_id_and_its_location() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let a = call(
        &c,
        "POST",
        "/api/2/things?namespace=org.new",
        Some(r#"{"attributes":{"made":"by post"}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["thingId"]
        .as_str()
        .expect("the created thing names its id")
        .to_owned();
    let name = id.strip_prefix("org.new:").expect("in the namespace asked");
    assert!(uuid::Uuid::parse_str(name).is_ok(), "a UUID name: {id}");
    assert_eq!(
        a.header("location"),
        Some(format!("{}/api/2/things/{id}", c.http_base(0)).as_str()),
        "Location names the new thing"
    );
    assert!(a.header("etag").is_some(), "an ETag: {:?}", a.headers);
    let a = call(&c, "GET", &format!("/api/2/things/{id}/attributes"), None).await;
    assert_eq!((a.status, a.json()), (200, json!({"made": "by post"})));

    // Without a namespace: Ditto's default, the empty one.
    let a = call(&c, "POST", "/api/2/things", Some("{}")).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["thingId"].as_str().unwrap_or_default().to_owned();
    assert!(id.starts_with(':') && id.len() > 1, "{id}");
    let a = call(&c, "GET", &format!("/api/2/things/{id}"), None).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Two posts, two things.
    let b = call(&c, "POST", "/api/2/things", None).await;
    assert_eq!(b.status, 201, "{}", b.body);
    assert_ne!(b.json()["thingId"], json!(id));

    let a = call(&c, "POST", "/api/2/things?channel=live", Some("{}")).await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (405, json!("things:thing.notcreatable")),
        "{}",
        a.body
    );
    let a = call(
        &c,
        "POST",
        "/api/2/things",
        Some(r#"{"thingId":"org.x:y"}"#),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (400, json!("things:id.notsettable")),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_permissions_answers_each_named_check_from_the_entitys_policy() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let a = call(
        &c,
        "PUT",
        "/api/2/things/org.c:t",
        Some(r#"{"attributes":{"a":1}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = call(
        &c,
        "PUT",
        "/api/2/policies/org.c:t/entries/reader",
        Some(r#"{"subjects":{"nginx:bob":{"type":"test"}},"resources":{"thing:/attributes":{"grant":["READ"],"revoke":[]}}}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let check = |resource: &str, entity: &str, perms: &[&str]| json!({"resource": resource, "entityId": entity, "hasPermissions": perms});
    let body = json!({
        "readAttributes": check("thing:/attributes/a", "org.c:t", &["READ"]),
        "writeAttributes": check("thing:/attributes", "org.c:t", &["READ", "WRITE"]),
        "readThing": check("thing:/", "org.c:t", &["READ"]),
        "sendMessage": check("message:/inbox/messages/x", "org.c:t", &["WRITE"]),
        "readPolicy": check("policy:/", "org.c:t", &["READ"]),
        "missingThing": check("thing:/", "org.c:missing", &["READ"]),
    })
    .to_string();
    let a = api_call(
        &c,
        ("bob", "bob-pw"),
        "POST",
        "/api/2/checkPermissions",
        Some(&body),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"readAttributes": true, "writeAttributes": false, "readThing": false,
            "sendMessage": false, "readPolicy": false, "missingThing": false})
    );
    let a = call(&c, "POST", "/api/2/checkPermissions", Some(&body)).await;
    assert_eq!(
        a.json(),
        json!({"readAttributes": true, "writeAttributes": true, "readThing": true,
            "sendMessage": true, "readPolicy": true, "missingThing": false}),
        "the owner holds everything on what exists"
    );
    let bad = json!({"x": check("connection:/", "org.c:t", &["READ"])}).to_string();
    let a = call(&c, "POST", "/api/2/checkPermissions", Some(&bad)).await;
    assert_eq!(a.status, 400, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_permissions_is_no_websocket_command() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut ws = c.connect(0, "ditto").await;
    let r = ws
        .request(json!({
            "topic": "org.example/demo/things/twin/commands/checkPermissions",
            "path": "/",
            "value": {}
        }))
        .await;
    assert_eq!(r["status"], 400, "{r}");
    assert_eq!(
        r["value"]["error"], "protocoladapter:unknown.topicpath",
        "{r}"
    );
}
