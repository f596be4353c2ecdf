//! Every metric the README's "Metrics and alerts" table lists, and every metric the Grafana
//! dashboard queries, is emitted with at least one sample (histograms: at least one observation)
//! by a real gateway or hub, once every path has been exercised: twin commands over the WebSocket
//! and the HTTP API, events, messages, live commands and live events, acknowledgements,
//! authentication failures, and Redis going away for a moment. A metric declared and never recorded leaves panels empty; this finds it.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use twinwire_tests::{
    http_request, repo_root, scrape_metrics, wait_ready, Client, Cluster, ClusterOptions, Frame,
};

/// Receives until a JSON frame satisfies `want`, skipping others.
async fn recv_until(c: &mut Client, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_within(left).await {
            Some(Frame::Text(t)) => {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    if want(&v) {
                        return v;
                    }
                }
            }
            Some(_) => {}
            None => panic!("no {what} within 10 s"),
        }
    }
}

fn topic_is(t: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["topic"] == t
}

async fn exercise_every_path(c: &mut Cluster) {
    let mut w = c.connect(0, "ditto").await;
    let r = w
        .request(
            json!({"topic": "org.metrics/lamp/things/twin/commands/create", "path": "/",
            "value": {"attributes": {"on": false}}}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");

    // Sessions on the other node: one per kind, one declaring an acknowledgement label.
    let url = format!("{}?declared-acks=metrics-ack", c.ws_url(1));
    let mut events = Client::connect_basic(&url, "ditto", "ditto").await.unwrap();
    events
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut messages = c.connect(1, "ditto").await;
    messages
        .subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;
    let mut live = c.connect(1, "ditto").await;
    live.subscribe("START-SEND-LIVE-COMMANDS", "START-SEND-LIVE-COMMANDS:ACK")
        .await;
    live.subscribe("START-SEND-LIVE-EVENTS", "START-SEND-LIVE-EVENTS:ACK")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A twin command with a requested acknowledgement: event, ack, aggregated response.
    w.send_json(&json!({"topic": "org.metrics/lamp/things/twin/commands/modify",
        "path": "/attributes/on", "value": true,
        "headers": {"correlation-id": "k1", "requested-acks": ["twin-persisted", "metrics-ack"], "timeout": "10s"}}))
        .await;
    let e = recv_until(
        &mut events,
        "event",
        topic_is("org.metrics/lamp/things/twin/events/modified"),
    )
    .await;
    assert_eq!(e["path"], "/attributes/on", "{e}");
    events
        .send_json(
            &json!({"topic": "org.metrics/lamp/things/twin/acks/metrics-ack", "path": "/",
            "headers": {"correlation-id": "k1"}, "status": 200, "value": "ok"}),
        )
        .await;
    let r = recv_until(
        &mut w,
        "aggregated response",
        topic_is("org.metrics/lamp/things/twin/acks"),
    )
    .await;
    assert_eq!(r["status"], 200, "{r}");

    // A message and its answer.
    w.send_json(&json!({"topic": "org.metrics/lamp/things/live/messages/ask", "path": "/inbox/messages/ask",
        "headers": {"correlation-id": "m1", "content-type": "application/json", "timeout": "10s"}, "value": {"q": 1}}))
        .await;
    let m = recv_until(
        &mut messages,
        "message",
        topic_is("org.metrics/lamp/things/live/messages/ask"),
    )
    .await;
    assert_eq!(m["value"], json!({"q": 1}), "{m}");
    messages
        .send_json(&json!({"topic": "org.metrics/lamp/things/live/messages/ask", "path": "/outbox/messages/ask",
            "headers": {"correlation-id": "m1", "content-type": "application/json"}, "status": 200, "value": {"a": 2}}))
        .await;
    let r = recv_until(&mut w, "message answer", |v| {
        v["headers"]["correlation-id"] == "m1"
    })
    .await;
    assert_eq!(r["status"], 200, "{r}");

    // A live command and its response, then a live event.
    w.send_json(
        &json!({"topic": "org.metrics/lamp/things/live/commands/retrieve", "path": "/",
        "headers": {"correlation-id": "l1", "timeout": "10s"}}),
    )
    .await;
    recv_until(
        &mut live,
        "live command",
        topic_is("org.metrics/lamp/things/live/commands/retrieve"),
    )
    .await;
    live.send_json(&json!({"topic": "org.metrics/lamp/things/live/commands/retrieve", "path": "/",
        "headers": {"correlation-id": "l1"}, "status": 200, "value": {"thingId": "org.metrics:lamp"}}))
        .await;
    let r = recv_until(&mut w, "live response", |v| {
        v["headers"]["correlation-id"] == "l1"
    })
    .await;
    assert_eq!(r["status"], 200, "{r}");
    w.send_json(
        &json!({"topic": "org.metrics/lamp/things/live/events/modified", "path": "/attributes/on",
        "headers": {"correlation-id": "l2"}, "value": false}),
    )
    .await;
    recv_until(
        &mut live,
        "live event",
        topic_is("org.metrics/lamp/things/live/events/modified"),
    )
    .await;

    // The HTTP API, and authentication failures on both doors.
    let base = c.http_base(0);
    let (s, body) = http_request(
        "GET",
        &format!("{base}/api/2/things/org.metrics:lamp"),
        &[("Authorization", "Basic ZGl0dG86ZGl0dG8=")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let (s, _) = http_request(
        "GET",
        &format!("{base}/api/2/things/org.metrics:lamp"),
        &[],
        None,
    )
    .await
    .unwrap();
    assert_eq!(s, 401);
    assert!(Client::connect_basic(&c.ws_url(0), "ditto", "wrong")
        .await
        .is_err());

    // A session closed by the client, for the close-code counter.
    w.close().await;

    // Redis going away: the gateway answers 503 and both count Redis errors, then reconnect.
    let mut x = c.connect(0, "ditto").await;
    c.redis.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    x.send_json(
        &json!({"topic": "org.metrics/lamp/things/twin/commands/retrieve", "path": "/",
        "headers": {"correlation-id": "r1", "timeout": "10s"}}),
    )
    .await;
    let r = recv_until(&mut x, "an answer while Redis is down", |v| {
        v["headers"]["correlation-id"] == "r1"
    })
    .await;
    assert_eq!(r["status"], 503, "{r}");
    c.redis.restart().await;
    for g in &c.gateways {
        wait_ready(g.admin_port, &g.proc).await;
    }
    for h in &c.hubs {
        wait_ready(h.admin_port, &h.proc).await;
    }
}

/// Metric names with a sample on an exposition page; a histogram counts only once observed.
fn sampled(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut histograms = BTreeSet::new();
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if let Some(base) = name.strip_suffix("_count") {
            if page.contains(&format!("# TYPE {base} histogram")) {
                if value > 0.0 {
                    histograms.insert(base.to_owned());
                }
                continue;
            }
        }
        names.insert(name.to_owned());
    }
    names.retain(|n| {
        !["_bucket", "_sum"].iter().any(|s| {
            n.strip_suffix(s)
                .is_some_and(|b| page.contains(&format!("# TYPE {b} histogram")))
        })
    });
    names.extend(histograms);
    names
}

/// The metric names of the README's "Metrics and alerts" table, with its `*` spelled out.
fn readme_metrics() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("### Metrics and alerts")
        .expect("README has the metrics section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |i| i + 4)];
    let mut out = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `twinwire_")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for quoted in first_cell.split('`').skip(1).step_by(2) {
            let name = quoted.split('{').next().unwrap().to_owned();
            let expanded: Vec<String> = if let Some(rest) = name.strip_prefix("twinwire_*_") {
                vec![
                    format!("twinwire_gateway_{rest}"),
                    format!("twinwire_hub_{rest}"),
                ]
            } else if name.contains('*') {
                vec![name.replace('*', "in"), name.replace('*', "out")]
            } else {
                vec![name]
            };
            out.extend(expanded);
        }
    }
    assert!(
        out.len() >= 15,
        "the README's table was not found whole: {out:?}"
    );
    out
}

/// The metric names the dashboard's queries use, histogram suffixes dropped.
fn dashboard_metrics() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("deploy/grafana/twinwire-dashboard.json"))
        .unwrap();
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("twinwire_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = name.strip_suffix("_bucket").unwrap_or(name);
        if name.starts_with("twinwire_gateway_") || name.starts_with("twinwire_hub_") {
            out.insert(name.to_owned());
        }
        rest = &tail[end..];
    }
    assert!(
        out.len() >= 15,
        "the dashboard's queries were not found: {out:?}"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_and_dashboarded_metric_has_a_sample_after_every_path() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    exercise_every_path(&mut c).await;
    // Gauges the hub samples periodically (stream lag, pending entries) get a round.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut have = BTreeSet::new();
    for port in [
        c.gateways[0].admin_port,
        c.gateways[1].admin_port,
        c.hubs[0].admin_port,
    ] {
        have.extend(sampled(&scrape_metrics(port).await));
    }
    let readme: Vec<String> = readme_metrics()
        .into_iter()
        .filter(|m| !have.contains(m))
        .collect();
    let dashboard: Vec<String> = dashboard_metrics()
        .into_iter()
        .filter(|m| !have.contains(m))
        .collect();
    assert!(
        readme.is_empty() && dashboard.is_empty(),
        "metrics without a sample: listed in the README {readme:?}, used by the dashboard {dashboard:?}"
    );
}

/// The `count` of every `twinwire_hop_seconds` series on a page, by hop.
fn hop_counts(page: &str) -> BTreeMap<String, f64> {
    page.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("twinwire_hop_seconds_count{hop=\"")?;
            let (hop, value) = rest.split_once("\"} ")?;
            Some((hop.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Scrapes `admin_port` until every hop of `hops` has an observation (the last hook of a hop runs
/// just after the frame that shows it leaves), and returns the counts by hop.
async fn hops_observed(admin_port: u16, hops: &[&str]) -> BTreeMap<String, f64> {
    let mut counts = BTreeMap::new();
    for _ in 0..100 {
        counts = hop_counts(&scrape_metrics(admin_port).await);
        if hops
            .iter()
            .all(|h| counts.get(*h).is_some_and(|n| *n > 0.0))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hop_is_observed_on_the_process_it_belongs_to_after_a_command_and_its_fan_out() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut events = c.connect(1, "ditto").await;
    events
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut w = c.connect(0, "ditto").await;
    let r = w
        .request(
            json!({"topic": "org.hops/lamp/things/twin/commands/create", "path": "/",
            "value": {"attributes": {"on": true}}}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let e = recv_until(
        &mut events,
        "event",
        topic_is("org.hops/lamp/things/twin/events/created"),
    )
    .await;
    assert_eq!(e["value"]["attributes"]["on"], true, "{e}");

    let gateway_hops = ["publish", "node_stream", "inbox", "socket_write"];
    let hub_hops = ["command_wait", "round", "commit", "deliver"];
    let hops = |names: &[&str]| -> Vec<String> { names.iter().map(|h| h.to_string()).collect() };
    // The writer's node published the command and got its response back through its stream.
    let writer = hops_observed(c.gateways[0].admin_port, &gateway_hops).await;
    assert_eq!(
        writer.keys().cloned().collect::<Vec<_>>(),
        {
            let mut h = hops(&gateway_hops);
            h.sort();
            h
        },
        "the gateway's hops, exactly: {writer:?}"
    );
    for h in gateway_hops {
        assert!(
            writer[h] > 0.0,
            "hop {h} on the writer's gateway: {writer:?}"
        );
    }
    // The subscriber's node published nothing; it read the fan-out and wrote it to the socket.
    let reader = hops_observed(c.gateways[1].admin_port, &gateway_hops[1..]).await;
    assert_eq!(
        reader.keys().cloned().collect::<Vec<_>>(),
        writer.keys().cloned().collect::<Vec<_>>()
    );
    assert_eq!(reader["publish"], 0.0, "{reader:?}");
    for h in &gateway_hops[1..] {
        assert!(
            reader[*h] > 0.0,
            "hop {h} on the subscriber's gateway: {reader:?}"
        );
    }
    let hub = hops_observed(c.hubs[0].admin_port, &hub_hops).await;
    assert_eq!(
        hub.keys().cloned().collect::<Vec<_>>(),
        {
            let mut h = hops(&hub_hops);
            h.sort();
            h
        },
        "the hub's hops, exactly: {hub:?}"
    );
    for h in hub_hops {
        assert!(hub[h] > 0.0, "hop {h} on the hub: {hub:?}");
    }
    // The buckets start at a tenth of a millisecond.
    let page = scrape_metrics(c.hubs[0].admin_port).await;
    assert!(
        page.contains("twinwire_hop_seconds_bucket{hop=\"commit\",le=\"0.0001\"} "),
        "{page}"
    );
}
