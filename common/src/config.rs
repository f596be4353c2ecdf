//! Loading configuration the same way in every binary: built-in defaults, then an optional file
//! (TOML or YAML, by extension), then `TWINWIRE_*` environment variables with `__` between levels
//! (`TWINWIRE_REDIS__URL` → `redis.url`). The environment is a parameter so loading is testable.
//!
//! Structs deserialized from here use `#[serde(deny_unknown_fields)]`, so a misspelt key stops
//! the process at start with a message naming it instead of being silently ignored.

use config::{Config, Environment, File, FileFormat};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::Path;

pub const ENV_PREFIX: &str = "TWINWIRE";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Layers `defaults` (TOML text), the file at `file` and the `TWINWIRE_*` variables of `env`.
/// `list_keys` names keys whose environment value is a comma-separated list.
pub fn load<T: DeserializeOwned>(
    defaults: &str,
    file: Option<&Path>,
    env: &HashMap<String, String>,
    list_keys: &[&str],
) -> Result<T, ConfigError> {
    let mut b = Config::builder().add_source(File::from_str(defaults, FileFormat::Toml));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::Load(format!(
                "the file {} does not exist",
                path.display()
            )));
        }
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") | Some("yml") => FileFormat::Yaml,
            Some("toml") => FileFormat::Toml,
            _ => {
                return Err(ConfigError::Load(format!(
                    "{}: use a .toml, .yaml or .yml file",
                    path.display()
                )))
            }
        };
        b = b.add_source(File::from(path).format(format));
    }
    let ours: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}_")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut e = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .source(Some(ours));
    if !list_keys.is_empty() {
        e = e.list_separator(",");
        for k in list_keys {
            e = e.with_list_parse_key(k);
        }
    }
    b = b.add_source(e);
    let cfg = b.build().map_err(|e| ConfigError::Load(e.to_string()))?;
    cfg.try_deserialize::<T>()
        .map_err(|e| ConfigError::Load(e.to_string()))
}

/// The keys whose environment value is a comma-separated list of Redis addresses
/// (`TWINWIRE_REDIS__NODES=redis://a:7000,redis://b:7000`); both binaries pass them to [`load`].
pub const REDIS_LIST_KEYS: &[&str] = &["redis.nodes", "redis.sentinels"];

/// How the binaries reach Redis: one server, a Redis Cluster, or a primary found through Sentinel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One server at `redis.url` (replicas, if any, are not known to twinwire).
    #[default]
    Standalone,
    /// A Redis Cluster reached through the seed nodes `redis.nodes`; the 64 shards' hash tags
    /// spread over its primaries.
    Cluster,
    /// The primary named `redis.master_name`, asked of the sentinels `redis.sentinels` and asked
    /// again after a failover.
    Sentinel,
}

/// Shared settings of the Redis connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `standalone` (default), `cluster` or `sentinel`.
    #[serde(default)]
    pub mode: RedisMode,
    /// `redis://host:port/db`; standalone mode only.
    pub url: String,
    /// Cluster mode: seed nodes (`redis://host:port`); any reachable one finds the others.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Sentinel mode: the sentinels' addresses (`redis://host:port`).
    #[serde(default)]
    pub sentinels: Vec<String>,
    /// Sentinel mode: the name the sentinels monitor the primary under.
    #[serde(default)]
    pub master_name: String,
    /// How many replicas must have a commit (Redis `WAIT` on the shard's primary) before its
    /// command is answered. Unset: 0 in standalone mode, 1 in cluster and sentinel mode when the
    /// primaries have replicas at start. While fewer are reachable, commands wait
    /// `command_timeout_ms` and are answered 503: durability before availability. Written as a
    /// number or `auto` (`None` here).
    #[serde(default, deserialize_with = "auto_or_count")]
    pub min_replicas_acked: Option<u32>,
    /// Prefix of every key (default `tw:`), so several clusters can share one Redis.
    pub prefix: String,
    /// How long one Redis round trip may take before the caller gives up (and a client gets a
    /// 503-class error instead of silence).
    pub command_timeout_ms: u64,
}

/// How entities are spread over shards. Every gateway and hub of a cluster must agree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardsConfig {
    pub count: u32,
}

impl ShardsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=4096).contains(&self.count) {
            return Err(ConfigError::invalid(
                "shards.count",
                "must be between 1 and 4096",
            ));
        }
        Ok(())
    }
}

/// `auto` (→ `None`) or a count, as a number or a numeric string (environment values).
fn auto_or_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    use serde::Deserialize;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum AutoOrCount {
        Count(u32),
        Word(String),
    }
    match AutoOrCount::deserialize(d)? {
        AutoOrCount::Count(n) => Ok(Some(n)),
        AutoOrCount::Word(w) if w == "auto" => Ok(None),
        AutoOrCount::Word(w) => w
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("`{w}`: use a number or auto"))),
    }
}

fn is_redis_url(url: &str) -> bool {
    url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")
}

impl RedisConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_redis_url(&self.url) {
            return Err(ConfigError::invalid(
                "redis.url",
                format!("'{}' is not a redis:// URL", self.url),
            ));
        }
        let (key, list) = match self.mode {
            RedisMode::Standalone => ("", &Vec::new()),
            RedisMode::Cluster => ("redis.nodes", &self.nodes),
            RedisMode::Sentinel => ("redis.sentinels", &self.sentinels),
        };
        if !key.is_empty() {
            if list.is_empty() {
                return Err(ConfigError::invalid(
                    key,
                    "needs at least one redis:// address in this redis.mode",
                ));
            }
            if let Some(bad) = list.iter().find(|u| !is_redis_url(u)) {
                return Err(ConfigError::invalid(
                    key,
                    format!("'{bad}' is not a redis:// URL"),
                ));
            }
        }
        if self.mode == RedisMode::Sentinel && self.master_name.is_empty() {
            return Err(ConfigError::invalid(
                "redis.master_name",
                "names the monitored primary in sentinel mode",
            ));
        }
        if self.prefix.is_empty() || self.prefix.contains(['{', '}', ' ']) {
            return Err(ConfigError::invalid(
                "redis.prefix",
                "must be non-empty without braces or spaces",
            ));
        }
        if self.command_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "redis.command_timeout_ms",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// The admin server's address (`/metrics`, `/alive`, `/ready`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub bind: String,
    /// `/metrics`, `/alive`, `/ready`.
    pub port: u16,
}

/// How a binary logs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter directive, e.g. `info` or `twinwire_gateway=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl LogConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !["text", "json"].contains(&self.format.as_str()) {
            return Err(ConfigError::invalid(
                "log.format",
                "must be 'text' or 'json'",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        redis: RedisConfig,
        http: Http,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Http {
        port: u16,
        tags: Vec<String>,
    }

    const DEFAULTS: &str = "[redis]\nmin_replicas_acked = \"auto\"\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"tw:\"\ncommand_timeout_ms = 1000\n[http]\nport = 8080\ntags = []\n";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults_with_double_underscore_levels() {
        let s: Sample = load(
            DEFAULTS,
            None,
            &env(&[
                ("TWINWIRE_REDIS__URL", "redis://10.0.0.1:7000"),
                ("TWINWIRE_HTTP__PORT", "9000"),
                ("OTHER", "x"),
            ]),
            &["http.tags"],
        )
        .unwrap();
        assert_eq!(s.redis.url, "redis://10.0.0.1:7000");
        assert_eq!(s.http.port, 9000);
    }

    #[test]
    fn environment_lists_split_on_commas() {
        let s: Sample = load(
            DEFAULTS,
            None,
            &env(&[("TWINWIRE_HTTP__TAGS", "a,b")]),
            &["http.tags"],
        )
        .unwrap();
        assert_eq!(s.http.tags, vec!["a", "b"]);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = load::<Sample>(DEFAULTS, None, &env(&[("TWINWIRE_HTTP__PROT", "1")]), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("prot"), "{e}");
        let e = load::<Sample>(
            DEFAULTS,
            None,
            &env(&[("TWINWIRE_HTTP__PORT", "eighty")]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http.port"), "{e}");
    }

    #[test]
    fn files_override_defaults_and_env_overrides_files() {
        let dir = std::env::temp_dir().join(format!("twcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = dir.join("c.yaml");
        std::fs::write(&yaml, "http:\n  port: 7000\n").unwrap();
        let s: Sample = load(DEFAULTS, Some(&yaml), &env(&[]), &[]).unwrap();
        assert_eq!(s.http.port, 7000);
        let s: Sample = load(
            DEFAULTS,
            Some(&yaml),
            &env(&[("TWINWIRE_HTTP__PORT", "7001")]),
            &[],
        )
        .unwrap();
        assert_eq!(s.http.port, 7001);
        let toml = dir.join("c.toml");
        std::fs::write(&toml, "[redis]\nnope = 1\n").unwrap();
        let e = load::<Sample>(DEFAULTS, Some(&toml), &env(&[]), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
        assert!(load::<Sample>(DEFAULTS, Some(&dir.join("missing.toml")), &env(&[]), &[]).is_err());
    }

    #[test]
    fn redis_config_validation_names_the_key() {
        let bad = RedisConfig {
            mode: RedisMode::Standalone,
            url: "http://x".into(),
            nodes: Vec::new(),
            sentinels: Vec::new(),
            master_name: String::new(),
            min_replicas_acked: None,
            prefix: "tw:".into(),
            command_timeout_ms: 1,
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("redis.url"));
        let cluster_without_nodes = RedisConfig {
            mode: RedisMode::Cluster,
            url: "redis://127.0.0.1:6379".into(),
            ..bad.clone()
        };
        assert!(cluster_without_nodes
            .validate()
            .unwrap_err()
            .to_string()
            .contains("redis.nodes"));
        let sentinel_without_name = RedisConfig {
            mode: RedisMode::Sentinel,
            sentinels: vec!["redis://127.0.0.1:26379".into()],
            ..cluster_without_nodes
        };
        assert!(sentinel_without_name
            .validate()
            .unwrap_err()
            .to_string()
            .contains("redis.master_name"));
    }

    #[test]
    fn redis_nodes_and_sentinels_are_comma_separated_lists_in_the_environment() {
        let s: Sample = load(
            DEFAULTS,
            None,
            &env(&[
                ("TWINWIRE_REDIS__MODE", "cluster"),
                (
                    "TWINWIRE_REDIS__NODES",
                    "redis://127.0.0.1:7000,redis://127.0.0.1:7001",
                ),
                ("TWINWIRE_REDIS__SENTINELS", "redis://127.0.0.1:26379"),
                ("TWINWIRE_REDIS__MIN_REPLICAS_ACKED", "2"),
            ]),
            REDIS_LIST_KEYS,
        )
        .unwrap();
        assert_eq!(s.redis.mode, RedisMode::Cluster);
        assert_eq!(
            s.redis.nodes,
            vec!["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
        assert_eq!(s.redis.sentinels, vec!["redis://127.0.0.1:26379"]);
        assert_eq!(s.redis.min_replicas_acked, Some(2));
        s.redis.validate().unwrap();
    }
}
