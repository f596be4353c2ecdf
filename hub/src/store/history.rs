//! Twins' histories (`tw:{k}:history:<id>`), whose entries are the bus contract's
//! [`HistoryEntry`]. Commits append to them (the commit script, trimmed there by the configured
//! retention); history requests read a thing's whole kept history, which the retention bounds.

use super::Store;
use crate::error::HubError;
use redis::streams::StreamRangeReply;
use std::collections::HashMap;
use twinwire_common::bus::{HistoryEntry, StreamEntry};

/// One history entry to commit: the thing's history key, whether the thing was created anew (its
/// earlier history is dropped), and the entry's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryWrite {
    pub key: String,
    pub reset: bool,
    pub fields: Vec<(String, String)>,
}

/// A thing's kept history, oldest first: each entry's stream id and the entry.
pub type History = Vec<(String, HistoryEntry)>;

impl Store {
    /// The history writes to commit: none when no history is kept.
    pub(super) fn kept<'a>(&self, history: &'a [HistoryWrite]) -> &'a [HistoryWrite] {
        if self.history.max_events == 0 {
            &[]
        } else {
            history
        }
    }

    /// The commit script's history section (see `commit.lua`).
    pub(super) fn history_args(
        &self,
        inv: &mut redis::ScriptInvocation<'_>,
        history: &[HistoryWrite],
    ) {
        inv.arg(self.history.max_events)
            .arg(self.history.retention_secs.saturating_mul(1000))
            .arg(history.len());
        for h in history {
            inv.arg(if h.reset { "1" } else { "0" })
                .arg(h.fields.len() * 2);
            for (k, v) in &h.fields {
                inv.arg(k).arg(v);
            }
        }
    }

    /// The kept histories of `ids` (things of `shard`), one round trip. Entries that do not
    /// decode are skipped (logged): a history is a view, not the source of truth.
    pub async fn histories(
        &self,
        shard: u32,
        ids: &[String],
    ) -> Result<HashMap<String, History>, HubError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("XRANGE")
                .arg(self.keys.history(shard, id))
                .arg("-")
                .arg("+");
        }
        let mut conn = self.conn();
        let pages: Vec<StreamRangeReply> = self.bounded(pipe.query_async(&mut conn)).await?;
        Ok(ids
            .iter()
            .cloned()
            .zip(pages)
            .map(|(id, page)| {
                let entries = page
                    .ids
                    .into_iter()
                    .filter_map(|e| match HistoryEntry::decode(&e) {
                        Ok(h) => Some((e.id, h)),
                        Err(err) => {
                            tracing::warn!(thing = %id, id = %e.id, error = %err, "skipping a malformed history entry");
                            None
                        }
                    })
                    .collect();
                (id, entries)
            })
            .collect())
    }
}
