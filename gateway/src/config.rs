//! The gateway's configuration: one struct, built-in defaults, a `validate()` that runs before
//! anything starts. Loaded by `twinwire_common::config::load` (defaults < file < `TWINWIRE_*`).

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use twinwire_common::config::{
    load, AdminConfig, ConfigError, LogConfig, RedisConfig, ShardsConfig,
};

/// The built-in defaults; every key the gateway reads appears here.
pub const DEFAULTS: &str = r#"
[node]
id = ""

[http]
bind = "0.0.0.0"
port = 8080
workers = 0
max_connections = 250000
# Hostile clients (issue 19): browser origins, proxies trusted for the client's address and scheme,
# how long a request's headers and body may take, and how large a body may be.
allowed_origins = []
trusted_proxies = []
header_timeout_ms = 5000
body_timeout_ms = 10000
max_body_bytes = 1048576

[admin]
bind = "0.0.0.0"
port = 9080

[redis]
mode = "standalone"
url = "redis://127.0.0.1:6379"
nodes = []
sentinels = []
master_name = ""
min_replicas_acked = "auto"
prefix = "tw:"
command_timeout_ms = 2000

[shards]
count = 64

[auth.basic]
htpasswd_file = ""
realm = "twinwire"

[auth.pre_authenticated]
enabled = false
trusted_proxies = []

[auth.failed_logins]
per_address = 30
per_user = 10
window_secs = 60

[auth.jwt]
issuers = []
leeway_secs = 30
jwks_refresh_secs = 300

[ws]
ping_idle_secs = 30
client_timeout_secs = 90
max_message_bytes = 1048576
outbound_queue = 512
command_timeout_ms = 60000
search_idle_timeout_ms = 60000

[ws.subscription_limits]
max_filter_bytes = 16384
max_extra_fields_bytes = 4096
max_namespaces = 100

[ws.throttling]
limit = 0
interval_ms = 1000

[drain]
period_secs = 10

[resume]
enabled = true
secret = ""

[log]
level = "info"
format = "text"
"#;

/// Keys whose environment value is a comma-separated list.
pub const LIST_KEYS: &[&str] = &[
    "auth.pre_authenticated.trusted_proxies",
    "http.allowed_origins",
    "http.trusted_proxies",
    // twinwire_common::config::REDIS_LIST_KEYS, spelled out because a const slice cannot be
    // concatenated; the config tests check the two agree.
    "redis.nodes",
    "redis.sentinels",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub node: NodeConfig,
    pub http: HttpConfig,
    pub admin: AdminConfig,
    pub redis: RedisConfig,
    pub shards: ShardsConfig,
    pub auth: AuthConfig,
    pub ws: WsConfig,
    pub drain: DrainConfig,
    pub resume: ResumeConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This gateway's node id on the bus. Empty: a fresh random id per start, because a restarted
    /// gateway is a new node (DESIGN.md "Sharding, failover, liveness").
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: String,
    /// The public port: WebSocket endpoints and the HTTP API.
    pub port: u16,
    /// actix worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Connections per worker beyond which new ones wait; also the WebSocket sessions a worker
    /// holds (counted apart once upgraded), beyond which upgrades get 503.
    pub max_connections: usize,
    /// Browser origins besides the gateway's own that may open sessions and call the HTTP API:
    /// exact origins (`https://app.example.com`) or one leading wildcard label
    /// (`https://*.example.com`). Requests without `Origin` (non-browser clients) are not affected.
    pub allowed_origins: Vec<String>,
    /// Peer addresses (IPs or CIDRs) of the load balancers in front: their `X-Forwarded-For` names
    /// the client (for failed-login throttling) and their `X-Forwarded-Proto` the scheme (for the
    /// same-origin check). Anyone else's forwarding headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Time a client has to send a request's headers (slow-header clients are cut off).
    pub header_timeout_ms: u64,
    /// Time an authenticated HTTP API request has to send its whole body.
    pub body_timeout_ms: u64,
    /// Largest HTTP API request body.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub basic: BasicAuthConfig,
    pub failed_logins: FailedLoginsConfig,
    pub pre_authenticated: PreAuthConfig,
    pub jwt: JwtConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// An htpasswd file with bcrypt entries (`htpasswd -B`); empty disables HTTP Basic.
    pub htpasswd_file: String,
    pub realm: String,
}

/// Throttling of failed HTTP Basic logins, counted per client address and per user name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedLoginsConfig {
    /// Failed logins allowed per client address within a window; 0 turns this limit off. Higher
    /// than `per_user` because many users may share an address (NAT, a proxy not listed in
    /// `http.trusted_proxies`).
    pub per_address: u32,
    /// Failed logins allowed per user name within a window; 0 turns this limit off.
    pub per_user: u32,
    /// The window, from the first failure; further attempts get 429 until it ends.
    pub window_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreAuthConfig {
    /// Trust `x-ditto-pre-authenticated` at all.
    pub enabled: bool,
    /// Peer addresses (IPs or CIDRs) allowed to send it.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuers: Vec<JwtIssuerConfig>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// How long fetched keys are trusted before they are fetched again.
    pub jwks_refresh_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// The `iss` claim to accept.
    pub issuer: String,
    /// Subjects become `<subject_prefix>:<sub>`.
    pub subject_prefix: String,
    /// Accepted `aud` values; empty accepts any.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// A local JWKS file; alternative to discovery.
    #[serde(default)]
    pub jwks_file: String,
    /// Base URL whose `/.well-known/openid-configuration` names the `jwks_uri`; default: `issuer`.
    #[serde(default)]
    pub discovery_url: String,
    /// Allowed algorithms among RS256, ES256, HS256.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The shared secret for HS256; only used when HS256 is listed.
    #[serde(default)]
    pub hs256_secret: String,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsConfig {
    /// Ping a session whose client has sent nothing for this long, whatever the server sends,
    /// and one with no outgoing traffic for this long (Ditto: 30 s).
    pub ping_idle_secs: u64,
    /// Close a session after this long without any incoming frame (pongs count).
    pub client_timeout_secs: u64,
    /// Largest accepted message, after joining fragments.
    pub max_message_bytes: usize,
    /// Frames queued for one session before it counts as a slow consumer and is closed.
    pub outbound_queue: usize,
    /// Default and maximum wait for an answer to a signal that is routed to other sessions.
    pub command_timeout_ms: u64,
    /// A search subscription without a `request` for this long fails with Ditto's
    /// `thing-search:subscription.timeout` (Ditto: 60 s).
    pub search_idle_timeout_ms: u64,
    pub subscription_limits: SubscriptionLimitsConfig,
    pub throttling: ThrottlingConfig,
}

/// Bounds on what one START-SEND-* may ask for. Every subscription is stored in Redis (its
/// node's hash and the change stream) and held in every hub's memory, so its size is bounded
/// before anything is written; a session holds at most one subscription per streaming kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionLimitsConfig {
    /// Longest `filter` (RQL), in bytes.
    pub max_filter_bytes: usize,
    /// Longest `extraFields` selector, in bytes.
    pub max_extra_fields_bytes: usize,
    /// Most entries in `namespaces`.
    pub max_namespaces: usize,
}

/// Per-session inbound rate limit, as Ditto's `streaming.websocket.throttling` (off by default
/// there too): frames over `limit` per `interval_ms` are answered with `too.many.requests` and
/// not handled, so one session cannot monopolize its worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottlingConfig {
    /// Frames a session may send per interval; 0 turns the limit off.
    pub limit: u32,
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainConfig {
    /// On SIGTERM, sessions are closed spread over this period.
    pub period_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeConfig {
    /// Resume tokens on (issue 16). false: events carry no `twinwire-resume` header, sessions do
    /// no position work at all, and a `resume=` START is refused (400).
    pub enabled: bool,
    /// The key resume tokens are signed with, the same on every gateway. Empty: the first gateway
    /// stores a random one in Redis and every other reads it there.
    pub secret: String,
}

impl GatewayConfig {
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<GatewayConfig, ConfigError> {
        let c: GatewayConfig = load(DEFAULTS, file, env, LIST_KEYS)?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.redis.validate()?;
        self.shards.validate()?;
        if self.http.port != 0 && self.http.port == self.admin.port {
            return Err(ConfigError::invalid(
                "admin.port",
                "must differ from http.port",
            ));
        }
        self.validate_hostile_clients()?;
        if self.ws.ping_idle_secs == 0 {
            return Err(ConfigError::invalid(
                "ws.ping_idle_secs",
                "must be positive",
            ));
        }
        // At least two pings fit into the timeout, so one lost pong does not end a healthy session.
        if self.ws.client_timeout_secs < 2 * self.ws.ping_idle_secs {
            return Err(ConfigError::invalid(
                "ws.client_timeout_secs",
                "must be at least twice ws.ping_idle_secs",
            ));
        }
        if self.ws.max_message_bytes < 1024 {
            return Err(ConfigError::invalid(
                "ws.max_message_bytes",
                "must be at least 1024",
            ));
        }
        if self.ws.outbound_queue == 0 {
            return Err(ConfigError::invalid(
                "ws.outbound_queue",
                "must be positive",
            ));
        }
        if self.ws.search_idle_timeout_ms < 100 {
            return Err(ConfigError::invalid(
                "ws.search_idle_timeout_ms",
                "must be at least 100",
            ));
        }
        if self.ws.command_timeout_ms == 0 || self.ws.command_timeout_ms > 600_000 {
            return Err(ConfigError::invalid(
                "ws.command_timeout_ms",
                "must be between 1 and 600000",
            ));
        }
        self.validate_session_limits()?;
        if !self.auth.basic.htpasswd_file.is_empty()
            && !Path::new(&self.auth.basic.htpasswd_file).is_file()
        {
            return Err(ConfigError::invalid(
                "auth.basic.htpasswd_file",
                format!("{} is not a readable file", self.auth.basic.htpasswd_file),
            ));
        }
        if self.auth.pre_authenticated.enabled
            && self.auth.pre_authenticated.trusted_proxies.is_empty()
        {
            return Err(ConfigError::invalid(
                "auth.pre_authenticated.trusted_proxies",
                "must list at least one address when pre-authentication is enabled",
            ));
        }
        for (i, p) in self
            .auth
            .pre_authenticated
            .trusted_proxies
            .iter()
            .enumerate()
        {
            if crate::cidr::parse(p).is_none() {
                return Err(ConfigError::invalid(
                    &format!("auth.pre_authenticated.trusted_proxies[{i}]"),
                    format!("'{p}' is not an IP or CIDR"),
                ));
            }
        }
        for (i, iss) in self.auth.jwt.issuers.iter().enumerate() {
            let key = |k: &str| format!("auth.jwt.issuers[{i}].{k}");
            if iss.issuer.is_empty() {
                return Err(ConfigError::invalid(&key("issuer"), "must not be empty"));
            }
            if iss.subject_prefix.is_empty() || iss.subject_prefix.contains(':') {
                return Err(ConfigError::invalid(
                    &key("subject_prefix"),
                    "must be non-empty without ':'",
                ));
            }
            for a in &iss.algorithms {
                if !["RS256", "ES256", "HS256"].contains(&a.as_str()) {
                    return Err(ConfigError::invalid(
                        &key("algorithms"),
                        format!("unsupported algorithm '{a}'"),
                    ));
                }
            }
            if iss.algorithms.iter().any(|a| a == "HS256") && iss.hs256_secret.is_empty() {
                return Err(ConfigError::invalid(
                    &key("hs256_secret"),
                    "is required when HS256 is allowed",
                ));
            }
        }
        if self.auth.basic.htpasswd_file.is_empty()
            && self.auth.jwt.issuers.is_empty()
            && !self.auth.pre_authenticated.enabled
        {
            return Err(ConfigError::invalid(
                "auth",
                "no authentication is configured: set auth.basic.htpasswd_file, auth.jwt.issuers or auth.pre_authenticated",
            ));
        }
        self.log.validate()
    }

    /// The keys that bound what hostile clients can do over HTTP (issue 19).
    fn validate_hostile_clients(&self) -> Result<(), ConfigError> {
        for (i, o) in self.http.allowed_origins.iter().enumerate() {
            if let Err(why) = crate::origin::Pattern::parse(o) {
                return Err(ConfigError::invalid(
                    &format!("http.allowed_origins[{i}]"),
                    format!("'{o}' {why}"),
                ));
            }
        }
        for (i, p) in self.http.trusted_proxies.iter().enumerate() {
            if crate::cidr::parse(p).is_none() {
                return Err(ConfigError::invalid(
                    &format!("http.trusted_proxies[{i}]"),
                    format!("'{p}' is not an IP or CIDR"),
                ));
            }
        }
        for (key, ms) in [
            ("http.header_timeout_ms", self.http.header_timeout_ms),
            ("http.body_timeout_ms", self.http.body_timeout_ms),
        ] {
            if ms == 0 || ms > 600_000 {
                return Err(ConfigError::invalid(key, "must be between 1 and 600000"));
            }
        }
        if self.http.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "http.max_body_bytes",
                "must be at least 1024",
            ));
        }
        let logins = &self.auth.failed_logins;
        if (logins.per_address > 0 || logins.per_user > 0) && logins.window_secs == 0 {
            return Err(ConfigError::invalid(
                "auth.failed_logins.window_secs",
                "must be positive when a failed-login limit is set",
            ));
        }
        Ok(())
    }

    /// The per-session limits of `ws.subscription_limits` and `ws.throttling`.
    fn validate_session_limits(&self) -> Result<(), ConfigError> {
        let l = &self.ws.subscription_limits;
        for (key, value, min) in [
            (
                "ws.subscription_limits.max_filter_bytes",
                l.max_filter_bytes,
                64,
            ),
            (
                "ws.subscription_limits.max_extra_fields_bytes",
                l.max_extra_fields_bytes,
                64,
            ),
            ("ws.subscription_limits.max_namespaces", l.max_namespaces, 1),
        ] {
            if value < min {
                return Err(ConfigError::invalid(key, format!("must be at least {min}")));
            }
        }
        let t = &self.ws.throttling;
        if t.interval_ms == 0 || t.interval_ms > 3_600_000 {
            return Err(ConfigError::invalid(
                "ws.throttling.interval_ms",
                "must be between 1 and 3600000",
            ));
        }
        Ok(())
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

    fn with_htpasswd(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let f = std::env::temp_dir().join(format!("tw-gw-cfg-{}.htpasswd", std::process::id()));
        std::fs::write(&f, "").unwrap();
        let mut e = env(extra);
        e.insert(
            "TWINWIRE_AUTH__BASIC__HTPASSWD_FILE".into(),
            f.display().to_string(),
        );
        e
    }

    #[test]
    fn redis_address_lists_are_list_keys() {
        for k in twinwire_common::config::REDIS_LIST_KEYS {
            assert!(LIST_KEYS.contains(k), "{k}");
        }
    }

    #[test]
    fn defaults_load_when_an_authentication_method_is_set() {
        let c = GatewayConfig::load(None, &with_htpasswd(&[])).unwrap();
        assert_eq!(c.http.port, 8080);
        assert_eq!(c.admin.port, 9080);
        assert_eq!(c.shards.count, 64);
        assert_eq!(c.redis.prefix, "tw:");
        // Ditto ships its WebSocket throttling off; so does twinwire.
        assert_eq!(c.ws.throttling.limit, 0);
        assert_eq!(c.ws.subscription_limits.max_filter_bytes, 16384);
    }

    #[test]
    fn bad_values_and_unknown_keys_name_the_key() {
        let table = [
            (vec![("TWINWIRE_HTTP__PORT", "http")], "http.port"),
            (vec![("TWINWIRE_HTTP__PROT", "1")], "prot"),
            (vec![("TWINWIRE_REDIS__URL", "localhost:6379")], "redis.url"),
            (vec![("TWINWIRE_ADMIN__PORT", "8080")], "admin.port"),
            (
                vec![("TWINWIRE_WS__CLIENT_TIMEOUT_SECS", "40")],
                "ws.client_timeout_secs",
            ),
            (
                vec![("TWINWIRE_WS__SUBSCRIPTION_LIMITS__MAX_FILTER_BYTES", "10")],
                "ws.subscription_limits.max_filter_bytes",
            ),
            (
                vec![("TWINWIRE_WS__THROTTLING__INTERVAL_MS", "0")],
                "ws.throttling.interval_ms",
            ),
            (
                vec![("TWINWIRE_AUTH__PRE_AUTHENTICATED__ENABLED", "true")],
                "auth.pre_authenticated.trusted_proxies",
            ),
            (
                vec![(
                    "TWINWIRE_AUTH__PRE_AUTHENTICATED__TRUSTED_PROXIES",
                    "nonsense",
                )],
                "trusted_proxies[0]",
            ),
            (
                vec![(
                    "TWINWIRE_AUTH__BASIC__HTPASSWD_FILE",
                    "/nonexistent/htpasswd",
                )],
                "auth.basic.htpasswd_file",
            ),
            (
                vec![("TWINWIRE_HTTP__ALLOWED_ORIGINS", "https://ok.example,evil")],
                "http.allowed_origins[1]",
            ),
            (
                vec![("TWINWIRE_HTTP__TRUSTED_PROXIES", "proxy")],
                "http.trusted_proxies[0]",
            ),
            (
                vec![("TWINWIRE_HTTP__BODY_TIMEOUT_MS", "0")],
                "http.body_timeout_ms",
            ),
            (
                vec![("TWINWIRE_AUTH__FAILED_LOGINS__WINDOW_SECS", "0")],
                "auth.failed_logins.window_secs",
            ),
        ];
        for (pairs, key) in table {
            let mut e = with_htpasswd(&[]);
            for (k, v) in pairs {
                e.insert(k.to_string(), v.to_string());
            }
            let err = GatewayConfig::load(None, &e).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn no_authentication_at_all_is_refused() {
        let err = GatewayConfig::load(None, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no authentication is configured"), "{err}");
    }
}
