//! Replay (issue 16, "Cost"): how fast a resumed session gets what it missed, and what resumes
//! with large backlogs do to everyone else's latency.
//!
//! (a) Throughput to one session: a subscriber on gateway 0 takes a token from an event and
//! disconnects, a backlog of events is written, and it resumes on gateway 1 while a writer goes on
//! at a low live rate: replayed events per second until the last of the backlog. Replays are paced
//! per shard (a page per hub round), so a live event of a shard whose replay is done may arrive
//! while other shards still replay: reading goes on until the whole backlog is in.
//! (b) Effect on others: 1,000 live subscribers (namespace `org.bench`) at a fixed 100 events/s,
//! first alone, then while 5 sessions (namespace `org.backlog`) resume with a large backlog each:
//! the live subscribers' p50/p99 before and during the replays.

use crate::load::THINGS;
use crate::scenarios::{self, pct};
use crate::wire::{self, now_us, Recorder, Ws};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use twinwire_tests::Cluster;

/// The live subscribers' namespace (the writers' things of every scenario).
const LIVE_NS: &str = "org.bench";
/// The resuming sessions' namespace in (b), so that the backlog is not delivered to the 1,000.
const BACKLOG_NS: &str = "org.backlog";
/// Sessions that resume at once in (b).
const RESUMERS: usize = 5;
/// Live subscribers in (b) and their writer's fixed rate.
const LIVE_SUBSCRIBERS: usize = 1_000;
const LIVE_EVENTS_PER_S: f64 = 100.0;
/// The live writer's rate in (a).
const ONE_SESSION_LIVE_EVENTS_PER_S: f64 = 100.0;
/// A replay that delivers no replayed event for this long has stopped.
const STALL: Duration = Duration::from_secs(20);

/// Markers in the events' `s` attribute: what each event is for.
const TOKEN_EVENT: u64 = 0;
const BACKLOG: u64 = 1;
const LIVE: u64 = 2;

pub async fn measure(backlog: usize, step: Duration) -> Value {
    let throughput = {
        let c = scenarios::cluster(2).await;
        scenarios::create_things(c.gateways[0].http_port, 0).await;
        one_session(&c, backlog).await
    };
    let effect = {
        let c = scenarios::cluster(2).await;
        scenarios::create_things(c.gateways[0].http_port, 0).await;
        create_backlog_things(c.gateways[0].http_port).await;
        effect_on_others(&c, backlog, step).await
    };
    json!({"backlog_events": backlog, "one_session": throughput, "effect_on_others": effect})
}

/// A modify of thing `k` in `ns` whose event carries `marker` and its send time (the same value
/// shape as the other scenarios' writers, so `wire::spawn_reader` records it).
fn modify(ns: &str, k: usize, marker: u64, cid: u64) -> String {
    format!(
        r#"{{"topic":"{ns}/t{k}/things/twin/commands/modify","headers":{{"correlation-id":"r{cid}"}},"path":"/attributes","value":{{"g":{},"s":{marker},"t":{}}}}}"#,
        k % 10,
        now_us()
    )
}

async fn create_backlog_things(port: u16) {
    let mut ws = wire::connect(port, None).await.expect("setup session");
    for k in 0..THINGS {
        let cmd = format!(
            r#"{{"topic":"{BACKLOG_NS}/t{k}/things/twin/commands/create","headers":{{"correlation-id":"b{k}"}},"path":"/","value":{{"attributes":{{"g":{}}}}}}}"#,
            k % 10
        );
        ws.send(Message::text(cmd)).await.expect("send");
        match ws.next().await {
            Some(Ok(Message::Text(t))) => assert!(
                matches!(wire::field(&t, "\"status\":"), Some(201 | 204)),
                "create {BACKLOG_NS}/t{k}: {t}"
            ),
            other => panic!("create {BACKLOG_NS}/t{k}: {other:?}"),
        }
    }
}

/// Writes `n` modifies over the things of `ns` with at most 256 unanswered, and returns once
/// every one is answered: the events are then committed and journaled. Returns the errors.
async fn burst(ws: &mut Ws, ns: &str, n: usize, marker: u64) -> u64 {
    let (mut sent, mut answered, mut errors) = (0usize, 0usize, 0u64);
    while answered < n {
        while sent < n && sent - answered < 256 {
            if ws
                .feed(Message::text(modify(
                    ns,
                    sent % THINGS,
                    marker,
                    sent as u64,
                )))
                .await
                .is_err()
            {
                return errors + (n - answered) as u64;
            }
            sent += 1;
        }
        if ws.flush().await.is_err() {
            return errors + (n - answered) as u64;
        }
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                answered += 1;
                if !matches!(wire::field(&t, "\"status\":"), Some(200..=299)) {
                    errors += 1;
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return errors + (n - answered) as u64,
        }
    }
    errors
}

/// The `twinwire-resume` token of an event frame.
fn token(frame: &str) -> Option<&str> {
    let key = r#""twinwire-resume":""#;
    let at = frame.find(key)? + key.len();
    frame[at..].find('"').map(|end| &frame[at..at + end])
}

/// Subscribes on `port` with `start` and waits for the token of the next event (the caller
/// writes it): the session's position just after that event.
async fn subscribe_for_token(port: u16, start: &str) -> Ws {
    let mut ws = wire::connect(port, None).await.expect("subscriber");
    wire::start(&mut ws, start).await.expect("subscribed");
    ws
}

async fn read_token(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Some(tok) = token(&t) {
                    return tok.to_owned();
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no event with a twinwire-resume token: {other:?}"),
        }
    }
}

/// Writes live events on `LIVE_NS` at `rate` until `stop`, each carrying the phase of the moment
/// it was sent (`phase`), its responses drained by a task of their own.
fn live_writer(
    ws: Ws,
    rate: f64,
    phase: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let (mut tx, mut rx) = ws.split();
        let drain = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
        let tick = Duration::from_millis(5);
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let (mut owed, mut n, mut errors) = (0.0, 0usize, 0u64);
        while !stop.load(Ordering::Relaxed) {
            interval.tick().await;
            owed += rate * tick.as_secs_f64();
            while owed >= 1.0 {
                owed -= 1.0;
                let frame = modify(LIVE_NS, n % THINGS, phase.load(Ordering::Relaxed), n as u64);
                n += 1;
                if tx.send(Message::text(frame)).await.is_err() {
                    errors += 1;
                }
            }
        }
        drain.abort();
        errors
    })
}

/// A frame, shortened for a report.
fn clip(t: &str) -> &str {
    let mut end = t.len().min(300);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    &t[..end]
}

/// How one resumed session of (b) fared.
struct Replay {
    replayed: u64,
    /// From the resumes' start to its last replayed event (or its end).
    secs: Option<f64>,
    /// The START's answer when it was not the ACK.
    refused: Option<String>,
    /// The first frame that was not a replayed event, or how the connection ended early.
    end: Option<String>,
}

/// (a): one session's replay of `backlog` events, resumed on the other gateway.
async fn one_session(c: &Cluster, backlog: usize) -> Value {
    let (gw0, gw1) = (c.gateways[0].http_port, c.gateways[1].http_port);
    let mut sub = subscribe_for_token(gw0, "START-SEND-EVENTS").await;
    let mut writer = wire::connect(gw0, None).await.expect("writer");
    assert_eq!(burst(&mut writer, LIVE_NS, 1, TOKEN_EVENT).await, 0);
    let tok = read_token(&mut sub).await;
    drop(sub);
    let wrote = Instant::now();
    let errors = burst(&mut writer, LIVE_NS, backlog, BACKLOG).await;
    let write_secs = wrote.elapsed().as_secs_f64();

    let mut ws = wire::connect(gw1, None).await.expect("resuming session");
    let phase = Arc::new(AtomicU64::new(LIVE));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let acked = wire::start(&mut ws, &format!("START-SEND-EVENTS?resume={tok}")).await;
    let ack_secs = started.elapsed().as_secs_f64();
    // Live events from here on (every 10 ms): the replay ends where the first of them arrives.
    let live = live_writer(writer, ONE_SESSION_LIVE_EVENTS_PER_S, phase, stop.clone());
    let (mut replayed, mut other) = (0u64, 0u64);
    let (mut first_replayed, mut last_replayed, mut first_live) = (None, None, None);
    let mut end = None;
    let mut progress = Instant::now();
    if acked.is_ok() {
        while replayed < backlog as u64 {
            if progress.elapsed() > STALL {
                end = Some(format!("no replayed event for {} s", STALL.as_secs()));
                break;
            }
            match tokio::time::timeout(STALL, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => match wire::field(&t, "\"s\":") {
                    Some(BACKLOG) => {
                        replayed += 1;
                        progress = Instant::now();
                        let at = started.elapsed().as_secs_f64();
                        first_replayed.get_or_insert(at);
                        last_replayed = Some(at);
                    }
                    Some(LIVE) => {
                        first_live.get_or_insert(started.elapsed().as_secs_f64());
                    }
                    _ => {
                        other += 1;
                        end.get_or_insert_with(|| format!("unexpected frame: {}", clip(&t)));
                    }
                },
                Ok(Some(Ok(Message::Close(f)))) => {
                    end = Some(format!("closed: {f:?}"));
                    break;
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => {
                    end = Some(format!("connection error: {e}"));
                    break;
                }
                Ok(None) => {
                    end = Some("connection ended".into());
                    break;
                }
                Err(_) => {
                    end = Some(format!("nothing for {} s", STALL.as_secs()));
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = live.await;
    let secs = last_replayed.unwrap_or_else(|| started.elapsed().as_secs_f64());
    let per_s = replayed as f64 / secs;
    println!(
        "twinwire replay to one session: {backlog} events written in {write_secs:.1} s ({errors} errors); resumed on the other gateway: ACK {}, {replayed} replayed (missing {}, other frames {other}) in {secs:.2} s = {per_s:.0} events/s; first replayed after {:.3} s, first live after {:.3} s",
        match &acked {
            Ok(()) => format!("after {ack_secs:.3} s"),
            Err(e) => format!("refused: {e}"),
        },
        (backlog as u64).saturating_sub(replayed),
        first_replayed.unwrap_or(0.0),
        first_live.unwrap_or(0.0),
    );
    json!({
        "backlog_events": backlog,
        "write_errors": errors,
        "write_secs": write_secs,
        "ack_secs": ack_secs,
        "refused": acked.err(),
        "replayed": replayed,
        "missing": (backlog as u64).saturating_sub(replayed),
        "other_frames": other,
        "first_unexpected_or_end": end,
        "first_replayed_secs": first_replayed,
        "last_replayed_secs": last_replayed,
        "first_live_secs": first_live,
        "replay_events_per_s": per_s,
    })
}

/// (b): the live subscribers' latency before and during `RESUMERS` replays of `backlog` events.
async fn effect_on_others(c: &Cluster, backlog: usize, step: Duration) -> Value {
    let t = scenarios::twinwire_target(c);
    let ports: Vec<u16> = c.gateways.iter().map(|g| g.http_port).collect();
    let rec = Recorder::new();
    let readers = scenarios::subscribe(
        &t,
        LIVE_SUBSCRIBERS,
        "START-SEND-EVENTS?namespaces=org.bench",
        &rec,
    )
    .await;
    let start = format!("START-SEND-EVENTS?namespaces={BACKLOG_NS}");
    let mut resumers = Vec::new();
    for i in 0..RESUMERS {
        resumers.push(subscribe_for_token(ports[i % 2], &start).await);
    }
    let mut writer = wire::connect(ports[0], None).await.expect("writer");
    assert_eq!(burst(&mut writer, BACKLOG_NS, 1, TOKEN_EVENT).await, 0);
    let mut tokens = Vec::new();
    for ws in &mut resumers {
        tokens.push(read_token(ws).await);
    }
    drop(resumers);
    let errors = burst(&mut writer, BACKLOG_NS, backlog, BACKLOG).await;
    drop(writer);

    // Phase 0: live only; phase 1: from the resumes until every replay is complete.
    let phase = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let live_ws = wire::connect(ports[0], None).await.expect("live writer");
    let live = live_writer(live_ws, LIVE_EVENTS_PER_S, phase.clone(), stop.clone());
    tokio::time::sleep(step).await;
    phase.store(1, Ordering::Relaxed);
    let started = Instant::now();
    let replays: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, tok)| {
            // Each on the other gateway than the one it left.
            let port = ports[(i + 1) % 2];
            let start = format!("{start}&resume={tok}");
            tokio::spawn(async move {
                let mut ws = wire::connect(port, None).await.expect("resuming session");
                if let Err(e) = wire::start(&mut ws, &start).await {
                    return Replay {
                        replayed: 0,
                        secs: None,
                        refused: Some(e),
                        end: None,
                    };
                }
                let mut n = 0u64;
                let mut end = None;
                while n < backlog as u64 {
                    match tokio::time::timeout(STALL, ws.next()).await {
                        Ok(Some(Ok(Message::Text(t))))
                            if wire::field(&t, "\"s\":") == Some(BACKLOG) =>
                        {
                            n += 1
                        }
                        Ok(Some(Ok(Message::Text(t)))) => {
                            end.get_or_insert_with(|| format!("unexpected frame: {}", clip(&t)));
                        }
                        Ok(Some(Ok(Message::Close(f)))) => {
                            end = Some(format!("closed: {f:?}"));
                            break;
                        }
                        Ok(Some(Ok(_))) => {}
                        Ok(Some(Err(e))) => {
                            end = Some(format!("connection error: {e}"));
                            break;
                        }
                        Ok(None) => {
                            end = Some("connection ended".into());
                            break;
                        }
                        Err(_) => {
                            end = Some(format!("nothing for {} s", STALL.as_secs()));
                            break;
                        }
                    }
                }
                Replay {
                    replayed: n,
                    secs: Some(started.elapsed().as_secs_f64()),
                    refused: None,
                    end,
                }
            })
        })
        .collect();
    let mut done = Vec::new();
    for r in replays {
        done.push(r.await.expect("replay task"));
    }
    let during_secs = started.elapsed().as_secs_f64();
    // A moment of live events after the replays, so that phase 1 is only what overlapped them.
    phase.store(2, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let live_errors = live.await.expect("live writer");
    scenarios::wait_quiet(&rec).await;
    let figures = |s: usize| {
        let lat = rec.steps[s].latency();
        json!({"deliveries": rec.steps[s].received.load(Ordering::Relaxed), "p50_ms": pct(&lat, 0.5), "p99_ms": pct(&lat, 0.99), "p999_ms": pct(&lat, 0.999)})
    };
    let (before, during) = (figures(0), figures(1));
    let ms = |v: &Value, q: &str| v[q].as_f64().unwrap_or(0.0);
    let replayed: u64 = done.iter().map(|d| d.replayed).sum();
    let refused: Vec<String> = done.iter().filter_map(|d| d.refused.clone()).collect();
    println!(
        "twinwire replay's effect on others: {LIVE_SUBSCRIBERS} live subscribers at {LIVE_EVENTS_PER_S:.0} events/s: p50 {:.1} / p99 {:.1} ms before, p50 {:.1} / p99 {:.1} ms during {RESUMERS} replays of {backlog} events ({replayed} of {} replayed in {during_secs:.2} s = {:.0} events/s together, {} refused, backlog write errors {errors}, live write errors {live_errors})",
        ms(&before, "p50_ms"),
        ms(&before, "p99_ms"),
        ms(&during, "p50_ms"),
        ms(&during, "p99_ms"),
        backlog * RESUMERS,
        replayed as f64 / during_secs,
        refused.len(),
    );
    for r in readers {
        r.abort();
    }
    json!({
        "live_subscribers": LIVE_SUBSCRIBERS,
        "live_events_per_s": LIVE_EVENTS_PER_S,
        "resumers": RESUMERS,
        "backlog_events_each": backlog,
        "before": before,
        "during": during,
        "replays": done.iter().map(|d| json!({"replayed": d.replayed, "secs": d.secs, "refused": d.refused, "first_unexpected_or_end": d.end})).collect::<Vec<_>>(),
        "replayed": replayed,
        "replay_events_per_s_together": replayed as f64 / during_secs,
        "during_secs": during_secs,
        "refused": refused,
        "subscribers_ended": rec.ended.load(Ordering::Relaxed),
        "backlog_write_errors": errors,
        "live_write_errors": live_errors,
    })
}
