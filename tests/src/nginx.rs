//! A real nginx in front of the test's gateways, run from the shipped deploy/nginx/twinwire.conf
//! with only its upstream servers and listen address pointed at the test's processes, plus any
//! further shipped site (deploy/nginx/dashboard.conf) a test adapts the same way. Everything nginx
//! writes stays in the test's temporary directory.

use crate::http::http_get;
use crate::locate::{repo_root, require_tool};
use crate::process::{free_port, Proc};
use std::path::Path;
use std::time::Duration;

/// nginx on a free loopback port (`port`: twinwire.conf's server).
pub struct Nginx {
    pub port: u16,
    pub proc: Proc,
}

/// A shipped config file of deploy/nginx/, as text.
pub fn shipped_conf(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("deploy/nginx").join(name))
        .unwrap_or_else(|e| panic!("deploy/nginx/{name}: {e}"))
}

/// Replaces the one line of a shipped config that starts (after indentation) with `from`.
pub fn replace_once(conf: &str, from: &str, to: &str) -> String {
    let hits = conf
        .lines()
        .filter(|l| l.trim_start().starts_with(from))
        .count();
    assert_eq!(
        hits, 1,
        "the shipped nginx config must have exactly one line starting with `{from}`"
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
    /// twinwire.conf in front of two gateways.
    pub async fn start(dir: &Path, gateway_ports: [u16; 2]) -> Nginx {
        Nginx::start_with_sites(dir, gateway_ports, &[]).await
    }

    /// twinwire.conf in front of two gateways, and after it `sites` (name, config text) in the
    /// same `http` context, as conf.d would include them.
    pub async fn start_with_sites(
        dir: &Path,
        gateway_ports: [u16; 2],
        sites: &[(&str, String)],
    ) -> Nginx {
        let bin = require_tool(
            "nginx",
            "install Debian's nginx package (`make test-deps` does)",
        );
        let dir = dir.join("nginx");
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let port = free_port();
        let conf = replace_once(
            &shipped_conf("twinwire.conf"),
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
        let d = dir.display();
        let mut includes = format!("  include {d}/twinwire.conf;\n");
        for (name, text) in sites {
            std::fs::write(dir.join(name), text).expect("site config");
            includes.push_str(&format!("  include {d}/{name};\n"));
        }
        // The main context the official image would provide, with every path in `dir` and one
        // worker (the upstream zone would share state between more).
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/client_body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
             scgi_temp_path {d}/scgi;\n{includes}}}\n"
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

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws/2", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.proc.kill();
    }
}
