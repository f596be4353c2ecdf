//! The scenarios of `make bench`: fan-out (all-match and a 10 % filter, 1,000 and 10,000
//! subscribers, rising rates until saturation, then half of it), the same subscribers as one
//! shared subscription (each event to one member), commands from 100 sessions (on one Redis and on
//! a Redis Cluster of three primaries), idle sessions on one gateway, a slow consumer, and the
//! floors (no-Redis broadcast, redis-benchmark).

use crate::load::{self, WriterCounts, THINGS};
use crate::proc_stats::{rss_bytes, CpuSnapshot};
use crate::wire::{self, Proto, Recorder, Role};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use twinwire_tests::{metric_sum, scrape_metrics, Cluster, ClusterOptions};

pub const STEP: Duration = Duration::from_secs(5);

/// What a scenario drives: the WebSocket ports writers and subscribers use, and the processes
/// whose CPU counts as the system under test.
pub struct Target {
    pub name: &'static str,
    pub proto: Proto,
    pub ports: Vec<u16>,
    pub procs: Vec<(String, u32)>,
    /// Gateway admin ports, for the slow-consumer count (none for the floor).
    pub admin_ports: Vec<u16>,
}

/// A cluster for benchmarks: one hub, `gateways` gateways, logging only warnings.
pub async fn cluster(gateways: usize) -> Cluster {
    cluster_with(gateways, &[]).await
}

/// A benchmark cluster whose gateways get `gateway_env` too (e.g. resume tokens off).
pub async fn cluster_with(gateways: usize, gateway_env: &[(&str, &str)]) -> Cluster {
    let quiet = vec![("TWINWIRE_LOG__LEVEL".to_string(), "warn".to_string())];
    let mut env = quiet.clone();
    env.extend(
        gateway_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Cluster::start(ClusterOptions {
        hubs: 1,
        gateways,
        gateway_env: env,
        hub_env: quiet,
        gateway_config: None,
    })
    .await
}

pub fn twinwire_target(c: &Cluster) -> Target {
    let mut procs = vec![
        ("redis".to_string(), c.redis.pid().expect("redis pid")),
        ("hub".to_string(), c.hubs[0].proc.pid().expect("hub pid")),
    ];
    for (i, g) in c.gateways.iter().enumerate() {
        procs.push((format!("gateway{i}"), g.proc.pid().expect("gateway pid")));
    }
    Target {
        name: "twinwire",
        proto: Proto::Ditto,
        ports: c.gateways.iter().map(|g| g.http_port).collect(),
        procs,
        admin_ports: c.gateways.iter().map(|g| g.admin_port).collect(),
    }
}

/// Loopback source addresses, 127.0.0.2 to 127.0.0.9: each has its own ephemeral ports.
pub fn source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8)
}

/// Creates the writers' things (and `extra` more named `org.bench:c<i>`) through `port`.
pub async fn create_things(port: u16, extra: usize) {
    let mut ws = wire::connect(port, None).await.expect("setup session");
    let ids: Vec<(String, Value)> = (0..THINGS)
        .map(|k| (load::thing(k), json!({"attributes": {"g": k % 10}})))
        .chain((0..extra).map(|i| (format!("org.bench/c{i}"), json!({"attributes": {"n": 0}}))))
        .collect();
    for (id, value) in ids {
        let cmd = json!({"topic": format!("{id}/things/twin/commands/create"), "headers": {"correlation-id": id}, "path": "/", "value": value});
        ws.send(Message::text(cmd.to_string())).await.expect("send");
        match ws.next().await {
            Some(Ok(Message::Text(t))) => assert!(
                matches!(wire::field(&t, "\"status\":"), Some(201 | 204)),
                "create {id}: {t}"
            ),
            other => panic!("create {id}: {other:?}"),
        }
    }
}

pub fn pct(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Fan-out: `subs` subscribers spread over the target's ports, two writers, rates rising until
/// the target saturates, then one step at half the best delivery rate. `filter` subscribes with `eq(attributes/g,0)` (10 % of events).
/// Who of the subscribers gets each event.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every subscriber.
    All,
    /// Every subscriber, for the 10 % of events its filter matches.
    Filter10,
    /// One member of a shared subscription all subscribers are in (`group=`).
    Shared,
}

impl Audience {
    pub fn start_frame(self) -> &'static str {
        match self {
            Audience::All => "START-SEND-EVENTS",
            Audience::Filter10 => "START-SEND-EVENTS?filter=eq(attributes/g,0)",
            Audience::Shared => "START-SEND-EVENTS?group=bench",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Audience::All => "",
            Audience::Filter10 => " (10 % filter)",
            Audience::Shared => " (one shared subscription)",
        }
    }
}

/// Connects `subs` subscribers spread over the target's ports (each from its own loopback source)
/// with `frame` as their START, and starts a reader for each that records into `rec`.
pub async fn subscribe(
    t: &Target,
    subs: usize,
    frame: &'static str,
    rec: &Arc<Recorder>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let ports = t.ports.clone();
    let proto = t.proto;
    futures_util::stream::iter(0..subs)
        .map(|i| {
            let port = ports[i % ports.len()];
            let rec = rec.clone();
            async move {
                let mut ws = wire::connect_to(proto, Role::Sub, port, Some(source(i))).await?;
                if proto == Proto::Ditto {
                    wire::start(&mut ws, frame).await?;
                }
                Ok::<_, String>(wire::spawn_reader(ws, i, rec))
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: subscriber: {e}", t.name))
}

pub async fn fanout(t: &Target, subs: usize, audience: Audience, rates: &[f64]) -> Value {
    let rec = Recorder::new();
    let filter = audience == Audience::Filter10;
    let connect_started = Instant::now();
    let readers = subscribe(t, subs, audience.start_frame(), &rec).await;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let proto = t.proto;
    let mut writers = connect_writers(t).await;
    let mut steps = Vec::new();
    let mut best = 0.0f64;
    let mut plan: Vec<(f64, bool)> = rates.iter().map(|r| (*r, false)).collect();
    let mut s = 0;
    while s < plan.len() && s < wire::MAX_STEPS {
        let (rate, half) = plan[s];
        let counts = Arc::new(WriterCounts::default());
        // Subscribers the gateways closed as slow consumers in an earlier step expect nothing.
        let live = subs as u64 - rec.ended.load(Ordering::Relaxed);
        let before = CpuSnapshot::take(&t.procs);
        let n = writers.len();
        let mut tasks = Vec::new();
        for (i, ws) in writers.drain(..).enumerate() {
            let counts = counts.clone();
            tasks.push(tokio::spawn(load::write_step(
                proto,
                ws,
                rate / n as f64,
                STEP,
                s,
                "",
                counts,
                i,
            )));
        }
        for task in tasks {
            writers.push(task.await.expect("writer task"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cpu = CpuSnapshot::take(&t.procs).since(&before);
        let sent = counts.sent.load(Ordering::Relaxed);
        let matching = if filter {
            counts.sent_matching.load(Ordering::Relaxed)
        } else {
            sent
        };
        let expected = match audience {
            Audience::Shared if live > 0 => sent,
            Audience::Shared => 0,
            _ => matching * live,
        };
        let received = rec.steps[s].received.load(Ordering::Relaxed);
        let lat = rec.steps[s].latency();
        let delivered_per_s = received as f64 / STEP.as_secs_f64();
        let cpu_total: f64 = cpu.iter().map(|(_, c)| c).sum();
        let per_million = |c: f64| {
            if received > 0 {
                c / (received as f64 / 1e6)
            } else {
                0.0
            }
        };
        // Saturated: deliveries fall behind, p99 passes a second, or subscribers get closed for
        // falling behind (the bench's own clients share the machine's two cores).
        let saturated = (received as f64) < 0.97 * expected as f64
            || pct(&lat, 0.99) > 1000.0
            || rec.ended.load(Ordering::Relaxed) > subs as u64 - live;

        println!(
            "{} fan-out {subs} subs{}: {rate:.0} events/s{} -> {delivered_per_s:.0} deliveries/s, p50 {:.1} ms, p99 {:.1} ms, p999 {:.1} ms, CPU {:.2} s per million, late {}, errors {}",
            t.name,
            audience.label(),
            if half { " (half of saturation)" } else { "" },
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 0.999),
            per_million(cpu_total),
            expected.saturating_sub(received),
            counts.errors.load(Ordering::Relaxed),
        );
        steps.push(json!({
            "events_per_s": rate,
            "half_of_saturation": half,
            "commands_sent": sent,
            "command_errors": counts.errors.load(Ordering::Relaxed),
            "expected_deliveries": expected,
            "deliveries": received,
            "late_at_step_end": expected.saturating_sub(received),
            "deliveries_per_s": delivered_per_s,
            "latency_ms": {"p50": pct(&lat, 0.5), "p99": pct(&lat, 0.99), "p999": pct(&lat, 0.999), "max": lat.max() as f64 / 1000.0},
            "cpu_s": cpu.iter().map(|(n, c)| (n.clone(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "cpu_s_per_million_deliveries": cpu.iter().map(|(n, c)| (n.clone(), json!(per_million(*c)))).chain([("total".to_string(), json!(per_million(cpu_total)))]).collect::<serde_json::Map<_, _>>(),
            "saturated": saturated,
            "live_subscribers": live,
            "subscribers_closed_in_step": rec.ended.load(Ordering::Relaxed) - (subs as u64 - live),
        }));
        if !half {
            best = best.max(delivered_per_s.min(expected as f64 / STEP.as_secs_f64()));
        }
        if saturated {
            // Let the backlog drain, so the next step measures itself.
            wait_quiet(&rec).await;
        }
        if saturated || counts.errors.load(Ordering::Relaxed) > 0 {
            // A writer that fell behind on its responses may have been closed as a slow
            // consumer; the next step gets fresh ones.
            writers = connect_writers(t).await;
        }
        if !half && (saturated || s + 1 == rates.len()) {
            // One step at half the best delivery rate, where latency targets are judged.
            let per_event = match audience {
                Audience::All => subs as f64,
                Audience::Filter10 => subs as f64 / 10.0,
                Audience::Shared => 1.0,
            };
            plan.truncate(s + 1);
            plan.push(((best / 2.0 / per_event).max(1.0), true));
        }
        s += 1;
    }
    // Late deliveries are not lost ones: after the backlog drained, what never arrived is.
    wait_quiet(&rec).await;
    for (i, step) in steps.iter_mut().enumerate() {
        let eventually = rec.steps[i].received.load(Ordering::Relaxed);
        let expected = step["expected_deliveries"].as_u64().unwrap_or(0);
        step["delivered_eventually"] = json!(eventually);
        step["lost"] = json!(expected.saturating_sub(eventually));
    }
    let lost: u64 = steps.iter().map(|s| s["lost"].as_u64().unwrap_or(0)).sum();
    println!(
        "{}: lost deliveries over all steps (after the backlog drained): {lost}",
        t.name
    );
    let unexpected = rec.unexpected.load(Ordering::Relaxed);
    let mut slow_closes = 0.0;
    for port in &t.admin_ports {
        slow_closes += metric_sum(
            &scrape_metrics(*port).await,
            "twinwire_gateway_slow_consumer_closes_total",
        );
    }
    let ended = rec.ended.load(Ordering::Relaxed);
    println!(
        "{}: subscribers whose connection ended during the run: {ended} (gateways counted {slow_closes} slow-consumer closes)",
        t.name
    );
    drop(writers);
    for r in readers {
        r.abort();
    }
    json!({
        "target": t.name,
        "subscribers": subs,
        "filter": if filter { Some("eq(attributes/g,0)") } else { None },
        "shared": audience == Audience::Shared,
        "connect_secs": connect_secs,
        "saturation_deliveries_per_s": best,
        "unexpected_frames": unexpected,
        "lost_deliveries": lost,
        "subscribers_ended": ended,
        "slow_consumer_closes": slow_closes,
        "steps": steps,
    })
}

/// One writer per port of the target.
async fn connect_writers(t: &Target) -> Vec<wire::Ws> {
    let mut writers = Vec::new();
    for port in &t.ports {
        writers.push(
            wire::connect_to(t.proto, Role::Pub, *port, None)
                .await
                .expect("writer"),
        );
    }
    writers
}

/// Waits until no delivery has arrived for a second (at most a minute).
pub async fn wait_quiet(rec: &Recorder) {
    let total = || -> u64 {
        rec.steps
            .iter()
            .map(|s| s.received.load(Ordering::Relaxed))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = total();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = total();
        if now == last {
            return;
        }
        last = now;
    }
}

/// 100 sessions, each modifying its own thing and waiting for the response, for 10 s.
pub async fn commands(c: &Cluster) -> Value {
    commands_on(&twinwire_target(c)).await
}

pub async fn commands_on(t: &Target) -> Value {
    let sessions = 100;
    create_things(t.ports[0], sessions).await;
    let mut conns = Vec::new();
    for i in 0..sessions {
        conns.push(
            wire::connect(t.ports[i % t.ports.len()], None)
                .await
                .expect("command session"),
        );
    }
    let dur = Duration::from_secs(10);
    let before = CpuSnapshot::take(&t.procs);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, ws)| tokio::spawn(load::command_loop(ws, i, dur)))
        .collect();
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
    let mut errors = 0;
    for task in tasks {
        let (lat, e) = task.await.expect("command task");
        errors += e;
        for l in lat {
            let _ = h.record(l.max(1));
        }
    }
    let cpu = CpuSnapshot::take(&t.procs).since(&before);
    let n = h.len();
    let cpu_total: f64 = cpu.iter().map(|(_, c)| c).sum();
    println!(
        "twinwire commands: {sessions} sessions, {:.0} commands/s, p50 {:.1} ms, p99 {:.1} ms, p999 {:.1} ms, CPU {:.2} s per 10,000 commands, errors {errors}",
        n as f64 / dur.as_secs_f64(),
        pct(&h, 0.5),
        pct(&h, 0.99),
        pct(&h, 0.999),
        cpu_total / (n as f64 / 10_000.0),
    );
    json!({
        "sessions": sessions,
        "commands": n,
        "commands_per_s": n as f64 / dur.as_secs_f64(),
        "errors": errors,
        "latency_ms": {"p50": pct(&h, 0.5), "p99": pct(&h, 0.99), "p999": pct(&h, 0.999)},
        "cpu_s": cpu.iter().map(|(n, c)| (n.clone(), json!(c))).collect::<serde_json::Map<_, _>>(),
        "cpu_s_per_10k_commands": cpu_total / (n as f64 / 10_000.0),
    })
}

/// As many authenticated idle sessions on one gateway as the file-descriptor limit allows.
pub async fn idle(c: &Cluster, wanted: usize) -> Value {
    let gw = &c.gateways[0];
    let pid = gw.proc.pid().expect("gateway pid");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_bytes(pid);
    let started = Instant::now();
    let results: Vec<_> = futures_util::stream::iter(0..wanted)
        .map(|i| wire::connect(gw.http_port, Some(source(i))))
        .buffer_unordered(64)
        .collect()
        .await;
    let connect_secs = started.elapsed().as_secs_f64();
    let mut errors: Vec<String> = Vec::new();
    let mut open = Vec::new();
    for r in results {
        match r {
            Ok(ws) => open.push(ws),
            Err(e) => errors.push(e),
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_bytes(pid);
    let metrics = scrape_metrics(gw.admin_port).await;
    let sessions =
        twinwire_tests::metric_series(&metrics, "twinwire_gateway_sessions", "kind=\"connected\"")
            .unwrap_or(0.0);
    let per = (rss_after.saturating_sub(rss_before)) as f64 / open.len().max(1) as f64;
    println!(
        "twinwire idle sessions: {} open ({} failed{}), gateway counts {sessions}, RSS {:.1} MiB -> {:.1} MiB, {:.0} bytes per session, connected in {connect_secs:.1} s",
        open.len(),
        errors.len(),
        errors.first().map(|e| format!(", first: {e}")).unwrap_or_default(),
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        per
    );
    let v = json!({
        "wanted": wanted,
        "open": open.len(),
        "failed": errors.len(),
        "first_error": errors.first(),
        "gateway_sessions_gauge": sessions,
        "gateway_rss_before_bytes": rss_before,
        "gateway_rss_after_bytes": rss_after,
        "rss_bytes_per_session": per,
        "connect_secs": connect_secs,
    });
    drop(open);
    v
}

/// One subscriber stops reading: the others' throughput and latency must not change, and the
/// slow one must be closed with a reason once its bounded queue overflows.
pub async fn slow_consumer(c: &Cluster) -> Value {
    let t = twinwire_target(c);
    create_things(t.ports[0], 0).await;
    let subs = 100;
    let rec = Recorder::new();
    let mut readers = Vec::new();
    for i in 0..subs {
        let mut ws = wire::connect(t.ports[i % 2], None)
            .await
            .expect("subscriber");
        wire::start(&mut ws, "START-SEND-EVENTS")
            .await
            .expect("ack");
        readers.push(wire::spawn_reader(ws, i, rec.clone()));
    }
    let mut writer = Some(wire::connect(t.ports[0], None).await.expect("writer"));
    let pad = "x".repeat(4096);
    let rate = 200.0;
    let mut phases = Vec::new();
    let admin = c.gateways[1].admin_port;
    let closes_before = metric_sum(
        &scrape_metrics(admin).await,
        "twinwire_gateway_slow_consumer_closes_total",
    );
    let mut watcher = None;
    for (s, (name, secs)) in [("without a slow consumer", 5), ("with a slow consumer", 20)]
        .into_iter()
        .enumerate()
    {
        if s == 1 {
            // On gateway 1; it reads nothing until the gateway has given up on it, then comes
            // back like a client that was only stalled, and reads what it was sent.
            let mut ws = wire::connect(t.ports[1], None)
                .await
                .expect("slow subscriber");
            wire::start(&mut ws, "START-SEND-EVENTS")
                .await
                .expect("ack");
            let subscribed = Instant::now();
            watcher = Some(tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(secs + 5);
                while metric_sum(
                    &scrape_metrics(admin).await,
                    "twinwire_gateway_slow_consumer_closes_total",
                ) <= closes_before
                {
                    if Instant::now() > deadline {
                        return (0u64, json!("never closed"), 0.0);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let closed_after = subscribed.elapsed().as_secs_f64();
                let (frames, close) = read_to_close(ws).await;
                (frames, close, closed_after)
            }));
        }
        let counts = Arc::new(WriterCounts::default());
        let dur = Duration::from_secs(secs);
        let ws = writer.take().expect("writer");
        writer =
            Some(load::write_step(Proto::Ditto, ws, rate, dur, s, &pad, counts.clone(), 0).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let received = rec.steps[s].received.load(Ordering::Relaxed);
        let lat = rec.steps[s].latency();
        let expected = counts.sent.load(Ordering::Relaxed) * subs as u64;
        println!(
            "twinwire slow consumer, {name}: {:.0} deliveries/s to the {subs} readers, p50 {:.1} ms, p99 {:.1} ms, missing {}",
            received as f64 / secs as f64,
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            expected.saturating_sub(received)
        );
        phases.push(json!({
            "phase": name,
            "deliveries_per_s": received as f64 / secs as f64,
            "missing": expected.saturating_sub(received),
            "latency_ms": {"p50": pct(&lat, 0.5), "p99": pct(&lat, 0.99), "p999": pct(&lat, 0.999)},
        }));
    }
    let (frames, close, closed_after) = watcher
        .expect("slow subscriber")
        .await
        .expect("watcher task");
    let closes = metric_sum(
        &scrape_metrics(admin).await,
        "twinwire_gateway_slow_consumer_closes_total",
    ) - closes_before;
    println!("twinwire slow consumer: closed {closed_after:.1} s after it stopped reading; it got {frames} frames, then {close}; gateway counted {closes} slow-consumer closes");
    for r in readers {
        r.abort();
    }
    json!({"subscribers": subs, "events_per_s": rate, "payload_bytes": pad.len(), "phases": phases,
        "slow_frames_received": frames, "slow_closed_after_s": closed_after, "slow_close": close, "slow_consumer_closes": closes})
}

/// Reads a subscriber's frames until its close frame (or the connection's end).
async fn read_to_close(mut ws: wire::Ws) -> (u64, Value) {
    let mut frames = 0u64;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => {
                return (
                    frames,
                    json!(f.map(|f| (u16::from(f.code), f.reason.to_string()))),
                )
            }
            Ok(Some(Ok(_))) => frames += 1,
            Ok(Some(Err(e))) => return (frames, json!(format!("connection error: {e}"))),
            Ok(None) => return (frames, json!("ended without a close frame")),
            Err(_) => return (frames, json!("nothing for 10 s")),
        }
    }
}

/// `redis-benchmark` for XADD and XREADGROUP on the cluster's Redis: the floor under every
/// Redis-backed design.
pub fn redis_floor(port: u16) -> Value {
    let run = |args: &[&str]| -> f64 {
        let out = std::process::Command::new("redis-benchmark")
            .args(["-p", &port.to_string(), "-q", "-n", "200000", "-P", "16"])
            .args(args)
            .output()
            .expect("run redis-benchmark (Debian package redis-tools)");
        let text = String::from_utf8_lossy(&out.stdout);
        // "XADD …: 123456.79 requests per second, p50=…"; progress lines end in \r.
        text.rsplit('\r')
            .flat_map(|l| l.lines())
            .find_map(|l| {
                let rest = l.split(": ").nth(1)?;
                rest.split(' ').next()?.parse::<f64>().ok()
            })
            .unwrap_or(0.0)
    };
    let xadd = run(&["XADD", "bench:floor", "*", "f", "v"]);
    let _ = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "XGROUP",
            "CREATE",
            "bench:floor",
            "g",
            "0",
        ])
        .output();
    let xread = run(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "1",
        "STREAMS",
        "bench:floor",
        ">",
    ]);
    println!(
        "floor: redis-benchmark XADD {xadd:.0}/s, XREADGROUP COUNT 1 {xread:.0}/s (pipeline 16)"
    );
    json!({"xadd_per_s": xadd, "xreadgroup_count1_per_s": xread, "pipeline": 16, "requests": 200000})
}
