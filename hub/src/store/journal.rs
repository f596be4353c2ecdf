//! A shard's event journal (`tw:{k}:events`): one field per entry, holding the journal entry's
//! JSON (`shard::journal` gives it its shape). Commits append to it (`commit.lua`); a takeover
//! reads what lies after the `fanned` marker.

use super::Store;
use crate::error::HubError;
use redis::streams::StreamRangeReply;

/// The field of a journal entry that holds its JSON.
const JOURNAL_FIELD: &str = "d";

/// The fields of one journal entry, as the commit writes them.
pub fn journal_fields(json: String) -> Vec<(String, String)> {
    vec![(JOURNAL_FIELD.to_owned(), json)]
}

impl Store {
    /// Up to `count` journal entries of `shard` after `after` (from the start when `None`): each
    /// entry's id and its JSON, if it has one.
    pub async fn journal_after(
        &self,
        shard: u32,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, Option<String>)>, HubError> {
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
                let data: Option<String> = e.get(JOURNAL_FIELD);
                (e.id, data)
            })
            .collect())
    }
}
