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
        twinwire_tests::http_exchange(
            method,
            &format!("{}{path}", c.http_base(gw)),
            &headers,
            body.map(str::as_bytes),
        )
        .await
        .expect("gateway answers")
    }
}

async fn put(c: &Cluster, id: &str, thing: Value) {
    let a = call(
        c,
        0,
        "PUT",
        &format!("/api/2/things/{id}"),
        Some(&thing.to_string()),
    )
    .await;
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
    put(
        &c,
        "s.op:a",
        json!({"attributes": {"n": 1, "s": "apple", "on": true, "tags": ["x"]}}),
    )
    .await;
    put(
        &c,
        "s.op:b",
        json!({"attributes": {"n": 2, "s": "banana", "on": false}}),
    )
    .await;
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
        (
            "and(gt(attributes/n,1),eq(attributes/s,\"cherry\"))",
            &["s.op:c"],
        ),
        (
            "or(eq(attributes/n,1),eq(attributes/s,\"date\"))",
            &["s.op:a", "s.op:d"],
        ),
        ("eq(thingId,\"s.op:b\")", &["s.op:b"]),
        ("and(gt(attributes/n,1),lt(attributes/n,3.5))", &["s.op:b"]),
        (
            "and(ge(attributes/s,\"b\"),lt(attributes/s,\"d\"))",
            &["s.op:b", "s.op:c"],
        ),
        ("and(gt(attributes/n,2),lt(attributes/n,2))", &[]),
    ];
    for (filter, want) in cases {
        assert_eq!(found(&c, filter).await, *want, "{filter}");
    }
    // An update moves a twin in the index: its old value no longer finds it.
    put(
        &c,
        "s.op:a",
        json!({"attributes": {"n": 10, "s": "apricot"}}),
    )
    .await;
    assert_eq!(found(&c, "eq(attributes/n,1)").await, Vec::<String>::new());
    assert_eq!(found(&c, "eq(attributes/n,10)").await, ["s.op:a"]);
    assert_eq!(found(&c, "exists(attributes/on)").await, ["s.op:b"]);
    // A deleted twin leaves the index.
    let a = call(&c, 0, "DELETE", "/api/2/things/s.op:b", None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(
        found(&c, "exists(attributes/on)").await,
        Vec::<String>::new()
    );
    let a = call(
        &c,
        1,
        "GET",
        "/api/2/search/things/count?filter=exists(attributes/s)",
        None,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "3"));
}

/// Creates `n` twins over one WebSocket (faster than one HTTP request each).
async fn create_many(c: &Cluster, things: &[(String, Value)]) {
    let mut w = c.connect(0, "ditto").await;
    for (id, thing) in things {
        let (ns, name) = id.split_once(':').unwrap();
        let r = w
            .request(json!({
                "topic": format!("{ns}/{name}/things/twin/commands/create"),
                "path": "/",
                "value": thing,
            }))
            .await;
        assert_eq!(r["status"], 201, "{id}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_a_thousand_results_sorted_on_several_fields_misses_and_repeats_nothing() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let things: Vec<(String, Value)> = (0..1000)
        .map(|i| {
            (
                format!("s.page:t{i:04}"),
                json!({"attributes": {"group": i % 7, "n": (i * 37) % 101, "i": i}}),
            )
        })
        .collect();
    create_many(&c, &things).await;
    // The expected order: group descending, n ascending, thingId ascending (the tie-breaker).
    let mut want: Vec<(i64, i64, String)> = things
        .iter()
        .map(|(id, t)| {
            (
                t["attributes"]["group"].as_i64().unwrap(),
                t["attributes"]["n"].as_i64().unwrap(),
                id.clone(),
            )
        })
        .collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let want: Vec<String> = want.into_iter().map(|w| w.2).collect();

    let mut got = Vec::new();
    let mut option = "sort(-attributes/group,%2Battributes/n),size(97)".to_owned();
    let mut pages = 0;
    loop {
        let a = call(
            &c,
            pages % 2,
            "GET",
            &format!("/api/2/search/things?namespaces=s.page&fields=thingId&option={option}"),
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let v = a.json();
        assert!(v.get("nextPageOffset").is_none(), "size() given: {v}");
        got.extend(ids(&v));
        pages += 1;
        match v["cursor"].as_str() {
            Some(cur) => option = format!("cursor({cur})"),
            None => break,
        }
    }
    assert_eq!(pages, 11);
    assert_eq!(got.len(), 1000);
    assert_eq!(got, want);
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things/count?namespaces=s.page",
        None,
    )
    .await;
    assert_eq!(a.body, "1000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_fields_and_the_default_page_follow_ditto() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut things = Vec::new();
    for i in 0..30 {
        things.push((
            format!("s.ns1:t{i:02}"),
            json!({"attributes": {"i": i, "x": "a"}}),
        ));
    }
    things.push((
        "s.ns2:u".to_owned(),
        json!({"attributes": {"i": 1, "x": "b"}}),
    ));
    things.push((
        "s.ns3:v".to_owned(),
        json!({"attributes": {"i": 2, "x": "c"}}),
    ));
    create_many(&c, &things).await;
    // Without options: 25 by thingId, the next offset and a cursor.
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things?namespaces=s.ns1&fields=thingId",
        None,
    )
    .await;
    let v = a.json();
    assert_eq!(v["items"].as_array().unwrap().len(), 25, "{v}");
    assert_eq!(v["items"][0], json!({"thingId": "s.ns1:t00"}));
    assert_eq!(v["nextPageOffset"], 25);
    assert!(v["cursor"].is_string());
    // limit(offset,count): the rest, the last page's offset is -1 and no cursor.
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things?namespaces=s.ns1&fields=thingId&option=limit(25,25)",
        None,
    )
    .await;
    let v = a.json();
    assert_eq!(
        ids(&v),
        (25..30)
            .map(|i| format!("s.ns1:t{i:02}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(v["nextPageOffset"], -1);
    assert!(v.get("cursor").is_none(), "{v}");
    // Several namespaces, comma-separated; fields shape each item.
    let a = call(&c, 1, "GET", "/api/2/search/things?namespaces=s.ns2,s.ns3&fields=thingId,attributes/x&filter=exists(attributes/i)", None).await;
    assert_eq!(
        a.json(),
        json!({"items": [
            {"thingId": "s.ns2:u", "attributes": {"x": "b"}},
            {"thingId": "s.ns3:v", "attributes": {"x": "c"}}
        ], "nextPageOffset": -1})
    );
    // Special fields may be selected.
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things?namespaces=s.ns2&fields=thingId,_revision",
        None,
    )
    .await;
    assert_eq!(
        a.json()["items"],
        json!([{"thingId": "s.ns2:u", "_revision": 1}])
    );
    // Bad input: Ditto's errors.
    let a = call(&c, 0, "GET", "/api/2/search/things?option=size(201)", None).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"], "thing-search:search.option.invalid");
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things?filter=eq(attributes/x",
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"], "rql.expression.invalid");
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things?option=cursor(bogus)",
        None,
    )
    .await;
    assert_eq!(a.json()["error"], "thing-search:search.option.invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_never_shows_or_counts_what_the_requester_may_not_read() {
    let c = Cluster::start(ClusterOptions::default()).await;
    put(
        &c,
        "s.perm:hidden",
        json!({"attributes": {"v": 1, "secret": 5}}),
    )
    .await;
    put(
        &c,
        "s.perm:partial",
        json!({"attributes": {"v": 1, "secret": 5}}),
    )
    .await;
    put(
        &c,
        "s.perm:full",
        json!({"attributes": {"v": 1, "secret": 6}}),
    )
    .await;
    // bob reads all of `full`, only attributes/v of `partial`, nothing of `hidden`.
    for (id, resource) in [
        ("s.perm:full", "thing:/"),
        ("s.perm:partial", "thing:/attributes/v"),
    ] {
        let entry = json!({"subjects": {"nginx:bob": {"type": "test"}},
                           "resources": {resource: {"grant": ["READ"], "revoke": []}}});
        let a = call(
            &c,
            0,
            "PUT",
            &format!("/api/2/policies/{id}/entries/bob"),
            Some(&entry.to_string()),
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let bob = |path: String| {
        let c = &c;
        async move { api_call(c, ("bob", "bob-pw"), "GET", &path, None).await }
    };
    let a = bob("/api/2/search/things?namespaces=s.perm".into()).await;
    assert_eq!(
        a.json()["items"],
        json!([
            {"thingId": "s.perm:full", "policyId": "s.perm:full", "attributes": {"v": 1, "secret": 6}},
            {"thingId": "s.perm:partial", "attributes": {"v": 1}}
        ])
    );
    let a = bob("/api/2/search/things/count?filter=eq(attributes/v,1)".into()).await;
    assert_eq!(a.body, "2");
    // A hidden field never matches, so it cannot be probed; its negation does match.
    let a = bob("/api/2/search/things?filter=eq(attributes/secret,5)".into()).await;
    assert_eq!(a.json()["items"], json!([]));
    let a = bob(format!(
        "/api/2/search/things?fields=thingId&filter={}",
        urlencode("not(eq(attributes/secret,6))")
    ))
    .await;
    assert_eq!(a.json()["items"], json!([{"thingId": "s.perm:partial"}]));
    // Sorting on a hidden field sorts it as missing.
    let a = bob(
        "/api/2/search/things?namespaces=s.perm&fields=thingId&option=sort(-attributes/secret)"
            .into(),
    )
    .await;
    assert_eq!(
        a.json()["items"],
        json!([{"thingId": "s.perm:full"}, {"thingId": "s.perm:partial"}])
    );
    // A policy change takes effect on the next search: the index never decides what is visible.
    let a = call(
        &c,
        0,
        "DELETE",
        "/api/2/policies/s.perm:full/entries/bob",
        None,
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = bob("/api/2/search/things/count?namespaces=s.perm".into()).await;
    assert_eq!(a.body, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_answered_on_one_node_is_found_at_once_on_the_other() {
    let c = Cluster::start(ClusterOptions::default()).await;
    for i in 0..20 {
        let id = format!("s.cons:t{i}");
        let body = json!({"attributes": {"state": i}}).to_string();
        let a = call(&c, 1, "PUT", &format!("/api/2/things/{id}"), Some(&body)).await;
        assert_eq!(a.status, 201, "{}", a.body);
        // No wait: the query is ordered after the write in its shard's command stream.
        let a = call(
            &c,
            0,
            "GET",
            &format!("/api/2/search/things?fields=thingId&filter=eq(attributes/state,{i})"),
            None,
        )
        .await;
        assert_eq!(a.json()["items"], json!([{"thingId": id}]), "{i}");
        let a = call(
            &c,
            1,
            "PUT",
            &format!("/api/2/things/{id}/attributes/state"),
            Some(&(i + 100).to_string()),
        )
        .await;
        assert_eq!(a.status, 204, "{}", a.body);
        let a = call(
            &c,
            0,
            "GET",
            &format!("/api/2/search/things/count?filter=eq(attributes/state,{i})"),
            None,
        )
        .await;
        assert_eq!(a.body, "0", "{i}");
    }
}

fn search_frame(action: &str, value: Value) -> Value {
    json!({"topic": format!("_/_/things/twin/search/{action}"), "path": "/", "value": value})
}

/// The next frame's topic and value (headers carry the correlation-id and content type).
async fn next_frame(w: &mut twinwire_tests::Client) -> (String, Value) {
    let f = w.recv_json().await;
    (
        f["topic"].as_str().unwrap_or_default().to_owned(),
        f["value"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_search_pages_only_on_demand_and_completes_after_the_last() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let things: Vec<(String, Value)> = (0..5)
        .map(|i| (format!("s.ws:t{i}"), json!({"attributes": {"i": i}})))
        .collect();
    create_many(&c, &things).await;
    let mut w = c.connect(1, "ditto").await;
    let mut sub = search_frame(
        "subscribe",
        json!({"filter": "exists(attributes/i)", "options": "size(2),sort(-attributes/i)", "namespaces": ["s.ws"]}),
    );
    sub["fields"] = json!("thingId");
    sub["headers"] = json!({"correlation-id": "search-1"});
    w.send_json(&sub).await;
    let created = w.recv_json().await;
    assert_eq!(created["topic"], "_/_/things/twin/search/created");
    assert_eq!(created["headers"]["correlation-id"], "search-1");
    assert_eq!(created["value"], json!({"subscriptionId": "0"}));
    // Nothing before a request.
    w.expect_silence(std::time::Duration::from_millis(300))
        .await;
    w.send_json(&search_frame(
        "request",
        json!({"subscriptionId": "0", "demand": 1}),
    ))
    .await;
    assert_eq!(
        next_frame(&mut w).await,
        (
            "_/_/things/twin/search/next".into(),
            json!({"subscriptionId": "0", "items": [{"thingId": "s.ws:t4"}, {"thingId": "s.ws:t3"}]})
        )
    );
    // Never more than requested.
    w.expect_silence(std::time::Duration::from_millis(300))
        .await;
    // A write between two pages is seen by the next page (each page is a fresh query).
    put(&c, "s.ws:t9", json!({"attributes": {"i": -1}})).await;
    w.send_json(&search_frame(
        "request",
        json!({"subscriptionId": "0", "demand": 10}),
    ))
    .await;
    assert_eq!(
        next_frame(&mut w).await.1,
        json!({"subscriptionId": "0", "items": [{"thingId": "s.ws:t2"}, {"thingId": "s.ws:t1"}]})
    );
    assert_eq!(
        next_frame(&mut w).await.1,
        json!({"subscriptionId": "0", "items": [{"thingId": "s.ws:t0"}, {"thingId": "s.ws:t9"}]})
    );
    assert_eq!(
        next_frame(&mut w).await,
        (
            "_/_/things/twin/search/complete".into(),
            json!({"subscriptionId": "0"})
        )
    );
    // A finished subscription is gone.
    w.send_json(&search_frame(
        "request",
        json!({"subscriptionId": "0", "demand": 1}),
    ))
    .await;
    let (topic, value) = next_frame(&mut w).await;
    assert_eq!(topic, "_/_/things/twin/search/failed");
    assert_eq!(value["subscriptionId"], "0");
    assert_eq!(value["error"]["status"], 404);
    assert_eq!(
        value["error"]["error"],
        "thing-search:subscription.not.found"
    );
    assert_eq!(
        value["error"]["message"],
        "No subscription with ID '0' exists."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_search_cancel_and_errors_are_dittos() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let things: Vec<(String, Value)> = (0..3).map(|i| (format!("s.wse:t{i}"), json!({}))).collect();
    create_many(&c, &things).await;
    let mut w = c.connect(0, "ditto").await;
    // Cancel: nothing more arrives, and the id is unknown afterwards.
    w.send_json(&search_frame(
        "subscribe",
        json!({"options": "size(1)", "namespaces": ["s.wse"]}),
    ))
    .await;
    assert_eq!(next_frame(&mut w).await.1, json!({"subscriptionId": "0"}));
    w.send_json(&search_frame(
        "request",
        json!({"subscriptionId": "0", "demand": 1}),
    ))
    .await;
    let (topic, value) = next_frame(&mut w).await;
    assert_eq!(topic, "_/_/things/twin/search/next");
    assert_eq!(value["items"][0]["thingId"], "s.wse:t0");
    w.send_json(&search_frame("cancel", json!({"subscriptionId": "0"})))
        .await;
    w.expect_silence(std::time::Duration::from_millis(300))
        .await;
    w.send_json(&search_frame(
        "request",
        json!({"subscriptionId": "0", "demand": 1}),
    ))
    .await;
    assert_eq!(
        next_frame(&mut w).await.1["error"]["error"],
        "thing-search:subscription.not.found"
    );
    // Invalid options and filters: created, then failed at the first request.
    for (value, code, message) in [
        (
            json!({"options": "size(300)"}),
            "thing-search:search.option.invalid",
            "size(300) -- 300 must be between 1 and 200",
        ),
        (
            json!({"filter": "exist=attribute/lol"}),
            "rql.expression.invalid",
            "",
        ),
    ] {
        w.send_json(&search_frame("subscribe", value)).await;
        let (topic, created) = next_frame(&mut w).await;
        assert_eq!(topic, "_/_/things/twin/search/created");
        let id = created["subscriptionId"].clone();
        w.send_json(&search_frame(
            "request",
            json!({"subscriptionId": id, "demand": 1}),
        ))
        .await;
        let (topic, failed) = next_frame(&mut w).await;
        assert_eq!(topic, "_/_/things/twin/search/failed");
        assert_eq!(failed["subscriptionId"], id);
        assert_eq!(failed["error"]["status"], 400);
        assert_eq!(failed["error"]["error"], code);
        if !message.is_empty() {
            assert_eq!(failed["error"]["message"], message);
        }
    }
    // A demand of 0 breaks reactive streams' rule 3.9.
    w.send_json(&search_frame("subscribe", json!({}))).await;
    let id = next_frame(&mut w).await.1["subscriptionId"].clone();
    assert_eq!(id, "3");
    w.send_json(&search_frame(
        "request",
        json!({"subscriptionId": id, "demand": 0}),
    ))
    .await;
    let failed = next_frame(&mut w).await.1;
    assert_eq!(failed["error"]["status"], 400);
    assert_eq!(
        failed["error"]["error"],
        "thing-search:subscription.protocol.error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_stays_valid_when_a_hub_is_killed_between_two_pages() {
    let mut c = Cluster::start(ClusterOptions {
        hubs: 2,
        ..Default::default()
    })
    .await;
    // Both hubs own shards (ceil(64/2) each) before one is killed.
    for tries in 0.. {
        assert!(tries < 300, "the shards did not spread over both hubs");
        let mut owned = Vec::new();
        for h in &c.hubs {
            let m = twinwire_tests::scrape_metrics(h.admin_port).await;
            owned.push(twinwire_tests::metric_sum(&m, "twinwire_hub_shards_owned"));
        }
        if owned == [32.0, 32.0] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let things: Vec<(String, Value)> = (0..60)
        .map(|i| (format!("s.fail:t{i:02}"), json!({"attributes": {"i": i}})))
        .collect();
    create_many(&c, &things).await;
    let first = call(
        &c,
        0,
        "GET",
        "/api/2/search/things?namespaces=s.fail&fields=thingId&option=size(25)",
        None,
    )
    .await;
    let v = first.json();
    let mut got = ids(&v);
    let cursor = v["cursor"].as_str().expect("a cursor").to_owned();
    c.hubs[0].proc.kill();
    // The survivor takes the dead hub's shards when their leases lapse; the queries wait in the
    // shards' streams meanwhile, and the cursor holds no server state.
    let a = call(
        &c,
        1,
        "GET",
        &format!("/api/2/search/things?option=cursor({cursor})&fields=thingId"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    got.extend(ids(&v));
    let cursor = v["cursor"].as_str().expect("a cursor").to_owned();
    let a = call(
        &c,
        0,
        "GET",
        &format!("/api/2/search/things?option=cursor({cursor})&fields=thingId"),
        None,
    )
    .await;
    let v = a.json();
    got.extend(ids(&v));
    assert!(v.get("cursor").is_none(), "{v}");
    assert_eq!(got, things.iter().map(|t| t.0.clone()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_beyond_the_cost_bound_fails_with_dittos_error_and_an_indexed_one_does_not() {
    let c = Cluster::start(ClusterOptions {
        hub_env: vec![("TWINWIRE_SEARCH__MAX_CANDIDATES".into(), "3".into())],
        ..Default::default()
    })
    .await;
    // 300 twins over 64 shards: some shard holds more than the bound of 3.
    let things: Vec<(String, Value)> = (0..300)
        .map(|i| (format!("s.cost:t{i}"), json!({"attributes": {"i": i}})))
        .collect();
    create_many(&c, &things).await;
    // `like` has no index: it scans, and a shard holds more twins than the bound.
    let a = call(
        &c,
        0,
        "GET",
        &format!(
            "/api/2/search/things?filter={}",
            urlencode("like(thingId,\"s.cost:*\")")
        ),
        None,
    )
    .await;
    assert_eq!(a.status, 504, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"status": 504, "error": "thing-search:query.time.exceeded",
               "message": "The request took too long to process.",
               "description": "Optimize the request and try again later."})
    );
    // An indexed predicate reads only its candidates.
    let a = call(
        &c,
        0,
        "GET",
        &format!(
            "/api/2/search/things?fields=thingId&filter={}",
            urlencode("and(eq(attributes/i,7),like(thingId,\"s.cost:*\"))")
        ),
        None,
    )
    .await;
    assert_eq!(
        a.json()["items"],
        json!([{"thingId": "s.cost:t7"}]),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_keys_live_in_their_shards_slot_and_leave_with_their_twin() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let things: Vec<(String, Value)> = (0..200)
        .map(|i| {
            (
                format!("s.keys:t{i}"),
                json!({"attributes": {"serial": format!("SN-{i:05}"), "temp": 20.5, "on": true, "site": "lab", "n": i},
                       "features": {"f": {"properties": {"p": i}}}}),
            )
        })
        .collect();
    create_many(&c, &things).await;
    // Through twinwire's own connection: the test runs on a Redis Cluster too (`make test`).
    let mut redis = twinwire_tests::redis_load::redis_of(&c).await;
    let pattern = format!("{}*:sx:*", c.prefix);
    let keys = redis.scan_match(&pattern).await.unwrap();
    assert!(!keys.is_empty());
    let (mut bytes, mut records) = (0u64, 0u64);
    for k in &keys {
        // `tw:{k}:sx:rec:<id>`: a twin's record is in its own shard's slot.
        let shard: u32 = k[k.find('{').unwrap() + 1..k.find('}').unwrap()]
            .parse()
            .unwrap();
        if let Some(id) = k.split_once(":sx:rec:").map(|(_, id)| id) {
            assert_eq!(twinwire_common::bus::shard_of(id, 64), shard, "{k}");
        }
        let used: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(k)
            .query_async(&mut redis)
            .await
            .unwrap();
        bytes += used.unwrap_or(0);
        if k.contains(":sx:rec:") {
            records += used.unwrap_or(0);
        }
    }
    // What the index costs per twin (the figure DESIGN.md quotes; not asserted).
    eprintln!(
        "search index: {} keys, {} bytes per twin, {} of them its record",
        keys.len(),
        bytes / 200,
        records / 200
    );
    let mut w = c.connect(1, "ditto").await;
    for (id, _) in &things {
        let (ns, name) = id.split_once(':').unwrap();
        let r = w
            .request(
                json!({"topic": format!("{ns}/{name}/things/twin/commands/delete"), "path": "/"}),
            )
            .await;
        assert_eq!(r["status"], 204, "{r}");
    }
    let left = redis.scan_match(&pattern).await.unwrap();
    // Nothing of the twins is left, only each shard's marker that its index is built.
    assert!(left.iter().all(|k| k.ends_with(":sx:built")), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_in_thing_id_order_reads_only_what_its_pages_need() {
    let c = Cluster::start(ClusterOptions {
        hub_env: vec![("TWINWIRE_SEARCH__MAX_CANDIDATES".into(), "20".into())],
        ..Default::default()
    })
    .await;
    // About 30 twins per shard, more than the bound of 20 in most shards.
    let things: Vec<(String, Value)> = (0..1900)
        .map(|i| (format!("s.list:t{i:04}"), json!({"attributes": {"i": i}})))
        .collect();
    create_many(&c, &things).await;
    // Sorted by anything but thingId, the whole namespace would be read: refused.
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things?namespaces=s.list&option=sort(-attributes/i),size(5)",
        None,
    )
    .await;
    assert_eq!(a.status, 504, "{}", a.body);
    // In thingId order (Ditto's default) each shard reads its ids from the cursor on, a page's
    // worth at a time: three pages come back in order.
    let mut got = Vec::new();
    let mut option = "size(5)".to_owned();
    for _ in 0..3 {
        let a = call(
            &c,
            1,
            "GET",
            &format!("/api/2/search/things?namespaces=s.list&fields=thingId&option={option}"),
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let v = a.json();
        got.extend(ids(&v));
        option = format!("cursor({})", v["cursor"].as_str().expect("more pages"));
    }
    assert_eq!(
        got,
        things[..15].iter().map(|t| t.0.clone()).collect::<Vec<_>>()
    );
    // A filter the index cannot answer is judged along the way, within the same bound.
    let a = call(
        &c,
        0,
        "GET",
        &format!(
            "/api/2/search/things?fields=thingId&option=size(3)&filter={}",
            urlencode("like(thingId,\"s.list:*\")")
        ),
        None,
    )
    .await;
    assert_eq!(
        a.json()["items"],
        json!([{"thingId": "s.list:t0000"}, {"thingId": "s.list:t0001"}, {"thingId": "s.list:t0002"}]),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twins_from_before_the_index_are_indexed_when_their_shard_is_taken_over() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    let things: Vec<(String, Value)> = (0..50)
        .map(|i| (format!("s.old:t{i:02}"), json!({"attributes": {"i": i}})))
        .collect();
    create_many(&c, &things).await;
    // As a hub without the index would have left them: twins, no index.
    let mut redis = twinwire_tests::redis_load::redis_of(&c).await;
    let keys = redis
        .scan_match(&format!("{}*:sx:*", c.prefix))
        .await
        .unwrap();
    assert!(!keys.is_empty());
    // One key per DEL: on a Redis Cluster the shards' keys are in different slots.
    for k in &keys {
        let _: () = redis::cmd("DEL")
            .arg(k)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    let a = call(
        &c,
        0,
        "GET",
        "/api/2/search/things/count?namespaces=s.old",
        None,
    )
    .await;
    assert_eq!(a.body, "0");
    // A new owner indexes each shard's twins before handling its commands.
    c.hubs[0].proc.kill();
    c.add_hub().await;
    let a = call(&c, 1, "GET", "/api/2/search/things?namespaces=s.old&fields=thingId&option=size(200)&filter=ge(attributes/i,0)", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        ids(&a.json()),
        things.iter().map(|t| t.0.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_search_without_requests_times_out_as_in_ditto() {
    let c = Cluster::start(ClusterOptions {
        gateway_env: vec![("TWINWIRE_WS__SEARCH_IDLE_TIMEOUT_MS".into(), "300".into())],
        ..Default::default()
    })
    .await;
    let mut w = c.connect(0, "ditto").await;
    w.send_json(&search_frame("subscribe", json!({}))).await;
    assert_eq!(next_frame(&mut w).await.1, json!({"subscriptionId": "0"}));
    let (topic, value) = next_frame(&mut w).await;
    assert_eq!(topic, "_/_/things/twin/search/failed");
    assert_eq!(
        value,
        json!({"subscriptionId": "0", "error": {"status": 408, "error": "thing-search:subscription.timeout",
               "message": "The subscription '0' stopped due to a lack of interaction."}})
    );
    // It is gone.
    w.send_json(&search_frame(
        "request",
        json!({"subscriptionId": "0", "demand": 1}),
    ))
    .await;
    assert_eq!(
        next_frame(&mut w).await.1["error"]["error"],
        "thing-search:subscription.not.found"
    );
}
