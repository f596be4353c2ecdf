//! Scenarios driven by the official Eclipse Ditto Python client (PyPI `ditto-client`, generated
//! from Ditto's OpenAPI description; installed by `make test-deps` into tests/python/.venv from
//! tests/python/requirements.txt) against a real cluster. A scenario checks each call's status
//! itself and prints one JSON line per call; a failing call ends it with the call named.

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use twinwire_tests::{repo_root, Client, Cluster, ClusterOptions};

/// How long a scenario may run: its calls are quick round trips, so one still running after this
/// hangs on an answer that will never come.
const SCENARIO_LIMIT: Duration = Duration::from_secs(90);

/// Runs `tests/python/scenarios/<name>.py` with `env` in the venv and returns its output lines,
/// or what went wrong (the failing call named).
fn run_scenario(name: &str, env: &[(&str, String)]) -> Result<Vec<Value>, String> {
    let dir = repo_root().join("tests/python");
    let python = dir.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "the Ditto Python client is not installed: run `make test-deps` (tests/python/install.sh)"
    );
    let mut cmd = Command::new(python);
    cmd.current_dir(dir.join("scenarios"))
        .arg(format!("{name}.py"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    // httpx honours proxy variables and would leave loopback.
    for k in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(k);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run python");
    let started = Instant::now();
    let mut hung = false;
    while child.try_wait().expect("wait for python").is_none() {
        if started.elapsed() > SCENARIO_LIMIT {
            let _ = child.kill();
            hung = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("collect python's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if hung {
        return Err(format!(
            "scenario {name} still running after {SCENARIO_LIMIT:?}, killed:\n{stdout}\n{stderr}"
        ));
    }
    let lines = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| format!("scenario {name} printed non-JSON ({e}): {l}\n{stderr}"))
        })
        .collect::<Result<Vec<Value>, String>>()?;
    if let Some(failed) = lines.iter().find(|l| l.get("error").is_some()) {
        return Err(format!(
            "scenario {name}: call {} failed: {}\n{stderr}",
            failed["step"], failed["error"]
        ));
    }
    if !out.status.success() {
        return Err(format!(
            "scenario {name} failed ({}):\n{stdout}\n{stderr}",
            out.status
        ));
    }
    Ok(lines)
}

fn step<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {lines:?}"))
}

/// A device on `gw` receiving messages and live commands.
async fn device(c: &Cluster, gw: usize) -> Client {
    let mut d = c.connect(gw, "ditto").await;
    d.subscribe("START-SEND-MESSAGES", "START-SEND-MESSAGES:ACK")
        .await;
    d.subscribe("START-SEND-LIVE-COMMANDS", "START-SEND-LIVE-COMMANDS:ACK")
        .await;
    d
}

/// Answers every message with 200 and the payload it got, on the subject's outbox, and every
/// live command with 200 "from-device", except one with a 1 s timeout (the scenario's smart
/// `use-twin` step), which it leaves unanswered.
async fn answer_forever(mut d: Client) {
    loop {
        let m = d.recv_json().await;
        let Some(path) = m["path"].as_str() else {
            continue;
        };
        let topic = m["topic"].as_str().unwrap_or_default();
        let cid = m["headers"]["correlation-id"].clone();
        let reply = if topic.contains("/things/live/messages/") {
            json!({"topic": topic, "path": path.replace("inbox", "outbox"),
                "headers": {"correlation-id": cid, "content-type": "application/json"},
                "value": {"got": m["value"]}, "status": 200})
        } else if m["headers"]["timeout"] == "1s" {
            continue;
        } else {
            json!({"topic": topic, "path": path, "headers": {"correlation-id": cid},
                "value": "from-device", "status": 200})
        };
        d.send_json(&reply).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ditto_python_client_drives_the_http_api() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let d = device(&c, 1).await;
    let responder = tokio::spawn(answer_forever(d));
    let base = c.http_base(0);
    let lines = tokio::task::spawn_blocking(move || {
        run_scenario(
            "http_api",
            &[
                ("BASE", base),
                ("THING", "org.py:lamp-1".into()),
                ("POLICY", "org.py:policy".into()),
            ],
        )
    })
    .await
    .expect("scenario thread");
    responder.abort();
    let lines = lines.unwrap_or_else(|e| panic!("{e}"));

    // Every call of the scenario ran (the script stops at the first failing one).
    assert_eq!(
        lines.last().unwrap()["step"],
        "deleteSharedPolicy",
        "{lines:?}"
    );
    // Encoded path segments: the client sent %2F, and the answers were those of the plain paths.
    assert_eq!(
        step(&lines, "putResource")["path"],
        "/api/2/policies/org.py%3Apolicy/entries/ops/resources/thing%3A%2Ffeatures"
    );
    assert_eq!(
        step(&lines, "getAttribute")["path"],
        "/api/2/things/org.py%3Alamp-1/attributes/location%2Flat"
    );
    assert_eq!(
        step(&lines, "postInboxMessage")["body"],
        json!({"got": "which colour?"})
    );
    // 304 and 412 without breaking the keep-alive connection: the next call rides the same one.
    let connection = step(&lines, "getThing")["connection"].clone();
    for s in [
        "getThingNotModified",
        "patchThingIfMatchStale",
        "patchThingConditionFalse",
        "patchThingConditionTrue",
    ] {
        assert_eq!(step(&lines, s)["connection"], connection, "{s}: {lines:?}");
    }
    let not_modified = step(&lines, "getThingNotModified");
    assert_eq!(not_modified["body"], Value::Null);
    assert_eq!(
        not_modified["headers"]["etag"],
        step(&lines, "getThing")["headers"]["etag"]
    );
    assert_eq!(
        step(&lines, "patchThingIfMatchStale")["body"]["error"],
        "things:precondition.failed"
    );
    assert_eq!(
        step(&lines, "patchThingConditionFalse")["body"]["error"],
        "things:condition.failed"
    );
    // Location on 201.
    assert!(
        step(&lines, "putThing")["headers"]["location"]
            .as_str()
            .unwrap()
            .ends_with("/api/2/things/org.py:lamp-1"),
        "{lines:?}"
    );
    assert!(step(&lines, "postThing")["headers"]["location"]
        .as_str()
        .unwrap()
        .contains("/api/2/things/org.py:"));
    assert_eq!(
        step(&lines, "postMessageMissingThing")["body"]["error"],
        "things:thing.notfound"
    );
    // Which channel answered, in Ditto's response headers.
    for (s, channel, matched) in [
        ("getAttributeSmartMatched", "live", "true"),
        ("getAttributeSmartNotMatched", "twin", "false"),
        ("getAttributeSmartUseTwin", "twin", "true"),
    ] {
        let h = &step(&lines, s)["headers"];
        assert_eq!(
            (&h["channel"], &h["live-channel-condition-matched"]),
            (&json!(channel), &json!(matched)),
            "{s}"
        );
    }
}
