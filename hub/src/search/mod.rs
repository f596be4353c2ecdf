//! Things search at the shard owner (DESIGN.md "Search index"): the index entries a twin adds to
//! its shard's index ([`index`]), the answer to a gateway's query on the shard's command stream
//! ([`query`]), and the indexing of twins written before the index existed ([`backfill`]). A query is an entry of the command stream like any command, so it is
//! fenced by the lease and ordered after every command written before it: a search sent after a
//! write's answer sees that write.

pub mod backfill;
pub mod index;
pub mod query;

pub use index::{entries_of, IdsChange, IndexUpdate};
pub use query::SearchBatch;
