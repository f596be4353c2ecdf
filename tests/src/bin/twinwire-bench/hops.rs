//! Where the time of a delivery goes: the per-hop latency histogram `twinwire_hop_seconds{hop}`
//! that the hub and the gateways export (issue 13), scraped from their admin ports before and
//! after a load step. The difference of the two scrapes is the step's own histogram; its p50 and
//! p99 are interpolated inside the buckets, as Prometheus' `histogram_quantile` does.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use twinwire_tests::scrape_metrics;

const METRIC: &str = "twinwire_hop_seconds_bucket";

/// The hops in the order a command and its event pass them (others follow, by name).
const ORDER: &[&str] = &[
    "publish",
    "command_wait",
    "round",
    "commit",
    "deliver",
    "node_stream",
    "inbox",
    "socket_write",
];

/// Cumulative bucket counts per hop (upper bound in seconds → count), summed over every scraped
/// process and every other label: the gateways export the same hops, and a hop's figure is
/// theirs together.
#[derive(Clone, Default)]
pub struct HopSnapshot(BTreeMap<String, BTreeMap<Bound, f64>>);

/// A bucket's upper bound, ordered numerically (`+Inf` last).
#[derive(Clone, Copy, PartialEq)]
struct Bound(f64);

impl Eq for Bound {}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl HopSnapshot {
    /// Scrapes `/metrics` on every admin port (hub and gateways).
    pub async fn take(admin_ports: &[u16]) -> HopSnapshot {
        let mut snap = HopSnapshot::default();
        for port in admin_ports {
            snap.add(&scrape_metrics(*port).await);
        }
        snap
    }

    fn add(&mut self, text: &str) {
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(METRIC).and_then(|r| r.strip_prefix('{')) else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let (Some(hop), Some(le), Ok(count)) = (
                label(labels, "hop"),
                label(labels, "le"),
                value.trim().parse::<f64>(),
            ) else {
                continue;
            };
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                match le.parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => continue,
                }
            };
            *self
                .0
                .entry(hop.to_owned())
                .or_default()
                .entry(Bound(le))
                .or_default() += count;
        }
    }

    /// What happened between `earlier` and this snapshot, per hop: count, p50 and p99 in ms.
    /// `None` when the processes export no hop histogram at all.
    pub fn since(&self, earlier: &HopSnapshot) -> Option<Vec<HopFigures>> {
        if self.0.is_empty() {
            return None;
        }
        let mut hops: Vec<&String> = self.0.keys().collect();
        hops.sort_by_key(|h| {
            (
                ORDER.iter().position(|o| o == h).unwrap_or(ORDER.len()),
                h.as_str(),
            )
        });
        let figures = hops
            .into_iter()
            .map(|hop| {
                let then = earlier.0.get(hop);
                let buckets: Vec<(f64, f64)> = self.0[hop]
                    .iter()
                    .map(|(le, now)| {
                        let before = then.and_then(|t| t.get(le)).copied().unwrap_or(0.0);
                        (le.0, (now - before).max(0.0))
                    })
                    .collect();
                let count = buckets.last().map(|b| b.1).unwrap_or(0.0);
                HopFigures {
                    hop: hop.clone(),
                    count: count as u64,
                    p50_ms: quantile(&buckets, 0.5).map(|s| s * 1000.0),
                    p99_ms: quantile(&buckets, 0.99).map(|s| s * 1000.0),
                }
            })
            .collect();
        Some(figures)
    }
}

/// One hop's figures over a step.
pub struct HopFigures {
    pub hop: String,
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The value of `name="…"` in a label set as exposed (values here never hold quotes).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let mut from = 0;
    while let Some(at) = labels[from..].find(&key) {
        let start = from + at;
        // A whole label name: at the start or after a comma.
        if start == 0 || labels[..start].ends_with(',') {
            let value = &labels[start + key.len()..];
            return value.find('"').map(|end| &value[..end]);
        }
        from = start + key.len();
    }
    None
}

/// The `q` quantile of cumulative buckets (upper bound, count), linear inside the bucket that
/// holds it; a quantile in the `+Inf` bucket is the largest finite bound. `None` without counts.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let inside = count - lower.1;
            let share = if inside > 0.0 {
                (rank - lower.1) / inside
            } else {
                1.0
            };
            return Some(lower.0 + (le - lower.0) * share);
        }
        lower = (le, count);
    }
    Some(lower.0)
}

/// Prints a step's hop figures (or that there are none) and returns them as JSON.
pub fn report(label: &str, figures: Option<Vec<HopFigures>>) -> Value {
    let Some(figures) = figures else {
        println!("  {label}: no hop metrics (twinwire_hop_seconds is not exported by this build)");
        return Value::Null;
    };
    let ms = |v: Option<f64>| v.map(|v| format!("{v:.2} ms")).unwrap_or("-".into());
    let line: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{} n={} p50 {} p99 {}",
                f.hop,
                f.count,
                ms(f.p50_ms),
                ms(f.p99_ms)
            )
        })
        .collect();
    println!("  {label} hops: {}", line.join("; "));
    Value::Object(
        figures
            .into_iter()
            .map(|f| {
                (
                    f.hop,
                    json!({"count": f.count, "p50_ms": f.p50_ms, "p99_ms": f.p99_ms}),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket_and_stop_at_the_last_finite_bound() {
        let b = [
            (0.001, 0.0),
            (0.002, 50.0),
            (0.004, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(quantile(&b, 0.5), Some(0.002));
        assert_eq!(quantile(&b, 0.75), Some(0.003));
        let tail = [(0.001, 10.0), (f64::INFINITY, 20.0)];
        assert_eq!(quantile(&tail, 0.99), Some(0.001));
        assert_eq!(quantile(&[(f64::INFINITY, 0.0)], 0.5), None);
    }

    #[test]
    fn scrapes_are_summed_over_processes_and_subtracted_per_step() {
        let page = |n: u32| {
            format!(
                "# TYPE twinwire_hop_seconds histogram\n\
                 twinwire_hop_seconds_bucket{{hop=\"inbox\",le=\"0.001\"}} {n}\n\
                 twinwire_hop_seconds_bucket{{hop=\"inbox\",le=\"+Inf\"}} {}\n\
                 twinwire_hop_seconds_count{{hop=\"inbox\"}} {}\n",
                2 * n,
                2 * n
            )
        };
        let mut before = HopSnapshot::default();
        before.add(&page(1));
        let mut after = HopSnapshot::default();
        after.add(&page(3));
        after.add(&page(3));
        let f = after.since(&before).expect("hops");
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].hop.as_str(), f[0].count), ("inbox", 10));
        assert!(HopSnapshot::default()
            .since(&HopSnapshot::default())
            .is_none());
        assert_eq!(label("hop=\"a\",le=\"1\"", "le"), Some("1"));
        assert_eq!(label("shop=\"a\",hop=\"b\"", "hop"), Some("b"));
    }
}
