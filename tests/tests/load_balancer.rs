//! A real nginx in front of two real gateways, run from deploy/nginx/twinwire.conf with only its
//! upstream servers and listen address pointed at the test's processes: sessions spread over both
//! nodes, events cross between them, and when a gateway drains on SIGTERM its clients get 1001,
//! reconnect through the same address, land on the other node and keep receiving events.

use futures_util::future::join_all;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use twinwire_tests::{
    free_port, http_get, repo_root, require_tool, Client, Cluster, ClusterOptions, Frame, Proc,
};

/// nginx on a free loopback port, everything it writes inside a temporary directory.
struct Nginx {
    port: u16,
    proc: Proc,
}

/// Replaces the one line of the shipped config that starts (after indentation) with `from`.
fn replace_once(conf: &str, from: &str, to: &str) -> String {
    let hits = conf
        .lines()
        .filter(|l| l.trim_start().starts_with(from))
        .count();
    assert_eq!(
        hits, 1,
        "deploy/nginx/twinwire.conf must have exactly one line starting with `{from}`"
    );
    conf.lines()
        .map(|l| {
            if l.trim_start().starts_with(from) {
                l.replacen(from, to, 1)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Nginx {
    async fn start(dir: &Path, gateway_ports: [u16; 2]) -> Nginx {
        let bin = require_tool(
            "nginx",
            "install Debian's nginx package (`make test-deps` does)",
        );
        let dir = dir.join("nginx");
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let port = free_port();
        let shipped = std::fs::read_to_string(repo_root().join("deploy/nginx/twinwire.conf"))
            .expect("deploy/nginx/twinwire.conf");
        let conf = replace_once(
            &shipped,
            "server gateway-1:8080 ",
            &format!("server 127.0.0.1:{} ", gateway_ports[0]),
        );
        let conf = replace_once(
            &conf,
            "server gateway-2:8080 ",
            &format!("server 127.0.0.1:{} ", gateway_ports[1]),
        );
        let conf = replace_once(&conf, "listen 8080;", &format!("listen 127.0.0.1:{port};"));
        std::fs::write(dir.join("twinwire.conf"), conf).expect("twinwire.conf");
        // The main context the official image would provide, with every path in `dir` and one
        // worker (the upstream zone would share state between more).
        let d = dir.display();
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/client_body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
             scgi_temp_path {d}/scgi;\n  include {d}/twinwire.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).expect("nginx.conf");
        let proc = Proc::spawn_group(
            "nginx",
            &bin,
            &[
                "-p".into(),
                format!("{d}/"),
                "-e".into(),
                format!("{d}/error.log"),
                "-c".into(),
                format!("{d}/nginx.conf"),
            ],
            &[],
            &dir.join("nginx.out"),
        );
        for _ in 0..200 {
            assert!(!proc.has_exited(), "nginx exited: {}", proc.log_tail(20));
            if let Some((200, body)) =
                http_get(&format!("http://127.0.0.1:{port}/nginx-health")).await
            {
                assert_eq!(body, "ok\n");
                return Nginx { port, proc };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nginx did not answer on {port}: {}", proc.log_tail(20));
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws/2", self.port)
    }

    async fn connect(&self) -> Client {
        Client::connect_basic(&self.ws_url(), "ditto", "ditto")
            .await
            .unwrap_or_else(|e| panic!("connect through nginx: {e}"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

/// `twinwire_gateway_sessions{kind="connected"}` of gateway `gw`, from its /metrics.
async fn connected_sessions(c: &Cluster, gw: usize) -> i64 {
    let url = format!("http://127.0.0.1:{}/metrics", c.gateways[gw].admin_port);
    let (_, body) = http_get(&url)
        .await
        .unwrap_or_else(|| panic!("gw{gw} /metrics"));
    body.lines()
        .find_map(|l| l.strip_prefix(r#"twinwire_gateway_sessions{kind="connected"} "#))
        .map(|v| v.trim().parse().expect("gauge value"))
        .unwrap_or(0)
}

/// Polls both gateways' gauges until they read `want`, failing with the last reading.
async fn wait_sessions(c: &Cluster, want: [Option<i64>; 2]) {
    let mut last = [None, None];
    for _ in 0..200 {
        for gw in 0..2 {
            last[gw] = match want[gw] {
                Some(_) => Some(connected_sessions(c, gw).await),
                None => None,
            };
        }
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sessions per gateway: wanted {want:?}, have {last:?}");
}

fn create(thing: &str) -> Value {
    let (ns, name) = thing.split_once(':').expect("namespaced id");
    json!({
        "topic": format!("{ns}/{name}/things/twin/commands/create"),
        "headers": {},
        "path": "/",
        "value": {"attributes": {"via": "nginx"}}
    })
}

/// `creator` creates `thing`; every session in `others` receives its `created` event.
async fn assert_everyone_sees_creation(creator: &mut Client, others: &mut [Client], thing: &str) {
    let r = creator.request(create(thing)).await;
    assert_eq!(r["status"], 201, "{r}");
    let (ns, name) = thing.split_once(':').expect("namespaced id");
    let topic = format!("{ns}/{name}/things/twin/events/created");
    let events = join_all(others.iter_mut().map(|s| s.recv_json())).await;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["topic"], topic.as_str(), "session {i}: {e}");
        assert_eq!(e["value"]["attributes"]["via"], "nginx", "session {i}: {e}");
        assert_eq!(e["revision"], 1, "session {i}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_through_nginx_spread_evenly_over_both_gateways_and_see_each_others_events() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let nginx = Nginx::start(&c.dir, [c.gateways[0].http_port, c.gateways[1].http_port]).await;

    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(nginx.connect().await);
    }
    // least_conn over two idle nodes alternates: ten each.
    wait_sessions(&c, [Some(10), Some(10)]).await;

    for s in sessions.iter_mut() {
        s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
            .await;
    }
    // Half of the receivers are on the creator's node, half on the other.
    let (creator, others) = sessions.split_first_mut().expect("sessions");
    assert_everyone_sees_creation(creator, others, "org.example:lb-spread").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_gateways_clients_get_1001_and_resume_through_nginx_on_the_other_gateway() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    let nginx = Nginx::start(&c.dir, [c.gateways[0].http_port, c.gateways[1].http_port]).await;

    let mut sessions = Vec::new();
    for _ in 0..10 {
        sessions.push(nginx.connect().await);
    }
    wait_sessions(&c, [Some(5), Some(5)]).await;
    for s in sessions.iter_mut() {
        s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
            .await;
    }

    // SIGTERM: gateway 0 drains (drain.period_secs is 1 in the harness). Each client acts like a
    // real one: on a close it reconnects to the same address at once and subscribes again.
    c.gateways[0].proc.signal(15);
    let nginx_ref = &nginx;
    let outcomes = join_all(sessions.iter_mut().map(|s| async move {
        match s.recv_within(Duration::from_secs(6)).await {
            None => None, // on the surviving gateway: nothing happens to it
            Some(Frame::Close(close)) => {
                let mut fresh = tokio::time::timeout(Duration::from_secs(20), nginx_ref.connect())
                    .await
                    .expect("reconnect through nginx within 20 s");
                fresh
                    .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
                    .await;
                *s = fresh;
                Some(close)
            }
            Some(other) => panic!("unexpected frame during the drain: {other:?}"),
        }
    }))
    .await;
    let closes: Vec<_> = outcomes.iter().flatten().collect();
    assert_eq!(
        closes.len(),
        5,
        "sessions closed by the drain: {outcomes:?}"
    );
    for close in &closes {
        assert_eq!(
            close.as_ref().map(|(code, _)| *code),
            Some(1001),
            "drain close: {outcomes:?}"
        );
    }
    let status = c.gateways[0]
        .proc
        .wait_timeout(Duration::from_secs(15))
        .expect("gateway 0 exits after its drain");
    assert_eq!(status.code(), Some(0), "gateway 0 exit status");

    // All ten sessions now live on gateway 1, and events still reach every one of them.
    wait_sessions(&c, [None, Some(10)]).await;
    let (creator, others) = sessions.split_first_mut().expect("sessions");
    assert_everyone_sees_creation(creator, others, "org.example:lb-after-drain").await;
}
