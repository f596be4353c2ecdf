//! Resume over Server-Sent Events in a real browser (issue 16): headless Chromium opens a dashboard
//! page (tests/browser/changes.html) served by nginx with the HTTP API on the same origin
//! (deploy/nginx/dashboard.conf, which adds the credentials a browser `EventSource` cannot send),
//! whose plain `EventSource` streams `/api/2/things?ids=…`. The gateway the stream runs through is
//! drained in the middle; the browser reconnects by itself, with `Last-Event-ID`, through nginx to
//! the other gateway, and the page has seen every change exactly once, in revision order.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use twinwire_tests::nginx::{replace_once, shipped_conf};
use twinwire_tests::{
    free_port, repo_root, Chromium, Client, Cluster, ClusterOptions, Nginx, PageEvent,
};

const NS: &str = "org.browser";
const THINGS: usize = 50;
/// The page asks for the first 20 things (`ids`) and every third change (`filter`).
const IDS: usize = 20;

fn wanted(range: std::ops::Range<usize>) -> Vec<usize> {
    range
        .filter(|j| j.is_multiple_of(3) && j % THINGS < IDS)
        .collect()
}

async fn write_changes(w: &mut Client, range: std::ops::Range<usize>) {
    twinwire_tests::changes::write_changes(w, NS, range, THINGS).await
}

/// Established TCP connections a process accepted on `port` (the server side: local port `port`),
/// from the kernel's tables.
fn established_to(port: u16) -> usize {
    let local = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .map(|table| {
            std::fs::read_to_string(table)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    cols.len() > 3 && cols[1].ends_with(&local) && cols[3] == "01"
                })
                .count()
        })
        .sum()
}

/// The page as the test watches it: what it logged, and the stream requests the browser sent.
struct Page {
    browser: Chromium,
    /// The headers of each request for the event stream, in order.
    stream_requests: Vec<Value>,
}

impl Page {
    /// The next line the page logged, as JSON.
    async fn next(&mut self) -> Value {
        loop {
            match self.browser.next().await {
                PageEvent::Console(line) => {
                    return serde_json::from_str(&line)
                        .unwrap_or_else(|_| panic!("the page logged no JSON: {line}"))
                }
                PageEvent::Request { url, headers } if url.contains("/api/2/things") => {
                    self.stream_requests.push(headers)
                }
                PageEvent::Request { .. } => {}
            }
        }
    }
}

/// A request header by name, in any case.
fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_event_source_resumes_by_itself_across_a_drained_gateway_and_misses_nothing() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    let ports = [c.gateways[0].http_port, c.gateways[1].http_port];
    let dashboard = free_port();
    let site = replace_once(
        &shipped_conf("dashboard.conf"),
        "listen 8081;",
        &format!("listen 127.0.0.1:{dashboard};"),
    );
    let site = replace_once(
        &site,
        "root /usr/share/nginx/dashboard;",
        &format!("root {};", repo_root().join("tests/browser").display()),
    );
    let _nginx = Nginx::start_with_sites(&c.dir, ports, &[("dashboard.conf", site)]).await;

    let mut w = c.connect(1, "ditto").await;
    for i in 0..THINGS {
        let r = w
            .request(json!({"topic": format!("{NS}/t{i}/things/twin/commands/create"), "path": "/", "value": {}}))
            .await;
        assert_eq!(r["status"], 201, "{r}");
    }
    let ids: Vec<String> = (0..IDS).map(|i| format!("{NS}:t{i}")).collect();
    let query = format!(
        "ids={}&filter={}&fields=thingId,attributes/v,_revision",
        ids.join(","),
        form_urlencoded::byte_serialize(b"eq(attributes/v/m,true)").collect::<String>()
    );
    let before = ports.map(established_to);
    let mut page = Page {
        browser: Chromium::start(&c.dir).await,
        stream_requests: Vec::new(),
    };
    page.browser
        .navigate(&format!(
            "http://127.0.0.1:{dashboard}/changes.html?{query}"
        ))
        .await;
    assert_eq!(page.next().await, json!({"open": true}));
    // The stream's gateway: the one nginx opened a connection to.
    let mut on = None;
    for _ in 0..200 {
        let now = ports.map(established_to);
        let grown: Vec<usize> = (0..2).filter(|&g| now[g] > before[g]).collect();
        if let [g] = grown[..] {
            on = Some(g);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let on = on.expect("no gateway got the browser's stream");

    let all = wanted(0..330);
    let mut got: Vec<Value> = Vec::new();
    write_changes(&mut w, 0..30).await;
    while got.len() < wanted(0..30).len() {
        let v = page.next().await;
        assert!(v.get("data").is_some(), "before the drain: {v}");
        got.push(v);
    }
    let last_before_drain = got.last().unwrap()["id"].as_str().unwrap().to_owned();

    // Its gateway drains: the stream ends, and while the changes go on the browser reconnects
    // on its own (CONNECTING, then open again) through nginx to the other gateway.
    c.gateways[on].proc.signal(15);
    write_changes(&mut w, 30..330).await;
    let mut states = Vec::new();
    while got.len() < all.len() {
        let v = page.next().await;
        if v.get("data").is_some() {
            got.push(v);
        } else {
            states.push(v);
        }
    }
    assert_eq!(
        states,
        vec![json!({"error": 0}), json!({"open": true})],
        "one reconnect, by the browser"
    );
    let status = c.gateways[on]
        .proc
        .wait_timeout(Duration::from_secs(15))
        .expect("the drained gateway exits");
    assert_eq!(status.code(), Some(0), "drained gateway's exit status");
    assert!(
        established_to(ports[1 - on]) > before[1 - on],
        "the stream is not on the other gateway"
    );

    // The browser asked twice: first without a position, then with the id of the last event it
    // had.
    assert_eq!(page.stream_requests.len(), 2, "{:?}", page.stream_requests);
    assert_eq!(
        header(&page.stream_requests[0], "accept"),
        Some("text/event-stream")
    );
    assert_eq!(header(&page.stream_requests[0], "last-event-id"), None);
    assert_eq!(
        header(&page.stream_requests[1], "last-event-id"),
        Some(last_before_drain.as_str())
    );

    // Every change written, once; each thing's in the order written.
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
    let mut per_thing: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &j in &js {
        per_thing.entry(j % THINGS).or_default().push(j);
    }
    for (thing, seen) in &per_thing {
        assert!(
            seen.windows(2).all(|p| p[0] < p[1]),
            "thing t{thing} out of order: {seen:?}"
        );
    }
    // Ditto's data, projected by `fields`; each event's id is a resume token.
    for e in &got {
        let thing = e["data"]["attributes"]["v"]["j"].as_u64().unwrap() as usize % THINGS;
        assert_eq!(e["data"]["thingId"], format!("{NS}:t{thing}"), "{e}");
        assert!(e["data"]["_revision"].is_i64(), "{e}");
        assert_eq!(e["data"].as_object().unwrap().len(), 3, "{e}");
        assert!(
            e["id"]
                .as_str()
                .is_some_and(|t| !t.is_empty() && t.len() <= 256),
            "{e}"
        );
    }
}
