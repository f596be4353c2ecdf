//! What a worker thread's sessions record per frame or per delivered batch (frames and bytes out,
//! fan-out latency, the `inbox` and `socket_write` hops), kept on the thread and added to the
//! node's metrics once per delivery pass (issue 13, CPU per delivery). Recorded straight into
//! the shared metrics, every frame cost several atomic updates on cache lines that the worker
//! threads took from each other in turn; on the thread they cost plain additions, and the flush
//! runs once the tasks already scheduled on the thread (the pass's sessions) have run, so a
//! scrape sees them a pass later at most.

use crate::metrics::{Metrics, OutKind};
use prometheus::local::{LocalHistogram, LocalIntCounter};
use std::cell::RefCell;
use std::sync::Arc;

/// One thread's local figures for one node's metrics.
pub struct WorkerMetrics {
    metrics: Arc<Metrics>,
    /// Frames and bytes per [`OutKind`], in the order of `OutKind::ALL`.
    out: Vec<(LocalIntCounter, LocalIntCounter)>,
    pub fanout_latency: LocalHistogram,
    pub inbox: LocalHistogram,
    pub socket_write: LocalHistogram,
    /// A flush is scheduled on the thread.
    flush_due: bool,
}

thread_local! {
    static LOCAL: RefCell<Option<WorkerMetrics>> = const { RefCell::new(None) };
}

impl WorkerMetrics {
    fn new(metrics: &Arc<Metrics>) -> WorkerMetrics {
        WorkerMetrics {
            out: OutKind::ALL
                .iter()
                .map(|k| {
                    let c = metrics.out(*k);
                    (c.frames.local(), c.bytes.local())
                })
                .collect(),
            fanout_latency: metrics.fanout_latency.local(),
            inbox: metrics.hops.inbox.local(),
            socket_write: metrics.hops.socket_write.local(),
            metrics: metrics.clone(),
            flush_due: false,
        }
    }

    /// Counts one text frame of `len` payload bytes sent under `kind`.
    pub fn frame_out(&self, kind: OutKind, len: usize) {
        let (frames, bytes) = &self.out[kind as usize];
        frames.inc();
        bytes.inc_by(len as u64);
    }

    fn flush(&mut self) {
        for (frames, bytes) in &self.out {
            frames.flush();
            bytes.flush();
        }
        self.fanout_latency.flush();
        self.inbox.flush();
        self.socket_write.flush();
        self.flush_due = false;
    }
}

/// Runs `f` with this thread's figures for `metrics`, which reach `metrics` once the tasks
/// already scheduled on this thread have run. Must run on an actix arbiter (a session's thread).
pub fn with<R>(metrics: &Arc<Metrics>, f: impl FnOnce(&WorkerMetrics) -> R) -> R {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if !local
            .as_ref()
            .is_some_and(|w| Arc::ptr_eq(&w.metrics, metrics))
        {
            // Another node's metrics on this thread (tests): the old figures go out first.
            if let Some(mut old) = local.take() {
                old.flush();
            }
            *local = Some(WorkerMetrics::new(metrics));
        }
        let w = local.as_mut().expect("set above");
        if !w.flush_due {
            w.flush_due = true;
            actix::spawn(async { flush() });
        }
        f(w)
    })
}

/// Adds this thread's figures to the node's metrics.
pub fn flush() {
    LOCAL.with(|local| {
        if let Some(w) = local.borrow_mut().as_mut() {
            w.flush();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix::test]
    async fn figures_reach_the_metrics_once_the_scheduled_tasks_have_run() {
        let m = Arc::new(Metrics::new());
        with(&m, |w| {
            w.frame_out(OutKind::Event, 10);
            w.frame_out(OutKind::Event, 5);
            w.fanout_latency.observe(0.01);
            w.inbox.observe(0.002);
        });
        assert_eq!(m.out(OutKind::Event).frames.get(), 0, "kept on the thread");
        tokio::task::yield_now().await;
        assert_eq!(m.out(OutKind::Event).frames.get(), 2);
        assert_eq!(m.out(OutKind::Event).bytes.get(), 15);
        assert_eq!(m.fanout_latency.get_sample_count(), 1);
        assert_eq!(m.hops.inbox.get_sample_count(), 1);
        // A second node's metrics on the same thread take the first one's figures out first.
        with(&m, |w| w.socket_write.observe(0.001));
        let other = Arc::new(Metrics::new());
        with(&other, |w| w.frame_out(OutKind::Response, 1));
        assert_eq!(m.hops.socket_write.get_sample_count(), 1);
        tokio::task::yield_now().await;
        assert_eq!(other.out(OutKind::Response).frames.get(), 1);
    }
}
