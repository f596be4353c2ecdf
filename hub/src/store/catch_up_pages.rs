//! First pages of the catch-up streams (subscription changes, policy updates) read in the same
//! pipeline as a round's command read, right after it (issue 13): Redis runs a connection's
//! commands in order, so the pages hold everything written before the round's commands (the
//! causality rule), and the round's catch-up costs no round trip of its own. A page is used once,
//! by the read it was made for ([`Store::read_after`](super::Store) with the same stream,
//! position and count); the next command read replaces what is left.

use redis::streams::StreamId;
use std::sync::Mutex;

/// A read of a catch-up stream to send after the command read: its stream, the position to
/// read after and how many entries at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUpRead {
    pub key: String,
    pub from: String,
    pub count: usize,
}

/// Pages read ahead, waiting for the catch-up that asks for them.
#[derive(Default)]
pub struct CatchUpPages(Mutex<Vec<(CatchUpRead, Vec<StreamId>)>>);

impl CatchUpPages {
    /// Replaces the pages waiting with `pages`.
    pub fn set(&self, pages: Vec<(CatchUpRead, Vec<StreamId>)>) {
        *self.0.lock().expect("catch-up pages") = pages;
    }

    /// The page read for exactly `read`, taken.
    pub fn take(&self, read: &CatchUpRead) -> Option<Vec<StreamId>> {
        let mut pages = self.0.lock().expect("catch-up pages");
        let i = pages.iter().position(|(r, _)| r == read)?;
        Some(pages.swap_remove(i).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(from: &str) -> CatchUpRead {
        CatchUpRead {
            key: "tw:subs".into(),
            from: from.into(),
            count: 10,
        }
    }

    #[test]
    fn a_page_serves_only_its_own_read_and_only_once() {
        let pages = CatchUpPages::default();
        pages.set(vec![(read("1-0"), Vec::new())]);
        assert!(pages.take(&read("2-0")).is_none());
        assert!(pages.take(&read("1-0")).is_some());
        assert!(pages.take(&read("1-0")).is_none());
    }
}
