//! The sentinel mode's connection: a managed connection to the primary the sentinels name,
//! dropped after an error that a failover causes (the old primary unreachable, or demoted and
//! answering `READONLY`), so the next call asks the sentinels again and follows the new primary.
//! The failing call itself gets its error (the caller's usual retry or 503 applies).

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::sync::{Arc, Mutex};

/// The sentinels and the name of the primary they watch, shared by every connection.
pub struct Sentinels {
    client: tokio::sync::Mutex<SentinelClient>,
}

impl Sentinels {
    pub fn new(sentinels: &[String], master_name: &str) -> RedisResult<Sentinels> {
        let client = SentinelClient::build(
            sentinels.iter().map(String::as_str).collect(),
            master_name.to_owned(),
            None,
            SentinelServerType::Master,
        )?;
        Ok(Sentinels {
            client: tokio::sync::Mutex::new(client),
        })
    }

    /// A client for the primary the sentinels name now (they check it answers `ROLE` as master).
    async fn primary(&self) -> RedisResult<redis::Client> {
        self.client.lock().await.async_get_client().await
    }
}

/// A connection to the current primary; clones share it and see each other's re-resolution.
#[derive(Clone)]
pub struct Primary {
    sentinels: Arc<Sentinels>,
    config: ConnectionManagerConfig,
    current: Arc<Mutex<Option<ConnectionManager>>>,
}

impl Primary {
    pub fn new(sentinels: Arc<Sentinels>, config: ConnectionManagerConfig) -> Primary {
        Primary {
            sentinels,
            config,
            current: Arc::new(Mutex::new(None)),
        }
    }

    async fn get(&self) -> RedisResult<ConnectionManager> {
        // Unwrap: the lock is never held across a panic-prone call.
        if let Some(c) = self.current.lock().expect("lock").clone() {
            return Ok(c);
        }
        let client = self.sentinels.primary().await?;
        let conn = ConnectionManager::new_lazy_with_config(client, self.config.clone())?;
        *self.current.lock().expect("lock") = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the primary after an error a failover explains.
    fn check<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result {
            if failover_sign(e) {
                *self.current.lock().expect("lock") = None;
            }
        }
        result
    }
}

fn failover_sign(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.code() == Some("READONLY")
        || e.to_string().contains("READONLY")
}

impl ConnectionLike for Primary {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut conn = self.get().await?;
            let r = conn.req_packed_command(cmd).await;
            self.check(r)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.get().await?;
            let r = conn.req_packed_commands(pipeline, offset, count).await;
            // A pipeline's READONLY comes back as one of its replies, not as its error.
            if let Ok(replies) = &r {
                if replies
                    .iter()
                    .any(|v| matches!(v, Value::ServerError(e) if e.code() == "READONLY"))
                {
                    *self.current.lock().expect("lock") = None;
                }
            }
            self.check(r)
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}
