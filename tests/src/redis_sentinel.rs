//! A real Sentinel setup on free loopback ports: a primary, one replica and three sentinels
//! (`redis-server --sentinel`) watching it as `twinwire`, with a short down-after time so
//! failover tests are quick. Tests kill the primary (SIGKILL) and restart it from its directory;
//! the sentinels make it a replica of the promoted one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::locate::require_tool;
use crate::process::{free_port, Proc};

/// The name the sentinels watch the primary under.
pub const MASTER_NAME: &str = "twinwire";

struct Server {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    proc: Option<Proc>,
}

impl Server {
    fn spawn(&mut self, name: &str) {
        let bin = require_tool(
            "redis-server",
            "install Debian's redis-server (`make test` does)",
        );
        self.proc = Some(Proc::spawn(
            name,
            &bin,
            &self.args,
            &[],
            &self.dir.join("redis.log"),
        ));
    }
}

/// A primary, its replica and three sentinels.
pub struct RedisSentinel {
    /// `servers[0]` is the primary at start, `servers[1]` its replica.
    servers: Vec<Server>,
    sentinels: Vec<Server>,
    pub dir: PathBuf,
}

fn data_args(port: u16, dir: &Path) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &dir.display().to_string(),
        "--protected-mode",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn wait_ping(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("redis url");
    for _ in 0..400 {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            if redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok()
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("redis-server did not start on port {port}");
}

impl RedisSentinel {
    pub async fn start(dir: &Path) -> RedisSentinel {
        let dir = dir.join("redis-sentinel");
        let mut servers = Vec::new();
        for i in 0..2 {
            let port = free_port();
            let d = dir.join(format!("server{i}"));
            std::fs::create_dir_all(&d).expect("server dir");
            let mut args = data_args(port, &d);
            if i == 1 {
                args.extend([
                    "--replicaof".to_string(),
                    "127.0.0.1".into(),
                    servers
                        .first()
                        .map(|s: &Server| s.port.to_string())
                        .expect("the primary"),
                ]);
            }
            let mut s = Server {
                port,
                dir: d,
                args,
                proc: None,
            };
            s.spawn(&format!("redis{i}"));
            wait_ping(port).await;
            servers.push(s);
        }
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let d = dir.join(format!("sentinel{i}"));
            std::fs::create_dir_all(&d).expect("sentinel dir");
            let conf = d.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 4000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    d.display(),
                    servers[0].port
                ),
            )
            .expect("sentinel.conf");
            let mut s = Server {
                port,
                dir: d,
                args: vec![conf.display().to_string(), "--sentinel".into()],
                proc: None,
            };
            s.spawn(&format!("sentinel{i}"));
            wait_ping(port).await;
            sentinels.push(s);
        }
        let r = RedisSentinel {
            servers,
            sentinels,
            dir,
        };
        r.wait_replicated().await;
        r
    }

    /// The sentinels, comma-separated, as `TWINWIRE_REDIS__SENTINELS` takes them.
    pub fn sentinels(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Index (0 or 1) of the server the sentinels name as primary now.
    pub async fn primary(&self) -> usize {
        let port = self.primary_port().await;
        self.servers
            .iter()
            .position(|s| s.port == port)
            .expect("a known server")
    }

    async fn primary_port(&self) -> u16 {
        for s in &self.sentinels {
            let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{}", s.port)) else {
                continue;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                continue;
            };
            if let Ok((_, port)) = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(MASTER_NAME)
                .query_async::<(String, u16)>(&mut conn)
                .await
            {
                return port;
            }
        }
        panic!("no sentinel answers");
    }

    /// Waits until the sentinels name a primary that has a replica in sync and both sentinels
    /// agree with it.
    pub async fn wait_replicated(&self) {
        for _ in 0..600 {
            let port = self.primary_port().await;
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                if info.contains("role:master")
                    && info.contains("connected_slaves:1")
                    && info.contains("state=online")
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the sentinel setup did not get a replicated primary; see {}",
            self.dir.display()
        );
    }

    /// Waits until the sentinels name another server than `old` as primary.
    pub async fn wait_failover(&self, old: usize) {
        for _ in 0..600 {
            if self.primary().await != old {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the sentinels did not fail over");
    }

    /// Kills server `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.servers[i].proc.take() {
            p.kill();
        }
    }

    /// Starts server `i` again from its directory; the sentinels make it a replica.
    pub async fn restart(&mut self, i: usize) {
        self.servers[i].spawn(&format!("redis{i}"));
        wait_ping(self.servers[i].port).await;
    }

    pub fn stop(&mut self) {
        for s in self.servers.iter_mut().chain(self.sentinels.iter_mut()) {
            if let Some(mut p) = s.proc.take() {
                p.kill();
            }
        }
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        self.stop();
    }
}
