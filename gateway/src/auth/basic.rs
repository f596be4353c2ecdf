//! HTTP Basic against an htpasswd file with bcrypt entries (`htpasswd -B`), yielding the subject
//! `nginx:<user>` that Ditto's nginx setup forwards. bcrypt is slow on purpose, so verifications run
//! off the worker threads and successful ones are remembered (by a keyed hash of the credentials,
//! never the password itself) until the file changes.

use super::{AuthContext, AuthFailure, AuthMethod};
use base64::Engine;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// How often the file's modification time is looked at.
const RELOAD_CHECK: Duration = Duration::from_secs(2);
/// Bound on remembered verifications; the cache is simply cleared when it is full.
const CACHE_LIMIT: usize = 100_000;

pub struct Htpasswd {
    path: PathBuf,
    state: Mutex<State>,
    hasher: RandomState,
}

struct State {
    users: HashMap<String, String>,
    /// A stored hash of the file's most common cost, verified for unknown users so that they cost
    /// as much as a wrong password: timing must not tell a valid user name from an unknown one.
    decoy: Option<String>,
    modified: Option<SystemTime>,
    checked: Instant,
    verified: HashSet<u64>,
}

fn read(path: &PathBuf) -> std::io::Result<(HashMap<String, String>, Option<SystemTime>)> {
    let text = std::fs::read_to_string(path)?;
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, hash))
                if hash.starts_with("$2y$")
                    || hash.starts_with("$2a$")
                    || hash.starts_with("$2b$") =>
            {
                users.insert(user.to_owned(), hash.to_owned());
            }
            Some((user, _)) => {
                tracing::warn!(file = %path.display(), line = i + 1, user, "htpasswd entry is not bcrypt (use `htpasswd -B`); ignored")
            }
            None => {
                tracing::warn!(file = %path.display(), line = i + 1, "malformed htpasswd line ignored")
            }
        }
    }
    Ok((users, modified))
}

/// The hash an unknown user's password is verified against: one of the file's own hashes with the
/// cost most of its entries use (bcrypt's time depends on the cost alone). The answer is refused
/// whatever the verification says.
fn decoy(users: &HashMap<String, String>) -> Option<String> {
    let cost = |h: &str| h.get(4..6).and_then(|c| c.parse::<u32>().ok());
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for h in users.values() {
        if let Some(c) = cost(h) {
            *counts.entry(c).or_default() += 1;
        }
    }
    let (modal, _) = counts
        .into_iter()
        .max_by_key(|&(c, n)| (n, std::cmp::Reverse(c)))?;
    let mut candidates: Vec<&String> = users.values().filter(|h| cost(h) == Some(modal)).collect();
    candidates.sort();
    candidates.first().map(|h| (*h).clone())
}

impl Htpasswd {
    pub fn open(path: &str) -> std::io::Result<Htpasswd> {
        let path = PathBuf::from(path);
        let (users, modified) = read(&path)?;
        Ok(Htpasswd {
            path,
            state: Mutex::new(State {
                decoy: decoy(&users),
                users,
                modified,
                checked: Instant::now(),
                verified: HashSet::new(),
            }),
            hasher: RandomState::new(),
        })
    }

    fn refresh(&self) {
        let mut s = self.state.lock();
        if s.checked.elapsed() < RELOAD_CHECK {
            return;
        }
        s.checked = Instant::now();
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != s.modified {
            match read(&self.path) {
                Ok((users, modified)) => {
                    s.decoy = decoy(&users);
                    s.users = users;
                    s.modified = modified;
                    s.verified.clear();
                    tracing::info!(file = %self.path.display(), "htpasswd reloaded");
                }
                Err(e) => {
                    tracing::warn!(file = %self.path.display(), error = %e, "htpasswd reload failed; keeping the old users")
                }
            }
        }
    }

    /// The context of credentials (base64 `user:password`) verified before, without verifying.
    pub fn remembered(&self, encoded: &str) -> Option<AuthContext> {
        let decoded = decode(encoded)?;
        let (user, _) = decoded.split_once(':')?;
        self.refresh();
        let key = self.hasher.hash_one(&decoded);
        self.state
            .lock()
            .verified
            .contains(&key)
            .then(|| context(user))
    }

    /// A keyed hash of base64 credentials: equal for equal credentials, telling nothing else.
    pub fn credentials_key(&self, encoded: &str) -> u64 {
        self.hasher.hash_one(encoded)
    }

    /// Checks base64 `user:password` from an `Authorization: Basic` header.
    pub async fn authenticate(&self, encoded: &str) -> Result<AuthContext, AuthFailure> {
        let invalid = || {
            AuthFailure::new(
                "basic_invalid",
                "The provided username or password is invalid.",
                Some("Check your credentials."),
            )
        };
        let decoded = decode(encoded).ok_or_else(invalid)?;
        let (user, password) = decoded.split_once(':').ok_or_else(invalid)?;
        self.refresh();
        let key = self.hasher.hash_one(&decoded);
        let (hash, decoy) = {
            let s = self.state.lock();
            if s.verified.contains(&key) {
                return Ok(context(user));
            }
            (s.users.get(user).cloned(), s.decoy.clone())
        };
        let password = password.to_owned();
        let Some(hash) = hash else {
            if let Some(decoy) = decoy {
                let _ = actix_web::web::block(move || bcrypt::verify(password, &decoy)).await;
            }
            return Err(invalid());
        };
        let ok = actix_web::web::block(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(invalid());
        }
        let mut s = self.state.lock();
        if s.verified.len() >= CACHE_LIMIT {
            s.verified.clear();
        }
        s.verified.insert(key);
        Ok(context(user))
    }
}

fn decode(encoded: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The user name in base64 `user:password` credentials, if they decode.
pub fn user_name(encoded: &str) -> Option<String> {
    let decoded = decode(encoded)?;
    decoded.split_once(':').map(|(u, _)| u.to_owned())
}

fn context(user: &str) -> AuthContext {
    AuthContext {
        subjects: vec![format!("nginx:{user}")],
        method: AuthMethod::Basic,
        expires_at: None,
        audiences: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_has_the_cost_most_entries_use() {
        let mut users = HashMap::new();
        assert_eq!(decoy(&users), None);
        users.insert("a".to_owned(), "$2y$05$aaaa".to_owned());
        users.insert("b".to_owned(), "$2y$12$bbbb".to_owned());
        users.insert("c".to_owned(), "$2y$12$cccc".to_owned());
        assert_eq!(decoy(&users).as_deref(), Some("$2y$12$bbbb"));
    }
}
