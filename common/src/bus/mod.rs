//! The Redis bus between gateways and hubs: key names, the shard function, and the entry formats.

pub mod keys;
pub mod schema;
pub mod shard;

pub use keys::{Keys, HUB_GROUP};
pub use schema::{
    BusCommand, Delivery, JournalPos, Origin, Reply, SubChange, SubRecord, CMD_FIELD,
};
pub use shard::{shard_of, DEFAULT_SHARDS};
