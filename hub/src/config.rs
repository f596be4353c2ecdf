//! The hub's configuration: one struct, built-in defaults, a `validate()` that runs before anything
//! starts. Loaded by `twinwire_common::config::load` (defaults < file < `TWINWIRE_*`).

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use twinwire_common::config::{
    load, AdminConfig, ConfigError, LogConfig, RedisConfig, ShardsConfig, REDIS_LIST_KEYS,
};

/// The built-in defaults; every key the hub reads appears here.
pub const DEFAULTS: &str = r#"
[hub]
id = ""
batch_size = 256
lease_ms = 10000
max_cached_twins = 200000

[admin]
bind = "0.0.0.0"
port = 9090

[redis]
mode = "standalone"
url = "redis://127.0.0.1:6379"
nodes = []
sentinels = []
master_name = ""
min_replicas_acked = "auto"
prefix = "tw:"
command_timeout_ms = 5000

[shards]
count = 64

[limits]
thing_bytes = 102400
policy_bytes = 102400
message_bytes = 256000

[resume]
retention_secs = 600
max_events_per_shard = 100000

[groups]
retention_secs = 60

[history]
max_events = 20
retention_secs = 86400

[search]
max_candidates = 10000

[log]
level = "info"
format = "text"
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    pub hub: HubSection,
    pub admin: AdminConfig,
    pub redis: RedisConfig,
    pub shards: ShardsConfig,
    pub limits: LimitsConfig,
    pub resume: ResumeConfig,
    pub groups: GroupsConfig,
    pub history: HistoryConfig,
    pub search: SearchConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSection {
    /// This hub's id in leases and the consumer group; empty means random per start.
    pub id: String,
    /// Command-stream entries read per round.
    pub batch_size: usize,
    /// How long a shard lease lasts without renewal; renewed every third of it.
    pub lease_ms: u64,
    /// Twins kept in memory; beyond it the least recently used are dropped.
    pub max_cached_twins: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Ditto's thing size limit (100 kB): larger ones get `things:thing.toolarge` (413).
    pub thing_bytes: usize,
    /// Ditto's policy size limit (100 kB).
    pub policy_bytes: usize,
    /// Ditto's message payload limit (250 kB).
    pub message_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeConfig {
    /// How long a shard journal keeps events (trimmed by age, approximately): how old a resume
    /// token may be (issue 16).
    pub retention_secs: u64,
    /// Approximate number of events kept per shard journal, whatever their age.
    pub max_events_per_shard: usize,
}

/// Shared subscriptions (`group=` on a START; DESIGN.md "Shared subscriptions").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsConfig {
    /// How long a shared subscription without members keeps its events for the next member;
    /// 0 drops them at once.
    pub retention_secs: u64,
}

/// How much of each twin's history Redis keeps (its `tw:{k}:history:<id>` stream). Each kept
/// event costs about its event JSON plus the twin's JSON after it plus ~80 bytes of stream
/// overhead: `max_events` × that per twin at most.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Events kept per twin (0: no history is kept).
    pub max_events: usize,
    /// Events older than this are dropped, and a twin's whole history this long after its last
    /// event (0: kept until `max_events` pushes them out).
    pub retention_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// The most thing ids a search reads from any one index key of a shard (and the most
    /// candidates it judges there); beyond it the search fails with Ditto's
    /// `thing-search:query.time.exceeded` rather than scan without bound.
    pub max_candidates: usize,
}

impl HubConfig {
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<HubConfig, ConfigError> {
        let c: HubConfig = load(DEFAULTS, file, env, REDIS_LIST_KEYS)?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.redis.validate()?;
        self.shards.validate()?;
        if self.hub.batch_size == 0 || self.hub.batch_size > 10_000 {
            return Err(ConfigError::invalid(
                "hub.batch_size",
                "must be between 1 and 10000",
            ));
        }
        if self.hub.lease_ms < 1000 {
            return Err(ConfigError::invalid(
                "hub.lease_ms",
                "must be at least 1000",
            ));
        }
        if self.groups.retention_secs > 86_400 {
            return Err(ConfigError::invalid(
                "groups.retention_secs",
                "must be at most 86400",
            ));
        }
        if self.hub.max_cached_twins == 0 {
            return Err(ConfigError::invalid(
                "hub.max_cached_twins",
                "must be positive",
            ));
        }
        if self.limits.thing_bytes < 1024 {
            return Err(ConfigError::invalid(
                "limits.thing_bytes",
                "must be at least 1024",
            ));
        }
        if self.search.max_candidates == 0 {
            return Err(ConfigError::invalid(
                "search.max_candidates",
                "must be positive",
            ));
        }
        if self.resume.max_events_per_shard < 100 {
            return Err(ConfigError::invalid(
                "resume.max_events_per_shard",
                "must be at least 100",
            ));
        }
        if self.resume.retention_secs == 0 {
            return Err(ConfigError::invalid(
                "resume.retention_secs",
                "must be positive",
            ));
        }
        if self.history.max_events > 100_000 {
            return Err(ConfigError::invalid(
                "history.max_events",
                "must be at most 100000",
            ));
        }
        self.log.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let c = HubConfig::load(None, &env(&[])).unwrap();
        assert_eq!(c.shards.count, 64);
        assert_eq!(c.limits.thing_bytes, 102400);
    }

    #[test]
    fn bad_values_and_unknown_keys_name_the_key() {
        for (k, v, key) in [
            ("TWINWIRE_HUB__LEASE_MS", "10", "hub.lease_ms"),
            ("TWINWIRE_HUB__LEASE", "10", "lease"),
            ("TWINWIRE_SHARDS__COUNT", "0", "shards.count"),
            ("TWINWIRE_ADMIN__PORT", "x", "admin.port"),
        ] {
            let e = HubConfig::load(None, &env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }
}
