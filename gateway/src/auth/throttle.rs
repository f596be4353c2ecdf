//! Throttling of failed password logins (`auth.failed_logins`), per client address and per user
//! name: one address cannot guess many passwords, and many addresses cannot guess one user's.
//!
//! Failures count when they happen. So that parallel guesses cannot all slip past the limit while
//! their bcrypt verifications run, a user name's distinct passwords being verified count against
//! its limit too; identical credentials in flight count once, so a fleet of devices reconnecting
//! with the same password at once is not refused. The address limit counts completed failures only:
//! many users behind one NAT logging in at once must not refuse each other. Credentials verified
//! before are never throttled (see [`crate::auth::Authenticator`]), so a user whose name is under
//! attack keeps the clients that already logged in.

use crate::config::FailedLoginsConfig;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Bound on tracked addresses and user names; past it, expired entries are dropped, and if none
/// has expired the table starts over (an attacker able to fill it has that many addresses).
const MAX_TRACKED: usize = 200_000;
/// What a client refused because of verifications in flight is told to wait.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(1);

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

/// Which limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    PerAddress,
    PerUser,
}

/// A refused attempt: the limit that refused it (and its value), and how long until trying again
/// can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub limit: Limit,
    pub value: u32,
    pub retry_after: Duration,
}

#[derive(Default)]
struct Tables {
    windows: HashMap<Key, Window>,
    /// Per user name, the (keyed hashes of the) credentials being verified right now.
    in_flight: HashMap<String, HashSet<u64>>,
}

pub struct FailedLogins {
    per_address: u32,
    per_user: u32,
    window: Duration,
    tables: Mutex<Tables>,
}

/// An admitted attempt. It counts as a failure unless [`Attempt::succeeded`] is called before it
/// is dropped (a client that hangs up during verification has failed).
pub struct Attempt<'a> {
    throttle: Option<&'a FailedLogins>,
    address: Option<Key>,
    user: String,
    credentials: u64,
    owns_flight: bool,
    ok: bool,
}

impl std::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt").field("user", &self.user).finish()
    }
}

impl Attempt<'_> {
    pub fn succeeded(mut self) {
        self.ok = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.throttle {
            t.finish(self);
        }
    }
}

impl FailedLogins {
    pub fn new(config: &FailedLoginsConfig) -> FailedLogins {
        FailedLogins {
            per_address: config.per_address,
            per_user: config.per_user,
            window: Duration::from_secs(config.window_secs),
            tables: Mutex::new(Tables::default()),
        }
    }

    /// The failures of `key` in its current window and how long that window still runs.
    fn failures(&self, t: &Tables, key: &Key, now: Instant) -> (u32, Duration) {
        match t.windows.get(key) {
            Some(w) if now.duration_since(w.start) < self.window => {
                (w.failures, self.window - now.duration_since(w.start))
            }
            _ => (0, Duration::ZERO),
        }
    }

    /// Admits an attempt by `client` for `user` with `credentials` (a keyed hash of them), or
    /// refuses it when the address or the user name has used up its failures.
    pub fn begin(
        &self,
        client: Option<IpAddr>,
        user: &str,
        credentials: u64,
    ) -> Result<Attempt<'_>, Throttled> {
        let mut attempt = Attempt {
            throttle: None,
            address: client.map(address_key),
            user: user.to_owned(),
            credentials,
            owns_flight: false,
            ok: false,
        };
        if self.per_address == 0 && self.per_user == 0 {
            return Ok(attempt);
        }
        // A limit of 0 is off: no count ever reaches it.
        let cap = |l: u32| if l == 0 { u32::MAX } else { l };
        let now = Instant::now();
        let mut t = self.tables.lock();
        let user_key = Key::User(user.to_owned());
        let (user_failures, user_wait) = self.failures(&t, &user_key, now);
        let (addr_failures, addr_wait) = match &attempt.address {
            Some(k) => self.failures(&t, k, now),
            None => (0, Duration::ZERO),
        };
        let mut refused: Option<Throttled> = None;
        for (failures, wait, limit, value) in [
            (
                addr_failures,
                addr_wait,
                Limit::PerAddress,
                self.per_address,
            ),
            (user_failures, user_wait, Limit::PerUser, self.per_user),
        ] {
            if failures >= cap(value) && refused.is_none_or(|r| r.retry_after < wait) {
                refused = Some(Throttled {
                    limit,
                    value,
                    retry_after: wait,
                });
            }
        }
        if let Some(r) = refused {
            return Err(r);
        }
        let flying = t.in_flight.get(user);
        if !flying.is_some_and(|f| f.contains(&credentials)) {
            let others = flying.map_or(0, HashSet::len) as u32;
            if user_failures.saturating_add(others) >= cap(self.per_user) {
                return Err(Throttled {
                    limit: Limit::PerUser,
                    value: self.per_user,
                    retry_after: IN_FLIGHT_WAIT,
                });
            }
            t.in_flight
                .entry(user.to_owned())
                .or_default()
                .insert(credentials);
            attempt.owns_flight = true;
        }
        attempt.throttle = Some(self);
        Ok(attempt)
    }

    fn finish(&self, a: &Attempt<'_>) {
        let now = Instant::now();
        let mut t = self.tables.lock();
        if a.owns_flight {
            if let Some(f) = t.in_flight.get_mut(&a.user) {
                f.remove(&a.credentials);
                if f.is_empty() {
                    t.in_flight.remove(&a.user);
                }
            }
        }
        if a.ok {
            return;
        }
        if t.windows.len() + 2 > MAX_TRACKED {
            let window = self.window;
            t.windows
                .retain(|_, w| now.duration_since(w.start) < window);
            if t.windows.len() + 2 > MAX_TRACKED {
                tracing::warn!("failed-login table full; starting over");
                t.windows.clear();
            }
        }
        let keys = a
            .address
            .iter()
            .cloned()
            .chain(std::iter::once(Key::User(a.user.clone())));
        for k in keys {
            let w = t.windows.entry(k).or_insert(Window {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(limit: u32, window_secs: u64) -> FailedLogins {
        FailedLogins::new(&FailedLoginsConfig {
            per_address: limit,
            per_user: limit,
            window_secs,
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn fail(t: &FailedLogins, client: &str, user: &str, creds: u64) {
        drop(t.begin(ip(client), user, creds).unwrap());
    }

    #[test]
    fn failures_are_limited_per_address_and_per_user() {
        let t = throttle(3, 60);
        for i in 0..3 {
            fail(&t, "1.1.1.1", "alice", i);
        }
        // The address is used up, for any user name.
        let refused = t.begin(ip("1.1.1.1"), "bob", 9).unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(58));
        assert_eq!((refused.limit, refused.value), (Limit::PerAddress, 3));
        // So is the user name, from any address.
        let refused = t.begin(ip("2.2.2.2"), "alice", 9).unwrap_err();
        assert_eq!(refused.limit, Limit::PerUser);
        // Others are untouched.
        t.begin(ip("2.2.2.2"), "bob", 9).unwrap().succeeded();
    }

    #[test]
    fn successes_do_not_count_and_windows_end() {
        let t = throttle(2, 60);
        for _ in 0..5 {
            t.begin(ip("1.1.1.1"), "alice", 1).unwrap().succeeded();
        }
        let t = throttle(1, 0);
        fail(&t, "1.1.1.1", "alice", 1);
        fail(&t, "1.1.1.1", "alice", 1);
    }

    #[test]
    fn parallel_guesses_for_one_user_are_bounded_but_identical_credentials_are_not() {
        let t = throttle(3, 60);
        let flying: Vec<_> = (0..3)
            .map(|i| t.begin(ip(&format!("1.1.1.{i}")), "alice", i).unwrap())
            .collect();
        assert_eq!(
            t.begin(ip("2.2.2.2"), "alice", 7).unwrap_err().retry_after,
            IN_FLIGHT_WAIT
        );
        // A reconnect storm with the same credentials is admitted.
        let same: Vec<_> = (0..50)
            .map(|_| t.begin(ip("3.3.3.3"), "alice", 0).unwrap())
            .collect();
        for a in same.into_iter().chain(flying) {
            a.succeeded();
        }
        t.begin(ip("2.2.2.2"), "alice", 7).unwrap().succeeded();
        // Many users behind one address logging in at once do not refuse each other.
        let crowd: Vec<_> = (0..50)
            .map(|i| t.begin(ip("4.4.4.4"), &format!("u{i}"), i).unwrap())
            .collect();
        crowd.into_iter().for_each(Attempt::succeeded);
    }

    #[test]
    fn the_two_limits_are_separate() {
        let t = FailedLogins::new(&FailedLoginsConfig {
            per_address: 0,
            per_user: 2,
            window_secs: 60,
        });
        for i in 0..10 {
            fail(&t, "1.1.1.1", &format!("u{i}"), 1);
            fail(&t, "1.1.1.1", &format!("u{i}"), 2);
        }
        assert_eq!(
            t.begin(ip("2.2.2.2"), "u0", 3).unwrap_err().limit,
            Limit::PerUser
        );
        t.begin(ip("1.1.1.1"), "v", 1).unwrap().succeeded();
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_zero_turns_it_off() {
        let t = throttle(1, 60);
        fail(&t, "2001:db8::1", "a", 1);
        assert!(t.begin(ip("2001:db8::2"), "b", 1).is_err());
        t.begin(ip("2001:db9::1"), "c", 1).unwrap().succeeded();
        let off = throttle(0, 60);
        for _ in 0..10 {
            fail(&off, "1.1.1.1", "a", 1);
        }
    }
}
