//! The gateway's error enum: failures of its own machinery (Redis, queues, configuration), and the
//! one place they become protocol errors a client sees.

use twinwire_common::config::ConfigError;
use twinwire_common::Error as ProtocolError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("the bus did not answer within {0} ms")]
    BusTimeout(u64),
    #[error("the bus write queue is full")]
    BusBusy,
    #[error("the bus writer has stopped")]
    BusClosed,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl GatewayError {
    /// What a client is told when this failure hits its request: Redis trouble is a prompt
    /// 503-class error, never silence (DESIGN.md "Sharding, failover, liveness").
    pub fn to_protocol(&self) -> ProtocolError {
        match self {
            GatewayError::Redis(_) | GatewayError::BusTimeout(_) | GatewayError::BusClosed => {
                ProtocolError::ServiceUnavailable("The twin service is temporarily unavailable: its message bus cannot be reached.".into())
            }
            GatewayError::BusBusy => ProtocolError::TooManyRequests,
            GatewayError::Config(_) | GatewayError::Io(_) => ProtocolError::Internal(self.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_failures_are_503_and_a_full_queue_is_429() {
        assert_eq!(
            GatewayError::BusTimeout(5).to_protocol().to_ditto().status,
            503
        );
        assert_eq!(GatewayError::BusClosed.to_protocol().to_ditto().status, 503);
        assert_eq!(GatewayError::BusBusy.to_protocol().to_ditto().status, 429);
    }
}
