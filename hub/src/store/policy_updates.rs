//! The policy-update stream (`tw:policy-updates`): every writer of a policy announces its new
//! revision there (`-1` for a deletion), and every hub tails it to drop stale cached enforcers.

use super::Store;
use crate::error::HubError;

/// Entries of the policy-update stream kept (approximately).
pub const UPDATES_MAXLEN: usize = 100_000;

/// One announced policy revision.
pub struct PolicyUpdate {
    /// The entry's stream id.
    pub entry: String,
    pub policy_id: Option<String>,
    pub revision: Option<i64>,
}

impl Store {
    /// The id of the newest policy update, to tail the stream from.
    pub async fn policy_updates_tail(&self) -> Result<String, HubError> {
        self.stream_tail(&self.keys.policy_updates()).await
    }

    /// Up to `count` policy updates after `from`.
    pub async fn policy_updates_after(
        &self,
        from: &str,
        count: usize,
    ) -> Result<Vec<PolicyUpdate>, HubError> {
        let entries = self
            .read_after(&self.keys.policy_updates(), from, count)
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| PolicyUpdate {
                policy_id: e.get("id"),
                revision: e.get("rev"),
                entry: e.id,
            })
            .collect())
    }
}
