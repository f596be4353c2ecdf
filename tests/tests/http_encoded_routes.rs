//! Every HTTP API route answers a percent-encoded spelling of its path as it answers the plain one
//! (issue 20): each character but `/` sent as `%XX`, letters and the route's own words included,
//! and for attribute and property paths also with their inner `/` as `%2F` (Ditto decodes those
//! paths as a whole). Reads are compared on status, body, `ETag` and `Location`; writes are made
//! idempotent (the same PUT twice, a DELETE of what was just put again) so that both spellings
//! meet the same state.

use serde_json::{json, Value};
use twinwire_tests::{api_call, Cluster, ClusterOptions, HttpAnswer};

/// Every character of `path` but `/` percent-encoded (the query, after `?`, left as it is).
fn encoded(path: &str) -> String {
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out: String = p
        .bytes()
        .map(|b| match b {
            b'/' => "/".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    if let Some(q) = q {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `encoded`, with the `/` inside the pointer after `marker` sent as `%2F` too.
fn encoded_pointer(path: &str, marker: &str) -> String {
    let (head, pointer) = path.split_once(marker).expect("marker in path");
    format!(
        "{}{}{}",
        encoded(head),
        encoded(marker),
        encoded(pointer).replace('/', "%2F")
    )
}

async fn call(c: &Cluster, method: &str, path: &str, body: Option<&Value>) -> HttpAnswer {
    let body = body.map(|b| b.to_string());
    api_call(c, ("ditto", "ditto"), method, path, body.as_deref()).await
}

/// What must be the same: status, body, and the headers a client acts on.
fn answer(a: &HttpAnswer) -> (u16, Value, Option<String>, Option<String>) {
    (
        a.status,
        if a.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&a.body).unwrap_or_else(|_| Value::String(a.body.clone()))
        },
        a.header("etag").map(str::to_owned),
        a.header("location").map(str::to_owned),
    )
}

async fn same(c: &Cluster, method: &str, plain: &str, variant: &str, body: Option<&Value>) {
    let p = call(c, method, plain, body).await;
    let v = call(c, method, variant, body).await;
    assert_eq!(answer(&v), answer(&p), "{method} {plain} as {variant}");
}

const THING: &str = "/api/2/things/org.enc:t-1";
const POLICY: &str = "/api/2/policies/org.enc:t-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_its_encoded_path_as_its_plain_one() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let thing = json!({"definition": "org.enc:d:1",
        "attributes": {"loc": {"lat": 1, "lon": 2}},
        "features": {"f-1": {"definition": ["org.enc:f:1"], "properties": {"p": {"q": 3}},
                             "desiredProperties": {"p": {"q": 4}}}}});
    let a = call(&c, "PUT", THING, Some(&thing)).await;
    assert_eq!(a.status, 201, "{}", a.body);

    // Reads of every thing and policy route.
    let reads = [
        THING.to_owned(),
        format!("{THING}?fields=attributes/loc/lat,_policy/entries"),
        format!("{THING}/attributes"),
        format!("{THING}/attributes/loc/lat"),
        format!("{THING}/definition"),
        format!("{THING}/policyId"),
        format!("{THING}/features"),
        format!("{THING}/features/f-1"),
        format!("{THING}/features/f-1/definition"),
        format!("{THING}/features/f-1/properties"),
        format!("{THING}/features/f-1/properties/p/q"),
        format!("{THING}/features/f-1/desiredProperties"),
        format!("{THING}/features/f-1/desiredProperties/p/q"),
        format!("{THING}/attributes/missing"),
        "/api/2/things/org.enc:missing".to_owned(),
        POLICY.to_owned(),
        format!("{POLICY}?fields=entries"),
        format!("{POLICY}/entries"),
        format!("{POLICY}/entries/DEFAULT"),
        format!("{POLICY}/entries/DEFAULT/subjects"),
        format!("{POLICY}/entries/DEFAULT/subjects/nginx:ditto"),
        format!("{POLICY}/entries/DEFAULT/resources"),
        format!("{POLICY}/entries/DEFAULT/resources/thing:/"),
        format!("{POLICY}/imports"),
        "/api/2/things?ids=org.enc:t-1,org.enc:missing&fields=thingId".to_owned(),
        "/api/2/whoami".to_owned(),
    ];
    for path in &reads {
        let v = encoded(path);
        same(&c, "GET", path, &v, None).await;
    }
    for (path, marker) in [
        (format!("{THING}/attributes/loc/lat"), "/attributes/"),
        (
            format!("{THING}/features/f-1/properties/p/q"),
            "/properties/",
        ),
        (
            format!("{THING}/features/f-1/desiredProperties/p/q"),
            "/desiredProperties/",
        ),
    ] {
        same(&c, "GET", &path, &encoded_pointer(&path, marker), None).await;
    }

    // Writes: the same PUT twice (both modify), then DELETE after putting back.
    let writes = [
        (format!("{THING}/attributes/loc/lat"), json!(5)),
        (format!("{THING}/attributes"), json!({"loc": {"lat": 5}})),
        (format!("{THING}/definition"), json!("org.enc:d:2")),
        (format!("{THING}/policyId"), json!("org.enc:t-1")),
        (format!("{THING}/features/f-1/properties/p/q"), json!(6)),
        (
            format!("{THING}/features/f-1/desiredProperties/p"),
            json!({"q": 7}),
        ),
        (
            format!("{THING}/features/f-1/definition"),
            json!(["org.enc:f:2"]),
        ),
        (
            format!("{POLICY}/entries/DEFAULT/subjects/nginx:carol"),
            json!({"type": "t"}),
        ),
        (
            format!("{POLICY}/entries/DEFAULT/resources/thing:/features"),
            json!({"grant": ["READ"], "revoke": []}),
        ),
    ];
    for (path, body) in &writes {
        let first = call(&c, "PUT", path, Some(body)).await;
        assert!(matches!(first.status, 201 | 204), "{path}: {}", first.body);
        same(&c, "PUT", path, &encoded(path), Some(body)).await;
    }
    same(
        &c,
        "PATCH",
        &format!("{THING}/attributes"),
        &encoded(&format!("{THING}/attributes")),
        Some(&json!({"x": 1})),
    )
    .await;
    for (path, body) in &writes[..2] {
        let plain = call(&c, "DELETE", path, None).await;
        call(&c, "PUT", path, Some(body)).await;
        let variant = call(&c, "DELETE", &encoded(path), None).await;
        assert_eq!(answer(&variant), answer(&plain), "DELETE {path}");
    }
    let subject = format!("{POLICY}/entries/DEFAULT/subjects/nginx:carol");
    let plain = call(&c, "DELETE", &subject, None).await;
    call(&c, "PUT", &subject, Some(&json!({"type": "t"}))).await;
    let variant = call(&c, "DELETE", &encoded(&subject), None).await;
    assert_eq!(answer(&variant), answer(&plain), "DELETE {subject}");

    // Posts: messages and the claim (fire and forget), checkPermissions, and a wrong method.
    for path in [
        format!("{THING}/inbox/messages/ask?timeout=0"),
        format!("{THING}/outbox/messages/tell?timeout=0"),
        format!("{THING}/features/f-1/inbox/messages/ask?timeout=0"),
        format!("{THING}/inbox/claim?timeout=0"),
        format!("{THING}/attributes"),
        "/api/2/things/org.enc:missing/inbox/messages/ask".to_owned(),
    ] {
        same(&c, "POST", &path, &encoded(&path), Some(&json!({"m": 1}))).await;
    }
    let check = json!({"r": {"resource": "thing:/attributes", "entityId": "org.enc:t-1", "hasPermissions": ["READ"]}});
    same(
        &c,
        "POST",
        "/api/2/checkPermissions",
        &encoded("/api/2/checkPermissions"),
        Some(&check),
    )
    .await;
    // A created thing: the same answer but for its generated id.
    let p = call(
        &c,
        "POST",
        "/api/2/things?namespace=org.enc",
        Some(&json!({})),
    )
    .await;
    let v = call(
        &c,
        "POST",
        &encoded("/api/2/things?namespace=org.enc"),
        Some(&json!({})),
    )
    .await;
    assert_eq!((p.status, v.status), (201, 201));
    let location = |a: &HttpAnswer| {
        a.header("location")
            .and_then(|l| l.rsplit_once(':').map(|(head, _)| head.to_owned()))
    };
    assert_eq!(location(&v), location(&p));
}
