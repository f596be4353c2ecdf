//! Failure semantics one at a time (DESIGN.md "Sharding, failover, liveness"): hubs sharing shards
//! and taking over a killed one's, a gateway draining on SIGTERM, Redis going away and coming back.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use twinwire_tests::{
    basic_auth, http_exchange, http_get, http_get_status, Client, Cluster, ClusterOptions, Frame,
};

fn modify(thing: &str, v: i64) -> Value {
    let (ns, name) = thing.split_once(':').unwrap();
    json!({"topic": format!("{ns}/{name}/things/twin/commands/modify"), "path": "/attributes/v", "value": v, "headers": {}})
}

async fn metric(admin_port: u16, name: &str) -> f64 {
    let (_, body) = http_get(&format!("http://127.0.0.1:{admin_port}/metrics"))
        .await
        .unwrap();
    body.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_share_the_shards_and_a_killed_hubs_shards_are_taken_over() {
    let c = Cluster::start(ClusterOptions {
        hubs: 2,
        ..Default::default()
    })
    .await;
    // Both hubs settle on half the shards each (ceil(64/2)).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (a, b) = (
            metric(c.hubs[0].admin_port, "twinwire_hub_shards_owned").await,
            metric(c.hubs[1].admin_port, "twinwire_hub_shards_owned").await,
        );
        if a == 32.0 && b == 32.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shards did not spread: {a} + {b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut w = c.connect(0, "ditto").await;
    let mut sub = c.connect(1, "ditto").await;
    sub.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let things: Vec<String> = (0..40).map(|i| format!("org.fo:t{i}")).collect();
    for t in &things {
        let (ns, name) = t.split_once(':').unwrap();
        let r = w.request(json!({"topic": format!("{ns}/{name}/things/twin/commands/create"), "path": "/", "value": {}})).await;
        assert_eq!(r["status"], 201);
    }
    let mut c = c;
    c.hubs[0].proc.kill();
    // Every thing keeps working: the survivor takes the dead hub's shards when their leases lapse.
    let started = Instant::now();
    for (i, t) in things.iter().enumerate() {
        let r = w.request(modify(t, i as i64)).await;
        assert_eq!(r["status"], 201, "{t}: {r}");
    }
    let took = started.elapsed();
    assert_eq!(
        metric(c.hubs[1].admin_port, "twinwire_hub_shards_owned").await,
        64.0
    );
    // Each subscriber event arrives exactly once, in order.
    let mut seen = Vec::new();
    while let Some(Frame::Text(t)) = sub.recv_within(Duration::from_millis(1000)).await {
        let e: Value = serde_json::from_str(&t).unwrap();
        seen.push((
            e["topic"].as_str().unwrap().to_owned(),
            e["revision"].as_i64().unwrap(),
        ));
    }
    assert_eq!(
        seen.len(),
        80,
        "40 creates and 40 modifies, each once: {seen:?}"
    );
    println!("takeover answered all commands within {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_drains_on_sigterm_and_exits_cleanly() {
    let mut c = Cluster::start(ClusterOptions {
        gateway_env: vec![("TWINWIRE_DRAIN__PERIOD_SECS".into(), "2".into())],
        ..Default::default()
    })
    .await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(c.connect(1, "ditto").await);
    }
    let admin = c.gateways[1].admin_port;
    assert_eq!(
        http_get_status(&format!("http://127.0.0.1:{admin}/ready")).await,
        Some(200)
    );
    c.gateways[1].proc.signal(15);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        http_get_status(&format!("http://127.0.0.1:{admin}/ready")).await,
        Some(503),
        "not ready while draining"
    );
    // No new sessions are accepted: the upgrade is answered with 503 at once.
    let e = Client::connect_basic(&c.ws_url(1), "ditto", "ditto")
        .await
        .err()
        .unwrap();
    assert!(e.contains("503"), "{e}");
    // Nor new Server-Sent Events streams: a browser's `EventSource` retries elsewhere.
    let auth = basic_auth("ditto", "ditto");
    let sse = http_exchange(
        "GET",
        &format!("{}/api/2/things", c.http_base(1)),
        &[("Authorization", &auth), ("Accept", "text/event-stream")],
        None,
    )
    .await
    .expect("the draining gateway answers");
    assert_eq!(sse.status, 503, "{}", sse.body);
    // Every session is closed with 1001, spread over the drain period.
    let mut closes = Vec::new();
    for s in &mut sessions {
        closes.push((
            s.recv_close(Duration::from_secs(10)).await.map(|c| c.0),
            started.elapsed(),
        ));
    }
    assert!(closes.iter().all(|(c, _)| *c == Some(1001)), "{closes:?}");
    assert!(
        closes.last().unwrap().1 >= Duration::from_millis(1000),
        "closes are spread: {closes:?}"
    );
    let status = c.gateways[1]
        .proc
        .wait_timeout(Duration::from_secs(10))
        .expect("the gateway exits");
    assert_eq!(status.code(), Some(0));
    // The other node and the hub carry on.
    let mut s = c.connect(0, "ditto").await;
    let r = s
        .request(
            json!({"topic": "org.fo/after/things/twin/commands/create", "path": "/", "value": {}}),
        )
        .await;
    assert_eq!(r["status"], 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_sessions_open_answers_503_and_loses_nothing() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    let mut sub = c.connect(1, "ditto").await;
    sub.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let r = w.request(json!({"topic": "org.fo/r/things/twin/commands/create", "path": "/", "value": {"attributes": {"v": 0}}})).await;
    assert_eq!(r["status"], 201);
    sub.recv_json().await;
    c.redis.stop();
    // Commands during the outage get a prompt 503, and the session stays open.
    let started = Instant::now();
    let r = w.request(modify("org.fo:r", 1)).await;
    assert_eq!(
        (r["status"].clone(), r["value"]["error"].clone()),
        (json!(503), json!("gateway:service.unavailable")),
        "{r}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "prompt: {:?}",
        started.elapsed()
    );
    c.redis.restart().await;
    // After Redis returns (from its AOF), writes work and subscriptions deliver again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        w.send_json(&modify("org.fo:r", 2)).await;
        let r = match w.recv_within(Duration::from_secs(5)).await {
            Some(Frame::Text(t)) => serde_json::from_str::<Value>(&t).unwrap(),
            other => {
                let mut conn = c.redis.conn().await;
                let k = format!(
                    "tw:{{{}}}:cmd",
                    twinwire_common::bus::shard_of("org.fo:r", 64)
                );
                let groups: redis::Value = redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&k)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let entries: redis::Value = redis::cmd("XRANGE")
                    .arg(&k)
                    .arg("-")
                    .arg("+")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let lease: Option<String> = redis::cmd("GET")
                    .arg(format!(
                        "tw:{{{}}}:lease",
                        twinwire_common::bus::shard_of("org.fo:r", 64)
                    ))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                panic!("no answer ({other:?}); {k} groups {groups:?} entries {entries:?} lease {lease:?}");
            }
        };
        if r["status"] == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {r}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let e = sub.recv_json().await;
    assert_eq!(
        (e["path"].clone(), e["value"].clone()),
        (json!("/attributes/v"), json!(2)),
        "{e}"
    );
    let r = w.request(json!({"topic": "org.fo/r/things/twin/commands/retrieve", "path": "/attributes", "headers": {}})).await;
    assert_eq!(
        r["value"],
        json!({"v": 2}),
        "the created thing survived the restart: {r}"
    );
}
