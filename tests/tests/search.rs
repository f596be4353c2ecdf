//! Things search (issue 14) against real processes: the HTTP routes `/api/2/search/things` and
//! `/count`, the WebSocket's `_/_/things/twin/search/*` protocol, each RQL operator on the index,
//! sort and cursor paging, namespaces, fields, permissions, consistency after a write on the
//! other node, and a hub killed between two pages.

use serde_json::{json, Value};
use twinwire_tests::{api_call, Cluster, ClusterOptions, HttpAnswer};

async fn call(c: &Cluster, gw: usize, method: &str, path: &str, body: Option<&str>) -> HttpAnswer {
    api_call_on(c, gw, ("ditto", "ditto"), method, path, body).await
}

async fn api_call_on(
    c: &Cluster,
    gw: usize,
    user: (&str, &str),
    method: &str,
    path: &str,
    body: Option<&str>,
) -> HttpAnswer {
    if gw == 0 {
        api_call(c, user, method, path, body).await
    } else {
        let auth = twinwire_tests::basic_auth(user.0, user.1);
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        twinwire_tests::http_exchange(method, &format!("{}{path}", c.http_base(gw)), &headers, body.map(str::as_bytes))
            .await
            .expect("gateway answers")
    }
}

async fn put(c: &Cluster, id: &str, thing: Value) {
    let a = call(c, 0, "PUT", &format!("/api/2/things/{id}"), Some(&thing.to_string())).await;
    assert!(a.status == 201 || a.status == 204, "{}", a.body);
}

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items in {v}"))
        .iter()
        .map(|t| t["thingId"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids a search finds, in order (one page of up to 200).
async fn found(c: &Cluster, filter: &str) -> Vec<String> {
    let path = format!(
        "/api/2/search/things?filter={}&option=size(200)",
        urlencode(filter)
    );
    let a = call(c, 0, "GET", &path, None).await;
    assert_eq!(a.status, 200, "{filter}: {}", a.body);
    ids(&a.json())
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rql_operator_finds_what_it_matches() {
    let c = Cluster::start(ClusterOptions::default()).await;
    put(&c, "s.op:a", json!({"attributes": {"n": 1, "s": "apple", "on": true, "tags": ["x"]}})).await;
    put(&c, "s.op:b", json!({"attributes": {"n": 2, "s": "banana", "on": false}})).await;
    put(&c, "s.op:c", json!({"attributes": {"n": 3.5, "s": "cherry"}, "features": {"f": {"properties": {"p": 7}}}})).await;
    put(&c, "s.op:d", json!({"attributes": {"s": "date"}})).await;
    let cases: &[(&str, &[&str])] = &[
        ("eq(attributes/n,2)", &["s.op:b"]),
        ("eq(attributes/s,\"apple\")", &["s.op:a"]),
        ("eq(attributes/on,true)", &["s.op:a"]),
        ("ne(attributes/n,2)", &["s.op:a", "s.op:c", "s.op:d"]),
        ("gt(attributes/n,1)", &["s.op:b", "s.op:c"]),
        ("ge(attributes/n,2)", &["s.op:b", "s.op:c"]),
        ("lt(attributes/n,3.5)", &["s.op:a", "s.op:b"]),
        ("le(attributes/n,3.5)", &["s.op:a", "s.op:b", "s.op:c"]),
        ("gt(attributes/s,\"banana\")", &["s.op:c", "s.op:d"]),
        ("le(attributes/s,\"banana\")", &["s.op:a", "s.op:b"]),
        ("in(attributes/n,1,3.5)", &["s.op:a", "s.op:c"]),
        ("in(attributes/s,\"date\",\"fig\")", &["s.op:d"]),
        ("like(attributes/s,\"*rr*\")", &["s.op:c"]),
        ("ilike(attributes/s,\"APP*\")", &["s.op:a"]),
        ("exists(attributes/on)", &["s.op:a", "s.op:b"]),
        ("exists(features/f/properties/p)", &["s.op:c"]),
        ("eq(features/f/properties/p,7)", &["s.op:c"]),
        ("eq(attributes/tags,\"x\")", &["s.op:a"]),
        ("not(exists(attributes/n))", &["s.op:d"]),
        ("and(gt(attributes/n,1),eq(attributes/s,\"cherry\"))", &["s.op:c"]),
        ("or(eq(attributes/n,1),eq(attributes/s,\"date\"))", &["s.op:a", "s.op:d"]),
        ("eq(thingId,\"s.op:b\")", &["s.op:b"]),
    ];
    for (filter, want) in cases {
        assert_eq!(found(&c, filter).await, *want, "{filter}");
    }
    // An update moves a twin in the index: its old value no longer finds it.
    put(&c, "s.op:a", json!({"attributes": {"n": 10, "s": "apricot"}})).await;
    assert_eq!(found(&c, "eq(attributes/n,1)").await, Vec::<String>::new());
    assert_eq!(found(&c, "eq(attributes/n,10)").await, ["s.op:a"]);
    assert_eq!(found(&c, "exists(attributes/on)").await, ["s.op:b"]);
    // A deleted twin leaves the index.
    let a = call(&c, 0, "DELETE", "/api/2/things/s.op:b", None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(found(&c, "exists(attributes/on)").await, Vec::<String>::new());
    let a = call(&c, 1, "GET", "/api/2/search/things/count?filter=exists(attributes/s)", None).await;
    assert_eq!((a.status, a.body.as_str()), (200, "3"));
}
