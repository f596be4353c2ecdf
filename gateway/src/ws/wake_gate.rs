//! A stream that is polled only when it woke its task (issue 13, CPU per delivery). An actix
//! actor polls every stream it reads each time its task runs; a session's task runs for every
//! batch the inbox delivers, and each time its socket's reader asked the runtime whether the
//! socket was readable, which takes a lock in tokio's I/O driver. Behind the gate the reader is
//! polled again only after it woke the task itself (or after it yielded an item, since more may
//! be decoded without reading).

use futures_util::task::AtomicWaker;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// What the inner stream wakes: the flag and the task reading the gate.
struct Signal {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// `S`, polled only when it has something to say.
pub struct WakeGate<S> {
    inner: S,
    signal: Arc<Signal>,
}

impl<S> WakeGate<S> {
    pub fn new(inner: S) -> Self {
        WakeGate {
            inner,
            signal: Arc::new(Signal {
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
        }
    }
}

impl<S: Stream + Unpin> Stream for WakeGate<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        this.signal.task.register(cx.waker());
        if !this.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(this.signal.clone());
        let polled = Pin::new(&mut this.inner).poll_next(&mut Context::from_waker(&waker));
        if polled.is_ready() {
            // More may be ready without a wake-up: the next poll looks.
            this.signal.woken.store(true, Ordering::Release);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready when `ready` says so, and then wakes nobody.
    struct Probe {
        polls: Arc<AtomicUsize>,
        items: Arc<parking_lot::Mutex<Vec<u32>>>,
        waker: Arc<parking_lot::Mutex<Option<Waker>>>,
    }

    impl Stream for Probe {
        type Item = u32;
        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            match self.items.lock().pop() {
                Some(i) => Poll::Ready(Some(i)),
                None => {
                    *self.waker.lock() = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }

    #[tokio::test]
    async fn the_inner_stream_is_polled_after_it_woke_the_task_or_yielded_an_item() {
        let polls = Arc::new(AtomicUsize::new(0));
        let items = Arc::new(parking_lot::Mutex::new(vec![2, 1]));
        let waker = Arc::new(parking_lot::Mutex::new(None::<Waker>));
        let mut gate = WakeGate::new(Probe {
            polls: polls.clone(),
            items: items.clone(),
            waker: waker.clone(),
        });
        assert_eq!(gate.next().await, Some(1));
        assert_eq!(gate.next().await, Some(2));
        let noop = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&noop);
        assert!(Pin::new(&mut gate).poll_next(&mut cx).is_pending());
        let after_pending = polls.load(Ordering::Relaxed);
        for _ in 0..3 {
            assert!(Pin::new(&mut gate).poll_next(&mut cx).is_pending());
        }
        assert_eq!(
            polls.load(Ordering::Relaxed),
            after_pending,
            "not polled without a wake-up"
        );
        items.lock().push(3);
        waker.lock().take().expect("registered").wake();
        assert_eq!(gate.next().await, Some(3));
    }
}
