//! What resume tokens cost the fan-out per delivery, measured in-process (issue 16's target: at
//! most 5 % more CPU per delivery with tokens than without). Ignored by default; run with
//! `cargo test --release -p twinwire-gateway resume_cost -- --ignored --nocapture`.
//!
//! Each delivery here is the token part of what a session does with an event, plus what the
//! inbox does once per event for the session's group: 1,000 sessions of one subscription
//! group, every event to all of them, events going round 64 shards (every position lists most
//! shards: the longest tokens) or 4 of them (short tokens).

use super::*;
use crate::node::position_class::PositionClasses;
use std::hint::black_box;
use std::time::Instant;

const SESSIONS: usize = 1000;
const EVENTS: u64 = 3000;
const SHARDS: u32 = 64;

#[derive(Clone, Copy, PartialEq)]
enum Way {
    /// No tokens: the frame as the inbox shared it.
    Without,
    /// Every session its own position, token and stamped frame (looked up in the per-thread
    /// memo): the algorithm before position classes.
    PerSession,
    /// Position classes: the inbox signs and stamps once per event and group.
    Classes,
}

fn run(way: Way, active: u32) -> f64 {
    let key = TokenKey::new(b"bench");
    let frame = ByteString::from(
        r#"{"topic":"org.bench/t1/things/twin/events/modified","headers":{"content-type":"application/json"},"path":"/attributes/v","value":{"j":1},"revision":2}"#,
    );
    let mut sessions: Vec<Resume> = (0..SESSIONS).map(|_| Resume::default()).collect();
    for s in &mut sessions {
        s.start_at(&[(1000, 0); SHARDS as usize]);
    }
    let mut classes = PositionClasses::default();
    let mut marks = vec![(1000u64, 0u64); SHARDS as usize];
    let started = Instant::now();
    for n in 0..EVENTS {
        let shard = (n % u64::from(active)) as u32;
        let pos = JournalPos {
            shard,
            ms: 1001 + n,
            seq: 0,
        };
        // The shards without events are read as far as the others (a hub's watermark).
        if active < SHARDS && shard == 0 {
            for m in &mut marks[active as usize..] {
                *m = (pos.ms, 0);
            }
        }
        marks[shard as usize] = pos.id();
        let base = marks.iter().copied().min().unwrap_or_default();
        let class = match way {
            Way::Classes => classes.step("g", pos, base, Some(&key), &frame),
            _ => None,
        };
        for s in &mut sessions {
            let out = match way {
                Way::Without => frame.clone(),
                _ => {
                    let mark = ResumeMark::Live {
                        pos,
                        base,
                        class: class.clone(),
                    };
                    match s.step(Some(&key), mark, frame.clone(), 0) {
                        Step::One(e) => match (e.stamped, &e.token) {
                            (Some(stamped), _) => stamped,
                            (None, Some(t)) => memo::stamped(&e.frame, t),
                            (None, None) => e.frame,
                        },
                        _ => unreachable!("one event each"),
                    }
                }
            };
            black_box(out);
        }
    }
    started.elapsed().as_nanos() as f64 / (EVENTS as f64 * SESSIONS as f64)
}

#[test]
#[ignore = "a measurement: run it in release with --ignored --nocapture"]
fn resume_cost_per_delivery() {
    for active in [SHARDS, 4] {
        for _ in 0..2 {
            let without = run(Way::Without, active);
            let per_session = run(Way::PerSession, active);
            let classes = run(Way::Classes, active);
            println!(
                "{active} shards with events, ns per delivery: without tokens {without:.1}, \
                 per-session tokens {per_session:.1}, position classes {classes:.1}"
            );
        }
    }
}
