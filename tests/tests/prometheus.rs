//! A real Prometheus scraping a real cluster. It starts from deploy/prometheus/prometheus.yml with
//! the compose targets replaced by the cluster's admin ports (and a one-second interval), scrapes
//! both gateways and the hub, loads the twinwire alerts, and its HTTP API answers with the values
//! the cluster really has.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use twinwire_tests::{
    free_port, http_get, repo_root, require_tool, Client, Cluster, ClusterOptions, Proc,
};

/// A Prometheus server on a free loopback port, its data in a temporary directory.
struct Prometheus {
    port: u16,
    proc: Proc,
    dir: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, gateway_admin_ports: &[u16], hub_admin_ports: &[u16]) -> Prometheus {
        let bin = require_tool(
            "prometheus",
            "install Debian's prometheus package (`make test-deps` does)",
        );
        let shipped = repo_root().join("deploy/prometheus/prometheus.yml");
        let mut config: Value = serde_norway::from_str(
            &std::fs::read_to_string(&shipped).expect("deploy/prometheus/prometheus.yml"),
        )
        .expect("prometheus.yml is YAML");
        config["global"]["scrape_interval"] = "1s".into();
        config["global"]["evaluation_interval"] = "1s".into();
        let rules = repo_root().join("deploy/prometheus/twinwire.rules.yml");
        config["rule_files"] = serde_json::json!([rules.display().to_string()]);
        let targets = |ports: &[u16]| -> Value {
            ports
                .iter()
                .map(|p| Value::from(format!("127.0.0.1:{p}")))
                .collect()
        };
        let mut jobs = Vec::new();
        for job in config["scrape_configs"]
            .as_array_mut()
            .expect("scrape_configs")
        {
            let name = job["job_name"].as_str().expect("job_name").to_owned();
            let ports = match name.as_str() {
                "twinwire-gateway" => gateway_admin_ports,
                "twinwire-hub" => hub_admin_ports,
                other => panic!("unexpected scrape job {other} in {}", shipped.display()),
            };
            job["static_configs"] = serde_json::json!([{ "targets": targets(ports) }]);
            jobs.push(name);
        }
        assert_eq!(
            jobs,
            ["twinwire-gateway", "twinwire-hub"],
            "jobs of {}",
            shipped.display()
        );
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, serde_norway::to_string(&config).expect("YAML")).expect("config");
        let port = free_port();
        let proc = Proc::spawn(
            "prometheus",
            &bin,
            &[
                format!("--config.file={}", file.display()),
                format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--storage.tsdb.retention.time=1h".into(),
            ],
            &[],
            &dir.join("prometheus.log"),
        );
        Prometheus { port, proc, dir }
    }

    async fn wait_ready(&self) {
        for _ in 0..300 {
            assert!(
                !self.proc.has_exited(),
                "prometheus exited: {}",
                self.proc.log_tail(30)
            );
            if let Some((200, _)) =
                http_get(&format!("http://127.0.0.1:{}/-/ready", self.port)).await
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus not ready in 30 s: {}", self.proc.log_tail(30));
    }

    /// `data` of a successful API answer.
    async fn api(&self, path_and_query: &str) -> Value {
        let url = format!("http://127.0.0.1:{}{path_and_query}", self.port);
        let (status, body) = http_get(&url)
            .await
            .unwrap_or_else(|| panic!("no answer from {url}"));
        assert_eq!(status, 200, "{url}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
        assert_eq!(v["status"], "success", "{url}: {v}");
        v["data"].clone()
    }

    /// An instant query's result vector as (labels, value) pairs.
    async fn query(&self, promql: &str) -> Vec<(Value, String)> {
        let q: String = form_urlencoded::byte_serialize(promql.as_bytes()).collect();
        let data = self.api(&format!("/api/v1/query?query={q}")).await;
        data["result"]
            .as_array()
            .expect("vector result")
            .iter()
            .map(|s| {
                (
                    s["metric"].clone(),
                    s["value"][1].as_str().expect("sample value").to_owned(),
                )
            })
            .collect()
    }

    /// Polls `promql` until its single sample equals `want`, failing with the last answer.
    async fn wait_value(&self, promql: &str, want: &str) {
        let mut last = Vec::new();
        for _ in 0..300 {
            last = self.query(promql).await;
            if last.len() == 1 && last[0].1 == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{promql}: wanted {want}, last answer {last:?}; log: {}",
            self.proc.log_tail(20)
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.proc.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_both_gateways_and_the_hub_and_counts_every_open_session() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let gw_ports: Vec<u16> = c.gateways.iter().map(|g| g.admin_port).collect();
    let hub_ports: Vec<u16> = c.hubs.iter().map(|h| h.admin_port).collect();
    let prometheus = Prometheus::start(&c.dir, &gw_ports, &hub_ports);

    // Three sessions on node 0, two on node 1.
    let mut sessions: Vec<Client> = Vec::new();
    for gw in [0, 0, 0, 1, 1] {
        sessions.push(c.connect(gw, "ditto").await);
    }
    prometheus.wait_ready().await;
    prometheus
        .wait_value(r#"sum(twinwire_gateway_sessions{kind="connected"})"#, "5")
        .await;

    // Every target is up, under the shipped job names (each job scrapes on its own schedule).
    prometheus
        .wait_value(r#"count(up{job=~"twinwire-.*"})"#, "3")
        .await;
    let mut up: Vec<(String, String, String)> = prometheus
        .query(r#"up{job=~"twinwire-.*"}"#)
        .await
        .into_iter()
        .map(|(m, v)| {
            (
                m["job"].as_str().unwrap_or("").to_owned(),
                m["instance"].as_str().unwrap_or("").to_owned(),
                v,
            )
        })
        .collect();
    up.sort();
    let mut want = vec![
        (
            "twinwire-gateway".to_owned(),
            format!("127.0.0.1:{}", gw_ports[0]),
            "1".to_owned(),
        ),
        (
            "twinwire-gateway".to_owned(),
            format!("127.0.0.1:{}", gw_ports[1]),
            "1".to_owned(),
        ),
        (
            "twinwire-hub".to_owned(),
            format!("127.0.0.1:{}", hub_ports[0]),
            "1".to_owned(),
        ),
    ];
    want.sort();
    assert_eq!(up, want, "up per target");

    // Per node, as each gateway reports it.
    for (gw, n) in [(0, "3"), (1, "2")] {
        prometheus
            .wait_value(
                &format!(
                    r#"twinwire_gateway_sessions{{kind="connected",instance="127.0.0.1:{}"}}"#,
                    gw_ports[gw]
                ),
                n,
            )
            .await;
    }

    // Closing two sessions on node 0 shows up in the next scrapes.
    for mut s in sessions.drain(..2) {
        s.close().await;
    }
    prometheus
        .wait_value(r#"sum(twinwire_gateway_sessions{kind="connected"})"#, "3")
        .await;
    prometheus
        .wait_value(
            &format!(
                r#"twinwire_gateway_connections_accepted_total{{instance="127.0.0.1:{}"}}"#,
                gw_ports[0]
            ),
            "3",
        )
        .await;

    // The shipped alerts are loaded and every rule evaluates without error.
    let mut last = Value::Null;
    for _ in 0..100 {
        let data = prometheus.api("/api/v1/rules").await;
        let groups = data["groups"].as_array().expect("groups").clone();
        assert_eq!(groups.len(), 1, "{data}");
        assert_eq!(groups[0]["name"], "twinwire");
        let rules = groups[0]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 12, "{data}");
        if rules.iter().all(|r| r["health"] == "ok") {
            // Nothing is wrong with this cluster, so nothing fires.
            let firing: Vec<&Value> = rules.iter().filter(|r| r["state"] == "firing").collect();
            assert!(firing.is_empty(), "firing alerts: {firing:?}");
            return;
        }
        last = data;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("rules not all healthy: {last}");
}
