//! Randomized: random policies with READ grants and revokes at random paths for three subscribers
//! on two nodes, random changes through a writer, and for every event each subscriber must receive
//! exactly the payload an independent, deliberately simple model of the policy allows — never a
//! field it may not read, never missing one it may (issue: "every session sees exactly what it may
//! read"). Seeded; set `TW_SEED` to replay a failure.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions, Frame};

/// Things (each with its own random policy) and changes per thing.
const THINGS: usize = 70;
const CHANGES: usize = 10;

/// Paths the random rules pick from (under `thing:`).
const RULE_PATHS: &[&str] = &[
    "/",
    "/policyId",
    "/attributes",
    "/attributes/a",
    "/attributes/b",
    "/attributes/b/c",
    "/features",
    "/features/f",
    "/features/f/properties",
    "/features/f/properties/x",
];

/// Fields Ditto keeps in root events for every reader of any part of the thing.
const ALWAYS_KEPT: &[&str] = &[
    "thingId",
    "_namespace",
    "_revision",
    "_modified",
    "_created",
];

/// One subscriber's READ rules: path → (granted somewhere, revoked somewhere).
type Rules = BTreeMap<Vec<String>, (bool, bool)>;

fn segs(p: &str) -> Vec<String> {
    p.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The model: the deepest rule node on the path decides; at a node a revoke beats a grant.
fn readable(rules: &Rules, path: &[String]) -> bool {
    let mut verdict = false;
    for n in 0..=path.len() {
        if let Some((g, r)) = rules.get(&path[..n].to_vec()) {
            verdict = *g && !*r;
        }
    }
    verdict
}

/// What the subscriber should receive for an event at `path` with `value`: None = nothing.
fn expected(rules: &Rules, path: &[String], value: Option<&Value>) -> Option<Option<Value>> {
    let any_grant = rules.values().any(|(g, r)| *g && !*r);
    if !any_grant {
        return None;
    }
    let full_reader = readable(rules, &[]) && !rules.iter().any(|(p, (_, r))| !p.is_empty() && *r);
    if full_reader {
        return Some(value.cloned());
    }
    match value {
        Some(Value::Object(m)) if m.is_empty() => Some(Some(Value::Object(Map::new()))),
        Some(Value::Object(m)) => {
            let f = filter(rules, path, m, path.is_empty());
            if f.is_empty() {
                None
            } else {
                Some(Some(Value::Object(f)))
            }
        }
        other => readable(rules, path).then(|| other.cloned()),
    }
}

/// Keeps each field readable at its own path; objects are judged field by field, and a non-empty
/// object left with nothing disappears.
fn filter(
    rules: &Rules,
    path: &[String],
    m: &Map<String, Value>,
    at_root: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        if at_root && ALWAYS_KEPT.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let mut child = path.to_vec();
        child.push(k.clone());
        match v {
            Value::Object(sub) if !sub.is_empty() => {
                let f = filter(rules, &child, sub, false);
                if !f.is_empty() {
                    out.insert(k.clone(), Value::Object(f));
                }
            }
            _ => {
                if readable(rules, &child) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

fn random_rules(rng: &mut StdRng) -> Rules {
    let mut rules = Rules::new();
    for _ in 0..rng.random_range(0..5) {
        let p = segs(RULE_PATHS[rng.random_range(0..RULE_PATHS.len())]);
        let e = rules.entry(p).or_insert((false, false));
        if rng.random_bool(0.7) {
            e.0 = true;
        } else {
            e.1 = true;
        }
    }
    rules
}

/// Policy entries for `subject` carrying `rules`, split over one or two entries (a rule may be
/// granted in one entry and revoked in another: the model merges them per node, as Ditto does).
fn entries_for(rng: &mut StdRng, subject: &str, rules: &Rules, out: &mut Map<String, Value>) {
    let mut first = Map::new();
    let mut second = Map::new();
    for (p, (g, r)) in rules {
        let key = format!("thing:/{}", p.join("/"));
        let mut grant = Vec::new();
        let mut revoke = Vec::new();
        if *g {
            grant.push("READ");
        }
        if *r {
            revoke.push("READ");
        }
        // Sometimes also grant WRITE: it must not change what is readable.
        if rng.random_bool(0.2) {
            grant.push("WRITE");
        }
        let target = if rng.random_bool(0.3) {
            &mut second
        } else {
            &mut first
        };
        target.insert(key, json!({"grant": grant, "revoke": revoke}));
    }
    let name = subject.replace(':', "-");
    if !first.is_empty() {
        out.insert(
            format!("{name}-1"),
            json!({"subjects": {subject: {"type": "test"}}, "resources": first}),
        );
    }
    if !second.is_empty() {
        out.insert(
            format!("{name}-2"),
            json!({"subjects": {subject: {"type": "test"}}, "resources": second}),
        );
    }
}

fn n(rng: &mut StdRng) -> Value {
    json!(rng.random_range(0..1000))
}

fn random_thing(rng: &mut StdRng) -> Value {
    json!({"attributes": {"a": n(rng), "b": {"c": n(rng), "d": n(rng)}}, "features": {"f": {"properties": {"x": n(rng), "y": n(rng)}}}})
}

/// A random change that succeeds on `state` (the test's mirror of the thing): (action, path, value).
fn random_change(rng: &mut StdRng, state: &Value) -> (&'static str, String, Option<Value>) {
    loop {
        let c = match rng.random_range(0..11) {
            0 => ("modify", "/attributes/a".to_owned(), Some(n(rng))),
            1 => (
                "modify",
                "/attributes/b".to_owned(),
                Some(json!({"c": n(rng), "d": n(rng)})),
            ),
            2 => ("modify", "/attributes/b/c".to_owned(), Some(n(rng))),
            3 => (
                "modify",
                "/attributes".to_owned(),
                Some(json!({"a": n(rng), "b": {"c": n(rng)}})),
            ),
            4 => (
                "modify",
                "/features/f/properties/x".to_owned(),
                Some(n(rng)),
            ),
            5 => (
                "modify",
                "/features/f".to_owned(),
                Some(json!({"properties": {"x": n(rng), "y": n(rng)}})),
            ),
            6 => (
                "merge",
                "/".to_owned(),
                Some(
                    json!({"attributes": {"a": n(rng)}, "features": {"f": {"properties": {"y": n(rng)}}}}),
                ),
            ),
            7 => ("delete", "/attributes/b".to_owned(), None),
            8 => ("modify", "/".to_owned(), Some(random_thing(rng))),
            9 => ("modify", "/attributes/e".to_owned(), Some(json!({}))),
            _ => (
                "merge",
                "/attributes/b".to_owned(),
                Some(json!({"c": n(rng), "d": null})),
            ),
        };
        let exists = |p: &str| state.pointer(p).is_some();
        let ok = match (c.0, c.1.as_str()) {
            ("delete", p) => exists(p),
            (_, "/attributes/b/c") | ("merge", "/attributes/b") => exists("/attributes/b"),
            (_, "/features/f/properties/x") => exists("/features/f"),
            (_, "/attributes/a") | (_, "/attributes/e") => exists("/attributes"),
            _ => true,
        };
        if ok {
            return c;
        }
    }
}

/// The mirror of the thing after a change (merge patches applied RFC 7396 style).
fn apply(state: &mut Value, action: &str, path: &str, value: Option<&Value>) {
    let ptr = path.trim_end_matches('/');
    match action {
        "delete" => {
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            state
                .pointer_mut(if parent.is_empty() { "" } else { parent })
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key);
        }
        "merge" => {
            let target = if ptr.is_empty() {
                state
            } else {
                state.pointer_mut(ptr).unwrap()
            };
            json_patch::merge(target, value.unwrap());
        }
        _ => {
            if ptr.is_empty() {
                let keep = state.clone();
                *state = value.unwrap().clone();
                state["thingId"] = keep["thingId"].clone();
                state["policyId"] = keep["policyId"].clone();
            } else {
                let (parent, key) = ptr.rsplit_once('/').unwrap();
                state
                    .pointer_mut(if parent.is_empty() { "" } else { parent })
                    .unwrap()[key] = value.unwrap().clone();
            }
        }
    }
}

struct Subscriber {
    subject: String,
    client: Client,
    /// (thing, path, revision) → expected value (None = event without value).
    expected: Vec<(String, String, i64, Option<Value>)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_exactly_what_the_policy_lets_it_read() {
    let seed: u64 = std::env::var("TW_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("policy fuzz seed: {seed} (replay with TW_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut writer = c.connect(0, "alice").await;
    let mut subs = Vec::new();
    for (user, gw) in [("bob", 1), ("carol", 0), ("ditto", 1)] {
        let mut client = c.connect(gw, user).await;
        client
            .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
            .await;
        subs.push(Subscriber {
            subject: format!("nginx:{user}"),
            client,
            expected: Vec::new(),
        });
    }
    let mut cases = 0usize;
    for i in 0..THINGS {
        let id = format!("org.fuzz:t{i}");
        let mut entries = Map::new();
        entries.insert("owner".into(), json!({"subjects": {"nginx:alice": {"type": "test"}}, "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}, "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}}));
        let rules: Vec<Rules> = subs.iter().map(|_| random_rules(&mut rng)).collect();
        for (s, r) in subs.iter().zip(&rules) {
            entries_for(&mut rng, &s.subject, r, &mut entries);
        }
        let policy = json!({"entries": entries});
        let r = writer.request(json!({"topic": format!("org.fuzz/t{i}/policies/commands/create"), "path": "/", "value": policy})).await;
        assert_eq!(r["status"], 201, "policy {id}: {r}");
        let mut state = random_thing(&mut rng);
        let r = writer
            .request(json!({"topic": format!("org.fuzz/t{i}/things/twin/commands/create"), "path": "/", "value": {"policyId": id, "attributes": state["attributes"], "features": state["features"]}}))
            .await;
        assert_eq!(r["status"], 201, "thing {id}: {r}");
        state = r["value"].clone();
        let mut events = vec![("/".to_owned(), Some(state.clone()))];
        for _ in 0..CHANGES {
            let (action, path, value) = random_change(&mut rng, &state);
            let mut cmd = json!({"topic": format!("org.fuzz/t{i}/things/twin/commands/{action}"), "path": path, "headers": {}});
            if let Some(v) = &value {
                cmd["value"] = v.clone();
            }
            if action == "merge" {
                cmd["headers"]["content-type"] = json!("application/merge-patch+json");
            }
            let r = writer.request(cmd).await;
            assert!(
                r["status"].as_u64().is_some_and(|s| s == 201 || s == 204),
                "{action} {path} on {id}: {r} (state {state})"
            );
            apply(&mut state, action, &path, value.as_ref());
            let event_value = if path == "/" && action == "modify" {
                Some(state.clone())
            } else {
                value.clone()
            };
            events.push((path.clone(), event_value));
        }
        for (rev, (path, value)) in events.iter().enumerate() {
            for (s, r) in subs.iter_mut().zip(&rules) {
                cases += 1;
                if let Some(v) = expected(r, &segs(path), value.as_ref()) {
                    s.expected
                        .push((id.clone(), path.clone(), rev as i64 + 1, v));
                }
            }
        }
    }
    // Collect what each subscriber got and compare, in order.
    for s in &mut subs {
        let mut got = Vec::new();
        loop {
            match s.client.recv_within(Duration::from_millis(1500)).await {
                Some(Frame::Text(t)) => {
                    let e: Value = serde_json::from_str(&t).unwrap();
                    let topic = e["topic"].as_str().unwrap();
                    let thing = topic.split('/').take(2).collect::<Vec<_>>().join(":");
                    got.push((
                        thing,
                        e["path"].as_str().unwrap().to_owned(),
                        e["revision"].as_i64().unwrap(),
                        e.get("value").cloned(),
                    ));
                }
                None => break,
                other => panic!("{}: unexpected {other:?}", s.subject),
            }
        }
        let mut mismatches = Vec::new();
        let len = got.len().max(s.expected.len());
        for k in 0..len {
            if got.get(k) != s.expected.get(k) {
                mismatches.push(format!(
                    "#{k}: expected {:?}\n        got {:?}",
                    s.expected.get(k),
                    got.get(k)
                ));
                if mismatches.len() >= 5 {
                    break;
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "seed {seed}, {}: {} events expected, {} received; first mismatches:\n{}",
            s.subject,
            s.expected.len(),
            got.len(),
            mismatches.join("\n")
        );
    }
    println!("policy fuzz: {cases} (event, session) cases checked, seed {seed}");
    assert!(cases >= 2000);
}
