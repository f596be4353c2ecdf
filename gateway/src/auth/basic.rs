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

impl Htpasswd {
    pub fn open(path: &str) -> std::io::Result<Htpasswd> {
        let path = PathBuf::from(path);
        let (users, modified) = read(&path)?;
        Ok(Htpasswd {
            path,
            state: Mutex::new(State {
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

    /// Checks base64 `user:password` from an `Authorization: Basic` header.
    pub async fn authenticate(&self, encoded: &str) -> Result<AuthContext, AuthFailure> {
        let invalid = || {
            AuthFailure::new(
                "basic_invalid",
                "The provided username or password is invalid.",
                Some("Check your credentials."),
            )
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (user, password) = decoded.split_once(':').ok_or_else(invalid)?;
        self.refresh();
        let key = self.hasher.hash_one(&decoded);
        let hash = {
            let s = self.state.lock();
            if s.verified.contains(&key) {
                return Ok(context(user));
            }
            s.users.get(user).cloned()
        };
        let Some(hash) = hash else {
            return Err(invalid());
        };
        let password = password.to_owned();
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

fn context(user: &str) -> AuthContext {
    AuthContext {
        subjects: vec![format!("nginx:{user}")],
        method: AuthMethod::Basic,
        expires_at: None,
    }
}
