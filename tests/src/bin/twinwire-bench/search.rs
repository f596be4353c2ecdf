//! `--only search` (issue 14): things search on a cluster holding `n` twins over 64 shards
//! (100,000; `--quick` 5,000): `eq` on an attribute, a range sorted and paged with its cursor, and
//! a count, each timed over HTTP with p50/p99, and the search index's Redis memory per twin. The
//! command throughput and CPU per command with indexing on are the `commands` scenario's: the
//! index is always kept.

use crate::wire;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use twinwire_tests::{basic_auth, http_exchange, Cluster};

/// Searches timed per kind.
const RUNS: usize = 200;
/// Creates in flight on the setup session.
const WINDOW: usize = 256;

fn percentile(xs: &mut [Duration], p: f64) -> f64 {
    xs.sort();
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i].as_secs_f64() * 1000.0
}

/// Creates `n` twins `org.bench.search:t<k>` with `g` = k mod 100 and `n` = k, a window at a time.
async fn create(port: u16, n: usize) {
    let mut ws = wire::connect(port, None).await.expect("setup session");
    let mut k = 0;
    while k < n {
        let end = (k + WINDOW).min(n);
        for i in k..end {
            let cmd = json!({"topic": format!("org.bench.search/t{i}/things/twin/commands/create"),
                             "headers": {"correlation-id": format!("c{i}")}, "path": "/",
                             "value": {"attributes": {"g": i % 100, "n": i, "name": format!("thing {i}")}}});
            ws.send(Message::text(cmd.to_string())).await.expect("send");
        }
        for _ in k..end {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => assert!(
                    matches!(wire::field(&t, "\"status\":"), Some(201 | 204)),
                    "create: {t}"
                ),
                other => panic!("create: {other:?}"),
            }
        }
        k = end;
    }
}

async fn get(port: u16, path: &str) -> (Duration, Value) {
    let auth = basic_auth("ditto", "ditto");
    let started = Instant::now();
    let a = http_exchange(
        "GET",
        &format!("http://127.0.0.1:{port}{path}"),
        &[("Authorization", &auth)],
        None,
    )
    .await
    .expect("gateway answers");
    let took = started.elapsed();
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    (took, a.json())
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The index's memory per twin: every `sx` key's `MEMORY USAGE`, over the twins.
async fn index_bytes(c: &Cluster, n: usize) -> f64 {
    let mut conn = c.redis.conn().await;
    let mut cursor = 0u64;
    let mut bytes = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("tw:*:sx:*")
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("scan");
        for k in keys {
            let used: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .expect("memory usage");
            bytes += used.unwrap_or(0);
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    bytes as f64 / n as f64
}

pub async fn measure(c: &Cluster, n: usize) -> Value {
    let port = c.gateways[0].http_port;
    let started = Instant::now();
    create(port, n).await;
    let setup = started.elapsed().as_secs_f64();
    println!("search: {n} twins created in {setup:.1} s");
    let mut eq = Vec::new();
    let mut range = Vec::new();
    let mut count = Vec::new();
    for r in 0..RUNS {
        let g = r % 100;
        let (t, v) = get(
            port,
            &format!(
                "/api/2/search/things?filter={}&option=size(25)",
                enc(&format!("eq(attributes/g,{g})"))
            ),
        )
        .await;
        assert!(!v["items"].as_array().expect("items").is_empty());
        eq.push(t);
        // A range of 500 values, sorted descending, two pages of 50 through the cursor.
        let lo = (r * 397) % n.saturating_sub(500).max(1);
        let filter = enc(&format!(
            "and(ge(attributes/n,{lo}),lt(attributes/n,{}))",
            lo + 500
        ));
        let (t1, v) = get(
            port,
            &format!("/api/2/search/things?filter={filter}&option=sort(-attributes/n),size(50)"),
        )
        .await;
        let cur = v["cursor"].as_str().expect("a second page").to_owned();
        let (t2, _) = get(port, &format!("/api/2/search/things?option=cursor({cur})")).await;
        range.push(t1);
        range.push(t2);
        let (t, v) = get(
            port,
            &format!(
                "/api/2/search/things/count?filter={}",
                enc(&format!("eq(attributes/g,{g})"))
            ),
        )
        .await;
        assert!(v.as_u64().is_some_and(|c| c > 0));
        count.push(t);
    }
    let bytes = index_bytes(c, n).await;
    let row = |name: &str, xs: &mut Vec<Duration>| {
        let (p50, p99) = (percentile(xs, 0.5), percentile(xs, 0.99));
        println!("search {name}: p50 {p50:.1} ms, p99 {p99:.1} ms");
        json!({"p50_ms": p50, "p99_ms": p99, "runs": xs.len()})
    };
    println!("search index: {bytes:.0} bytes per twin");
    json!({
        "twins": n,
        "setup_s": setup,
        "eq": row("eq", &mut eq),
        "range_sorted_page": row("range page", &mut range),
        "count": row("count", &mut count),
        "index_bytes_per_twin": bytes,
    })
}
