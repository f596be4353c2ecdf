//! What resume tokens cost (issue 16, "Cost": at most 5 % more CPU per delivery): the fan-out
//! ramp with 1,000 subscribers run twice in one invocation, on gateways with tokens (the default)
//! and without (`resume.enabled = false`, as the environment variable below), and the CPU per
//! delivery of each step side by side.

use crate::scenarios::{self, Audience};
use serde_json::{json, Value};

/// The gateway setting that turns tokens off, in its environment form (`TWINWIRE_` prefix, `__`
/// between levels: `resume.enabled`).
const WITHOUT_TOKENS: (&str, &str) = ("TWINWIRE_RESUME__ENABLED", "false");

pub const SUBSCRIBERS: usize = 1_000;

/// Both runs, `without` first, then `with`, and the ratio per step. `quick`: up to 160,000/s.
pub async fn measure(quick: bool) -> Value {
    // 20, 40, …, 640 events/s: 20,000 to 640,000 deliveries/s.
    let rates: Vec<f64> = (0..if quick { 4 } else { 6 })
        .map(|i| 20_000.0 / SUBSCRIBERS as f64 * 2f64.powi(i))
        .collect();
    let without = {
        // A gateway that does not know the setting refuses to start (unknown keys are errors);
        // that build has no way to turn tokens off, which is reported rather than fatal.
        let started = tokio::spawn(scenarios::cluster_with(2, &[WITHOUT_TOKENS])).await;
        match started {
            Ok(c) => {
                scenarios::create_things(c.gateways[0].http_port, 0).await;
                let t = scenarios::twinwire_target(&c);
                Some(scenarios::fanout(&t, SUBSCRIBERS, Audience::All, &rates).await)
            }
            Err(_) => {
                println!(
                    "tokens-cost: the gateways did not start with {}={} (no resume.enabled in this build): no run without tokens",
                    WITHOUT_TOKENS.0, WITHOUT_TOKENS.1
                );
                None
            }
        }
    };
    let with = {
        let c = scenarios::cluster(2).await;
        scenarios::create_things(c.gateways[0].http_port, 0).await;
        let t = scenarios::twinwire_target(&c);
        scenarios::fanout(&t, SUBSCRIBERS, Audience::All, &rates).await
    };
    let ratios = without
        .as_ref()
        .map(|w| compare(w, &with))
        .unwrap_or_default();
    json!({"subscribers": SUBSCRIBERS, "without_tokens": without, "with_tokens": with, "steps": ratios})
}

/// CPU per delivery with and without tokens at each offered rate both runs measured (the ramps'
/// half-of-saturation steps are not compared: their rates differ).
fn compare(without: &Value, with: &Value) -> Vec<Value> {
    let steps = |v: &Value| -> Vec<Value> {
        v["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s["half_of_saturation"] != json!(true))
            .collect()
    };
    let (a, b) = (steps(without), steps(with));
    let mut out = Vec::new();
    println!("tokens-cost, 1,000 subscribers: CPU s per million deliveries without / with tokens");
    for s in &a {
        let rate = s["events_per_s"].as_f64().unwrap_or(0.0);
        let Some(t) = b.iter().find(|t| t["events_per_s"].as_f64() == Some(rate)) else {
            continue;
        };
        let cpu = |v: &Value| v["cpu_s_per_million_deliveries"]["total"].as_f64();
        let (Some(off), Some(on)) = (cpu(s), cpu(t)) else {
            continue;
        };
        let ratio = if off > 0.0 { on / off } else { 0.0 };
        let offered = rate * SUBSCRIBERS as f64;
        println!(
            "  {offered:.0}/s: {off:.2} / {on:.2} s/M, with / without {ratio:.3} ({:+.1} %), p99 {:.1} / {:.1} ms",
            (ratio - 1.0) * 100.0,
            s["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
            t["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        );
        out.push(json!({
            "offered_deliveries_per_s": offered,
            "cpu_s_per_million_without": off,
            "cpu_s_per_million_with": on,
            "with_over_without": ratio,
            "p99_ms_without": s["latency_ms"]["p99"],
            "p99_ms_with": t["latency_ms"]["p99"],
            "saturated_without": s["saturated"],
            "saturated_with": t["saturated"],
        }));
    }
    out
}
