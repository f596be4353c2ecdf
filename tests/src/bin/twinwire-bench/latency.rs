//! Latency at fixed, moderate rates (issue 13): what a user of a deployment feels below
//! saturation. 1,000 subscribers over the target's ports, one writer at a fixed event rate per
//! step (every event to every subscriber, so 10 events/s are 10,000 deliveries/s), twinwire and
//! the no-Redis floor at every rate and nchan at 160,000/s, in one run. For twinwire each step
//! also gets its per-hop summary (`hops`).

use crate::hops::{self, HopSnapshot};
use crate::load::{self, WriterCounts};
use crate::proc_stats::CpuSnapshot;
use crate::scenarios::{self, pct, Audience, Target};
use crate::wire::{self, Recorder, Role};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Subscribers of every target in this scenario.
pub const SUBSCRIBERS: usize = 1_000;
/// The offered deliveries per second of issue 13's table and targets.
pub const DELIVERIES: [f64; 4] = [10_000.0, 100_000.0, 160_000.0, 300_000.0];
/// nchan runs only the step where issue 13 compares CPU with it.
pub const NCHAN_DELIVERIES: f64 = 160_000.0;

/// twinwire, the floor and nchan through the fixed rates, `step` long each.
pub async fn measure(step: Duration, nofile: u64) -> Value {
    let rates: Vec<f64> = DELIVERIES.iter().map(|d| d / SUBSCRIBERS as f64).collect();
    let twinwire = {
        let c = scenarios::cluster(2).await;
        scenarios::create_things(c.gateways[0].http_port, 0).await;
        let t = scenarios::twinwire_target(&c);
        let mut hop_ports = vec![c.hubs[0].admin_port];
        hop_ports.extend(c.gateways.iter().map(|g| g.admin_port));
        fixed_rate(&t, &rates, step, &hop_ports).await
    };
    let floor = {
        let (server, t) = crate::floor::start().await;
        let v = fixed_rate(&t, &rates, step, &[]).await;
        drop(server);
        v
    };
    let nchan = {
        let dir =
            std::env::temp_dir().join(format!("twinwire-bench-latency-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("nchan dir");
        let redis = twinwire_tests::Redis::start(&dir.join("nchan")).await;
        let (server, t) =
            crate::peers::nchan(redis.port, redis.pid().expect("redis pid"), &dir, nofile).await;
        let v = fixed_rate(&t, &[NCHAN_DELIVERIES / SUBSCRIBERS as f64], step, &[]).await;
        drop(server);
        v
    };
    json!({"subscribers": SUBSCRIBERS, "step_secs": step.as_secs_f64(), "twinwire": twinwire, "floor": floor, "nchan": nchan})
}

/// One target through `rates` (events per second), with a fresh set of subscribers and one
/// writer. `hop_ports` are the admin ports whose hop histograms are summarized per step.
pub async fn fixed_rate(t: &Target, rates: &[f64], step: Duration, hop_ports: &[u16]) -> Value {
    let subs = SUBSCRIBERS;
    let rec = Recorder::new();
    let readers = scenarios::subscribe(t, subs, Audience::All.start_frame(), &rec).await;
    let connect = || wire::connect_to(t.proto, Role::Pub, t.ports[0], None);
    let mut writer = connect().await.expect("writer");
    let mut steps = Vec::new();
    for (s, &rate) in rates.iter().enumerate().take(wire::MAX_STEPS) {
        let live = subs as u64 - rec.ended.load(Ordering::Relaxed);
        let hops_before = if hop_ports.is_empty() {
            None
        } else {
            Some(HopSnapshot::take(hop_ports).await)
        };
        let before = CpuSnapshot::take(&t.procs);
        let counts = Arc::new(WriterCounts::default());
        writer = load::write_step(t.proto, writer, rate, step, s, "", counts.clone(), 0).await;
        // The step's last events reach their subscribers.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cpu = CpuSnapshot::take(&t.procs).since(&before);
        let hop_figures = match hops_before {
            Some(b) => Some(HopSnapshot::take(hop_ports).await.since(&b)),
            None => None,
        };
        let sent = counts.sent.load(Ordering::Relaxed);
        let errors = counts.errors.load(Ordering::Relaxed);
        let expected = sent * live;
        let received = rec.steps[s].received.load(Ordering::Relaxed);
        let lat = rec.steps[s].latency();
        let delivered_per_s = received as f64 / step.as_secs_f64();
        let cpu_total: f64 = cpu.iter().map(|(_, c)| c).sum();
        let per_million = |c: f64| {
            if received > 0 {
                c / (received as f64 / 1e6)
            } else {
                0.0
            }
        };
        println!(
            "{} fixed rate, {subs} subs: {:.0} deliveries/s offered ({rate:.0} events/s) -> {delivered_per_s:.0} delivered/s, p50 {:.1} ms, p99 {:.1} ms, p999 {:.1} ms, CPU {:.2} s per million, late {}, errors {errors}",
            t.name,
            rate * subs as f64,
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 0.999),
            per_million(cpu_total),
            expected.saturating_sub(received),
        );
        let hops_json = match hop_figures {
            Some(f) => hops::report(&format!("{} {rate:.0} events/s", t.name), f),
            None => Value::Null,
        };
        steps.push(json!({
            "events_per_s": rate,
            "offered_deliveries_per_s": rate * subs as f64,
            "commands_sent": sent,
            "command_errors": errors,
            "expected_deliveries": expected,
            "deliveries": received,
            "deliveries_per_s": delivered_per_s,
            "late_at_step_end": expected.saturating_sub(received),
            "latency_ms": {"p50": pct(&lat, 0.5), "p99": pct(&lat, 0.99), "p999": pct(&lat, 0.999), "max": lat.max() as f64 / 1000.0},
            "cpu_s": cpu.iter().map(|(n, c)| (n.clone(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "cpu_s_per_million_deliveries": cpu.iter().map(|(n, c)| (n.clone(), json!(per_million(*c)))).chain([("total".to_string(), json!(per_million(cpu_total)))]).collect::<serde_json::Map<_, _>>(),
            "live_subscribers": live,
            "hops": hops_json,
        }));
        if received < expected {
            // A backlog would be measured by the next step.
            scenarios::wait_quiet(&rec).await;
        }
        if errors > 0 {
            writer = connect().await.expect("writer");
        }
    }
    scenarios::wait_quiet(&rec).await;
    for (i, step) in steps.iter_mut().enumerate() {
        let eventually = rec.steps[i].received.load(Ordering::Relaxed);
        let expected = step["expected_deliveries"].as_u64().unwrap_or(0);
        step["lost"] = json!(expected.saturating_sub(eventually));
    }
    let ended = rec.ended.load(Ordering::Relaxed);
    let unexpected = rec.unexpected.load(Ordering::Relaxed);
    println!(
        "{} fixed rate: subscribers ended {ended}, unexpected frames {unexpected}",
        t.name
    );
    drop(writer);
    for r in readers {
        r.abort();
    }
    json!({
        "target": t.name,
        "subscribers": subs,
        "writers": 1,
        "step_secs": step.as_secs_f64(),
        "subscribers_ended": ended,
        "unexpected_frames": unexpected,
        "steps": steps,
    })
}
