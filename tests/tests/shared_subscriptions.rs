//! Shared subscriptions (`group=` on a START; DESIGN.md "Shared subscriptions"): every signal that
//! matches a share reaches exactly one member, wherever the members are connected; each thing's
//! events reach one member in revision order while membership is stable; a member that leaves
//! (STOP, a TCP reset) gives back what it had not written, which the others get; round-robin
//! spreads; users never share; a device share answers HTTP messages once; a share with no member
//! keeps its events for the retention.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;
use twinwire_tests::{
    api_call, metric_sum, scrape_metrics, Client, Cluster, ClusterOptions, Frame,
};

/// One event as a member saw it: (member, thing id, revision).
type Seen = (usize, String, i64);

/// What a member task does while events arrive.
#[derive(Clone, Copy)]
enum Plan {
    /// Reads until the test ends.
    Stay,
    /// Sends STOP-SEND-EVENTS after this many events; from its ACK on, gets no event.
    StopAfter(usize),
    /// Resets its TCP connection after this many events.
    ResetAfter(usize),
}

fn thing_of(topic: &str) -> String {
    let mut parts = topic.split('/');
    let ns = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    format!("{ns}:{name}")
}

/// Reads `client`'s events into `tx` as (member, thing, revision), following `plan`.
fn member_task(
    idx: usize,
    mut client: Client,
    plan: Plan,
    tx: mpsc::UnboundedSender<Seen>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = 0usize;
        let mut stopped = false;
        loop {
            let Some(f) = client.recv_within(Duration::from_secs(120)).await else {
                return;
            };
            let Frame::Text(t) = f else {
                return;
            };
            if t == "STOP-SEND-EVENTS:ACK" {
                stopped = true;
                continue;
            }
            let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"));
            let topic = v["topic"].as_str().unwrap_or_default();
            assert!(topic.contains("/things/twin/events/"), "member {idx}: {v}");
            assert!(
                !stopped,
                "member {idx} got an event after STOP-SEND-EVENTS:ACK: {v}"
            );
            let _ = tx.send((idx, thing_of(topic), v["revision"].as_i64().unwrap_or(-1)));
            seen += 1;
            match plan {
                Plan::StopAfter(n) if seen == n => client.send("STOP-SEND-EVENTS").await,
                Plan::ResetAfter(n) if seen == n => return client.abort(),
                _ => {}
            }
        }
    })
}

async fn member(c: &Cluster, gw: usize, user: &str, start: &str) -> Client {
    let mut m = c.connect(gw, user).await;
    let ack = format!("{}:ACK", start.split('?').next().unwrap());
    m.subscribe(start, &ack).await;
    m
}

/// Creates `things` things in namespace `ns` and modifies each `changes` times, round after round
/// (so every thing changes throughout the run). Returns every (thing, revision) it caused.
async fn write_changes(
    w: &mut Client,
    ns: &str,
    things: usize,
    changes: usize,
) -> BTreeSet<(String, i64)> {
    let mut expected = BTreeSet::new();
    for t in 0..things {
        let r = w
            .request(
                json!({"topic": format!("{ns}/t{t}/things/twin/commands/create"), "path": "/",
                "value": {"attributes": {"n": 0}}}),
            )
            .await;
        assert_eq!(r["status"], 201, "{r}");
        expected.insert((format!("{ns}:t{t}"), 1));
    }
    // Sent without waiting, so events pile up in the members' queues while they come and go.
    for round in 0..changes {
        for t in 0..things {
            w.send_json(
                &json!({"topic": format!("{ns}/t{t}/things/twin/commands/modify"),
                "headers": {"correlation-id": format!("m-{round}-{t}")},
                "path": "/attributes/n", "value": round + 1}),
            )
            .await;
            expected.insert((format!("{ns}:t{t}"), round as i64 + 2));
        }
    }
    for _ in 0..things * changes {
        let r = w.recv_json().await;
        assert_eq!(r["status"], 204, "{r}");
    }
    expected
}

/// Receives until every expected event was seen by some member, or until, with nothing arriving
/// for a moment, every event missing is accounted for by `unread` (shared frames written to a
/// connection that was then reset: the gateway cannot know the client never read them); 60 s at
/// most. Then a moment more for duplicates.
async fn collect(
    c: &Cluster,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    expected: &BTreeSet<(String, i64)>,
) -> Vec<Seen> {
    let mut all = Vec::new();
    let mut union: BTreeSet<(String, i64)> = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&union) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(s)) => {
                union.insert((s.1.clone(), s.2));
                all.push(s);
            }
            Ok(None) => break,
            Err(_) => {
                if expected.difference(&union).count() as u64 == unread(c, all.len()).await {
                    break;
                }
            }
        }
    }
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        all.push(s);
    }
    all
}

/// Shared frames the gateways wrote to member connections that no member read: `received` is
/// what the members' tasks got.
async fn unread(c: &Cluster, received: usize) -> u64 {
    let mut written = 0.0;
    for g in &c.gateways {
        let m = scrape_metrics(g.admin_port).await;
        written += metric_sum(&m, "twinwire_gateway_shared_written_total");
    }
    (written as u64).saturating_sub(received as u64)
}

/// Every expected event seen exactly once, nothing else, except `lost` events (written to a
/// connection that was reset before its client read them).
fn assert_exactly_once(all: &[Seen], expected: &BTreeSet<(String, i64)>, lost: u64) {
    let mut count: BTreeMap<(String, i64), Vec<usize>> = BTreeMap::new();
    for (m, t, r) in all {
        count.entry((t.clone(), *r)).or_default().push(*m);
    }
    let twice: Vec<_> = count.iter().filter(|(_, ms)| ms.len() > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let got: BTreeSet<(String, i64)> = count.keys().cloned().collect();
    assert!(got.is_subset(expected), "unexpected events");
    let missing: Vec<_> = expected.difference(&got).collect();
    assert_eq!(
        missing.len() as u64,
        lost,
        "events never delivered ({} of {}), of which {lost} were written to a reset connection: {:?}",
        missing.len(),
        expected.len(),
        missing.iter().take(20).collect::<Vec<_>>()
    );
}

/// Per member and thing, revisions only go up.
fn assert_revision_order(all: &[Seen]) {
    let mut last: HashMap<(usize, &str), i64> = HashMap::new();
    for (m, t, r) in all {
        if let Some(prev) = last.insert((*m, t.as_str()), *r) {
            assert!(*r > prev, "member {m} got {t} revision {r} after {prev}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_two_gateways_get_each_event_once_and_each_thing_at_one_member() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = "START-SEND-EVENTS?group=workers&namespaces=org.share";
    let tasks = vec![
        member_task(
            0,
            member(&c, 0, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            1,
            member(&c, 1, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            2,
            member(&c, 1, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
    ];
    // A plain subscriber beside the share still gets everything.
    let mut plain = member(&c, 0, "ditto", "START-SEND-EVENTS?namespaces=org.share").await;
    let mut w = c.connect(0, "ditto").await;
    let expected = write_changes(&mut w, "org.share", 30, 10).await;
    assert_eq!(expected.len(), 330);
    let all = collect(&c, &mut rx, &expected).await;
    assert_exactly_once(&all, &expected, 0);
    assert_revision_order(&all);
    // Membership was stable: each thing at one member only, and every member got some things.
    let mut owner: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    for (m, t, _) in &all {
        owner.entry(t.as_str()).or_default().insert(*m);
    }
    assert!(owner.values().all(|ms| ms.len() == 1), "{owner:?}");
    let members: BTreeSet<usize> = owner.values().flatten().copied().collect();
    assert_eq!(members, BTreeSet::from([0, 1, 2]), "{owner:?}");
    for _ in 0..expected.len() {
        let v = plain.recv_json().await;
        assert!(v["topic"].as_str().unwrap().contains("/events/"), "{v}");
    }
    let metrics = scrape_metrics(c.hubs[0].admin_port).await;
    assert_eq!(
        metric_sum(&metrics, "twinwire_hub_shared_subscriptions"),
        1.0
    );
    assert_eq!(
        metric_sum(&metrics, "twinwire_hub_shared_subscription_members"),
        3.0
    );
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_and_one_that_is_reset_lose_nothing_and_duplicate_nothing() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = "START-SEND-EVENTS?group=workers&namespaces=org.share";
    let tasks = vec![
        member_task(
            0,
            member(&c, 0, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            1,
            member(&c, 1, "ditto", start).await,
            Plan::StopAfter(20),
            tx.clone(),
        ),
        member_task(
            2,
            member(&c, 1, "ditto", start).await,
            Plan::ResetAfter(25),
            tx.clone(),
        ),
        member_task(
            3,
            member(&c, 0, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
    ];
    let mut w = c.connect(0, "ditto").await;
    let expected = write_changes(&mut w, "org.share", 30, 10).await;
    let all = collect(&c, &mut rx, &expected).await;
    // Only the reset member can have lost frames (written to its connection, never read): the
    // others read to the end. Every event was written exactly once, to one member.
    let lost = unread(&c, all.len()).await;
    assert_exactly_once(&all, &expected, lost);
    let mut written = 0.0;
    for g in &c.gateways {
        let m = scrape_metrics(g.admin_port).await;
        written += metric_sum(&m, "twinwire_gateway_shared_written_total");
    }
    assert_eq!(written, expected.len() as f64);
    let metrics = scrape_metrics(c.hubs[0].admin_port).await;
    assert_eq!(
        metric_sum(&metrics, "twinwire_hub_shared_subscription_members"),
        2.0
    );
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_evenly_over_members_not_nodes() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = "START-SEND-EVENTS?group=rr&dispatch=round-robin&namespaces=org.rr";
    // Two members on one node, one on the other: members share alike, not nodes.
    let tasks = vec![
        member_task(
            0,
            member(&c, 0, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            1,
            member(&c, 0, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            2,
            member(&c, 1, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
    ];
    let mut w = c.connect(1, "ditto").await;
    // One thing: by thing, all of it would go to one member.
    let expected = write_changes(&mut w, "org.rr", 1, 299).await;
    assert_eq!(expected.len(), 300);
    let all = collect(&c, &mut rx, &expected).await;
    assert_exactly_once(&all, &expected, 0);
    // One hub, one rotation: exactly even. The stated tolerance (several hubs rotate each on its
    // own) is ±10 % of the fair share.
    let mut per: BTreeMap<usize, usize> = BTreeMap::new();
    for (m, _, _) in &all {
        *per.entry(*m).or_default() += 1;
    }
    for m in 0..3 {
        let n = per.get(&m).copied().unwrap_or(0);
        assert!(
            (90..=110).contains(&n),
            "member {m} got {n} of 300: {per:?}"
        );
    }
    for t in tasks {
        t.abort();
    }
}

/// A policy letting `readers` read things (ditto owns them).
async fn shared_policy(w: &mut Client, id: &str, readers: &[&str]) {
    let mut entries = json!({"owner": {"subjects": {"nginx:ditto": {"type": "t"}},
        "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []},
            "policy:/": {"grant": ["READ", "WRITE"], "revoke": []},
            "message:/": {"grant": ["READ", "WRITE"], "revoke": []}}}});
    for r in readers {
        entries[*r] = json!({"subjects": {format!("nginx:{r}"): {"type": "t"}},
            "resources": {"thing:/": {"grant": ["READ"], "revoke": []},
                "message:/": {"grant": ["READ", "WRITE"], "revoke": []}}});
    }
    let (ns, name) = id.split_once(':').unwrap();
    let r = w
        .request(
            json!({"topic": format!("{ns}/{name}/policies/commands/create"), "path": "/",
            "value": {"entries": entries}}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_with_the_same_share_name_receive_independently() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    shared_policy(&mut w, "org.two:p", &["alice", "bob"]).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (btx, mut brx) = mpsc::unbounded_channel();
    let start = "START-SEND-EVENTS?group=workers&namespaces=org.two";
    let tasks = vec![
        member_task(
            0,
            member(&c, 0, "alice", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            1,
            member(&c, 1, "alice", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            2,
            member(&c, 1, "bob", start).await,
            Plan::Stay,
            btx.clone(),
        ),
    ];
    let mut expected = BTreeSet::new();
    for t in 0..10 {
        let r = w
            .request(
                json!({"topic": format!("org.two/t{t}/things/twin/commands/create"), "path": "/",
                "value": {"policyId": "org.two:p", "attributes": {"n": 0}}}),
            )
            .await;
        assert_eq!(r["status"], 201, "{r}");
        expected.insert((format!("org.two:t{t}"), 1));
        for n in 1..=4 {
            let r = w
                .request(
                    json!({"topic": format!("org.two/t{t}/things/twin/commands/modify"),
                    "path": "/attributes/n", "value": n}),
                )
                .await;
            assert_eq!(r["status"], 204, "{r}");
            expected.insert((format!("org.two:t{t}"), n + 1));
        }
    }
    // Alice's share gets every event once, and so does bob's (his one member gets them all).
    let alice = collect(&c, &mut rx, &expected).await;
    assert_exactly_once(&alice, &expected, 0);
    let bob = collect(&c, &mut brx, &expected).await;
    assert_exactly_once(&bob, &expected, 0);
    let metrics = scrape_metrics(c.hubs[0].admin_port).await;
    assert_eq!(
        metric_sum(&metrics, "twinwire_hub_shared_subscriptions"),
        2.0
    );
    for t in tasks {
        t.abort();
    }
}

/// A device answering every message it gets with its index and the message's `n`; sends
/// (device, n) to `tx`.
fn device_task(
    idx: usize,
    mut d: Client,
    tx: mpsc::UnboundedSender<(usize, i64)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(Frame::Text(t)) = d.recv_within(Duration::from_secs(120)).await else {
                return;
            };
            let m: Value = serde_json::from_str(&t).unwrap();
            let n = m["value"]["n"].as_i64().unwrap_or(-1);
            let _ = tx.send((idx, n));
            let reply = json!({"topic": m["topic"],
                "path": m["path"].as_str().unwrap().replace("inbox", "outbox"),
                "headers": {"correlation-id": m["headers"]["correlation-id"],
                    "content-type": "application/json"},
                "value": {"by": idx, "n": n}, "status": 200});
            d.send_json(&reply).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_share_answers_each_http_message_exactly_once() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let r = api_call(
        &c,
        ("ditto", "ditto"),
        "PUT",
        "/api/2/things/org.dev:lamp",
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = "START-SEND-MESSAGES?group=devices&dispatch=round-robin";
    let devices = vec![
        device_task(0, member(&c, 0, "ditto", start).await, tx.clone()),
        device_task(1, member(&c, 1, "ditto", start).await, tx.clone()),
    ];
    for n in 0..20i64 {
        let r = api_call(
            &c,
            ("ditto", "ditto"),
            "POST",
            "/api/2/things/org.dev:lamp/inbox/messages/ask?timeout=10",
            Some(&json!({"n": n}).to_string()),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["n"], n, "{}", r.body);
    }
    let mut answered: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    while answered.values().map(Vec::len).sum::<usize>() < 20 {
        let (d, n) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("every message reached a device")
            .unwrap();
        answered.entry(n).or_default().push(d);
    }
    while let Ok(Some((d, n))) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        answered.entry(n).or_default().push(d);
    }
    assert_eq!(answered.len(), 20, "{answered:?}");
    assert!(answered.values().all(|ds| ds.len() == 1), "{answered:?}");
    // Round-robin over the two devices, one hub: they alternate.
    let per_device = |i| answered.values().filter(|ds| ds[0] == i).count();
    assert_eq!((per_device(0), per_device(1)), (10, 10), "{answered:?}");
    for d in devices {
        d.abort();
    }
}

/// Creates org.keep:t and changes it `n` times; returns the revisions it made.
async fn keep_changes(w: &mut Client, created: bool, n: i64) -> Vec<i64> {
    let mut revs = Vec::new();
    if !created {
        let r = w
            .request(
                json!({"topic": "org.keep/t/things/twin/commands/create", "path": "/",
                "value": {"attributes": {"n": 0}}}),
            )
            .await;
        assert_eq!(r["status"], 201, "{r}");
    }
    for i in 0..n {
        let r = w
            .request(json!({"topic": "org.keep/t/things/twin/commands/modify",
                "path": "/attributes/n", "value": i + 1}))
            .await;
        assert_eq!(r["status"], 204, "{r}");
        revs.push(i + 2);
    }
    revs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_without_members_keeps_its_events_for_the_next_member_within_the_retention() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    keep_changes(&mut w, false, 0).await;
    let start = "START-SEND-EVENTS?group=keepers&namespaces=org.keep";
    let mut first = member(&c, 1, "ditto", start).await;
    first.close().await;
    // Wait until the hub knows the share has no member (no timing: the gauge says so).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape_metrics(c.hubs[0].admin_port).await;
        if metric_sum(&m, "twinwire_hub_shared_subscription_members") == 0.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the member never left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = keep_changes(&mut w, true, 5).await;
    // Within the retention (60 s by default) a new member joins: it gets the kept events, in
    // order, then new ones.
    let mut next = member(&c, 0, "ditto", start).await;
    for rev in &kept {
        let v = next.recv_json().await;
        assert_eq!(v["topic"], "org.keep/t/things/twin/events/modified", "{v}");
        assert_eq!(v["revision"], *rev, "{v}");
    }
    let r = w
        .request(json!({"topic": "org.keep/t/things/twin/commands/modify",
            "path": "/attributes/n", "value": 100}))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    let v = next.recv_json().await;
    assert_eq!(v["revision"], 7, "{v}");
    next.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_kept_past_the_retention_are_dropped_and_counted() {
    let c = Cluster::start(ClusterOptions {
        hub_env: vec![("TWINWIRE_GROUPS__RETENTION_SECS".into(), "1".into())],
        ..Default::default()
    })
    .await;
    let mut w = c.connect(0, "ditto").await;
    keep_changes(&mut w, false, 0).await;
    let start = "START-SEND-EVENTS?group=keepers&namespaces=org.keep";
    let mut first = member(&c, 1, "ditto", start).await;
    first.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape_metrics(c.hubs[0].admin_port).await;
        if metric_sum(&m, "twinwire_hub_shared_subscription_members") == 0.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the member never left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    keep_changes(&mut w, true, 3).await;
    // The hub drops them once the retention is over.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = scrape_metrics(c.hubs[0].admin_port).await;
        if metric_sum(&m, "twinwire_hub_shared_events_dropped_total") == 3.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kept events were never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut next = member(&c, 0, "ditto", start).await;
    next.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crashed_gateway_never_read_goes_to_the_other_members() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = "START-SEND-EVENTS?group=workers&namespaces=org.crash";
    let tasks = vec![
        member_task(
            0,
            member(&c, 0, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            1,
            member(&c, 1, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
    ];
    let mut w = c.connect(0, "ditto").await;
    let before = write_changes(&mut w, "org.crash", 10, 2).await;
    let all = collect(&c, &mut rx, &before).await;
    assert_exactly_once(&all, &before, 0);
    let members: BTreeSet<usize> = all.iter().map(|s| s.0).collect();
    assert_eq!(members, BTreeSet::from([0, 1]), "both members have things");
    // Gateway 1 dies with everything it read written; what the hub routes to its member from now
    // on stays unread in its delivery stream until liveness finds it dead (10 s), and then goes
    // to the member on gateway 0.
    c.gateways[1].proc.kill();
    let mut after = BTreeSet::new();
    for round in 0..3 {
        for t in 0..10 {
            let r = w
                .request(
                    json!({"topic": format!("org.crash/t{t}/things/twin/commands/modify"),
                    "path": "/attributes/n", "value": 100 + round}),
                )
                .await;
            assert_eq!(r["status"], 204, "{r}");
            after.insert((format!("org.crash:t{t}"), round as i64 + 4));
        }
    }
    let mut got: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < after.len() {
        let Ok(Some((m, t, r))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        assert_eq!(m, 0, "only the member on the live gateway gets events now");
        *got.entry((t, r)).or_default() += 1;
    }
    while let Ok(Some((_, t, r))) =
        tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
    {
        *got.entry((t, r)).or_default() += 1;
    }
    let keys: BTreeSet<(String, i64)> = got.keys().cloned().collect();
    assert_eq!(
        keys, after,
        "every event after the crash reached the live member"
    );
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    let metrics = scrape_metrics(c.hubs[0].admin_port).await;
    assert!(metric_sum(&metrics, "twinwire_hub_shared_redispatched_total") > 0.0);
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_that_gets_an_event_acknowledges_its_own_label_and_the_other_labels_come_back_weak(
) {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    let r = w
        .request(
            json!({"topic": "org.sack/lamp/things/twin/commands/create", "path": "/",
            "value": {"attributes": {"on": false}}}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let start = "START-SEND-EVENTS?group=ackers&namespaces=org.sack";
    let declaring = |gw: usize, label: &'static str| {
        let url = format!("{}?declared-acks={label}", c.ws_url(gw));
        async move {
            let mut m = Client::connect_basic(&url, "ditto", "ditto").await.unwrap();
            m.subscribe(start, "START-SEND-EVENTS:ACK").await;
            m
        }
    };
    let mut a = declaring(0, "a-ack").await;
    let mut b = declaring(1, "b-ack").await;
    for (i, cid) in ["s1", "s2", "s3"].into_iter().enumerate() {
        w.send_json(
            &json!({"topic": "org.sack/lamp/things/twin/commands/modify",
            "path": "/attributes/on", "value": i,
            "headers": {"correlation-id": cid, "timeout": "10s",
                "requested-acks": ["twin-persisted", "a-ack", "b-ack"]}}),
        )
        .await;
        // Exactly one member gets the event, asked only for its own label.
        let (picked, own, other, e) = tokio::select! {
            e = a.recv_json() => ("a", "a-ack", "b-ack", e),
            e = b.recv_json() => ("b", "b-ack", "a-ack", e),
        };
        assert_eq!(e["headers"]["requested-acks"], json!([own]), "{e}");
        let m = if picked == "a" { &mut a } else { &mut b };
        m.send_json(
            &json!({"topic": format!("org.sack/lamp/things/twin/acks/{own}"), "path": "/",
            "headers": {"correlation-id": cid}, "status": 202, "value": picked}),
        )
        .await;
        let r = w.recv_json().await;
        assert_eq!(r["topic"], "org.sack/lamp/things/twin/acks", "{r}");
        assert_eq!(r["value"][own]["status"], 202, "{r}");
        assert_eq!(r["value"][own]["payload"], picked, "{r}");
        assert_eq!(r["value"][other]["headers"]["ditto-weak-ack"], true, "{r}");
        // By thing: the same member every time, and the other one gets nothing.
        let quiet = if picked == "a" { &mut b } else { &mut a };
        quiet.expect_silence(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_share_parameters_get_an_error_and_no_ack() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut s = c.connect(0, "ditto").await;
    let long = "g".repeat(129);
    for frame in [
        "START-SEND-EVENTS?dispatch=round-robin".to_string(),
        "START-SEND-EVENTS?group=w&dispatch=sticky".to_string(),
        format!("START-SEND-MESSAGES?group={long}"),
        "START-SEND-POLICY-ANNOUNCEMENTS?group=w".to_string(),
        "START-SEND-LIVE-COMMANDS?group=&correlation-id=c1".to_string(),
    ] {
        s.send(&frame).await;
        let e = s.recv_json().await;
        assert_eq!(e["status"], 400, "{frame}: {e}");
        assert_eq!(
            e["value"]["error"], "gateway:websocket.parameter.invalid",
            "{frame}: {e}"
        );
    }
    // Nothing was subscribed: a valid share START is the first ACK.
    s.subscribe(
        "START-SEND-LIVE-EVENTS?group=w&dispatch=by-thing",
        "START-SEND-LIVE-EVENTS:ACK",
    )
    .await;
    s.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_gateways_members_give_back_what_they_did_not_write() {
    let mut c = Cluster::start(ClusterOptions {
        gateway_env: vec![("TWINWIRE_DRAIN__PERIOD_SECS".into(), "1".into())],
        ..Default::default()
    })
    .await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = "START-SEND-EVENTS?group=workers&namespaces=org.drain";
    let tasks = vec![
        member_task(
            0,
            member(&c, 0, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            1,
            member(&c, 1, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
        member_task(
            2,
            member(&c, 1, "ditto", start).await,
            Plan::Stay,
            tx.clone(),
        ),
    ];
    let mut w = c.connect(0, "ditto").await;
    let mut expected = write_changes(&mut w, "org.drain", 30, 1).await;
    // Gateway 1 drains (its members are closed with 1001 and read everything written before)
    // while changes keep coming.
    c.gateways[1].proc.signal(15);
    for round in 0..5 {
        for t in 0..30 {
            w.send_json(
                &json!({"topic": format!("org.drain/t{t}/things/twin/commands/modify"),
                "headers": {"correlation-id": format!("d-{round}-{t}")},
                "path": "/attributes/n", "value": 100 + round}),
            )
            .await;
            expected.insert((format!("org.drain:t{t}"), round as i64 + 3));
        }
    }
    for _ in 0..150 {
        let r = w.recv_json().await;
        assert_eq!(r["status"], 204, "{r}");
    }
    assert_eq!(
        c.gateways[1]
            .proc
            .wait_timeout(Duration::from_secs(20))
            .map(|s| s.code()),
        Some(Some(0))
    );
    let mut all = Vec::new();
    let mut union = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !expected.is_subset(&union) {
        let Ok(Some(s)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        union.insert((s.1.clone(), s.2));
        all.push(s);
    }
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        all.push(s);
    }
    assert_exactly_once(&all, &expected, 0);
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_command_share_answers_each_command_once_with_the_picked_member() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    for t in 0..10 {
        let r = w
            .request(
                json!({"topic": format!("org.twin/t{t}/things/twin/commands/create"), "path": "/",
                "value": {"attributes": {"n": t}}}),
            )
            .await;
        assert_eq!(r["status"], 201, "{r}");
    }
    let start = "START-SEND-LIVE-COMMANDS?group=digital-twins&namespaces=org.twin";
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String)>();
    let mut members = Vec::new();
    for (idx, gw) in [(0usize, 0usize), (1, 1)] {
        let mut m = member(&c, gw, "ditto", start).await;
        let tx = tx.clone();
        members.push(tokio::spawn(async move {
            loop {
                let Some(Frame::Text(t)) = m.recv_within(Duration::from_secs(120)).await else {
                    return;
                };
                let cmd: Value = serde_json::from_str(&t).unwrap();
                let topic = cmd["topic"].as_str().unwrap().to_owned();
                let _ = tx.send((idx, topic.clone()));
                m.send_json(&json!({"topic": topic, "path": "/",
                    "headers": {"correlation-id": cmd["headers"]["correlation-id"]},
                    "status": 200, "value": {"by": idx}}))
                    .await;
            }
        }));
    }
    // Each thing's live commands go to one member, which answers; the sender gets that answer.
    let mut by: HashMap<String, i64> = HashMap::new();
    for round in 0..3 {
        for t in 0..10 {
            let topic = format!("org.twin/t{t}/things/live/commands/retrieve");
            let r = w
                .request(json!({"topic": topic, "path": "/",
                    "headers": {"correlation-id": format!("l-{round}-{t}"), "timeout": "10s"}}))
                .await;
            assert_eq!(r["status"], 200, "{r}");
            let who = r["value"]["by"].as_i64().unwrap();
            assert_eq!(*by.entry(topic).or_insert(who), who, "{r}");
        }
    }
    let mut got = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        got.push(s);
    }
    assert_eq!(
        got.len(),
        30,
        "each command reached exactly one member: {got:?}"
    );
    for m in members {
        m.abort();
    }
}
