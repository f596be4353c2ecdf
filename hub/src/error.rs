//! The hub's error enum: failures of its own machinery. Protocol errors a client sees are
//! `twinwire_common::Error`; this is what can go wrong around them.

use twinwire_common::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("shard {0}: the lease is held by another hub (fenced)")]
    Fenced(u32),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("shard {shard}: {acked} of the {wanted} replicas acknowledged the commit in time")]
    Replicas { shard: u32, acked: i64, wanted: u32 },
    #[error("redis did not answer within {0} ms")]
    Timeout(u64),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing a batch's deliveries did not finish: {0}")]
    DeliveryTask(#[from] tokio::task::JoinError),
}
