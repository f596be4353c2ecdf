//! Everything the gateway and the hub must agree on: the Ditto Protocol (envelope, topics, headers,
//! errors, control frames), the things model, RQL filters, policies, the shard function and the
//! Redis bus schema, how configuration is loaded, and the scaffolding both binaries run the same way
//! (the Redis connection, the admin server).

pub mod admin;
pub mod bus;
pub mod clock;
pub mod config;
pub mod error;
pub mod format;
pub mod hops;
pub mod policy;
pub mod protocol;
pub mod redis_connection;
pub mod rql;
pub mod things;

pub use error::{DittoError, Error};
