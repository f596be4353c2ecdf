//! A cluster of real processes: Redis, hubs and gateways in a temporary directory, with the test
//! users' htpasswd, each process started with its own ports and awaited until `/ready`; the logs
//! are printed when a test fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::Client;
use crate::http::http_get_status;
use crate::locate::binary;
use crate::process::{free_port, Proc};
use crate::redis_server::Redis;

/// Users every cluster knows, with their passwords (bcrypt entries are generated per run).
pub const USERS: &[(&str, &str)] = &[
    ("ditto", "ditto"),
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("carol", "carol-pw"),
];

/// A running gateway node.
pub struct Gateway {
    pub proc: Proc,
    pub http_port: u16,
    pub admin_port: u16,
}

/// A running hub.
pub struct Hub {
    pub proc: Proc,
    pub admin_port: u16,
}

/// Options for [`Cluster::start`].
#[derive(Clone)]
pub struct ClusterOptions {
    pub hubs: usize,
    pub gateways: usize,
    /// Extra `TWINWIRE_*` settings for every gateway.
    pub gateway_env: Vec<(String, String)>,
    /// Extra `TWINWIRE_*` settings for every hub.
    pub hub_env: Vec<(String, String)>,
    /// A configuration file (TOML) for every gateway, passed with `--config`.
    pub gateway_config: Option<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            hubs: 1,
            gateways: 2,
            gateway_env: Vec::new(),
            hub_env: Vec::new(),
            gateway_config: None,
        }
    }
}

/// The environment variable that switches [`Cluster::start`] to a Redis Cluster
/// (`TWINWIRE_TEST_REDIS=cluster`): the binary's shared Redis Cluster (see `redis_cluster`) with a
/// key prefix of the test's own. `make test` runs the core end-to-end suite both ways.
pub const REDIS_SWITCH: &str = "TWINWIRE_TEST_REDIS";

/// Which Redis the twinwire processes of a [`Cluster`] use.
#[derive(Clone, Debug)]
pub enum RedisBackend {
    /// The cluster's own `redis-server` (`Cluster::redis`).
    Standalone,
    /// A Redis Cluster: its seed nodes, comma-separated.
    Cluster { seeds: String },
    /// A primary watched by sentinels: their addresses, comma-separated, and the primary's name.
    Sentinel { sentinels: String, master: String },
}

impl RedisBackend {
    /// What [`REDIS_SWITCH`] asks for; standalone when it is unset.
    pub async fn from_switch() -> RedisBackend {
        match std::env::var(REDIS_SWITCH).as_deref() {
            Ok("cluster") => RedisBackend::Cluster {
                seeds: crate::redis_cluster::shared_seeds().await,
            },
            Ok("standalone") | Err(_) => RedisBackend::Standalone,
            Ok(other) => panic!("{REDIS_SWITCH}={other}: use standalone or cluster"),
        }
    }
}

/// Redis, hubs and gateways as real processes in a temporary directory.
pub struct Cluster {
    pub dir: PathBuf,
    /// The cluster's own `redis-server`; the twinwire processes use it when `backend` is
    /// standalone.
    pub redis: Redis,
    pub backend: RedisBackend,
    /// This cluster's key prefix (unique per cluster, as clusters may share a Redis Cluster).
    pub prefix: String,
    pub hubs: Vec<Hub>,
    pub gateways: Vec<Gateway>,
    pub htpasswd: PathBuf,
    pub options: ClusterOptions,
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "twinwire-test-{tag}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Writes an htpasswd file with bcrypt entries for [`USERS`] (cost 4: tests need no slow hashes).
pub fn write_htpasswd(path: &Path) {
    let mut s = String::new();
    for (u, p) in USERS {
        let h = bcrypt::hash(p, 4).expect("bcrypt");
        s.push_str(&format!("{u}:{h}\n"));
    }
    std::fs::write(path, s).expect("htpasswd");
}

impl Cluster {
    /// Starts a cluster on the Redis [`REDIS_SWITCH`] asks for.
    pub async fn start(options: ClusterOptions) -> Cluster {
        Cluster::start_with(options, RedisBackend::from_switch().await).await
    }

    /// Starts a cluster whose twinwire processes use `backend`.
    pub async fn start_with(options: ClusterOptions, backend: RedisBackend) -> Cluster {
        let dir = temp_dir("cluster");
        let redis = Redis::start(&dir).await;
        let htpasswd = dir.join("htpasswd");
        write_htpasswd(&htpasswd);
        let mut c = Cluster {
            dir,
            redis,
            backend: backend.clone(),
            // A Redis of its own keeps the default prefix (tests read `tw:` keys directly).
            prefix: match &backend {
                RedisBackend::Standalone => "tw:".to_owned(),
                _ => format!("tw{}:", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            },
            hubs: Vec::new(),
            gateways: Vec::new(),
            htpasswd,
            options: options.clone(),
        };
        for _ in 0..options.hubs {
            c.add_hub().await;
        }
        for _ in 0..options.gateways {
            c.add_gateway().await;
        }
        c
    }

    fn common_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("TWINWIRE_REDIS__URL".into(), self.redis.url()),
            (
                "TWINWIRE_LOG__LEVEL".into(),
                "info,twinwire_gateway=debug,twinwire_hub=debug".into(),
            ),
        ];
        match &self.backend {
            RedisBackend::Standalone => {}
            RedisBackend::Cluster { seeds } => {
                env.push(("TWINWIRE_REDIS__MODE".into(), "cluster".into()));
                env.push(("TWINWIRE_REDIS__NODES".into(), seeds.clone()));
                env.push(("TWINWIRE_REDIS__PREFIX".into(), self.prefix.clone()));
            }
            RedisBackend::Sentinel { sentinels, master } => {
                env.push(("TWINWIRE_REDIS__MODE".into(), "sentinel".into()));
                env.push(("TWINWIRE_REDIS__SENTINELS".into(), sentinels.clone()));
                env.push(("TWINWIRE_REDIS__MASTER_NAME".into(), master.clone()));
                env.push(("TWINWIRE_REDIS__PREFIX".into(), self.prefix.clone()));
            }
        }
        env
    }

    pub async fn add_hub(&mut self) -> usize {
        let i = self.hubs.len();
        let admin_port = free_port();
        let mut env = self.common_env();
        env.push(("TWINWIRE_ADMIN__PORT".into(), admin_port.to_string()));
        env.push(("TWINWIRE_ADMIN__BIND".into(), "127.0.0.1".into()));
        env.push((
            "TWINWIRE_HUB__ID".into(),
            format!("hub{i}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]),
        ));
        env.push(("TWINWIRE_HUB__LEASE_MS".into(), "3000".into()));
        env.extend(self.options.hub_env.iter().cloned());
        let proc = Proc::spawn(
            &format!("hub{i}"),
            &binary("twinwire-hub"),
            &[],
            &env,
            &self.dir.join(format!("hub{i}.log")),
        );
        wait_ready(admin_port, &proc).await;
        self.hubs.push(Hub { proc, admin_port });
        i
    }

    pub async fn add_gateway(&mut self) -> usize {
        let i = self.gateways.len();
        // Two calls may hand out the same port (each is free when asked); the gateway refuses that.
        let http_port = free_port();
        let admin_port = std::iter::repeat_with(free_port)
            .find(|p| *p != http_port)
            .expect("a second free port");
        let mut env = self.common_env();
        env.push(("TWINWIRE_HTTP__PORT".into(), http_port.to_string()));
        env.push(("TWINWIRE_HTTP__BIND".into(), "127.0.0.1".into()));
        env.push(("TWINWIRE_HTTP__WORKERS".into(), "2".into()));
        env.push(("TWINWIRE_ADMIN__PORT".into(), admin_port.to_string()));
        env.push(("TWINWIRE_ADMIN__BIND".into(), "127.0.0.1".into()));
        env.push((
            "TWINWIRE_AUTH__BASIC__HTPASSWD_FILE".into(),
            self.htpasswd.display().to_string(),
        ));
        env.push(("TWINWIRE_DRAIN__PERIOD_SECS".into(), "1".into()));
        env.extend(self.options.gateway_env.iter().cloned());
        let mut args = Vec::new();
        if let Some(toml) = &self.options.gateway_config {
            let path = self.dir.join("gateway.toml");
            std::fs::write(&path, toml).expect("gateway config");
            args.push("--config".to_string());
            args.push(path.display().to_string());
        }
        let proc = Proc::spawn(
            &format!("gw{i}"),
            &binary("twinwire-gateway"),
            &args,
            &env,
            &self.dir.join(format!("gw{i}.log")),
        );
        wait_ready(admin_port, &proc).await;
        self.gateways.push(Gateway {
            proc,
            http_port,
            admin_port,
        });
        i
    }

    pub fn ws_url(&self, gw: usize) -> String {
        format!("ws://127.0.0.1:{}/ws/2", self.gateways[gw].http_port)
    }

    pub fn http_base(&self, gw: usize) -> String {
        format!("http://127.0.0.1:{}", self.gateways[gw].http_port)
    }

    /// A WebSocket session on gateway `gw` as `user` (one of [`USERS`]).
    pub async fn connect(&self, gw: usize, user: &str) -> Client {
        let pass = USERS
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("unknown test user {user}"));
        Client::connect_basic(&self.ws_url(gw), user, pass)
            .await
            .unwrap_or_else(|e| panic!("connect to gw{gw} as {user}: {e}"))
    }

    /// Prints every process log; called by tests on failure paths and useful when debugging.
    pub fn dump_logs(&self) {
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(80).collect();
                eprintln!("===== {} (last {} lines) =====", p.display(), tail.len());
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        for g in &mut self.gateways {
            g.proc.kill();
        }
        for h in &mut self.hubs {
            h.proc.kill();
        }
        self.redis.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Waits for `/ready` on an admin port, failing if the process exits first.
pub async fn wait_ready(admin_port: u16, proc: &Proc) {
    let url = format!("http://127.0.0.1:{admin_port}/ready");
    for _ in 0..400 {
        if proc.has_exited() {
            panic!(
                "{} exited before becoming ready; log: {}",
                proc.name,
                proc.log_tail(40)
            );
        }
        if http_get_status(&url).await == Some(200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{} did not become ready; log: {}",
        proc.name,
        proc.log_tail(40)
    );
}
