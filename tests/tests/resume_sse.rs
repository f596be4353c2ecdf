//! Resume over Server-Sent Events (issue 16): `GET /api/2/things` with `Accept:
//! text/event-stream`, read by an `EventSource` as browsers implement it (a Node script without
//! packages, `tests/js/sse/event_source.js`), which reconnects by itself with `Last-Event-ID`.
//! Its gateway is drained in the middle: it reconnects to the other one and misses nothing.

use serde_json::{json, Value};
use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use twinwire_tests::{repo_root, require_tool, Client, Cluster, ClusterOptions};

const NS: &str = "org.sse";
const THINGS: usize = 50;
/// The stream asks for the first 20 things (`ids`) and every third change (`filter`).
const IDS: usize = 20;

fn wanted(range: std::ops::Range<usize>) -> Vec<usize> {
    range
        .filter(|j| j.is_multiple_of(3) && j % THINGS < IDS)
        .collect()
}

async fn write_changes(w: &mut Client, range: std::ops::Range<usize>) {
    twinwire_tests::changes::write_changes(w, NS, range, THINGS).await
}

struct EventSource {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl EventSource {
    fn start(urls: &[String], expect: usize, last_id: Option<&str>) -> EventSource {
        let node = require_tool(
            "node",
            "install Node.js (the machine's node, or Debian's nodejs)",
        );
        let mut cmd = Command::new(node);
        cmd.arg(repo_root().join("tests/js/sse/event_source.js"))
            .env("SSE_URLS", urls.join(" "))
            .env("SSE_USER", "ditto:ditto")
            .env("SSE_EXPECT", expect.to_string())
            .env("SSE_LAST_ID", last_id.unwrap_or_default())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for k in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
            cmd.env_remove(k);
        }
        let mut child = cmd.spawn().expect("run node");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        EventSource { child, lines }
    }

    /// The next line the client printed.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the EventSource printed nothing for 30 s")
            .expect("reading the EventSource")
            .expect("the EventSource ended");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// The next line that is not a keep-alive comment.
    async fn next_not_comment(&mut self) -> Value {
        loop {
            let v = self.next().await;
            if v.get("comment").is_none() {
                return v;
            }
        }
    }
}

fn urls(c: &Cluster, q: &str) -> Vec<String> {
    (0..c.gateways.len())
        .map(|g| format!("{}/api/2/things?{q}", c.http_base(g)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_source_reconnects_with_last_event_id_to_the_other_node_and_misses_nothing() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(1, "ditto").await;
    for i in 0..THINGS {
        let r = w
            .request(json!({"topic": format!("{NS}/t{i}/things/twin/commands/create"), "path": "/", "value": {}}))
            .await;
        assert_eq!(r["status"], 201, "{r}");
    }
    let ids: Vec<String> = (0..IDS).map(|i| format!("{NS}:t{i}")).collect();
    let q = format!(
        "ids={}&filter={}&fields=thingId,attributes/v,_revision",
        ids.join(","),
        form_urlencoded::byte_serialize(b"eq(attributes/v/m,true)").collect::<String>()
    );
    let all = wanted(0..330);
    let mut es = EventSource::start(&urls(&c, &q), all.len(), None);
    assert_eq!(es.next().await, json!({"open": urls(&c, &q)[0]}));
    write_changes(&mut w, 0..30).await;
    let mut got: Vec<Value> = Vec::new();
    while got.len() < wanted(0..30).len() {
        let v = es.next_not_comment().await;
        got.push(v["event"].clone());
    }
    // Its gateway is drained: the stream ends, and the client reconnects to the other one with
    // the last id while the changes go on.
    c.gateways[0].proc.signal(15);
    write_changes(&mut w, 30..330).await;
    let mut reconnected = false;
    while got.len() < all.len() {
        let v = es.next_not_comment().await;
        if v.get("open").is_some() {
            assert_eq!(v["open"], urls(&c, &q)[1]);
            reconnected = true;
            continue;
        }
        got.push(v["event"].clone());
    }
    assert!(reconnected, "the stream never moved to the other gateway");
    let js: Vec<usize> = got
        .iter()
        .map(|e| e["data"]["attributes"]["v"]["j"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(
        js.iter().copied().collect::<HashSet<_>>().len(),
        js.len(),
        "duplicates: {js:?}"
    );
    let mut sorted = js.clone();
    sorted.sort();
    assert_eq!(sorted, all);
    // Ditto's data: the thing built from the event, projected by `fields`.
    let first = &got[0];
    assert_eq!(first["data"]["thingId"], format!("{NS}:t0"));
    assert!(first["data"]["_revision"].is_i64(), "{first}");
    assert_eq!(
        first["data"].as_object().unwrap().len(),
        3,
        "thingId, attributes, _revision: {first}"
    );
    assert!(first["id"]
        .as_str()
        .is_some_and(|t| !t.is_empty() && t.len() <= 256));
    let _ = es.child.wait().await;

    // An idle stream gets keep-alive comments.
    let mut idle = EventSource::start(&urls(&c, &q)[1..], 1, None);
    assert!(idle.next().await.get("open").is_some());
    assert_eq!(idle.next().await, json!({"comment": true}));

    // A Last-Event-ID that is not a token: 400 before any stream.
    let mut bad = EventSource::start(&urls(&c, &q)[1..], 1, Some("garbage!"));
    let v = bad.next().await;
    assert_eq!(v["status"], 400, "{v}");
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "gateway:resume.invalid");
}
