//! The policy-update stream (`tw:policy-updates`): every writer of a policy announces its new
//! revision there (`-1` for a deletion, the bus contract's [`PolicyUpdate`]), and every hub tails
//! it to drop stale cached enforcers.

use super::Store;
use crate::error::HubError;
use twinwire_common::bus::{DecodeError, PolicyUpdate, StreamEntry};

impl Store {
    /// The id of the newest policy update, to tail the stream from.
    pub async fn policy_updates_tail(&self) -> Result<String, HubError> {
        self.stream_tail(&self.keys.policy_updates()).await
    }

    /// Up to `count` policy updates after `from`: each entry's id and the update, or why it could
    /// not be read.
    pub async fn policy_updates_after(
        &self,
        from: &str,
        count: usize,
    ) -> Result<Vec<(String, Result<PolicyUpdate, DecodeError>)>, HubError> {
        let entries = self
            .read_after(&self.keys.policy_updates(), from, count)
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let update = PolicyUpdate::decode(&e);
                (e.id, update)
            })
            .collect())
    }
}
