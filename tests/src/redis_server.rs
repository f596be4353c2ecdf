//! A real `redis-server` per test on a free loopback port, configured as shipped (AOF with fsync
//! always), which tests can kill, restart from its AOF, and connect to directly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::locate::require_tool;
use crate::process::{free_port, Proc};

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
