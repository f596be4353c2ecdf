//! `make run`'s script, deploy/local/run.sh, with the real binaries on free ports: "up" is printed
//! only once every process answers ready, SIGTERM drains in order and exits 0 with the drain's logs
//! shown, a port in use fails at once naming it, and a process that cannot start ends the run with
//! a non-zero exit naming it. (Ctrl-C reaching run.sh alone, not make, needs a terminal; the
//! Makefile's `run` recipe says how, and it was tried by hand.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use twinwire_tests::{bin_dir, free_port, http_get_status, repo_root, require_tool};

struct Run {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Run {
    fn start(ports: &[u16], bins: &Path, data: &Path) -> Run {
        Run::spawn(ports, bins, data, None)
    }

    /// `run.sh --cluster` (`make run-cluster`) with its six Redis nodes on `cluster_ports`.
    fn start_cluster(ports: &[u16], cluster_ports: &[u16], bins: &Path, data: &Path) -> Run {
        Run::spawn(ports, bins, data, Some(cluster_ports))
    }

    fn spawn(ports: &[u16], bins: &Path, data: &Path, cluster_ports: Option<&[u16]>) -> Run {
        require_tool(
            "redis-server",
            "install Debian's redis-server (`make test` does)",
        );
        require_tool(
            "redis-cli",
            "install Debian's redis-tools (`make test` does)",
        );
        let script = repo_root().join("deploy/local/run.sh");
        let list = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg("exec \"$0\" \"$@\" 2>&1")
            .arg(&script)
            .env("TW_BIN_DIR", bins)
            .env("TW_RUN_DATA", data)
            .env("TW_RUN_PORTS", list(ports));
        if let Some(cluster_ports) = cluster_ports {
            cmd.arg("--cluster")
                .env("TW_RUN_CLUSTER_PORTS", list(cluster_ports));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run.sh starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Lines until one contains `text`; the output so far on failure.
    fn wait_for(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while let Ok(l) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = l.contains(text);
            self.seen.push(l);
            if hit {
                return;
            }
        }
        panic!(
            "no line with {text:?} within {within:?}; output:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for the exit and the rest of the output.
    fn finish(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
                    self.seen.push(l);
                }
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "run.sh still running after {within:?}; output:\n{}",
                    self.seen.join("\n")
                );
            }
            while let Ok(l) = self.lines.try_recv() {
                self.seen.push(l);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.finish(Duration::from_secs(30));
        }
    }
}

fn distinct_free_ports(n: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}

fn temp_data() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "twinwire-make-run-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).expect("data dir");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_only_when_ready_and_sigterm_drains_in_order_and_exits_0() {
    // redis, hub admin, gw1, gw1 admin, gw2, gw2 admin
    let ports = distinct_free_ports(6);
    let data = temp_data();
    let mut run = Run::start(&ports, &bin_dir(), &data);
    run.wait_for("twinwire is up", Duration::from_secs(60));
    for admin in [ports[1], ports[3], ports[5]] {
        let url = format!("http://127.0.0.1:{admin}/ready");
        assert_eq!(
            http_get_status(&url).await,
            Some(200),
            "{url} when up was printed"
        );
    }
    run.wait_for(
        &format!("ws://127.0.0.1:{}/ws/2", ports[2]),
        Duration::from_secs(1),
    );

    let pid = run.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = run.finish(Duration::from_secs(60));
    let out = run.output();
    assert_eq!(status.code(), Some(0), "{out}");
    // The drain's logs are shown, in order: gateways, then the hub, then Redis.
    let at = |text: &str| {
        out.find(text)
            .unwrap_or_else(|| panic!("no {text:?} in the output:\n{out}"))
    };
    at("[gw1] ");
    at("[gw2] ");
    let drained = at("gateway stopped");
    let hub = at("hub stopped");
    let redis = at("[redis] ");
    let redis_bye = out.rfind("[redis] ").unwrap();
    assert!(
        drained < hub && hub < redis_bye && redis < hub,
        "order of the stop:\n{out}"
    );
    assert!(out.trim_end().ends_with("make run: stopped"), "{out}");
    let _ = std::fs::remove_dir_all(&data);
}

/// Ports whose cluster bus port (+10000) is free too.
fn free_cluster_ports(n: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p = free_port();
        if p < 55000
            && !ports.contains(&p)
            && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
        {
            ports.push(p);
        }
    }
    ports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_cluster_starts_a_redis_cluster_and_sigterm_stops_everything() {
    let ports = distinct_free_ports(6);
    let cluster_ports = free_cluster_ports(6);
    let data = temp_data();
    let mut run = Run::start_cluster(&ports, &cluster_ports, &bin_dir(), &data);
    run.wait_for("twinwire is up", Duration::from_secs(90));
    for admin in [ports[1], ports[3], ports[5]] {
        let url = format!("http://127.0.0.1:{admin}/ready");
        assert_eq!(http_get_status(&url).await, Some(200), "{url}");
    }
    // Three primaries with a replica each, every slot served.
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &cluster_ports[0].to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let info = cli(&["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(info.contains("cluster_known_nodes:6"), "{info}");
    assert!(info.contains("cluster_size:3"), "{info}");
    // The hub took every shard, whose leases live on the cluster.
    let leases = cli(&["-c", "EXISTS", "tw:{0}:lease"]);
    assert_eq!(leases.trim(), "1", "shard 0's lease on the cluster");

    let pid = run.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = run.finish(Duration::from_secs(60));
    let out = run.output();
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.trim_end().ends_with("make run: stopped"), "{out}");
    for p in &cluster_ports {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok(),
            "Redis node {p} still listens after the stop:\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_fails_at_once_naming_it() {
    let ports = distinct_free_ports(6);
    let taken = std::net::TcpListener::bind(("127.0.0.1", ports[2])).expect("bind");
    let data = temp_data();
    let started = Instant::now();
    let mut run = Run::start(&ports, &bin_dir(), &data);
    let status = run.finish(Duration::from_secs(10));
    let out = run.output();
    assert_ne!(status.code(), Some(0), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.contains(&format!("port {} (gw1) is already in use", ports[2])),
        "{out}"
    );
    assert!(!out.contains("is up"), "{out}");
    drop(taken);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_cannot_start_ends_the_run_naming_it() {
    let ports = distinct_free_ports(6);
    let data = temp_data();
    let empty = data.join("no-binaries");
    std::fs::create_dir_all(&empty).unwrap();
    let mut run = Run::start(&ports, &empty, &data);
    let status = run.finish(Duration::from_secs(30));
    let out = run.output();
    assert_ne!(status.code(), Some(0), "{out}");
    assert!(
        out.contains("exited (status 127) before it was ready"),
        "{out}"
    );
    assert!(!out.contains("is up"), "{out}");
    // Redis, which did start, was stopped again.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ports[0])).is_err(),
        "Redis still up after the run ended:\n{out}"
    );
    let _ = std::fs::remove_dir_all(&data);
}
