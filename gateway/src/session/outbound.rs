//! A session's outbound queue: the frames waiting to be written to its socket, in order, and the
//! state of the writer. Writes go out a burst at a time, one socket write per burst, through the
//! actor's `ctx.wait`, which both keeps their order (actix runs concurrent waits newest-first) and
//! stops the actor taking mail while the socket is full: that is what turns a slow client into a
//! full queue, which the inbox then closes as a slow consumer. This module decides what to write
//! when; the actor runs the writes.

use crate::metrics::Metrics;
use crate::node::give_back::GiveBack;
use crate::ws;
use actix_http::ws::{CloseReason, Message};
use bytestring::ByteString;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use twinwire_common::clock::now_ms;

/// Frames written per actor wait, at most. One wait per burst rather than per frame: under load a
/// session has several frames queued, and each wait costs a boxed future and a pass through the
/// actor's context.
const BURST: usize = 64;

/// One frame waiting to be written.
pub enum Out {
    /// A text frame, and when the hub journaled the signal it carries (ms, 0 if it is none).
    Text(ByteString, u64),
    /// A text frame a shared subscription picked this session for: given back to the share if
    /// the session ends before it is written.
    Shared(ByteString, u64, GiveBack),
    Ping,
    Pong(bytes::Bytes),
    Close(CloseReason),
}

/// What the writer is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writer {
    /// Nothing in flight: a queued frame is written at once.
    Idle,
    /// A delivered batch is being taken in: its frames wait for the batch's end and leave in one
    /// burst rather than the first alone.
    Batching,
    /// A burst is being written; frames queue behind it.
    Writing,
}

/// The queue and its writer's state.
pub struct Outbound {
    queue: VecDeque<Out>,
    writer: Writer,
    /// A close frame is queued: nothing after it is accepted.
    sealed: bool,
    /// When the last frame was queued, for the keep-alive ping.
    last_queued: Instant,
    /// Frames of the batch being taken in are not stamped yet.
    stamp_due: bool,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            queue: VecDeque::new(),
            writer: Writer::Idle,
            sealed: false,
            last_queued: Instant::now(),
            stamp_due: false,
        }
    }
}

impl Outbound {
    /// Queues `out`; true when the caller should start writing now. Frames after a close are
    /// dropped.
    pub fn push(&mut self, out: Out) -> bool {
        if self.sealed {
            return false;
        }
        if matches!(out, Out::Close(_)) {
            self.sealed = true;
        }
        // A batch's frames are stamped once, at its end.
        if self.writer == Writer::Batching {
            self.stamp_due = true;
        } else {
            self.last_queued = Instant::now();
        }
        self.queue.push_back(out);
        self.writer == Writer::Idle
    }

    /// Whether the next burst can take more frames than are queued.
    pub fn room_in_burst(&self) -> bool {
        self.queue.len() < BURST
    }

    /// A close frame is queued (or written): the session is ending.
    pub fn is_closing(&self) -> bool {
        self.sealed
    }

    /// How long since a frame was last queued.
    pub fn idle_for(&self) -> Duration {
        self.last_queued.elapsed()
    }

    /// A delivered batch is taken in: hold its frames until [`Outbound::end_batch`].
    pub fn begin_batch(&mut self) {
        if self.writer == Writer::Idle {
            self.writer = Writer::Batching;
        }
    }

    /// The batch is in; true when the caller should start writing now.
    pub fn end_batch(&mut self) -> bool {
        if self.writer == Writer::Batching {
            self.writer = Writer::Idle;
        }
        if std::mem::take(&mut self.stamp_due) {
            self.last_queued = Instant::now();
        }
        self.writer == Writer::Idle
    }

    /// The next burst to write, ending at the first close frame; `None` (and the writer idle) when
    /// the queue is empty.
    pub fn next_burst(&mut self) -> Option<Vec<Out>> {
        if self.queue.is_empty() {
            self.writer = Writer::Idle;
            return None;
        }
        self.writer = Writer::Writing;
        let mut burst = Vec::with_capacity(self.queue.len().min(BURST));
        while burst.len() < BURST {
            let Some(out) = self.queue.pop_front() else {
                break;
            };
            let close = matches!(out, Out::Close(_));
            burst.push(out);
            if close {
                break;
            }
        }
        Some(burst)
    }
}

/// Writes `burst` to the socket in order, encoded into one buffer and flushed once; false when
/// the socket failed or `kill` was cancelled first. Fan-out latency is observed when the burst is
/// out. A shared subscription's frame counts as written once it is in the writer's buffer: from
/// there it leaves unless the connection dies, and it must not be given to another member too.
pub async fn write_burst(
    ws: ws::Writer,
    burst: Vec<Out>,
    kill: CancellationToken,
    metrics: std::sync::Arc<Metrics>,
) -> bool {
    let mut journaled = Vec::with_capacity(burst.len());
    for out in burst {
        let message = match out {
            Out::Text(t, written_ms) => {
                journaled.push(written_ms);
                Message::Text(t)
            }
            Out::Shared(t, written_ms, give_back) => {
                journaled.push(written_ms);
                ws.queue(Message::Text(t));
                give_back.written();
                metrics.shared_written.inc();
                continue;
            }
            Out::Ping => Message::Ping(bytes::Bytes::new()),
            Out::Pong(p) => Message::Pong(p),
            Out::Close(r) => Message::Close(Some(r)),
        };
        ws.queue(message);
    }
    // The write first: it usually completes at once, and then the kill token is never polled
    // (polling it registers a waiter under the token's lock).
    let ok = tokio::select! {
        biased;
        written = ws.flush() => written.is_ok(),
        _ = kill.cancelled() => false,
    };
    if ok && journaled.iter().any(|ms| *ms > 0) {
        let now = now_ms();
        crate::worker_metrics::with(&metrics, |w| {
            for written_ms in journaled.into_iter().filter(|ms| *ms > 0) {
                w.fanout_latency
                    .observe(now.saturating_sub(written_ms) as f64 / 1000.0);
            }
        });
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> Out {
        Out::Text(ByteString::from_static(s), 0)
    }

    fn close() -> Out {
        Out::Close(CloseReason {
            code: actix_http::ws::CloseCode::Normal,
            description: None,
        })
    }

    #[test]
    fn frames_of_a_batch_wait_for_its_end_and_leave_in_one_burst() {
        let mut q = Outbound::default();
        q.begin_batch();
        assert!(!q.push(text("a")));
        assert!(!q.push(text("b")));
        assert!(q.end_batch());
        assert_eq!(q.next_burst().map(|b| b.len()), Some(2));
        assert!(!q.push(text("c")), "a write is in flight");
        q.begin_batch();
        assert!(!q.end_batch(), "the write in flight takes the batch along");
        assert_eq!(q.next_burst().map(|b| b.len()), Some(1));
        assert!(q.next_burst().is_none());
        assert!(q.push(text("d")), "an idle writer writes at once");
    }

    #[test]
    fn a_burst_ends_at_the_close_and_nothing_is_queued_after_it() {
        let mut q = Outbound::default();
        q.begin_batch();
        q.push(text("a"));
        q.push(close());
        assert!(q.is_closing());
        assert!(!q.push(text("b")));
        q.end_batch();
        let burst = q.next_burst().unwrap();
        assert_eq!(burst.len(), 2);
        assert!(matches!(burst.last(), Some(Out::Close(_))));
        assert!(q.next_burst().is_none());
    }

    #[test]
    fn bursts_are_bounded() {
        let mut q = Outbound::default();
        q.begin_batch();
        for _ in 0..BURST + 1 {
            q.push(text("x"));
        }
        q.end_batch();
        assert_eq!(q.next_burst().map(|b| b.len()), Some(BURST));
        assert_eq!(q.next_burst().map(|b| b.len()), Some(1));
    }
}
