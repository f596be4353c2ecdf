//! The cluster harness for end-to-end tests: a real `redis-server` on a free port, real
//! `twinwire-hub` and `twinwire-gateway` processes, and WebSocket clients that speak to them over
//! real sockets. Nothing is mocked. A missing tool is a test failure with a message saying what to
//! install, never a silent skip.

pub mod canary;
pub mod client;
pub mod process;

pub use client::{Client, Frame};
pub use process::{free_port, Proc};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Users every cluster knows, with their passwords (bcrypt entries are generated per run).
pub const USERS: &[(&str, &str)] = &[
    ("ditto", "ditto"),
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("carol", "carol-pw"),
];

/// Where the workspace's binaries are: next to this test executable's `deps/` directory, unless
/// `TW_BIN_DIR` says otherwise.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("TW_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} not found: build it first (`cargo build --bins`, or `make test` does it)",
        p.display()
    );
    p
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Finds a program on PATH or fails the test saying how to get it.
pub fn require_tool(name: &str, hint: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is required for this test but was not found on PATH: {hint}");
}

/// A real redis-server on a free loopback port, AOF on with fsync always (as shipped).
pub struct Redis {
    pub port: u16,
    pub dir: PathBuf,
    proc: Option<Proc>,
}

impl Redis {
    pub async fn start(dir: &Path) -> Redis {
        let port = free_port();
        let mut r = Redis {
            port,
            dir: dir.join("redis"),
            proc: None,
        };
        std::fs::create_dir_all(&r.dir).expect("redis dir");
        r.spawn().await;
        r
    }

    async fn spawn(&mut self) {
        let bin = require_tool(
            "redis-server",
            "install Debian's redis-server (`make test` does)",
        );
        let args = vec![
            "--port".to_string(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--protected-mode".into(),
            "no".into(),
        ];
        let p = Proc::spawn("redis", &bin, &args, &[], &self.dir.join("redis.log"));
        self.proc = Some(p);
        let url = self.url();
        let client = redis::Client::open(url.as_str()).expect("redis url");
        for _ in 0..200 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "redis-server did not start on port {}; see {}",
            self.port,
            self.dir.join("redis.log").display()
        );
    }

    /// The running server's process id (benchmarks read its CPU time from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Proc::pid)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// Kills the server (SIGKILL) and starts it again from its AOF.
    pub async fn restart(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
        self.spawn().await;
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }
}

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

/// Redis, hubs and gateways as real processes in a temporary directory.
pub struct Cluster {
    pub dir: PathBuf,
    pub redis: Redis,
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
    pub async fn start(options: ClusterOptions) -> Cluster {
        let dir = temp_dir("cluster");
        let redis = Redis::start(&dir).await;
        let htpasswd = dir.join("htpasswd");
        write_htpasswd(&htpasswd);
        let mut c = Cluster {
            dir,
            redis,
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
        vec![
            ("TWINWIRE_REDIS__URL".into(), self.redis.url()),
            (
                "TWINWIRE_LOG__LEVEL".into(),
                "info,twinwire_gateway=debug,twinwire_hub=debug".into(),
            ),
        ]
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
        let (http_port, admin_port) = (free_port(), free_port());
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

/// Status of a plain HTTP GET, or None if nothing answers.
pub async fn http_get_status(url: &str) -> Option<u16> {
    http_get(url).await.map(|(s, _)| s)
}

/// Status and body of a plain HTTP/1.1 GET over a fresh TCP connection.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    http_request("GET", url, &[], None).await
}

/// A minimal HTTP/1.1 request over a fresh TCP connection (Connection: close).
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(host))
        .await
        .ok()?
        .ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    if let Some(b) = body {
        s.write_all(b).await.ok()?;
    }
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(70), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = match text.split_once("\r\n\r\n") {
        Some((head, b))
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked") =>
        {
            dechunk(b)
        }
        Some((_, b)) => b.to_owned(),
        None => String::new(),
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The `/metrics` page of a gateway or hub admin port.
pub async fn scrape_metrics(admin_port: u16) -> String {
    let (status, body) = http_get(&format!("http://127.0.0.1:{admin_port}/metrics"))
        .await
        .unwrap_or_else(|| panic!("/metrics on admin port {admin_port} answers"));
    assert_eq!(status, 200, "/metrics on admin port {admin_port}");
    body
}

/// The sum of every series of `name` in a text exposition (0 when there is none).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of the one series `name{labels}` (labels exactly as exposed, e.g. `kind="connected"`),
/// or `None` when the page does not have it.
pub fn metric_series(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
}
