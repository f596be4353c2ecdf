//! A canary for the hostile-input tests: a user who has nothing to do with the attack keeps changing
//! a thing of her own through one session while another session on the gateway under attack
//! receives the events. The attack "stalled other users" when the largest gap between two events
//! the canary received is over its bound (issue: hostile input, "no gap over 2 s").

use crate::{Client, Cluster};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often the canary's writer changes its thing.
const WRITE_EVERY: Duration = Duration::from_millis(100);

/// What the canary saw while it ran.
#[derive(Debug)]
pub struct CanaryReport {
    /// Events received.
    pub received: u64,
    /// The longest time between two received events (or from the start to the first).
    pub longest_gap: Duration,
    /// Whether every session of the canary stayed open to the end.
    pub sessions_survived: bool,
}

/// A running canary; [`Canary::stop`] ends it and reports.
pub struct Canary {
    stop: Arc<AtomicBool>,
    writer: JoinHandle<bool>,
    reader: JoinHandle<(u64, Duration, bool)>,
}

impl Canary {
    /// Starts a canary as `user` (one of the harness's users, not the attacker) whose reader is on
    /// gateway `gw`; `thing` names its thing in the namespace `org.canary`.
    pub async fn start(cluster: &Cluster, gw: usize, user: &str, thing: &str) -> Canary {
        let topic = format!("org.canary/{thing}/things/twin/commands");
        let mut writer = cluster.connect(gw, user).await;
        let r = writer
            .request(json!({"topic": format!("{topic}/create"), "path": "/", "value": {}}))
            .await;
        assert!(
            r["status"] == 201 || r["status"] == 204,
            "canary thing created: {r}"
        );
        let mut reader = cluster.connect(gw, user).await;
        reader
            .subscribe(
                "START-SEND-EVENTS?namespaces=org.canary",
                "START-SEND-EVENTS:ACK",
            )
            .await;
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write_loop(writer, topic, stop.clone()));
        let reader = tokio::spawn(read_loop(reader, stop.clone()));
        Canary {
            stop,
            writer,
            reader,
        }
    }

    /// Stops the canary and reports what it saw.
    pub async fn stop(self) -> CanaryReport {
        // Let the last writes arrive before the reader stops.
        tokio::time::sleep(WRITE_EVERY * 3).await;
        self.stop.store(true, Ordering::Relaxed);
        let writer_ok = self.writer.await.expect("canary writer task");
        let (received, longest_gap, reader_ok) = self.reader.await.expect("canary reader task");
        CanaryReport {
            received,
            longest_gap,
            sessions_survived: writer_ok && reader_ok,
        }
    }

    /// Stops the canary and asserts it kept receiving, with no gap over `max_gap`.
    pub async fn assert_healthy(self, max_gap: Duration) -> CanaryReport {
        let report = self.stop().await;
        assert!(
            report.sessions_survived,
            "canary sessions closed: {report:?}"
        );
        assert!(report.received > 0, "canary received nothing: {report:?}");
        assert!(
            report.longest_gap <= max_gap,
            "canary stalled for {:?} (bound {max_gap:?}): {report:?}",
            report.longest_gap
        );
        report
    }
}

async fn write_loop(mut client: Client, topic: String, stop: Arc<AtomicBool>) -> bool {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let cmd = json!({"topic": format!("{topic}/modify"), "path": "/attributes/n", "value": n,
            "headers": {"response-required": false}});
        client.send_json(&cmd).await;
        tokio::time::sleep(WRITE_EVERY).await;
    }
    // The writer's session is alive if it still answers a retrieve.
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(json!({"topic": format!("{topic}/retrieve"), "path": "/attributes/n"})),
    )
    .await;
    matches!(r, Ok(v) if v["status"] == 200)
}

async fn read_loop(mut client: Client, stop: Arc<AtomicBool>) -> (u64, Duration, bool) {
    let mut last = Instant::now();
    let mut longest = Duration::ZERO;
    let mut received = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return (received, longest, true);
        }
        match client.recv_within(Duration::from_millis(250)).await {
            Some(crate::Frame::Text(_)) => {
                received += 1;
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            Some(crate::Frame::Close(_)) => return (received, longest.max(last.elapsed()), false),
            Some(_) => {}
            None => {}
        }
    }
}
