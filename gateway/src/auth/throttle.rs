//! Throttling of failed password logins (`auth.failed_logins`), per client address and per user
//! name: one address cannot guess many passwords, and many addresses cannot guess one user's.
//! An attempt counts as a failure from the moment it starts (and is given back if it succeeds), so
//! parallel attempts cannot slip past the limit while their bcrypt verifications run. Credentials
//! already verified are never throttled (see [`crate::auth::Authenticator`]), so a user whose name
//! is under attack keeps the sessions and clients that already logged in.

use crate::config::FailedLoginsConfig;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Bound on tracked addresses and user names each; past it, expired entries are dropped, and if
/// none has expired the table starts over (an attacker able to fill it has that many addresses).
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// IPv4 addresses count alone, IPv6 ones per /64: one host usually holds a whole /64.
    Address(IpAddr),
    User(String),
}

fn address_key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V4(_) => Key::Address(ip),
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            seg[4..].fill(0);
            Key::Address(IpAddr::V6(seg.into()))
        }
    }
}

struct Window {
    start: Instant,
    failures: u32,
}

/// A refused attempt: how long until the window that refused it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

pub struct FailedLogins {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<Key, Window>>,
}

/// An attempt admitted by [`FailedLogins::begin`]; it stays counted as a failure unless
/// [`FailedLogins::succeeded`] gives it back.
#[derive(Debug)]
pub struct Attempt {
    keys: Vec<Key>,
}

impl FailedLogins {
    pub fn new(config: &FailedLoginsConfig) -> FailedLogins {
        FailedLogins {
            limit: config.limit,
            window: Duration::from_secs(config.window_secs),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Admits an attempt by `client` for `user`, counting it as a failure, or refuses it when
    /// either has used up its failures in the current window.
    pub fn begin(&self, client: Option<IpAddr>, user: &str) -> Result<Attempt, Throttled> {
        let keys: Vec<Key> = client
            .map(address_key)
            .into_iter()
            .chain(std::iter::once(Key::User(user.to_owned())))
            .collect();
        if self.limit == 0 {
            return Ok(Attempt { keys: Vec::new() });
        }
        let now = Instant::now();
        let mut windows = self.windows.lock();
        let mut wait = Duration::ZERO;
        for k in &keys {
            if let Some(w) = windows.get(k) {
                let elapsed = now.duration_since(w.start);
                if elapsed < self.window && w.failures >= self.limit {
                    wait = wait.max(self.window - elapsed);
                }
            }
        }
        if !wait.is_zero() {
            return Err(Throttled { retry_after: wait });
        }
        if windows.len() + keys.len() > 2 * MAX_TRACKED {
            windows.retain(|_, w| now.duration_since(w.start) < self.window);
            if windows.len() + keys.len() > 2 * MAX_TRACKED {
                tracing::warn!("failed-login table full; starting over");
                windows.clear();
            }
        }
        for k in &keys {
            let w = windows.entry(k.clone()).or_insert(Window {
                start: now,
                failures: 0,
            });
            if now.duration_since(w.start) >= self.window {
                *w = Window {
                    start: now,
                    failures: 0,
                };
            }
            w.failures += 1;
        }
        Ok(Attempt { keys })
    }

    /// The attempt proved the password: it does not count as a failure.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut windows = self.windows.lock();
        for k in attempt.keys {
            if let Some(w) = windows.get_mut(&k) {
                w.failures = w.failures.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(limit: u32, window_secs: u64) -> FailedLogins {
        FailedLogins::new(&FailedLoginsConfig { limit, window_secs })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn failures_are_limited_per_address_and_per_user() {
        let t = throttle(3, 60);
        for _ in 0..3 {
            t.begin(ip("1.1.1.1"), "alice").unwrap();
        }
        // The address is used up, for any user name.
        let refused = t.begin(ip("1.1.1.1"), "bob").unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(58));
        // So is the user name, from any address.
        assert!(t.begin(ip("2.2.2.2"), "alice").is_err());
        // Others are untouched.
        t.begin(ip("2.2.2.2"), "bob").unwrap();
    }

    #[test]
    fn successes_do_not_count_and_windows_end() {
        let t = throttle(2, 60);
        for _ in 0..5 {
            let a = t.begin(ip("1.1.1.1"), "alice").unwrap();
            t.succeeded(a);
        }
        let t = throttle(1, 0);
        t.begin(ip("1.1.1.1"), "alice").unwrap();
        t.begin(ip("1.1.1.1"), "alice").unwrap();
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_zero_turns_it_off() {
        let t = throttle(1, 60);
        t.begin(ip("2001:db8::1"), "a").unwrap();
        assert!(t.begin(ip("2001:db8::2"), "b").is_err());
        t.begin(ip("2001:db9::1"), "c").unwrap();
        let off = throttle(0, 60);
        for _ in 0..10 {
            off.begin(ip("1.1.1.1"), "a").unwrap();
        }
    }
}
