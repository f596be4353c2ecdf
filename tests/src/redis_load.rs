//! Load for the Redis failover tests: writers that change things through real sessions while
//! subscribers record every event, then the checks against what Redis holds, whatever its mode:
//! every command answered 2xx is journaled at its revision with its value, each journal runs
//! 1..N without gaps, and every subscriber that stayed connected got the journal's events in
//! revision order, each once. The 503s and the time they span (the window a failover costs) are
//! measured and reported.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Client, Frame};
use crate::cluster::{Cluster, RedisBackend};

/// Pause between a writer's commands, so the run stays light on a 2-core machine.
const WRITE_PAUSE: Duration = Duration::from_millis(30);
/// Longest a writer waits for an answer (a failover may hold answers until the replicas are
/// back) before counting the command as unanswered.
const ANSWER_WAIT: Duration = Duration::from_secs(20);

/// What the writers and subscribers saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub sent: usize,
    pub acked: usize,
    pub unavailable: usize,
    pub unanswered: usize,
    /// First and last 503 (or unanswered command), from the start of the load.
    pub window: Option<(Duration, Duration)>,
    pub slowest: Duration,
    pub events: usize,
    pub duplicates: usize,
    pub out_of_order: usize,
    pub missing: usize,
}

impl LoadReport {
    /// The time between the first and the last 503.
    pub fn window_len(&self) -> Duration {
        self.window.map(|(a, b)| b - a).unwrap_or_default()
    }
}

#[derive(Default)]
struct WriterLog {
    acked: Vec<(String, i64, i64)>,
    sent: usize,
    unavailable: usize,
    unanswered: usize,
    failures_at: Vec<Duration>,
    errors: Vec<String>,
    slowest: Duration,
}

fn topic(thing: &str, action: &str) -> String {
    let (ns, name) = thing.split_once(':').unwrap();
    format!("{ns}/{name}/things/twin/commands/{action}")
}

async fn ask(c: &mut Client, mut cmd: Value) -> Option<Value> {
    let cid = uuid::Uuid::new_v4().to_string();
    cmd["headers"]["correlation-id"] = json!(cid);
    c.send_json(&cmd).await;
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_within(left).await {
            Some(Frame::Text(t)) => {
                let v: Value = serde_json::from_str(&t).ok()?;
                if v["headers"]["correlation-id"] == json!(cid) {
                    return Some(v);
                }
            }
            _ => return None,
        }
    }
}

/// Creates `thing` before the load starts. A Redis Cluster just formed on a loaded machine may
/// fail a primary over on its own (an `appendfsync always` stall longer than the node timeout),
/// holding or refusing commands meanwhile: the setup waits as long as the writers do and tries
/// again after a 503 or no answer (a create whose answer was lost may have been applied: 409 then).
async fn create(c: &mut Client, thing: &str) {
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        let cmd = json!({"topic": topic(thing, "create"), "path": "/", "value": {"attributes": {"n": -1}}, "headers": {}});
        match ask(c, cmd).await {
            Some(r) if r["status"] == 201 => return,
            Some(r) if r["status"] == 409 && attempt > 1 => return,
            Some(r) if r["status"] == 503 && attempt < ATTEMPTS => {
                println!("create {thing}: 503 before the load, again ({r})")
            }
            None if attempt < ATTEMPTS => {
                println!("create {thing}: no answer within {ANSWER_WAIT:?} before the load, again")
            }
            other => panic!("create {thing} (attempt {attempt}): {other:?}"),
        }
    }
}

async fn writer(
    mut c: Client,
    things: Vec<String>,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> WriterLog {
    let mut log = WriterLog::default();
    let mut n = 0i64;
    'outer: while !stop.load(Ordering::Relaxed) {
        for t in &things {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            log.sent += 1;
            let started = Instant::now();
            let cmd = json!({"topic": topic(t, "modify"), "path": "/attributes/n", "value": n, "headers": {}});
            match ask(&mut c, cmd).await {
                Some(r) if r["status"] == 201 || r["status"] == 204 => {
                    let rev = r["headers"]["entity-revision"].as_i64().unwrap_or(-1);
                    log.acked.push((t.clone(), n, rev));
                }
                Some(r) if r["status"] == 503 => {
                    log.unavailable += 1;
                    log.failures_at.push(t0.elapsed());
                }
                Some(r) => log.errors.push(r.to_string()),
                None => {
                    log.unanswered += 1;
                    log.failures_at.push(t0.elapsed());
                }
            }
            log.slowest = log.slowest.max(started.elapsed());
            n += 1;
            tokio::time::sleep(WRITE_PAUSE).await;
        }
    }
    log
}

/// A connection to whatever Redis `c` uses, through twinwire's own connection abstraction.
pub async fn redis_of(c: &Cluster) -> twinwire_common::redis_connection::RedisConnection {
    use twinwire_common::config::{RedisConfig, RedisMode};
    let split = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
    let mut cfg = RedisConfig {
        mode: RedisMode::Standalone,
        url: c.redis.url(),
        nodes: Vec::new(),
        sentinels: Vec::new(),
        master_name: String::new(),
        min_replicas_acked: None,
        prefix: c.prefix.clone(),
        command_timeout_ms: 5000,
    };
    match &c.backend {
        RedisBackend::Standalone => {}
        RedisBackend::Cluster { seeds } => {
            cfg.mode = RedisMode::Cluster;
            cfg.nodes = split(seeds);
        }
        RedisBackend::Sentinel { sentinels, master } => {
            cfg.mode = RedisMode::Sentinel;
            cfg.sentinels = split(sentinels);
            cfg.master_name = master.clone();
        }
    }
    twinwire_common::redis_connection::Redis::open(&cfg)
        .expect("redis config")
        .connection(Some(Duration::from_secs(5)))
        .expect("redis connection")
}

/// Runs writers (`writers` sessions on each gateway, `things` things each) and one subscriber
/// per gateway while `fault` runs, for `duration` in all; then checks and reports (see the
/// module header). Panics on a lost acknowledged write, a duplicate or out-of-order event.
pub async fn under_load<F: std::future::Future<Output = ()>>(
    c: &Cluster,
    writers: usize,
    things: usize,
    duration: Duration,
    fault: impl FnOnce(Instant) -> F,
) -> LoadReport {
    // Things of this run only (a test may run load twice on one cluster).
    let run = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let gateways = c.gateways.len();
    let mut subs = Vec::new();
    for gw in 0..gateways {
        let mut s = c.connect(gw, "ditto").await;
        s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
            .await;
        subs.push(s);
    }
    // Things exist before the clock starts.
    let mut all_things = Vec::new();
    let mut setup = c.connect(0, "ditto").await;
    for gw in 0..gateways {
        for w in 0..writers {
            let list: Vec<String> = (0..things)
                .map(|i| format!("load.{run}:g{gw}-w{w}-t{i}"))
                .collect();
            for t in &list {
                create(&mut setup, t).await;
            }
            all_things.push((gw, list));
        }
    }
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut running = Vec::new();
    for (gw, list) in all_things {
        let client = c.connect(gw, "ditto").await;
        running.push(tokio::spawn(writer(client, list, t0, stop.clone())));
    }
    let readers_stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for mut s in subs {
        let stop = readers_stop.clone();
        readers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match s.recv_within(Duration::from_millis(300)).await {
                    Some(Frame::Text(t)) => got.push(serde_json::from_str::<Value>(&t).unwrap()),
                    Some(Frame::Close(c)) => panic!("a subscriber was closed: {c:?}"),
                    _ => {}
                }
            }
            got
        }));
    }
    fault(t0).await;
    tokio::time::sleep_until((t0 + duration).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for h in running {
        logs.push(h.await.unwrap());
    }
    // The last answers may have been held by a failover: give their events time to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    readers_stop.store(true, Ordering::Relaxed);

    // The journal and twins, as Redis holds them now.
    let mut conn = redis_of(c).await;
    let keys = twinwire_common::bus::Keys::new(c.prefix.clone());
    let mut journal: BTreeMap<String, Vec<(i64, Value)>> = BTreeMap::new();
    for shard in 0..64u32 {
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(keys.events(shard))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        for (_, fields) in entries {
            let d: Value =
                serde_json::from_str(&fields.iter().find(|(k, _)| k == "d").unwrap().1).unwrap();
            let e = &d["e"];
            journal
                .entry(e["i"].as_str().unwrap().to_owned())
                .or_default()
                .push((e["r"].as_i64().unwrap(), e["v"].clone()));
        }
    }
    journal.retain(|t, _| t.starts_with(&format!("load.{run}:")));
    for (thing, events) in &journal {
        let revs: Vec<i64> = events.iter().map(|e| e.0).collect();
        let expected: Vec<i64> = (1..=revs.len() as i64).collect();
        assert_eq!(revs, expected, "journal of {thing}: no gaps, nothing twice");
    }
    let mut report = LoadReport::default();
    let mut failures = Vec::new();
    for log in &logs {
        assert!(
            log.errors.is_empty(),
            "writers saw errors beyond 503: {:?}",
            log.errors
        );
        report.sent += log.sent;
        report.unavailable += log.unavailable;
        report.unanswered += log.unanswered;
        report.slowest = report.slowest.max(log.slowest);
        failures.extend(log.failures_at.iter().copied());
        for (thing, n, rev) in &log.acked {
            report.acked += 1;
            let e = journal
                .get(thing)
                .and_then(|evs| evs.iter().find(|e| e.0 == *rev))
                .unwrap_or_else(|| panic!("acknowledged {thing} rev {rev} was lost"));
            assert_eq!(
                e.1,
                json!(n),
                "{thing} rev {rev} holds the acknowledged value"
            );
        }
    }
    failures.sort();
    report.window = failures.first().zip(failures.last()).map(|(a, b)| (*a, *b));
    for r in readers {
        let got = r.await.unwrap();
        let mut per_thing: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for e in &got {
            let topic = e["topic"].as_str().expect("an event frame has a topic");
            let mut parts = topic.split('/');
            let thing = format!("{}:{}", parts.next().unwrap(), parts.next().unwrap());
            per_thing
                .entry(thing)
                .or_default()
                .push(e["revision"].as_i64().expect("event revision"));
            report.events += 1;
        }
        for (thing, events) in journal
            .iter()
            .filter(|(t, _)| t.starts_with(&format!("load.{run}:")))
        {
            let have = per_thing.remove(thing).unwrap_or_default();
            let mut unique = have.clone();
            unique.dedup();
            report.duplicates += have.len() - unique.len();
            report.out_of_order += have.windows(2).filter(|w| w[0] > w[1]).count();
            report.missing += events.iter().filter(|(r, _)| !have.contains(r)).count();
        }
    }
    println!(
        "redis load: {report:?}, 503 window {:?}",
        report.window_len()
    );
    assert!(report.acked > 100, "the run did real work: {report:?}");
    assert_eq!(
        (report.duplicates, report.out_of_order),
        (0, 0),
        "no event twice or out of order: {report:?}"
    );
    report
}
