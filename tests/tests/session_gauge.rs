//! `twinwire_gateway_sessions` must not drift: after random churn (connects, subscriptions started,
//! restarted and stopped, refused subscriptions, clean closes and abrupt TCP resets), each gateway's
//! gauge equals exactly what the test holds open, for every kind, and returns to zero at the end.
//!
//! The churn is randomized from a seed printed at the start; `TWINWIRE_TEST_SEED=<n>` replays one.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use twinwire_tests::{metric_series, scrape_metrics, Client, Cluster, ClusterOptions};

/// The subscription kinds: the label the gauge uses, and the frames that start and stop it.
const KINDS: [(&str, &str); 5] = [
    ("events", "SEND-EVENTS"),
    ("messages", "SEND-MESSAGES"),
    ("live_commands", "SEND-LIVE-COMMANDS"),
    ("live_events", "SEND-LIVE-EVENTS"),
    ("policy_announcements", "SEND-POLICY-ANNOUNCEMENTS"),
];

struct Open {
    gw: usize,
    client: Client,
    subscribed: [bool; 5],
}

/// What each gateway's gauge should read: `connected` and every kind.
fn expected(open: &[Open], gw: usize) -> BTreeMap<&'static str, f64> {
    let mine: Vec<&Open> = open.iter().filter(|o| o.gw == gw).collect();
    let mut m = BTreeMap::from([("connected", mine.len() as f64)]);
    for (i, (label, _)) in KINDS.iter().enumerate() {
        m.insert(
            label,
            mine.iter().filter(|o| o.subscribed[i]).count() as f64,
        );
    }
    m
}

async fn gauge(admin_port: u16) -> BTreeMap<&'static str, f64> {
    let page = scrape_metrics(admin_port).await;
    let mut m = BTreeMap::new();
    for label in std::iter::once("connected").chain(KINDS.iter().map(|(l, _)| *l)) {
        let v = metric_series(
            &page,
            "twinwire_gateway_sessions",
            &format!("kind=\"{label}\""),
        );
        m.insert(label, v.unwrap_or(0.0));
    }
    m
}

/// Session ends are noticed asynchronously (an RST is seen when the gateway next reads), so the
/// gauge is polled until it matches, and the last reading is what the assertion shows.
async fn assert_gauges(c: &Cluster, open: &[Open], round: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for gw in 0..c.gateways.len() {
        let want = expected(open, gw);
        loop {
            let got = gauge(c.gateways[gw].admin_port).await;
            if got == want {
                break;
            }
            if Instant::now() > deadline {
                c.dump_logs();
                panic!("{round}: gateway {gw} sessions gauge {got:?}, expected {want:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_gauge_matches_open_sessions_exactly_under_churn() {
    let seed = std::env::var("TWINWIRE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("session_gauge: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let c = Cluster::start(ClusterOptions::default()).await;
    assert_gauges(&c, &[], "at start").await;

    let mut open: Vec<Open> = Vec::new();
    let (mut resets, mut closes, mut refused) = (0, 0, 0);
    for round in 0..6 {
        for _ in 0..40 {
            match rng.random_range(0..10) {
                // Connect.
                0..=2 => {
                    let gw = rng.random_range(0..c.gateways.len());
                    let client = c.connect(gw, "ditto").await;
                    open.push(Open {
                        gw,
                        client,
                        subscribed: [false; 5],
                    });
                }
                // Start a kind, also one already started: Ditto acknowledges it again and the
                // session still holds one subscription of that kind.
                3..=5 if !open.is_empty() => {
                    let o = rng.random_range(0..open.len());
                    let k = rng.random_range(0..KINDS.len());
                    let frame = format!("START-{}", KINDS[k].1);
                    let ack = format!("{frame}:ACK");
                    open[o].client.subscribe(&frame, &ack).await;
                    open[o].subscribed[k] = true;
                }
                // Stop a kind, started or not.
                6 if !open.is_empty() => {
                    let o = rng.random_range(0..open.len());
                    let k = rng.random_range(0..KINDS.len());
                    let frame = format!("STOP-{}", KINDS[k].1);
                    let ack = format!("{frame}:ACK");
                    open[o].client.subscribe(&frame, &ack).await;
                    open[o].subscribed[k] = false;
                }
                // A refused start (RQL that does not parse) answers an error and counts nothing,
                // and leaves an earlier subscription of that kind as it was.
                7 if !open.is_empty() => {
                    let o = rng.random_range(0..open.len());
                    open[o]
                        .client
                        .send("START-SEND-EVENTS?filter=eq(attributes/x")
                        .await;
                    let err = open[o].client.recv_json().await;
                    assert_eq!(err["value"]["error"], "rql.expression.invalid", "{err}");
                    refused += 1;
                }
                // A clean close.
                8 if !open.is_empty() => {
                    let mut o = open.swap_remove(rng.random_range(0..open.len()));
                    o.client.close().await;
                    closes += 1;
                }
                // An abrupt reset, no close frame.
                9 if !open.is_empty() => {
                    let o = open.swap_remove(rng.random_range(0..open.len()));
                    o.client.abort();
                    resets += 1;
                }
                _ => {}
            }
        }
        assert_gauges(&c, &open, &format!("after round {round}")).await;
    }
    println!(
        "session_gauge: {} open at the end, {closes} clean closes, {resets} resets, {refused} refused starts",
        open.len()
    );

    // Everyone leaves at once, half of them abruptly.
    for (i, o) in open.drain(..).enumerate() {
        if i % 2 == 0 {
            o.client.abort();
        } else {
            let mut o = o;
            o.client.close().await;
        }
    }
    assert_gauges(&c, &[], "after everyone left").await;
}
