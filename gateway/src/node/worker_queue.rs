//! The inbox's hand-off to the WebSocket sessions of one worker thread (issue 13, the `inbox`
//! hop). Sending each session its batch as an actor message cost, per session and read, an
//! envelope, a push onto a queue shared between threads and a wake-up through the worker
//! runtime's cross-thread queue. Instead the inbox posts a read's batches for all the sessions of a
//! worker in one go onto that worker's [`WorkerQueue`]; a task on the worker hands each batch to
//! its session's [`SessionQueue`], a plain queue on the same thread that the session actor reads
//! as a stream. Per session that leaves a local push and a local wake-up.
//!
//! A session's frames keep their order: everything for one session travels through one worker
//! queue and one session queue, closes included. The outbound bound is unchanged: the inbox
//! counts what it queued in the session's handle and the session subtracts what it takes.

use super::directory::{DeliverBatch, SessionControl};
use futures_util::Stream;
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;

/// What the inbox posts to a session.
pub enum Posted {
    Batch(DeliverBatch),
    /// An order that must follow the frames posted before it (a hub's close).
    Control(SessionControl),
}

/// Posts for a worker's sessions, each with its session's id, in order.
pub type Posts = Vec<(u64, Posted)>;

/// One worker thread's queue from the inbox.
pub struct WorkerQueue {
    posted: Mutex<Posts>,
    notify: Notify,
    /// Signalled each time the worker's task has taken what was posted.
    taken: Notify,
}

thread_local! {
    /// This thread's queue, made (and its task started) by the first session on the thread.
    static QUEUE: RefCell<Option<Arc<WorkerQueue>>> = const { RefCell::new(None) };
    /// The sessions of this thread that read their queue.
    static SESSIONS: RefCell<HashMap<u64, Rc<Local>>> = RefCell::new(HashMap::new());
}

impl WorkerQueue {
    /// The current worker thread's queue; the first call on a thread starts the task that hands
    /// its posts to the sessions (on the thread's arbiter, for as long as it runs).
    pub fn current() -> Arc<WorkerQueue> {
        QUEUE.with(|q| {
            q.borrow_mut()
                .get_or_insert_with(|| {
                    let queue = Arc::new(WorkerQueue {
                        posted: Mutex::new(Vec::new()),
                        notify: Notify::new(),
                        taken: Notify::new(),
                    });
                    actix::spawn(hand_out(queue.clone()));
                    queue
                })
                .clone()
        })
    }

    /// Appends `items` (emptied) for the worker's sessions, in order.
    pub fn post(&self, items: &mut Posts) {
        let was_empty = {
            let mut posted = self.posted.lock();
            let was_empty = posted.is_empty();
            posted.append(items);
            was_empty
        };
        // A non-empty queue has a wake-up pending already.
        if was_empty {
            self.notify.notify_one();
        }
    }

    /// Waits until the worker's task has taken everything posted so far. The inbox waits for
    /// this before it reads again: a worker thread that is behind then holds the inbox back and
    /// the backlog stays in the node stream, instead of the inbox reading ahead into the
    /// sessions' queues until sessions that read fine pass `ws.outbound_queue` and are closed as
    /// slow consumers. A session that is slow itself does not hold anything back: the task takes
    /// its posts into its queue like any other's.
    pub async fn taken(&self) {
        loop {
            // Created before the check: a `notify_waiters` in between still reaches it.
            let taken = self.taken.notified();
            if self.posted.lock().is_empty() {
                return;
            }
            taken.await;
        }
    }
}

/// The worker's task: hands every post to its session's queue; a session that ended since drops
/// it (shared-subscription frames in it then go back to their share).
async fn hand_out(queue: Arc<WorkerQueue>) {
    let mut taken = Vec::new();
    loop {
        queue.notify.notified().await;
        std::mem::swap(&mut *queue.posted.lock(), &mut taken);
        queue.taken.notify_waiters();
        let unclaimed: Vec<Posted> = SESSIONS.with(|s| {
            let sessions = s.borrow();
            taken
                .drain(..)
                .filter_map(|(id, item)| match sessions.get(&id) {
                    Some(local) => {
                        local.push(item);
                        None
                    }
                    None => Some(item),
                })
                .collect()
        });
        drop(unclaimed);
    }
}

/// A session's queue on its worker thread.
#[derive(Default)]
struct Local {
    items: RefCell<VecDeque<Posted>>,
    waker: Cell<Option<Waker>>,
}

impl Local {
    fn push(&self, item: Posted) {
        self.items.borrow_mut().push_back(item);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// What session `id` reads its posts from: registered on the current thread while it exists, and
/// never ending on its own.
pub struct SessionQueue {
    id: u64,
    local: Rc<Local>,
}

impl SessionQueue {
    /// Registers session `id` on the current worker thread.
    pub fn register(id: u64) -> SessionQueue {
        let local = Rc::new(Local::default());
        SESSIONS.with(|s| s.borrow_mut().insert(id, local.clone()));
        SessionQueue { id, local }
    }
}

impl SessionQueue {
    /// A view of the queue for its session, which the actor's context owns.
    pub fn probe(&self) -> QueueProbe {
        QueueProbe(self.local.clone())
    }
}

/// Whether more is waiting in a session's queue.
pub struct QueueProbe(Rc<Local>);

impl QueueProbe {
    /// Something is posted that the session has not taken yet.
    pub fn has_more(&self) -> bool {
        !self.0.items.borrow().is_empty()
    }
}

impl Drop for SessionQueue {
    fn drop(&mut self) {
        // At thread exit the registry may be gone already.
        let _ = SESSIONS.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.remove(&self.id);
            }
        });
    }
}

impl Stream for SessionQueue {
    type Item = Posted;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Posted>> {
        let next = self.local.items.borrow_mut().pop_front();
        match next {
            Some(item) => Poll::Ready(Some(item)),
            None => {
                self.local.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::time::Instant;

    fn batch(n: usize) -> Posted {
        Posted::Batch(DeliverBatch(
            (0..n)
                .map(|_| super::super::directory::Deliver {
                    frame: "x".into(),
                    kind: None,
                    written_ms: 0,
                    reply: None,
                    live: false,
                    resume: None,
                    give_back: None,
                })
                .collect(),
            Instant::now(),
        ))
    }

    fn len(p: &Posted) -> usize {
        match p {
            Posted::Batch(b) => b.0.len(),
            Posted::Control(_) => 0,
        }
    }

    #[actix::test]
    async fn posts_reach_their_sessions_in_order_and_ended_sessions_drop_theirs() {
        let queue = WorkerQueue::current();
        assert!(
            Arc::ptr_eq(&queue, &WorkerQueue::current()),
            "one per thread"
        );
        let mut a = SessionQueue::register(1);
        let probe = a.probe();
        assert!(!probe.has_more());
        let b = SessionQueue::register(2);
        drop(b);
        let mut items = vec![
            (1, batch(1)),
            (2, batch(5)),
            (1, batch(2)),
            (1, Posted::Control(SessionControl::Drain)),
        ];
        queue.post(&mut items);
        assert!(items.is_empty());
        tokio::task::yield_now().await;
        assert!(probe.has_more(), "handed out by the worker's task");
        let got: Vec<usize> = a.by_ref().take(3).map(|p| len(&p)).collect().await;
        assert_eq!(got, vec![1, 2, 0]);
        queue.post(&mut vec![(1, batch(3))]);
        assert_eq!(a.next().await.map(|p| len(&p)), Some(3));
        SESSIONS.with(|s| assert_eq!(s.borrow().len(), 1));
        drop(a);
        SESSIONS.with(|s| assert!(s.borrow().is_empty()));
    }
}
