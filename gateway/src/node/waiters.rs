//! HTTP requests waiting for their answer from the bus (`http::api`): a request is the originator
//! of its signal, so its answer arrives in this node's inbox addressed to the request's id, like a
//! session's.

use bytestring::ByteString;
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Waiting requests by request id.
#[derive(Default)]
pub struct AnswerWaiters {
    waiting: parking_lot::Mutex<HashMap<u64, oneshot::Sender<ByteString>>>,
}

impl AnswerWaiters {
    /// Registers an HTTP request waiting for the answer addressed to `id`.
    pub fn add(&self, id: u64) -> oneshot::Receiver<ByteString> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(id, tx);
        rx
    }

    /// The request gave up (or failed before its signal left).
    pub fn remove(&self, id: u64) {
        self.waiting.lock().remove(&id);
    }

    /// Hands an answer to the HTTP request `id`; the first answer wins, later ones are dropped.
    pub fn complete(&self, id: u64, frame: ByteString) {
        if let Some(tx) = self.waiting.lock().remove(&id) {
            let _ = tx.send(frame);
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
}
