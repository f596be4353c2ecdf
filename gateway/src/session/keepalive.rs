//! Keep-alive both ways. The timeout is about the client: a session whose client sent nothing
//! (no frame, no pong) for `ws.client_timeout_secs` is closed. So the ping that lets a healthy but
//! silent client prove it is there must go out whenever the *client* has been silent for
//! `ws.ping_idle_secs`, whatever the server is sending: a listener that only receives steady
//! events would otherwise never be pinged and be cut off at the timeout. A ping also goes out
//! after `ws.ping_idle_secs` without outgoing traffic, as Ditto's does, so idle connections stay
//! open through proxies. At most one ping per `ping_idle`.

use std::time::{Duration, Instant};

/// What the heartbeat should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Beat {
    Nothing,
    Ping,
    /// The client sent nothing for the whole timeout.
    TimedOut,
}

pub(super) struct KeepAlive {
    /// When the client last sent any frame (pongs included).
    last_in: Instant,
    /// When the session last queued a ping.
    last_ping: Instant,
}

impl Default for KeepAlive {
    fn default() -> Self {
        let now = Instant::now();
        KeepAlive {
            last_in: now,
            last_ping: now,
        }
    }
}

impl KeepAlive {
    /// The client sent a frame.
    pub fn heard(&mut self, now: Instant) {
        self.last_in = now;
    }

    /// Decides at `now`, given how long nothing was queued for the client; a `Ping` is counted as
    /// sent.
    pub fn beat(
        &mut self,
        now: Instant,
        outbound_idle: Duration,
        ping_idle: Duration,
        client_timeout: Duration,
    ) -> Beat {
        let silent = now.saturating_duration_since(self.last_in);
        if silent > client_timeout {
            return Beat::TimedOut;
        }
        let since_ping = now.saturating_duration_since(self.last_ping);
        if since_ping >= ping_idle && (silent >= ping_idle || outbound_idle >= ping_idle) {
            self.last_ping = now;
            return Beat::Ping;
        }
        Beat::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: Duration = Duration::from_secs(30);
    const TIMEOUT: Duration = Duration::from_secs(90);
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_silent_client_is_pinged_even_while_the_server_sends() {
        let t0 = Instant::now();
        let mut k = KeepAlive::default();
        k.heard(t0);
        // The server sends all the time (outbound never idle); the client says nothing.
        assert_eq!(
            k.beat(t0 + 10 * S, Duration::ZERO, PING, TIMEOUT),
            Beat::Nothing
        );
        assert_eq!(
            k.beat(t0 + 31 * S, Duration::ZERO, PING, TIMEOUT),
            Beat::Ping
        );
        // No second ping before `ping_idle` has passed again.
        assert_eq!(
            k.beat(t0 + 41 * S, Duration::ZERO, PING, TIMEOUT),
            Beat::Nothing
        );
        // Its pong keeps the session alive.
        k.heard(t0 + 42 * S);
        assert_eq!(
            k.beat(t0 + 100 * S, Duration::ZERO, PING, TIMEOUT),
            Beat::Ping
        );
        assert_eq!(
            k.beat(t0 + 125 * S, Duration::ZERO, PING, TIMEOUT),
            Beat::Nothing
        );
        // No answer at all: closed after the timeout.
        assert_eq!(
            k.beat(t0 + 133 * S, Duration::ZERO, PING, TIMEOUT),
            Beat::TimedOut
        );
    }

    #[test]
    fn an_idle_connection_is_pinged_though_the_client_talks() {
        let t0 = Instant::now();
        let mut k = KeepAlive::default();
        k.heard(t0 + 30 * S);
        assert_eq!(k.beat(t0 + 31 * S, 31 * S, PING, TIMEOUT), Beat::Ping);
        k.heard(t0 + 50 * S);
        assert_eq!(k.beat(t0 + 51 * S, 20 * S, PING, TIMEOUT), Beat::Nothing);
    }
}
