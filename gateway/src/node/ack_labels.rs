//! Declared acknowledgement labels are unique in the whole cluster (reference §7): a hash in Redis
//! maps each label to the one session (`<node>:<session>`) holding it. These scripts take and give
//! back a session's labels atomically.

use redis::aio::ConnectionManager;
use std::time::Duration;

/// Takes every label for `ARGV[1]` (`<node>:<session>`) or none; returns the first label someone
/// else holds.
const ACQUIRE_LABELS: &str = r#"
for i = 2, #ARGV do
  local holder = redis.call('HGET', KEYS[1], ARGV[i])
  if holder and holder ~= ARGV[1] then return ARGV[i] end
end
for i = 2, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end
return false
"#;

/// Gives back the labels `ARGV[1]` still holds.
pub const RELEASE_LABELS: &str = r#"
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
"#;

/// Why labels could not be claimed.
pub enum ClaimFailed {
    /// Another session holds this label.
    Taken(String),
    /// Redis did not answer in time, or failed.
    Unavailable,
}

/// Claims `labels` in the hash `key` for `owner`, all or none.
pub async fn claim(
    mut conn: ConnectionManager,
    key: String,
    owner: String,
    labels: Vec<String>,
    timeout: Duration,
) -> Result<(), ClaimFailed> {
    let script = redis::Script::new(ACQUIRE_LABELS);
    let mut inv = script.prepare_invoke();
    inv.key(key).arg(owner);
    for l in &labels {
        inv.arg(l);
    }
    match tokio::time::timeout(timeout, inv.invoke_async::<Option<String>>(&mut conn)).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(taken))) => Err(ClaimFailed::Taken(taken)),
        _ => Err(ClaimFailed::Unavailable),
    }
}
