//! Resume (issue 16): a session that reconnects, to any node, continues exactly after the last
//! event it got (`twinwire-resume` header, `START-SEND-EVENTS?resume=`), or is refused: 410 when
//! the journals no longer hold its position, 400 for a token that is not one of ours. Real
//! processes throughout: two gateways, hubs, Redis.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use twinwire_tests::{Client, Cluster, ClusterOptions, Frame, RedisBackend};

const NS: &str = "org.resume";
/// Matching events: every third change (the filter below).
const FILTER: &str = "eq(attributes/v/m,true)";

fn matching(range: std::ops::Range<usize>) -> Vec<usize> {
    range.filter(|j| j.is_multiple_of(3)).collect()
}

async fn create_things(w: &mut Client, n: usize) {
    for i in 0..n {
        let r = w
            .request(json!({"topic": format!("{NS}/t{i}/things/twin/commands/create"), "path": "/", "value": {"attributes": {"v": {"j": -1, "m": false}}}}))
            .await;
        assert_eq!(r["status"], 201, "{r}");
    }
}

async fn write_changes(w: &mut Client, range: std::ops::Range<usize>, things: usize) {
    twinwire_tests::changes::write_changes(w, NS, range, things).await
}

/// One received event: which change it is, and its token.
#[derive(Debug, Clone)]
struct Got {
    j: usize,
    thing: String,
    revision: i64,
    token: String,
}

fn parse_event(text: &str) -> Got {
    let e: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let token = e["headers"]["twinwire-resume"]
        .as_str()
        .unwrap_or_else(|| panic!("no twinwire-resume header: {text}"))
        .to_owned();
    assert!(token.len() <= 256, "token of {} bytes", token.len());
    assert!(
        token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c)),
        "token alphabet: {token}"
    );
    let topic = e["topic"].as_str().unwrap();
    Got {
        j: e["value"]["j"].as_u64().unwrap_or_else(|| panic!("{text}")) as usize,
        thing: topic.split('/').nth(1).unwrap().to_owned(),
        revision: e["revision"].as_i64().unwrap(),
        token,
    }
}

/// Reads exactly `n` events, then checks that nothing else arrives.
async fn recv_events(c: &mut Client, n: usize) -> Vec<Got> {
    let mut got = Vec::new();
    while got.len() < n {
        match c.recv_within(Duration::from_secs(20)).await {
            Some(Frame::Text(t)) => got.push(parse_event(&t)),
            other => panic!("expected {n} events, got {} and then {other:?}", got.len()),
        }
    }
    c.expect_silence(Duration::from_millis(1500)).await;
    got
}

/// Exactly the changes `expected`, each once, in revision order per thing.
fn assert_exactly(got: &[Got], expected: &[usize]) {
    let js: Vec<usize> = got.iter().map(|g| g.j).collect();
    let unique: HashSet<usize> = js.iter().copied().collect();
    assert_eq!(unique.len(), js.len(), "duplicates in {js:?}");
    let mut sorted = js.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "missing or extra events");
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for g in got {
        let prev = last.insert(&g.thing, g.revision);
        assert!(
            prev.is_none_or(|p| p < g.revision),
            "{} out of order: {prev:?} then {}",
            g.thing,
            g.revision
        );
    }
}

fn start_frame(token: Option<&str>) -> String {
    let mut q = format!("filter={}", urlencode(FILTER));
    if let Some(t) = token {
        q.push_str(&format!("&resume={t}"));
    }
    format!("START-SEND-EVENTS?{q}")
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A subscriber that got the first changes on `gw`, and its last token. Subscribed right after
/// the setup: its tokens never reach back before its START, so the setup is never replayed.
async fn first_session(c: &Cluster, gw: usize, w: &mut Client, things: usize) -> (Client, String) {
    let mut sub = c.connect(gw, "ditto").await;
    sub.subscribe(&start_frame(None), "START-SEND-EVENTS:ACK")
        .await;
    write_changes(w, 0..30, things).await;
    let got = recv_events(&mut sub, matching(0..30).len()).await;
    assert_exactly(&got, &matching(0..30));
    let token = got.last().unwrap().token.clone();
    (sub, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_subscriber_resumes_on_the_other_node_with_nothing_missing_or_twice() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, 50).await;
    let (mut sub, token) = first_session(&c, 0, &mut w, 50).await;
    sub.close().await;
    // 500 changes while it is away.
    write_changes(&mut w, 30..530, 50).await;
    let mut resumed = c.connect(1, "ditto").await;
    resumed
        .subscribe(&start_frame(Some(&token)), "START-SEND-EVENTS:ACK")
        .await;
    let replayed = recv_events(&mut resumed, matching(30..530).len()).await;
    assert_exactly(&replayed, &matching(30..530));
    // Then live, seamlessly.
    write_changes(&mut w, 530..560, 50).await;
    let live = recv_events(&mut resumed, matching(530..560).len()).await;
    let all: Vec<Got> = replayed.iter().chain(&live).cloned().collect();
    assert_exactly(&all, &matching(30..560));
    // Any earlier token is a valid starting point too: from the middle of the replay, whatever
    // came after it (a replay goes shard by shard, so that is not a range of changes).
    let mid = replayed.len() / 2;
    let mut again = c.connect(0, "ditto").await;
    again
        .subscribe(&start_frame(Some(&all[mid].token)), "START-SEND-EVENTS:ACK")
        .await;
    let mut expected: Vec<usize> = all[mid + 1..].iter().map(|g| g.j).collect();
    expected.sort();
    let rest = recv_events(&mut again, expected.len()).await;
    assert_exactly(&rest, &expected);
}

/// The error frame a refused START gets, with nothing after it (no ACK).
async fn expect_refusal(c: &mut Client, status: u64, error: &str) {
    let e = c.recv_json().await;
    assert_eq!(e["status"], status, "{e}");
    assert_eq!(e["value"]["error"], error, "{e}");
    assert_eq!(e["topic"], "unknown/unknown/things/twin/errors", "{e}");
    c.expect_silence(Duration::from_millis(1000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_gets_410_and_a_garbage_or_modified_one_400_and_no_ack() {
    // One shard whose journal keeps about 100 events, so a few hundred changes trim past a token.
    let shards = ("TWINWIRE_SHARDS__COUNT".to_string(), "1".to_string());
    let c = Cluster::start(ClusterOptions {
        gateway_env: vec![shards.clone()],
        hub_env: vec![
            shards,
            ("TWINWIRE_RESUME__MAX_EVENTS_PER_SHARD".into(), "100".into()),
        ],
        ..Default::default()
    })
    .await;
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, 5).await;
    let (mut sub, token) = first_session(&c, 0, &mut w, 5).await;
    sub.close().await;

    let mut other = c.connect(1, "ditto").await;
    other.send(&start_frame(Some("garbage!"))).await;
    expect_refusal(&mut other, 400, "gateway:resume.invalid").await;
    // One character changed: the integrity check fails.
    let mut modified = token.clone().into_bytes();
    modified[3] = if modified[3] == b'A' { b'B' } else { b'A' };
    let modified = String::from_utf8(modified).unwrap();
    other.send(&start_frame(Some(&modified))).await;
    expect_refusal(&mut other, 400, "gateway:resume.invalid").await;
    other.send(&start_frame(Some(&"A".repeat(300)))).await;
    expect_refusal(&mut other, 400, "gateway:resume.invalid").await;

    // Still retained: the token works (checked on a session of its own).
    let mut ok = c.connect(1, "ditto").await;
    ok.subscribe(&start_frame(Some(&token)), "START-SEND-EVENTS:ACK")
        .await;
    ok.close().await;
    // 400 changes later the journal no longer holds the token's position.
    write_changes(&mut w, 30..430, 5).await;
    other.send(&start_frame(Some(&token))).await;
    expect_refusal(&mut other, 410, "gateway:resume.expired").await;
    // The session itself is fine: a plain START works.
    other
        .subscribe(&start_frame(None), "START-SEND-EVENTS:ACK")
        .await;
}

/// Resumes `token` on gateway `gw` and expects exactly the matching changes after `after_j`
/// (the last one the first session got) up to `upto`.
async fn resume_and_check(c: &Cluster, gw: usize, token: &str, from: usize, upto: usize) -> Client {
    let mut resumed = c.connect(gw, "ditto").await;
    resumed
        .subscribe(&start_frame(Some(token)), "START-SEND-EVENTS:ACK")
        .await;
    let got = recv_events(&mut resumed, matching(from..upto).len()).await;
    assert_exactly(&got, &matching(from..upto));
    resumed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_a_drained_and_of_a_killed_gateway_resume_on_another_node() {
    let c = Cluster::start(ClusterOptions {
        gateways: 3,
        ..Default::default()
    })
    .await;
    let mut w = c.connect(2, "ditto").await;
    create_things(&mut w, 50).await;
    // One subscriber on gateway 0 (drained), one on gateway 1 (killed).
    let mut drained = c.connect(0, "ditto").await;
    drained
        .subscribe(&start_frame(None), "START-SEND-EVENTS:ACK")
        .await;
    let mut killed = c.connect(1, "ditto").await;
    killed
        .subscribe(&start_frame(None), "START-SEND-EVENTS:ACK")
        .await;
    write_changes(&mut w, 0..30, 50).await;
    let a = recv_events(&mut drained, matching(0..30).len()).await;
    let b = recv_events(&mut killed, matching(0..30).len()).await;
    assert_exactly(&a, &matching(0..30));
    assert_exactly(&b, &matching(0..30));

    c.gateways[0].proc.signal(15);
    assert_eq!(
        drained
            .recv_close(Duration::from_secs(10))
            .await
            .map(|c| c.0),
        Some(1001)
    );
    c.gateways[1].proc.signal(9);
    write_changes(&mut w, 30..330, 50).await;
    let mut x = resume_and_check(&c, 2, &a.last().unwrap().token, 30, 330).await;
    let mut y = resume_and_check(&c, 2, &b.last().unwrap().token, 30, 330).await;
    // Both continue live.
    write_changes(&mut w, 330..360, 50).await;
    assert_exactly(
        &recv_events(&mut x, matching(330..360).len()).await,
        &matching(330..360),
    );
    assert_exactly(
        &recv_events(&mut y, matching(330..360).len()).await,
        &matching(330..360),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_during_the_replay_loses_and_repeats_nothing() {
    let c = Cluster::start(ClusterOptions {
        hubs: 2,
        ..Default::default()
    })
    .await;
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, 50).await;
    let (mut sub, token) = first_session(&c, 0, &mut w, 50).await;
    sub.close().await;
    write_changes(&mut w, 30..1030, 50).await;
    let mut resumed = c.connect(1, "ditto").await;
    resumed
        .subscribe(&start_frame(Some(&token)), "START-SEND-EVENTS:ACK")
        .await;
    // Killed while it replays (or just before): its shards' requests are claimed by the other.
    c.hubs[0].proc.signal(9);
    write_changes(&mut w, 1030..1060, 50).await;
    let got = recv_events(&mut resumed, matching(30..1060).len()).await;
    assert_exactly(&got, &matching(30..1060));
}

/// A session's filter, and which changes it matches.
type SessionKind = (Option<&'static str>, fn(usize) -> bool);

/// A session of the randomized test: its filter, everything it got over all its connections, and
/// its connection while it has one.
struct Randomized {
    filter: Option<&'static str>,
    wants: fn(usize) -> bool,
    got: Vec<Got>,
    client: Option<Client>,
    /// Changes from this one on are owed to it (it subscribed before them).
    from: usize,
}

/// Reads what is there (each frame within `wait`), at most `max` frames.
async fn read_some(c: &mut Client, max: usize, wait: Duration, into: &mut Vec<Got>) {
    for _ in 0..max {
        match c.recv_within(wait).await {
            Some(Frame::Text(t)) => into.push(parse_event(&t)),
            Some(other) => panic!("unexpected {other:?}"),
            None => return,
        }
    }
}

fn start_with(filter: Option<&str>, token: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(f) = filter {
        q.push(format!("filter={}", urlencode(f)));
    }
    if let Some(t) = token {
        q.push(format!("resume={t}"));
    }
    if q.is_empty() {
        "START-SEND-EVENTS".into()
    } else {
        format!("START-SEND-EVENTS?{}", q.join("&"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_random_disconnects_resumes_and_writes_lose_and_repeat_nothing() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("TW_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("resume seed: {seed} (replay with TW_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    const THINGS: usize = 240;
    let c = Cluster::start(ClusterOptions {
        hubs: 2,
        ..Default::default()
    })
    .await;
    // The second hub joins while things are created: shards move between hubs as it all starts.
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, THINGS).await;
    let kinds: [SessionKind; 3] = [
        (None, |_| true),
        (Some(FILTER), |j| j.is_multiple_of(3)),
        (Some("ge(attributes/v/j,400)"), |j| j >= 400),
    ];
    let mut sessions = Vec::new();
    for i in 0..6 {
        let (filter, wants) = kinds[i % kinds.len()];
        let mut client = c.connect(i % 2, "ditto").await;
        client
            .subscribe(&start_with(filter, None), "START-SEND-EVENTS:ACK")
            .await;
        sessions.push(Randomized {
            filter,
            wants,
            got: Vec::new(),
            client: Some(client),
            from: 0,
        });
    }
    let mut next = 0;
    for _round in 0..12 {
        let n = rng.random_range(10..60);
        write_changes(&mut w, next..next + n, THINGS).await;
        next += n;
        for s in &mut sessions {
            match s.client.take() {
                Some(mut client) => {
                    // Reads part of what came, then maybe leaves in the middle of the stream.
                    let max = rng.random_range(0..40);
                    read_some(&mut client, max, Duration::from_millis(300), &mut s.got).await;
                    if rng.random_bool(0.4) {
                        if rng.random_bool(0.5) {
                            client.close().await;
                        } else {
                            client.abort();
                        }
                    } else {
                        s.client = Some(client);
                    }
                }
                None if rng.random_bool(0.6) => {
                    let gw = rng.random_range(0..2);
                    let mut client = c.connect(gw, "ditto").await;
                    match s.got.last() {
                        Some(last) => {
                            let f = start_with(s.filter, Some(&last.token));
                            client.subscribe(&f, "START-SEND-EVENTS:ACK").await;
                        }
                        // Nothing got yet, so no token: a fresh start, owed what comes after.
                        None => {
                            client
                                .subscribe(&start_with(s.filter, None), "START-SEND-EVENTS:ACK")
                                .await;
                            s.from = next;
                        }
                    }
                    s.client = Some(client);
                }
                None => {}
            }
        }
    }
    // Everyone back, a last burst, and then every session's whole stream is compared.
    for s in &mut sessions {
        if s.client.is_none() {
            let mut client = c.connect(1, "ditto").await;
            let f = start_with(s.filter, s.got.last().map(|g| g.token.as_str()));
            client.subscribe(&f, "START-SEND-EVENTS:ACK").await;
            if s.got.is_empty() {
                s.from = next;
            }
            s.client = Some(client);
        }
    }
    write_changes(&mut w, next..next + 20, THINGS).await;
    next += 20;
    for (i, s) in sessions.iter_mut().enumerate() {
        let expected: Vec<usize> = (s.from..next).filter(|j| (s.wants)(*j)).collect();
        let mut client = s.client.take().unwrap();
        let missing = expected.len().saturating_sub(s.got.len());
        let more = recv_events(&mut client, missing).await;
        s.got.extend(more);
        println!("session {i}: {} events", s.got.len());
        assert_exactly(&s.got, &expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_survives_a_redis_restart() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, 50).await;
    let (mut sub, token) = first_session(&c, 0, &mut w, 50).await;
    sub.close().await;
    drop(w);
    match &c.backend {
        // Redis restarts from its AOF: the journals, and so every token, survive it.
        RedisBackend::Standalone => c.redis.restart().await,
        // The binary's shared Redis Cluster stays up for its other tests; what a restart does to
        // resume's scripts is done instead: every node forgets them (the gateways' per-shard
        // `EVALSHA` pipelines then fall back to `EVAL` on each primary).
        RedisBackend::Cluster { seeds } => {
            for url in seeds.split(',') {
                let mut conn = redis::Client::open(url)
                    .expect("node url")
                    .get_multiplexed_async_connection()
                    .await
                    .expect("cluster node");
                let _: () = redis::cmd("SCRIPT")
                    .arg("FLUSH")
                    .query_async(&mut conn)
                    .await
                    .expect("SCRIPT FLUSH");
            }
        }
        RedisBackend::Sentinel { .. } => {
            unreachable!("resume tests run standalone or on a cluster")
        }
    }
    let mut w = c.connect(1, "ditto").await;
    let mut answered = false;
    for _ in 0..150 {
        let r = w
            .request(json!({"topic": format!("{NS}/t0/things/twin/commands/retrieve"), "path": "/", "headers": {}}))
            .await;
        if r["status"] == 200 {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answered, "the cluster never answered after the restart");
    write_changes(&mut w, 30..230, 50).await;
    let mut resumed = resume_and_check(&c, 1, &token, 30, 230).await;
    write_changes(&mut w, 230..260, 50).await;
    assert_exactly(
        &recv_events(&mut resumed, matching(230..260).len()).await,
        &matching(230..260),
    );
}

/// A share (`group=`) hands each event to one member, so it is not resumable: its members' events
/// carry no `twinwire-resume`, and a START with both `group=` and `resume=` is refused (400, no
/// ACK) while a plain subscriber beside it gets its tokens as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_member_gets_no_tokens_and_a_share_cannot_be_resumed() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, 3).await;
    let mut member = c.connect(0, "ditto").await;
    member
        .subscribe(
            &format!("START-SEND-EVENTS?group=w&filter={}", urlencode(FILTER)),
            "START-SEND-EVENTS:ACK",
        )
        .await;
    let (mut plain, token) = first_session(&c, 1, &mut w, 3).await;
    plain.close().await;
    let mut js = Vec::new();
    for _ in matching(0..30) {
        let e = member.recv_json().await;
        assert_eq!(e["headers"]["twinwire-resume"], Value::Null, "{e}");
        js.push(e["value"]["j"].as_u64().unwrap() as usize);
    }
    js.sort();
    assert_eq!(js, matching(0..30));
    member.expect_silence(Duration::from_millis(500)).await;

    let mut other = c.connect(1, "ditto").await;
    other
        .send(&format!(
            "START-SEND-EVENTS?group=w&resume={token}&filter={}",
            urlencode(FILTER)
        ))
        .await;
    expect_refusal(&mut other, 400, "gateway:websocket.parameter.invalid").await;
    // The same token without `group=` resumes.
    other
        .subscribe(&start_frame(Some(&token)), "START-SEND-EVENTS:ACK")
        .await;
}

/// A replay of a large backlog on one shard goes a page per round, so while it runs another
/// session's commands are answered and its changes reach the resuming session live, after the
/// replay of their shard: everything exactly once, in order per thing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_replay_lets_other_sessions_work_and_loses_or_repeats_nothing() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let mut w = c.connect(0, "ditto").await;
    // Thing t0 takes the backlog (one shard), t1 the other session's changes.
    create_things(&mut w, 2).await;
    let (mut sub, token) = first_session(&c, 0, &mut w, 1).await;
    sub.close().await;
    write_changes(&mut w, 30..5030, 1).await;
    let mut resumed = c.connect(1, "ditto").await;
    resumed
        .subscribe(&start_frame(Some(&token)), "START-SEND-EVENTS:ACK")
        .await;
    let reader = tokio::spawn(async move {
        let got = recv_events(&mut resumed, matching(30..5130).len()).await;
        (resumed, got)
    });
    // Meanwhile another session's commands, each answered.
    let mut other = c.connect(0, "ditto").await;
    for j in 5030..5130 {
        let r = other
            .request(json!({
                "topic": format!("{NS}/t1/things/twin/commands/modify"),
                "path": "/attributes/v",
                "value": {"j": j, "m": j % 3 == 0},
            }))
            .await;
        assert_eq!(r["status"], 204, "{r}");
    }
    let (_resumed, got) = reader.await.unwrap();
    assert_exactly(&got, &matching(30..5130));
}

/// A hub killed while it paces a long replay (3,000 entries of one shard, six pages): the request
/// was still pending, so the shard's next owner replays it again from its start, and the session
/// keeps exactly one copy of each event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_during_a_paced_replay_loses_and_repeats_nothing() {
    let c = Cluster::start(ClusterOptions {
        hubs: 2,
        ..Default::default()
    })
    .await;
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, 1).await;
    let (mut sub, token) = first_session(&c, 0, &mut w, 1).await;
    sub.close().await;
    write_changes(&mut w, 30..3030, 1).await;
    // The hub that owns the thing's shard (its lease's value is `<hub id>:<epoch>`, and the
    // harness names hub i `hub<i>-…`) is killed as the replay's first event arrives: the replay
    // reads 3,000 journal entries a page of 500 per round, so the rest is still to come.
    let shard =
        twinwire_common::bus::shard_of(&format!("{NS}:t0"), twinwire_common::bus::DEFAULT_SHARDS);
    let mut redis = twinwire_tests::redis_load::redis_of(&c).await;
    let lease: String = redis::cmd("GET")
        .arg(format!("{}{{{shard}}}:lease", c.prefix))
        .query_async(&mut redis)
        .await
        .expect("the shard's lease");
    let owner: usize = lease
        .strip_prefix("hub")
        .and_then(|r| r.split('-').next())
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("lease value {lease}"));
    let mut resumed = c.connect(1, "ditto").await;
    resumed
        .subscribe(&start_frame(Some(&token)), "START-SEND-EVENTS:ACK")
        .await;
    let mut got = match resumed.recv_within(Duration::from_secs(20)).await {
        Some(Frame::Text(t)) => vec![parse_event(&t)],
        other => panic!("expected the replay's first event, got {other:?}"),
    };
    c.hubs[owner].proc.signal(9);
    write_changes(&mut w, 3030..3060, 1).await;
    got.extend(recv_events(&mut resumed, matching(30..3060).len() - 1).await);
    assert_exactly(&got, &matching(30..3060));
}

/// `resume.enabled = false`: events carry no `twinwire-resume` header, and a resume (by
/// `START-SEND-EVENTS?resume=` or by `Last-Event-ID`) is refused with 400 and no ACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_resume_sends_no_tokens_and_refuses_resumes() {
    let c = Cluster::start(ClusterOptions {
        gateway_env: vec![("TWINWIRE_RESUME__ENABLED".into(), "false".into())],
        ..Default::default()
    })
    .await;
    let mut w = c.connect(0, "ditto").await;
    create_things(&mut w, 3).await;
    let mut sub = c.connect(1, "ditto").await;
    sub.subscribe(&start_frame(None), "START-SEND-EVENTS:ACK")
        .await;
    write_changes(&mut w, 0..9, 3).await;
    for j in matching(0..9) {
        let e = sub.recv_json().await;
        assert_eq!(e["value"]["j"], j, "{e}");
        assert!(e["headers"].get("twinwire-resume").is_none(), "{e}");
    }
    sub.expect_silence(Duration::from_millis(1000)).await;

    let mut other = c.connect(0, "ditto").await;
    other
        .send(&start_frame(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAA")))
        .await;
    let e = other.recv_json().await;
    assert_eq!(e["status"], 400, "{e}");
    assert_eq!(e["value"]["error"], "gateway:resume.invalid", "{e}");
    assert!(
        e["value"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("resume is disabled on this gateway")),
        "{e}"
    );
    other.expect_silence(Duration::from_millis(1000)).await;
    // A plain START still works on the same session.
    other
        .subscribe(&start_frame(None), "START-SEND-EVENTS:ACK")
        .await;

    let url = format!("{}/api/2/things?namespaces={NS}", c.http_base(0));
    let auth = twinwire_tests::basic_auth("ditto", "ditto");
    let (status, body) = twinwire_tests::http_request(
        "GET",
        &url,
        &[
            ("Accept", "text/event-stream"),
            ("Authorization", &auth),
            ("Last-Event-ID", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ],
        None,
    )
    .await
    .expect("an answer");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("gateway:resume.invalid"), "{body}");
}
