//! HTTP requests waiting for their answer from the bus (`http::api`): a request is the originator
//! of its signal, so its answer arrives in this node's inbox addressed to the request's id, like a
//! session's. A smart-channel retrieve (`http::live_channel`) gets two answers, the twin's and the
//! device's, so it waits for every answer until it gives up.

use bytestring::ByteString;
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

enum Waiter {
    /// The first answer, and no other.
    First(oneshot::Sender<ByteString>),
    /// Every answer until the request is removed.
    Every(mpsc::UnboundedSender<ByteString>),
}

/// Waiting requests by request id.
#[derive(Default)]
pub struct AnswerWaiters {
    waiting: parking_lot::Mutex<HashMap<u64, Waiter>>,
}

impl AnswerWaiters {
    /// Registers an HTTP request waiting for the answer addressed to `id`.
    pub fn add(&self, id: u64) -> oneshot::Receiver<ByteString> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(id, Waiter::First(tx));
        rx
    }

    /// Registers an HTTP request taking every answer addressed to `id` until it is removed.
    pub fn add_every(&self, id: u64) -> mpsc::UnboundedReceiver<ByteString> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.waiting.lock().insert(id, Waiter::Every(tx));
        rx
    }

    /// The request gave up (or failed before its signal left).
    pub fn remove(&self, id: u64) {
        self.waiting.lock().remove(&id);
    }

    /// Hands an answer to the HTTP request `id`; for most, the first answer wins and later ones
    /// are dropped.
    pub fn complete(&self, id: u64, frame: ByteString) {
        let mut waiting = self.waiting.lock();
        match waiting.get(&id) {
            Some(Waiter::Every(tx)) => {
                let _ = tx.send(frame);
            }
            Some(Waiter::First(_)) => {
                if let Some(Waiter::First(tx)) = waiting.remove(&id) {
                    let _ = tx.send(frame);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_answer_wins_and_a_removed_request_gets_none() {
        let w = AnswerWaiters::default();
        let mut rx = w.add(1);
        w.complete(1, "a".into());
        w.complete(1, "b".into());
        assert_eq!(rx.try_recv().unwrap(), "a");
        let mut rx = w.add(2);
        w.remove(2);
        w.complete(2, "c".into());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn an_every_answer_request_takes_each_until_removed() {
        let w = AnswerWaiters::default();
        let mut rx = w.add_every(3);
        w.complete(3, "a".into());
        w.complete(3, "b".into());
        w.remove(3);
        w.complete(3, "c".into());
        assert_eq!(rx.try_recv().unwrap(), "a");
        assert_eq!(rx.try_recv().unwrap(), "b");
        assert!(rx.try_recv().is_err());
    }
}
