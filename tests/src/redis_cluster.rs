//! A real Redis Cluster on free loopback ports: three primaries and three replicas of Debian's
//! `redis-server` (cluster mode, AOF with fsync always as shipped), joined by
//! `redis-cli --cluster create`. Tests kill a node (SIGKILL), restart it from its directory (it
//! comes back as a replica of whoever took over, as a restarted Kubernetes pod would) and migrate
//! slots with `redis-cli --cluster reshard`.
//!
//! [`shared_seeds`] is the cluster of one test binary: the first test of the binary starts it and
//! the others (each test is a process of its own under nextest) find it through a locked file; a
//! watcher process stops it when the test runner exits. Tests sharing it use their own key
//! prefix. Tests that break nodes start their own with [`RedisCluster::start`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::locate::require_tool;
use crate::process::{free_port, Proc};

/// How long a primary may be unreachable before its replica takes over (`cluster-node-timeout`):
/// short, so failover tests are quick.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// One node of the cluster.
pub struct ClusterNode {
    pub port: u16,
    pub dir: PathBuf,
    proc: Option<Proc>,
}

impl ClusterNode {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Proc::pid)
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_some()
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis node connection")
    }

    fn spawn(&mut self) {
        let bin = require_tool(
            "redis-server",
            "install Debian's redis-server (`make test` does)",
        );
        let args: Vec<String> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &NODE_TIMEOUT_MS.to_string(),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            &self.dir.display().to_string(),
            "--protected-mode",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.proc = Some(Proc::spawn(
            &format!("redis{}", self.port),
            &bin,
            &args,
            &[],
            &self.dir.join("redis.log"),
        ));
    }
}

/// A port whose cluster bus port (+10000) is free too.
fn free_node_port() -> u16 {
    loop {
        let p = free_port();
        if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

/// Three primaries with one replica each.
pub struct RedisCluster {
    pub nodes: Vec<ClusterNode>,
    pub dir: PathBuf,
}

impl RedisCluster {
    /// Starts six nodes under `dir`, joins them and waits until the cluster is up and every
    /// replica is in sync.
    pub async fn start(dir: &Path) -> RedisCluster {
        let dir = dir.join("redis-cluster");
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_node_port();
            let d = dir.join(port.to_string());
            std::fs::create_dir_all(&d).expect("node dir");
            let mut n = ClusterNode {
                port,
                dir: d,
                proc: None,
            };
            n.spawn();
            nodes.push(n);
        }
        let c = RedisCluster { nodes, dir };
        for n in &c.nodes {
            c.wait_ping(n).await;
        }
        let cli = require_tool(
            "redis-cli",
            "install Debian's redis-tools (`make test` does)",
        );
        let mut args = vec!["--cluster".to_string(), "create".into()];
        args.extend(c.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
        let out = std::process::Command::new(cli)
            .args(&args)
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        c.wait_healthy().await;
        c
    }

    async fn wait_ping(&self, n: &ClusterNode) {
        let client = redis::Client::open(n.url()).expect("redis url");
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
        panic!(
            "redis-server did not start on port {}; see {}",
            n.port,
            n.dir.join("redis.log").display()
        );
    }

    /// The seed nodes, comma-separated, as `TWINWIRE_REDIS__NODES` takes them.
    pub fn seeds(&self) -> String {
        self.nodes
            .iter()
            .map(ClusterNode::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every running node says `cluster_state:ok`, sees three primaries each
    /// serving slots, and every running replica's link to its primary is up.
    pub async fn wait_healthy(&self) {
        for _ in 0..800 {
            if self.healthy().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the Redis Cluster did not become healthy; nodes under {}",
            self.dir.display()
        );
    }

    async fn healthy(&self) -> bool {
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            let Ok(client) = redis::Client::open(n.url()) else {
                return false;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                return false;
            };
            let info: String = match redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await
            {
                Ok(i) => i,
                Err(_) => return false,
            };
            if !info.contains("cluster_state:ok") {
                return false;
            }
            let repl: String = match redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
            {
                Ok(i) => i,
                Err(_) => return false,
            };
            if repl.contains("role:slave") && !repl.contains("master_link_status:up") {
                return false;
            }
        }
        true
    }

    /// Which node serves which number of slots now, by node index (primaries only).
    pub async fn slots_by_node(&self) -> Vec<(usize, usize)> {
        let n = self
            .nodes
            .iter()
            .find(|n| n.is_running())
            .expect("a running node");
        let mut conn = n.conn().await;
        let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .expect("CLUSTER SLOTS");
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for range in slots {
            let start: usize = redis::from_redis_value(range[0].clone()).expect("slot");
            let end: usize = redis::from_redis_value(range[1].clone()).expect("slot");
            let node: Vec<redis::Value> = redis::from_redis_value(range[2].clone()).expect("node");
            let port: u16 = redis::from_redis_value(node[1].clone()).expect("port");
            let i = self
                .nodes
                .iter()
                .position(|n| n.port == port)
                .expect("a known node");
            match counts.iter_mut().find(|(j, _)| *j == i) {
                Some((_, c)) => *c += end - start + 1,
                None => counts.push((i, end - start + 1)),
            }
        }
        counts
    }

    /// The node serving `slot` now (as the first running node sees it).
    pub async fn primary_of_slot(&self, slot: u16) -> usize {
        let n = self
            .nodes
            .iter()
            .find(|n| n.is_running())
            .expect("a running node");
        let mut conn = n.conn().await;
        let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .expect("CLUSTER SLOTS");
        for range in slots {
            let start: u16 = redis::from_redis_value(range[0].clone()).expect("slot");
            let end: u16 = redis::from_redis_value(range[1].clone()).expect("slot");
            if (start..=end).contains(&slot) {
                let node: Vec<redis::Value> =
                    redis::from_redis_value(range[2].clone()).expect("node");
                let port: u16 = redis::from_redis_value(node[1].clone()).expect("port");
                return self
                    .nodes
                    .iter()
                    .position(|n| n.port == port)
                    .expect("a known node");
            }
        }
        panic!("no node serves slot {slot}");
    }

    /// How many of twinwire's `shards` each primary serves, by node index, most first.
    pub async fn shards_by_primary(&self, shards: u32) -> Vec<(usize, usize)> {
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for k in 0..shards {
            let slot =
                twinwire_common::redis_connection::slot::slot_of(format!("{{{k}}}").as_bytes());
            let i = self.primary_of_slot(slot).await;
            match counts.iter_mut().find(|(j, _)| *j == i) {
                Some((_, c)) => *c += 1,
                None => counts.push((i, 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        counts
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].proc.take() {
            p.kill();
        }
    }

    /// Starts node `i` again from its directory (its `nodes.conf` and AOF).
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].spawn();
        self.wait_ping(&self.nodes[i]).await;
    }

    /// Moves `slots` slots from node `from` to node `to` with `redis-cli --cluster reshard`.
    pub fn reshard(&self, from: usize, to: usize, slots: usize) -> std::process::Output {
        let id = |i: usize| {
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &self.nodes[i].port.to_string(), "CLUSTER", "MYID"])
                .output()
                .expect("redis-cli CLUSTER MYID");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        std::process::Command::new("redis-cli")
            .args([
                "--cluster",
                "reshard",
                &format!("127.0.0.1:{}", self.nodes[from].port),
                "--cluster-from",
                &id(from),
                "--cluster-to",
                &id(to),
                "--cluster-slots",
                &slots.to_string(),
                "--cluster-yes",
            ])
            .output()
            .expect("redis-cli --cluster reshard")
    }

    pub fn stop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }

    /// The nodes' process ids (the watcher of a shared cluster kills them).
    fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(ClusterNode::pid).collect()
    }

    /// Leaves the nodes running after this value is gone (a shared cluster's watcher ends them).
    fn detach(mut self) {
        for n in &mut self.nodes {
            if let Some(p) = n.proc.take() {
                std::mem::forget(p);
            }
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The seed list of this test binary's shared Redis Cluster, started by the first test that
/// asks (see the module header).
pub async fn shared_seeds() -> String {
    use std::io::Write;
    let runner = std::os::unix::process::parent_id();
    let exe = std::env::current_exe().expect("test binary path");
    let binary = exe
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("tests")
        .to_owned();
    let dir = std::env::temp_dir().join(format!("twinwire-redis-cluster-{runner}-{binary}"));
    std::fs::create_dir_all(&dir).expect("shared cluster dir");
    let lock = std::fs::File::create(dir.join("lock")).expect("lock file");
    // Blocks while another test of the binary starts the cluster; released when `lock` drops.
    lock.lock().expect("lock the shared cluster");
    let seeds_file = dir.join("seeds");
    if let Ok(seeds) = std::fs::read_to_string(&seeds_file) {
        return seeds;
    }
    let cluster = RedisCluster::start(&dir).await;
    let seeds = cluster.seeds();
    let pids: Vec<String> = cluster.pids().iter().map(u32::to_string).collect();
    // The watcher outlives this test process and ends the cluster with the test runner.
    let script = format!(
        "while kill -0 {runner} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null; rm -rf '{}'",
        pids.join(" "),
        dir.display()
    );
    // Never waited for: it must outlive this process (it reparents to init, which reaps it).
    #[allow(clippy::zombie_processes)]
    let _watcher = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the shared cluster's watcher");
    cluster.detach();
    let mut f = std::fs::File::create(&seeds_file).expect("seeds file");
    f.write_all(seeds.as_bytes()).expect("write seeds");
    seeds
}
