//! How both binaries connect to Redis: one managed connection per job (commands with a response
//! timeout, blocking reads without), reconnecting by itself with the same bounded retries, so a Redis
//! outage turns into prompt errors rather than hung callers.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;
use std::time::Duration;

/// A lazily connecting, self-reconnecting connection. `response_timeout` is `None` for a connection
/// that makes blocking reads (`XREADGROUP ... BLOCK`), which must be allowed to wait.
pub fn connection(
    client: &redis::Client,
    response_timeout: Option<Duration>,
) -> RedisResult<ConnectionManager> {
    let cfg = ConnectionManagerConfig::new()
        .set_response_timeout(response_timeout)
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_lazy_with_config(client.clone(), cfg)
}
