//! A shard's event journal (`tw:{k}:events`), whose entries are the bus contract's
//! [`JournalEntry`]. Commits append to it (the commit script); a takeover reads what lies after the
//! `fanned` marker.

use super::Store;
use crate::error::HubError;
use redis::streams::StreamRangeReply;
use twinwire_common::bus::{DecodeError, JournalEntry, StreamEntry};

impl Store {
    /// Up to `count` journal entries of `shard` after `after` (from the start when `None`): each
    /// entry's id and the entry, or why it could not be read.
    pub async fn journal_after(
        &self,
        shard: u32,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, Result<JournalEntry, DecodeError>)>, HubError> {
        let from = match after {
            Some(f) => format!("({f}"),
            None => "-".to_string(),
        };
        let page: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.keys.events(shard))
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn())
            .await?;
        Ok(page
            .ids
            .into_iter()
            .map(|e| {
                let entry = JournalEntry::decode(&e);
                (e.id, entry)
            })
            .collect())
    }
}
