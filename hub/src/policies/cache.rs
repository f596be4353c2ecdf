//! Policies as the hub uses them: stored documents with revisions, and a cache of compiled
//! enforcers keyed by policy id. Writers announce every new revision on `tw:policy-updates`; every
//! hub catches up on it before handling a batch, so a policy change takes effect for commands and
//! live sessions at once (issue: "compiled enforcers are invalidated by revision").

use crate::error::HubError;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use twinwire_common::bus::{shard_of, Keys};
use twinwire_common::policy::{Enforcer, Policy};

/// The stored form of a policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPolicy {
    #[serde(rename = "p")]
    pub json: Value,
    #[serde(rename = "r")]
    pub revision: i64,
    #[serde(rename = "c")]
    pub created: String,
    #[serde(rename = "m")]
    pub modified: String,
}

/// A policy ready for use.
pub struct CachedPolicy {
    pub id: String,
    pub stored: StoredPolicy,
    pub policy: Policy,
    pub enforcer: Enforcer,
}

impl CachedPolicy {
    pub fn new(id: &str, stored: StoredPolicy) -> Result<CachedPolicy, HubError> {
        let policy = Policy::from_stored_json(&stored.json)
            .map_err(|e| HubError::Corrupt(format!("policy {id}: {}", e.message)))?;
        let enforcer = Enforcer::new(&policy);
        Ok(CachedPolicy {
            id: id.to_owned(),
            stored,
            policy,
            enforcer,
        })
    }

    pub fn etag(&self) -> String {
        format!("\"rev:{}\"", self.stored.revision)
    }
}

/// Policy updates read per round trip of a catch-up.
const CATCH_UP_PAGE: usize = 1000;

pub struct PolicyCache {
    keys: Keys,
    shards: u32,
    cached: HashMap<String, Arc<CachedPolicy>>,
    last_update: String,
}

impl PolicyCache {
    pub fn new(keys: Keys, shards: u32) -> PolicyCache {
        PolicyCache {
            keys,
            shards,
            cached: HashMap::new(),
            last_update: "0-0".into(),
        }
    }

    pub fn key(&self, id: &str) -> String {
        self.keys.policy(shard_of(id, self.shards), id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<CachedPolicy>> {
        self.cached.get(id).cloned()
    }

    pub fn put(&mut self, p: CachedPolicy) {
        self.put_arc(Arc::new(p));
    }

    pub fn put_arc(&mut self, p: Arc<CachedPolicy>) {
        self.cached.insert(p.id.clone(), p);
    }

    pub fn forget(&mut self, id: &str) {
        self.cached.remove(id);
    }

    /// Loads the policies in `ids` that are not cached.
    pub async fn prefetch(&mut self, store: &Store, ids: &[String]) -> Result<(), HubError> {
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !self.cached.contains_key(*id))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = missing.iter().map(|id| self.key(id)).collect();
        let values = store.get_many(&keys).await?;
        for (id, v) in missing.iter().zip(values) {
            if let Some(s) = v {
                let stored: StoredPolicy = serde_json::from_str(&s)
                    .map_err(|e| HubError::Corrupt(format!("policy {id}: {e}")))?;
                match CachedPolicy::new(id, stored) {
                    Ok(p) => self.put(p),
                    Err(e) => {
                        tracing::warn!(policy = %id, error = %e, "stored policy does not parse; treating it as absent")
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts tailing policy updates from now.
    pub async fn start(&mut self, store: &Store) -> Result<(), HubError> {
        self.last_update = store.policy_updates_tail().await?;
        Ok(())
    }

    /// The first read of [`Self::catch_up`], to send with a round's command read (issue 13).
    pub fn catch_up_read(&self, keys: &twinwire_common::bus::Keys) -> crate::store::CatchUpRead {
        crate::store::CatchUpRead {
            key: keys.policy_updates(),
            from: self.last_update.clone(),
            count: CATCH_UP_PAGE,
        }
    }

    /// Drops cached policies that another writer changed since the last call.
    pub async fn catch_up(&mut self, store: &Store) -> Result<(), HubError> {
        loop {
            let updates = store
                .policy_updates_after(&self.last_update, CATCH_UP_PAGE)
                .await?;
            let n = updates.len();
            for (entry, update) in updates {
                match update {
                    Ok(u) => {
                        let current = self.cached.get(&u.id).map(|p| p.stored.revision);
                        if current != Some(u.revision) {
                            self.cached.remove(&u.id);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(id = %entry, %error, "skipping malformed policy update")
                    }
                }
                self.last_update = entry;
            }
            if n < CATCH_UP_PAGE {
                return Ok(());
            }
        }
    }
}
