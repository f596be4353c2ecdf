//! `make bench`: drives a real twinwire cluster (Redis, one hub, two gateways, release builds) and
//! the no-Redis broadcast floor through the scenarios of BENCHMARKS.md, prints one line per step
//! and writes the figures as JSON under `target/bench/`.
//!
//! `twinwire-bench [--only fanout,fanout-cluster,peers,commands,commands-cluster,idle,slow,floor,like,search,latency,tokens-cost,replay] [--quick] [--subs 1000,10000] [--idle N] [--step-secs S] [--backlog N]`
//! (`--step-secs`: the length of a fixed-rate step in `latency` and of the live-only phase in
//! `replay`; `--backlog`: events each resuming session of `replay` missed)
//! `twinwire-bench plot [OUT.png]` (p99 latency against deliveries/s from those files)
//! `twinwire-bench floor-server PORT` (started by the bench itself)

mod floor;
mod hops;
mod latency;
mod like;
mod load;
mod peers;
mod plot;
mod proc_stats;
mod redis_cluster;
mod replay;
mod scenarios;
mod search;
mod targets;
mod tokens_cost;
mod wire;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

fn out_dir() -> PathBuf {
    let d = twinwire_tests::repo_root().join("target/bench");
    std::fs::create_dir_all(&d).expect("target/bench");
    d
}

fn save(name: &str, v: &Value) {
    let p = out_dir().join(format!("{name}.json"));
    std::fs::write(&p, serde_json::to_string_pretty(v).expect("json")).expect("write result");
    println!("wrote {}", p.display());
}

/// Sessions need a descriptor each on both ends; the gateway inherits this limit too.
fn raise_fd_limit() -> u64 {
    let (_, hard) = rlimit::Resource::NOFILE.get().expect("getrlimit");
    rlimit::Resource::NOFILE
        .set(hard, hard)
        .expect("raise the soft NOFILE limit to the hard one");
    hard
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if args.first().map(String::as_str) == Some("plot") {
        let dir = out_dir();
        let out = args
            .get(1)
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("latency-throughput.png"));
        plot::draw(&dir, &out).unwrap_or_else(|e| panic!("plot: {e}"));
        println!("wrote {}", out.display());
        return;
    }
    if args.first().map(String::as_str) == Some("floor-server") {
        let port = args[1].parse().expect("port");
        return rt.block_on(floor::serve(port));
    }
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args[i + 1].split(',').map(str::to_owned).collect());
    let quick = args.iter().any(|a| a == "--quick");
    let want = |s: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    // The cluster harness finds the release binaries next to this one.
    let exe = std::env::current_exe().expect("own path");
    std::env::set_var("TW_BIN_DIR", exe.parent().expect("bin dir"));
    let hard = raise_fd_limit();
    let idle_wanted = args
        .iter()
        .position(|a| a == "--idle")
        .map(|i| args[i + 1].parse().expect("--idle N"))
        .unwrap_or(100_000usize);
    let flag = |name: &str| {
        args.iter().position(|a| a == name).map(|i| {
            args[i + 1]
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} N"))
        })
    };
    // Long enough for stable percentiles at 10 events/s; --quick trims it.
    let step_secs = Duration::from_secs(flag("--step-secs").unwrap_or(if quick { 3 } else { 10 }));
    let backlog = flag("--backlog").unwrap_or(if quick { 5_000 } else { 20_000 }) as usize;
    rt.block_on(async move {
        let sizes: Vec<usize> = match args.iter().position(|a| a == "--subs") {
            Some(i) => args[i + 1]
                .split(',')
                .map(|n| n.parse().expect("--subs N,M"))
                .collect(),
            None if quick => vec![200],
            None => vec![1_000, 10_000],
        };
        let mut summary = serde_json::Map::new();
        summary.insert("fd_limit".into(), json!(hard));
        if want("like") {
            let v = like::measure();
            save("like", &v);
            summary.insert("like".into(), v);
        }
        if want("fanout") || want("fanout-cluster") || want("floor") || want("peers") {
            for &subs in &sizes {
                // Events per second such that deliveries climb from 20,000/s to 1,280,000/s.
                let base = 20_000.0 / subs as f64;
                let rates: Vec<f64> = (0..7).map(|i| base * 2f64.powi(i)).collect();
                if want("fanout") {
                    for filter in [false, true] {
                        let c = scenarios::cluster(2).await;
                        scenarios::create_things(c.gateways[0].http_port, 0).await;
                        let t = scenarios::twinwire_target(&c);
                        let r: Vec<f64> = rates
                            .iter()
                            .map(|r| if filter { r * 10.0 } else { *r })
                            .collect();
                        let audience = if filter {
                            scenarios::Audience::Filter10
                        } else {
                            scenarios::Audience::All
                        };
                        let v = scenarios::fanout(&t, subs, audience, &r).await;
                        let name =
                            format!("fanout-{subs}{}", if filter { "-filter10" } else { "" });
                        save(&name, &v);
                        summary.insert(name, v);
                    }
                }
                if want("fanout-cluster") {
                    // The same rates on three primaries (each with a replica every commit waits for).
                    let v = redis_cluster::fanout_on_redis_cluster(subs, &rates).await;
                    let name = format!("fanout-cluster-{subs}");
                    save(&name, &v);
                    summary.insert(name, v);
                }
                if want("floor") {
                    let (server, t) = floor::start().await;
                    let v = scenarios::fanout(&t, subs, scenarios::Audience::All, &rates).await;
                    let name = format!("floor-broadcast-{subs}");
                    save(&name, &v);
                    summary.insert(name, v);
                    drop(server);
                }
                if want("peers") {
                    let dir = std::env::temp_dir()
                        .join(format!("twinwire-bench-peers-{}", std::process::id()));
                    std::fs::create_dir_all(&dir).expect("peers dir");
                    for peer in ["socket.io", "nchan"] {
                        let redis = twinwire_tests::Redis::start(&dir.join(peer)).await;
                        let pid = redis.pid().expect("redis pid");
                        let (procs, t) = if peer == "socket.io" {
                            peers::socketio(redis.port, pid, &dir).await
                        } else {
                            let (p, t) = peers::nchan(redis.port, pid, &dir, hard).await;
                            (vec![p], t)
                        };
                        let v = scenarios::fanout(&t, subs, scenarios::Audience::All, &rates).await;
                        let name = format!("{}-{subs}", peer.replace('.', ""));
                        save(&name, &v);
                        summary.insert(name, v);
                        drop(procs);
                    }
                }
            }
        }
        if want("shared") {
            // The same subscribers as the fan-out, as one shared subscription: each event goes
            // to one of them, so deliveries equal events; compare its CPU per delivery with
            // fan-out's. Rates climb from 500 to 16,000 events/s (past the hub's command rate).
            for &subs in &sizes {
                let c = scenarios::cluster(2).await;
                scenarios::create_things(c.gateways[0].http_port, 0).await;
                let t = scenarios::twinwire_target(&c);
                let rates: Vec<f64> = (0..6).map(|i| 500.0 * 2f64.powi(i)).collect();
                let v = scenarios::fanout(&t, subs, scenarios::Audience::Shared, &rates).await;
                let name = format!("shared-{subs}");
                save(&name, &v);
                summary.insert(name, v);
            }
        }
        if want("latency") {
            let v = latency::measure(step_secs, hard).await;
            save("latency", &v);
            summary.insert("latency".into(), v);
        }
        if want("tokens-cost") {
            let v = tokens_cost::measure(quick).await;
            save("tokens-cost", &v);
            summary.insert("tokens-cost".into(), v);
        }
        if want("replay") {
            let v = replay::measure(backlog, step_secs).await;
            save("replay", &v);
            summary.insert("replay".into(), v);
        }
        if want("floor") {
            let c = scenarios::cluster(1).await;
            let v = scenarios::redis_floor(c.redis.port);
            save("floor-redis", &v);
            summary.insert("floor-redis".into(), v);
        }
        if want("commands") {
            let c = scenarios::cluster(2).await;
            let v = scenarios::commands(&c).await;
            save("commands", &v);
            summary.insert("commands".into(), v);
        }
        if want("commands-cluster") {
            let v = redis_cluster::commands_on_redis_cluster().await;
            save("commands-cluster", &v);
            summary.insert("commands-cluster".into(), v);
        }
        if want("search") {
            let c = scenarios::cluster(2).await;
            let v = search::measure(&c, if quick { 5_000 } else { 100_000 }).await;
            save("search", &v);
            summary.insert("search".into(), v);
        }
        if want("slow") {
            let c = scenarios::cluster(2).await;
            let v = scenarios::slow_consumer(&c).await;
            save("slow-consumer", &v);
            summary.insert("slow-consumer".into(), v);
        }
        if want("idle") {
            let c = scenarios::cluster(1).await;
            // Both ends of every session are on this machine: the bench holds one descriptor per
            // session and the gateway another, each under the same limit.
            let n = idle_wanted.min(hard.saturating_sub(1_000) as usize);
            let v = scenarios::idle(&c, n).await;
            save("idle", &v);
            summary.insert("idle".into(), v);
        }
        let t = targets::table(&summary);
        summary.insert("targets".into(), t);
        save("summary", &Value::Object(summary));
    });
}
