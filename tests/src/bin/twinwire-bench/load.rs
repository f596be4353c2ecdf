//! Load drivers: writers that modify twins at a set rate (the events the subscribers receive),
//! and closed-loop command sessions that wait for each response.

use crate::wire::{self, now_us, Proto, Ws};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Things the writers change; `g` is `k % 10`, so `eq(attributes/g,0)` matches 10 % of events.
pub const THINGS: usize = 20;

pub fn thing(k: usize) -> String {
    format!("org.bench/t{k}")
}

/// What a writer sends for thing `k`: for twinwire a modify of the whole attributes object (so
/// the event itself carries `g` for filters); for the peers the same object as their message.
pub fn frame(proto: Proto, k: usize, step: usize, pad: &str, cid: u64) -> String {
    let value = format!(
        r#"{{"g":{},"s":{step},"t":{},"pad":"{pad}"}}"#,
        k % 10,
        now_us()
    );
    match proto {
        Proto::Ditto => format!(
            r#"{{"topic":"{}/things/twin/commands/modify","headers":{{"correlation-id":"w{cid}"}},"path":"/attributes","value":{value}}}"#,
            thing(k)
        ),
        Proto::SocketIo => format!(r#"42["modify",{value}]"#),
        Proto::Nchan => value,
    }
}

/// Counts of one writer's commands and their answers.
#[derive(Default)]
pub struct WriterCounts {
    pub sent: AtomicU64,
    pub sent_matching: AtomicU64,
    pub ok: AtomicU64,
    pub errors: AtomicU64,
}

/// A writer session: sends `rate` modifies per second for `dur`, round-robin over the things, and
/// counts the responses (any non-2xx is an error).
#[allow(clippy::too_many_arguments)]
pub async fn write_step(
    proto: Proto,
    ws: Ws,
    rate: f64,
    dur: Duration,
    step: usize,
    pad: &str,
    counts: Arc<WriterCounts>,
    offset: usize,
) -> Ws {
    let (mut tx, mut rx) = ws.split();
    let pings = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    // Responses are read by a task of their own: a writer that only read between its sends fell
    // behind at the highest rates (the subscribers' readers share the bench's two threads), and the
    // gateway rightly closed it as a slow consumer, ending the step's commands.
    let reader = tokio::spawn({
        let (counts, pings, stop) = (counts.clone(), pings.clone(), stop.clone());
        async move {
            loop {
                tokio::select! {
                    m = rx.next() => match (proto, m) {
                        (Proto::Ditto, Some(Ok(m))) => count_response(&m, &counts),
                        (Proto::SocketIo, Some(Ok(m))) if m.to_text().is_ok_and(|t| t == "2") => {
                            pings.fetch_add(1, Ordering::Relaxed);
                        }
                        (_, Some(Ok(_))) => {}
                        (_, _) => break,
                    },
                    _ = stop.notified() => break,
                }
            }
            rx
        }
    });
    let tick = Duration::from_millis(5);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut owed = 0.0;
    let mut n = offset;
    while started.elapsed() < dur {
        interval.tick().await;
        for _ in 0..pings.swap(0, Ordering::Relaxed) {
            let _ = tx.send(Message::text("3")).await;
        }
        owed += rate * tick.as_secs_f64();
        while owed >= 1.0 {
            owed -= 1.0;
            let k = n % THINGS;
            n += 1;
            if tx
                .send(Message::text(frame(proto, k, step, pad, n as u64)))
                .await
                .is_err()
            {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            counts.sent.fetch_add(1, Ordering::Relaxed);
            if k.is_multiple_of(10) {
                counts.sent_matching.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if proto == Proto::Ditto {
        // The rest of the responses, briefly (the peers answer nothing).
        let deadline = Instant::now() + Duration::from_secs(3);
        while counts.ok.load(Ordering::Relaxed) + counts.errors.load(Ordering::Relaxed)
            < counts.sent.load(Ordering::Relaxed)
            && Instant::now() < deadline
            && !reader.is_finished()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.notify_one();
    let rx = reader.await.expect("writer's reader task");
    rx.reunite(tx).expect("both halves of one socket")
}

fn count_response(m: &Message, counts: &WriterCounts) {
    if let Message::Text(t) = m {
        match wire::field(t, "\"status\":") {
            Some(200..=299) => counts.ok.fetch_add(1, Ordering::Relaxed),
            _ => counts.errors.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// One closed-loop command session: modify, wait for the response, repeat until `dur` is over.
/// Returns (latencies in µs, errors).
pub async fn command_loop(mut ws: Ws, k: usize, dur: Duration) -> (Vec<u64>, u64) {
    let mut lat = Vec::new();
    let mut errors = 0;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < dur {
        n += 1;
        let cmd = format!(
            r#"{{"topic":"org.bench/c{k}/things/twin/commands/modify","headers":{{"correlation-id":"c{n}"}},"path":"/attributes/n","value":{n}}}"#
        );
        let t0 = Instant::now();
        if ws.send(Message::text(cmd)).await.is_err() {
            errors += 1;
            break;
        }
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => match wire::field(&t, "\"status\":") {
                Some(200..=299) => lat.push(t0.elapsed().as_micros() as u64),
                _ => errors += 1,
            },
            _ => {
                errors += 1;
                break;
            }
        }
    }
    (lat, errors)
}
