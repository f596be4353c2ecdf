//! The per-session inbound rate limit (`ws.throttling`, Ditto's `streaming.websocket.throttling`):
//! at most `limit` frames per `interval`, counted in fixed windows as Ditto's rate limiter does.
//! Frames over the limit are refused with `too.many.requests` (429) and a `retry-after` header
//! before any parsing, so a flooding session costs its worker little and cannot monopolize it.
//! Off (limit 0) by default, as in Ditto, so no benchmark writer is ever limited.

use std::time::{Duration, Instant};

/// Ditto's header on `too.many.requests`: seconds until a retry may succeed. (Kept here rather
/// than in `protocol::headers::names` while that module is being changed elsewhere.)
pub(super) const RETRY_AFTER: &str = "retry-after";

pub(super) struct Throttle {
    limit: u32,
    interval: Duration,
    window_start: Instant,
    used: u32,
}

impl Throttle {
    pub fn new(limit: u32, interval: Duration) -> Throttle {
        Throttle {
            limit,
            interval,
            window_start: Instant::now(),
            used: 0,
        }
    }

    /// Counts a frame received at `now`: `Ok` when it is within the limit, else the time until the
    /// window ends (what `retry-after` says).
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= self.interval {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.limit {
            self.used += 1;
            return Ok(());
        }
        Err(self.interval.saturating_sub(elapsed))
    }
}

/// `retry-after` in whole seconds, at least 1 (Ditto's header is in seconds).
pub(super) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_over_the_limit_wait_for_the_next_window() {
        let mut t = Throttle::new(3, Duration::from_secs(1));
        let t0 = t.window_start;
        for _ in 0..3 {
            assert_eq!(t.admit(t0), Ok(()));
        }
        let wait = t.admit(t0 + Duration::from_millis(400)).unwrap_err();
        assert_eq!(wait, Duration::from_millis(600));
        assert_eq!(retry_after_secs(wait), 1);
        assert_eq!(t.admit(t0 + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn a_limit_of_zero_is_off() {
        let mut t = Throttle::new(0, Duration::from_secs(1));
        let now = Instant::now();
        assert!((0..100_000).all(|_| t.admit(now).is_ok()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
