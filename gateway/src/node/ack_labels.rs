//! Declared acknowledgement labels are unique in the whole cluster (reference §7): a hash in Redis
//! maps each label to the one session (`<node>:<session>`) holding it. Claiming them runs the
//! bus contract's script, which takes a session's labels atomically, all or none.

use std::time::Duration;
use twinwire_common::bus::scripts;
use twinwire_common::redis_connection::RedisConnection;

/// Why labels could not be claimed.
pub enum ClaimFailed {
    /// Another session holds this label.
    Taken(String),
    /// Redis did not answer in time, or failed.
    Unavailable,
}

/// Claims `labels` in the hash `key` for `owner`, all or none.
pub async fn claim(
    mut conn: RedisConnection,
    key: String,
    owner: String,
    labels: Vec<String>,
    timeout: Duration,
) -> Result<(), ClaimFailed> {
    let script = redis::Script::new(scripts::ACQUIRE_LABELS);
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
