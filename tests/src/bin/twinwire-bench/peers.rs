//! The peers of the side-by-side run, started on the bench's own Redis: Socket.IO 4 with the
//! Redis Streams adapter (two Node processes, tests/bench/socketio) and nginx with nchan
//! (tests/bench/nchan). `make bench` installs both; a missing one stops the bench loudly.

use crate::scenarios::Target;
use crate::wire::Proto;
use std::path::Path;
use std::time::{Duration, Instant};
use twinwire_tests::{free_port, repo_root, require_tool, Proc};

/// Waits until something accepts connections on `port`; false if the process exited first (a
/// free port taken in the meantime by one of the bench's own client sockets).
async fn wait_listening(port: u16, what: &str, proc: &Proc) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if proc.has_exited() {
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on {port}:\n{}",
            proc.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// Starts a server on a free port, trying another port when it could not listen.
async fn spawn_listening(what: &str, tries: usize, start: impl Fn(u16) -> Proc) -> (Proc, u16) {
    for _ in 0..tries {
        let port = free_port();
        let p = start(port);
        if wait_listening(port, what, &p).await {
            return (p, port);
        }
    }
    panic!("{what} could not listen on any of {tries} free ports");
}

/// Child processes of `pid` (nginx's workers), from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split(' ').nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

pub async fn socketio(redis_port: u16, redis_pid: u32, dir: &Path) -> (Vec<Proc>, Target) {
    let node = require_tool("node", "install Node.js (Debian: nodejs)");
    let app = repo_root().join("tests/bench/socketio");
    assert!(
        app.join("node_modules/socket.io").is_dir(),
        "the Socket.IO peer is not installed: run `make bench` (npm ci in tests/bench/socketio)"
    );
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for i in 0..2 {
        let (p, port) = spawn_listening("socket.io", 3, |port| {
            let env = vec![
                ("PORT".to_string(), port.to_string()),
                (
                    "REDIS_URL".to_string(),
                    format!("redis://127.0.0.1:{redis_port}"),
                ),
            ];
            Proc::spawn(
                &format!("socketio{i}"),
                &node,
                &[app.join("server.js").display().to_string()],
                &env,
                &dir.join(format!("socketio{i}-{port}.log")),
            )
        })
        .await;
        ports.push(port);
        procs.push(p);
    }
    let mut cpu = vec![("redis".to_string(), redis_pid)];
    for (i, p) in procs.iter().enumerate() {
        cpu.push((format!("node{i}"), p.pid().expect("node pid")));
    }
    let t = Target {
        name: "socket.io",
        proto: Proto::SocketIo,
        ports,
        procs: cpu,
        admin_ports: Vec::new(),
    };
    (procs, t)
}

pub async fn nchan(redis_port: u16, redis_pid: u32, dir: &Path, nofile: u64) -> (Proc, Target) {
    let nginx = require_tool("nginx", "apt-get install nginx-core libnginx-mod-nchan");
    assert!(
        Path::new("/usr/lib/nginx/modules/ngx_nchan_module.so").is_file(),
        "the nchan module is not installed: apt-get install libnginx-mod-nchan (make bench does)"
    );
    let template =
        std::fs::read_to_string(repo_root().join("tests/bench/nchan/nginx.conf.template"))
            .expect("nchan config template");
    let (p, port) = spawn_listening("nginx with nchan", 3, |port| {
        let conf = template
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@REDIS_PORT@", &redis_port.to_string())
            .replace("@NOFILE@", &nofile.to_string());
        let path = dir.join("nchan.conf");
        std::fs::write(&path, conf).expect("write nchan config");
        Proc::spawn_group(
            "nchan",
            &nginx,
            &[
                "-p".to_string(),
                dir.display().to_string(),
                "-e".to_string(),
                dir.join("error.log").display().to_string(),
                "-c".to_string(),
                path.display().to_string(),
            ],
            &[],
            &dir.join(format!("nchan-{port}.log")),
        )
    })
    .await;
    let master = p.pid().expect("nginx pid");
    let mut cpu = vec![
        ("redis".to_string(), redis_pid),
        ("nginx-master".to_string(), master),
    ];
    for (i, w) in children(master).into_iter().enumerate() {
        cpu.push((format!("nginx-worker{i}"), w));
    }
    let t = Target {
        name: "nchan",
        proto: Proto::Nchan,
        ports: vec![port, port],
        procs: cpu,
        admin_ports: Vec::new(),
    };
    (p, t)
}
