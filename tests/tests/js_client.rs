//! Scenarios driven by the official Eclipse Ditto JavaScript client
//! (`@eclipse-ditto/ditto-javascript-client-node`, installed by `make test` into tests/js) against
//! a real cluster. Each scenario prints one JSON object per line; the test asserts them.

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use twinwire_tests::{repo_root, require_tool, Cluster, ClusterOptions};

/// How long a scenario may run: each does a handful of round trips, so a scenario still running
/// after this hangs on an answer that will never come.
const SCENARIO_LIMIT: Duration = Duration::from_secs(30);

/// Runs `tests/js/scenarios/<name>.js` with `env` and returns its output lines as JSON.
pub fn run_scenario(name: &str, env: &[(&str, String)]) -> Vec<Value> {
    try_scenario(name, env).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run_scenario`], with a failure (exit status, hang, non-JSON output) as an error.
pub fn try_scenario(name: &str, env: &[(&str, String)]) -> Result<Vec<Value>, String> {
    let node = require_tool(
        "node",
        "install Node.js (the machine's node, or Debian's nodejs)",
    );
    let dir = repo_root().join("tests/js");
    assert!(
        dir.join("node_modules/@eclipse-ditto/ditto-javascript-client-node")
            .is_dir(),
        "the Ditto JS client is not installed: run `make test-deps` (npm ci in tests/js)"
    );
    let mut cmd = Command::new(node);
    cmd.current_dir(&dir).arg(format!("scenarios/{name}.js"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The client honours proxy variables and would leave loopback (reference/ditto-js-client.md §1).
    for k in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
        cmd.env_remove(k);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run node");
    let started = Instant::now();
    let mut hung = false;
    while child.try_wait().expect("wait for node").is_none() {
        if started.elapsed() > SCENARIO_LIMIT {
            let _ = child.kill();
            hung = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("collect node's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if hung {
        return Err(format!(
            "scenario {name} still running after {SCENARIO_LIMIT:?}, killed:\n{stdout}\n{stderr}"
        ));
    }
    if !out.status.success() {
        return Err(format!(
            "scenario {name} failed ({}):\n{stdout}\n{stderr}",
            out.status
        ));
    }
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| format!("scenario {name} printed non-JSON ({e}): {l}\n{stderr}"))
        })
        .collect()
}

fn step<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["step"] == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ditto_js_client_on_node_two_receives_events_of_changes_made_on_node_one() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let node = |i: usize| format!("127.0.0.1:{}", c.gateways[i].http_port);
    let lines = run_scenario(
        "twin_events",
        &[
            ("NODE1", node(0)),
            ("NODE2", node(1)),
            ("THING_ID", "org.example:js-demo".into()),
        ],
    );
    assert!(
        lines
            .iter()
            .all(|l| l.get("unhandledRejection").is_none() && l.get("error").is_none()),
        "{lines:?}"
    );
    let created = step(&lines, "created");
    assert_eq!(created.len(), 1, "{lines:?}");
    assert_eq!(created[0]["status"], 201);
    assert_eq!(created[0]["thingId"], "org.example:js-demo");
    assert_eq!(
        created[0]["attributes"],
        serde_json::json!({"location": "lab"})
    );
    assert_eq!(
        step(&lines, "putAttribute")[0]["status"],
        201,
        "a new attribute is created: {lines:?}"
    );
    let got = step(&lines, "getThing");
    assert_eq!(
        got[0]["attributes"],
        serde_json::json!({"location": "lab", "temperature": 21.5})
    );
    let events = step(&lines, "event");
    assert_eq!(events.len(), 2, "{lines:?}");
    assert_eq!(
        (events[0]["action"].clone(), events[0]["path"].clone()),
        ("created".into(), "/".into())
    );
    assert_eq!(events[0]["value"]["attributes"]["location"], "lab");
    assert_eq!(
        (events[1]["action"].clone(), events[1]["path"].clone()),
        ("created".into(), "/attributes/temperature".into())
    );
    assert_eq!(events[1]["value"], 21.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ditto_js_client_sees_partial_events_for_partial_read_and_nothing_without_read() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = c.connect(0, "alice").await;
    let policy = serde_json::json!({"entries": {
        "owner": {"subjects": {"nginx:alice": {"type": "test"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
        "reader": {"subjects": {"nginx:bob": {"type": "test"}}, "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []}}}}});
    let r = alice.request(serde_json::json!({"topic": "org.example/js-partial/policies/commands/create", "path": "/", "value": policy})).await;
    assert_eq!(r["status"], 201, "{r}");
    let node = |i: usize| format!("127.0.0.1:{}", c.gateways[i].http_port);
    let lines = run_scenario(
        "partial_events",
        &[
            ("NODE1", node(0)),
            ("NODE2", node(1)),
            ("THING_ID", "org.example:js-partial".into()),
        ],
    );
    assert!(
        lines.iter().all(|l| l.get("unhandledRejection").is_none()
            && (l.get("step").is_some() || l.get("error").is_none())),
        "{lines:?}"
    );
    assert_eq!(step(&lines, "thing")[0]["status"], 201, "{lines:?}");
    let bob = step(&lines, "bob");
    let seen: Vec<(Value, Value, Value)> = bob
        .iter()
        .map(|e| (e["action"].clone(), e["path"].clone(), e["value"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "created".into(),
                "/".into(),
                serde_json::json!({"thingId": "org.example:js-partial", "attributes": {"room": "lab"}})
            ),
            ("modified".into(), "/attributes/room".into(), "hall".into()),
        ],
        "bob sees only attributes, and not the feature change"
    );
    assert!(
        step(&lines, "carol").is_empty(),
        "carol may read nothing: {lines:?}"
    );
    assert_eq!(
        step(&lines, "bobGet")[0]["thing"]["_attributes"],
        serde_json::json!({"room": "hall"}),
        "{lines:?}"
    );
    assert_eq!(
        step(&lines, "carolGet")[0]["error"],
        "things:thing.notfound",
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ditto_js_live_client_gets_answers_from_a_device_on_the_other_node() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut alice = c.connect(0, "alice").await;
    let r = alice
        .request(serde_json::json!({"topic": "org.example/js-live/things/twin/commands/create", "path": "/", "value": {"attributes": {"on": true}}}))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    // A device on node 2: plain WebSocket, answers messages and live commands by hand.
    let mut dev = c.connect(1, "alice").await;
    dev.subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;
    dev.subscribe("START-SEND-LIVE-COMMANDS", "START-SEND-LIVE-COMMANDS:ACK")
        .await;
    let device = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let m = dev.recv_json().await;
            eprintln!("device got {m}");
            seen.push(m["topic"].clone());
            let cid = m["headers"]["correlation-id"].clone();
            let answer = if m["topic"].as_str().unwrap().contains("/messages/") {
                serde_json::json!({"topic": m["topic"], "headers": {"correlation-id": cid, "content-type": "application/json"}, "path": "/outbox/messages/ask", "value": {"answer": 42}, "status": 200})
            } else {
                serde_json::json!({"topic": m["topic"], "headers": {"correlation-id": cid, "content-type": "application/json"}, "path": "/",
                    "value": {"thingId": "org.example:js-live", "attributes": {"on": "from-device"}}, "status": 200})
            };
            dev.send_json(&answer).await;
        }
        seen
    });
    let node1 = format!("127.0.0.1:{}", c.gateways[0].http_port);
    let lines = tokio::task::spawn_blocking(move || {
        try_scenario(
            "live",
            &[("NODE1", node1), ("THING_ID", "org.example:js-live".into())],
        )
    })
    .await
    .unwrap();
    let lines = lines.unwrap_or_else(|e| {
        c.dump_logs();
        panic!("{e}")
    });
    let seen = device.await.unwrap();
    assert_eq!(
        seen,
        vec![
            Value::from("org.example/js-live/things/live/messages/ask"),
            Value::from("org.example/js-live/things/live/commands/retrieve")
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.get("error").is_none() && l.get("unhandledRejection").is_none()),
        "{lines:?}"
    );
    let m = step(&lines, "message");
    assert_eq!(
        (m[0]["status"].clone(), m[0]["body"].clone()),
        (Value::from(200), serde_json::json!({"answer": 42})),
        "{lines:?}"
    );
    let g = step(&lines, "liveGet");
    assert_eq!(
        g[0]["attributes"],
        serde_json::json!({"on": "from-device"}),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ditto_js_client_searches_counts_and_pages_with_its_cursor() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let node = |i: usize| format!("127.0.0.1:{}", c.gateways[i].http_port);
    let lines = run_scenario("search", &[("NODE1", node(0)), ("NODE2", node(1))]);
    assert!(
        lines
            .iter()
            .all(|l| l.get("unhandledRejection").is_none() && l.get("error").is_none()),
        "{lines:?}"
    );
    let pages: Vec<_> = step(&lines, "page")
        .iter()
        .map(|p| (p["count"].clone(), p["hasCursor"].clone()))
        .collect();
    assert_eq!(
        pages,
        [(2.into(), true.into()), (2.into(), false.into())],
        "{lines:?}"
    );
    assert_eq!(
        step(&lines, "ids")[0]["ids"],
        serde_json::json!([
            "org.js.search:t4",
            "org.js.search:t3",
            "org.js.search:t2",
            "org.js.search:t1"
        ])
    );
    assert_eq!(step(&lines, "count")[0]["count"], 5);
    assert_eq!(
        step(&lines, "post")[0]["ids"],
        serde_json::json!(["org.js.search:t4"])
    );
}
