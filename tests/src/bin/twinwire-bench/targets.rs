//! Issue 13's targets (and issue 16's cost target) against the figures of this invocation: one
//! line per target whose scenario ran, with the figure, the target and whether it was met.
//! Printed at the end of the run and kept in `summary.json` under `targets`.

use serde_json::{json, Map, Value};

/// A figure against its target.
struct Line {
    what: String,
    figure: f64,
    shown: String,
    target: &'static str,
    met: bool,
}

/// The fixed-rate step of `target` in the latency scenario at `deliveries` offered per second.
fn step<'a>(summary: &'a Map<String, Value>, target: &str, deliveries: f64) -> Option<&'a Value> {
    summary.get("latency")?[target]["steps"]
        .as_array()?
        .iter()
        .find(|s| s["offered_deliveries_per_s"].as_f64() == Some(deliveries))
}

fn lines(summary: &Map<String, Value>) -> Vec<Line> {
    let mut out = Vec::new();
    let ms = |s: &Value, q: &str| s["latency_ms"][q].as_f64();
    for d in [10_000.0, 100_000.0] {
        let (Some(tw), Some(fl)) = (step(summary, "twinwire", d), step(summary, "floor", d)) else {
            continue;
        };
        if let (Some(a), Some(b)) = (ms(tw, "p50"), ms(fl, "p50")) {
            out.push(Line {
                what: format!("p50 twinwire − floor at {d:.0}/s"),
                figure: a - b,
                shown: format!("{:.1} ms ({a:.1} − {b:.1})", a - b),
                target: "≤ 5 ms",
                met: a - b <= 5.0,
            });
        }
        if let (Some(a), Some(b)) = (ms(tw, "p99"), ms(fl, "p99")) {
            let r = if b > 0.0 { a / b } else { f64::INFINITY };
            out.push(Line {
                what: format!("p99 twinwire / floor at {d:.0}/s"),
                figure: r,
                shown: format!("{r:.2}× ({a:.1} / {b:.1} ms)"),
                target: "≤ 2×",
                met: r <= 2.0,
            });
        }
    }
    if let Some(p99) = step(summary, "twinwire", 300_000.0).and_then(|s| ms(s, "p99")) {
        out.push(Line {
            what: "p99 twinwire at 300000/s".into(),
            figure: p99,
            shown: format!("{p99:.1} ms"),
            target: "< 50 ms",
            met: p99 < 50.0,
        });
    }
    let cpu = |s: &Value| s["cpu_s_per_million_deliveries"]["total"].as_f64();
    if let (Some(tw), Some(nc)) = (
        step(summary, "twinwire", 160_000.0).and_then(cpu),
        step(summary, "nchan", 160_000.0).and_then(cpu),
    ) {
        let r = if nc > 0.0 { tw / nc } else { f64::INFINITY };
        out.push(Line {
            what: "CPU per delivery twinwire / nchan at 160000/s".into(),
            figure: r,
            shown: format!("{r:.2}× ({tw:.2} / {nc:.2} s per million)"),
            target: "≤ 1×",
            met: r <= 1.0,
        });
    }
    if let Some(idle) = summary.get("idle") {
        if let Some(per) = idle["rss_bytes_per_session"].as_f64() {
            out.push(Line {
                what: format!(
                    "gateway RSS per idle session at {} sessions",
                    idle["open"].as_u64().unwrap_or(0)
                ),
                figure: per,
                shown: format!("{per:.0} bytes"),
                target: "≤ 8 KiB (8192 bytes)",
                met: per <= 8192.0,
            });
        }
    }
    if let Some(peak) = summary
        .get("fanout-1000")
        .and_then(|f| f["saturation_deliveries_per_s"].as_f64())
    {
        out.push(Line {
            what: "peak deliveries/s, 1000 subscribers".into(),
            figure: peak,
            shown: format!("{peak:.0}/s"),
            target: "≥ 1,200,000/s",
            met: peak >= 1_200_000.0,
        });
    }
    if let Some(cmds) = summary
        .get("commands")
        .and_then(|c| c["commands_per_s"].as_f64())
    {
        out.push(Line {
            what: "commands/s, 100 sessions".into(),
            figure: cmds,
            shown: format!("{cmds:.0}/s"),
            target: "≥ 6,500/s",
            met: cmds >= 6_500.0,
        });
    }
    // Issue 16: tokens' CPU at the rate issue 13 compares CPU at, and the worst step.
    if let Some(steps) = summary
        .get("tokens-cost")
        .and_then(|t| t["steps"].as_array())
    {
        let ratio = |s: &Value| s["with_over_without"].as_f64();
        if let Some(r) = steps
            .iter()
            .find(|s| s["offered_deliveries_per_s"].as_f64() == Some(160_000.0))
            .and_then(ratio)
        {
            out.push(Line {
                what: "CPU per delivery with / without tokens at 160000/s".into(),
                figure: r,
                shown: format!("{r:.3}× ({:+.1} %)", (r - 1.0) * 100.0),
                target: "≤ 1.05×",
                met: r <= 1.05,
            });
        }
        if let Some((d, r)) = steps
            .iter()
            .filter_map(|s| Some((s["offered_deliveries_per_s"].as_f64()?, ratio(s)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        {
            out.push(Line {
                what: format!("CPU per delivery with / without tokens, worst step ({d:.0}/s)"),
                figure: r,
                shown: format!("{r:.3}× ({:+.1} %)", (r - 1.0) * 100.0),
                target: "≤ 1.05×",
                met: r <= 1.05,
            });
        }
    }
    out
}

/// Prints the table and returns it for `summary.json` (empty when no target's scenario ran).
pub fn table(summary: &Map<String, Value>) -> Value {
    let lines = lines(summary);
    if lines.is_empty() {
        return json!([]);
    }
    println!("\nTargets (issue 13; tokens: issue 16), from this run:");
    let width = lines
        .iter()
        .map(|l| l.what.chars().count())
        .max()
        .unwrap_or(0);
    for l in &lines {
        println!(
            "  {:<width$}  {:<34}  target {:<22}  {}",
            l.what,
            l.shown,
            l.target,
            if l.met { "met" } else { "MISSED" },
        );
    }
    Value::Array(
        lines
            .into_iter()
            .map(|l| json!({"what": l.what, "figure": l.figure, "shown": l.shown, "target": l.target, "met": l.met}))
            .collect(),
    )
}
