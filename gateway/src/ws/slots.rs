//! How many WebSocket sessions a worker holds, bounded by `http.max_connections`. actix-server
//! counts a connection only while its HTTP dispatcher runs, which for a session ends at the
//! upgrade; the session's slot takes over from there and is given back when its socket closes.
//! Sessions never leave the worker thread that accepted them, so the count is per thread, like
//! actix-server's.

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    static OPEN: Cell<usize> = const { Cell::new(0) };
}

/// One session's place in its worker's count; dropping it gives the place back.
pub struct SessionSlot {
    /// Taken and given back on the same thread.
    _thread: PhantomData<*const ()>,
}

impl SessionSlot {
    /// A slot, unless this worker already holds `max` sessions.
    pub fn take(max: usize) -> Option<SessionSlot> {
        OPEN.with(|open| {
            if open.get() >= max {
                return None;
            }
            open.set(open.get() + 1);
            Some(SessionSlot {
                _thread: PhantomData,
            })
        })
    }

    /// Sessions this worker holds.
    pub fn open() -> usize {
        OPEN.with(Cell::get)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        OPEN.with(|open| open.set(open.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_given_back() {
        let base = SessionSlot::open();
        let a = SessionSlot::take(base + 2).expect("room");
        let b = SessionSlot::take(base + 2).expect("room");
        assert!(SessionSlot::take(base + 2).is_none(), "full");
        drop(a);
        assert_eq!(SessionSlot::open(), base + 1);
        let c = SessionSlot::take(base + 2).expect("a place was given back");
        drop((b, c));
        assert_eq!(SessionSlot::open(), base);
    }
}
