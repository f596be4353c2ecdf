//! The operations files checked with the real tools: the Helm chart's values against its schema,
//! the chart's configuration blocks against the real binaries, the alert rules, Prometheus
//! configuration and every Grafana dashboard query with promtool, and live `/metrics` pages with
//! promtool's linter. (The chart rendered by the real helm and validated against Kubernetes'
//! schemas: `make helm-check`.)

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use twinwire_tests::{
    binary, free_port, http_get, repo_root, require_tool, wait_ready, write_htpasswd, Cluster,
    ClusterOptions, Proc, Redis,
};

fn chart_dir() -> PathBuf {
    repo_root().join("helm/twinwire")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A YAML file as JSON data (what Helm and the schema validator see).
fn yaml(path: &Path) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Helm's merge of user values over the chart's: maps merge key by key, anything else replaces.
fn helm_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => helm_merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Every schema violation of `values`, as "instance path: message".
fn schema_errors(schema: &Value, values: &Value) -> Vec<String> {
    let validator =
        jsonschema::draft7::new(schema).expect("values.schema.json is a draft-07 schema");
    validator
        .iter_errors(values)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn chart_values_and_every_ci_values_file_satisfy_the_strict_values_schema() {
    let schema = json_file(&chart_dir().join("values.schema.json"));
    let defaults = yaml(&chart_dir().join("values.yaml"));
    assert_eq!(
        schema_errors(&schema, &defaults),
        Vec::<String>::new(),
        "values.yaml"
    );

    let mut ci_files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("ci"))
        .expect("helm/twinwire/ci")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with("-values.yaml"))
        .collect();
    ci_files.sort();
    assert_eq!(ci_files.len(), 5, "ci values files: {ci_files:?}");
    for f in &ci_files {
        let mut merged = defaults.clone();
        helm_merge(&mut merged, &yaml(f));
        assert_eq!(
            schema_errors(&schema, &merged),
            Vec::<String>::new(),
            "{}",
            f.display()
        );
    }

    // Strict where it matters: a misspelt configuration key, a wrong type and an unknown
    // top-level value are each refused, naming where.
    let mut typo = defaults.clone();
    typo["gateway"]["config"]["ws"]["outbound_queu"] = json!(10);
    let errors = schema_errors(&schema, &typo);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("/gateway/config/ws: ") && errors[0].contains("outbound_queu"),
        "{errors:?}"
    );
    let mut wrong_type = defaults.clone();
    wrong_type["hub"]["config"]["hub"]["lease_ms"] = json!("10s");
    let errors = schema_errors(&schema, &wrong_type);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("/hub/config/hub/lease_ms: "),
        "{errors:?}"
    );
    let mut unknown = defaults.clone();
    unknown["replicaCount"] = json!(3);
    let errors = schema_errors(&schema, &unknown);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("replicaCount"), "{errors:?}");
}

/// The values a reader sets one by one: every key of values.yaml down to where the schema stops
/// describing properties (Kubernetes objects passed through as is, and probe timings, which are
/// documented as one value each).
fn documented_units(
    schema: &Value,
    node: &Value,
    path: &str,
    values: &Value,
    out: &mut Vec<String>,
) {
    let mut node = node;
    let mut probe = false;
    while let Some(r) = node["$ref"].as_str() {
        let name = r.rsplit('/').next().expect("ref name");
        probe |= name == "probe";
        node = &schema["definitions"][name];
    }
    match (node["properties"].as_object(), values.as_object()) {
        (Some(props), Some(vals)) if !probe => {
            for (k, sub) in props {
                if let Some(v) = vals.get(k) {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    documented_units(schema, sub, &p, v, out);
                }
            }
        }
        _ => out.push(path.to_owned()),
    }
}

#[test]
fn chart_readme_documents_every_value() {
    let schema = json_file(&chart_dir().join("values.schema.json"));
    let values = yaml(&chart_dir().join("values.yaml"));
    let readme = read(&chart_dir().join("README.md"));
    let mut units = Vec::new();
    documented_units(&schema, &schema, "", &values, &mut units);
    assert_eq!(units.len(), 201, "values to document: {units:?}");
    let missing: Vec<&String> = units
        .iter()
        .filter(|u| !readme.contains(&format!("| `{u}` |")))
        .collect();
    assert_eq!(
        missing,
        Vec::<&String>::new(),
        "values without a row in helm/twinwire/README.md"
    );
}

/// A schema node with its `$ref`s followed.
fn resolved<'a>(schema: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(r) = node["$ref"].as_str() {
        node = &schema["definitions"][r.rsplit('/').next().expect("ref name")];
    }
    node
}

/// Every property path the schema describes, down to where it stops (like [`documented_units`]).
fn schema_paths(schema: &Value, node: &Value, path: &str, out: &mut Vec<String>) {
    let node = resolved(schema, node);
    if let Some(props) = node["properties"].as_object() {
        for (k, sub) in props {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            out.push(p.clone());
            schema_paths(schema, sub, &p, out);
        }
    }
}

#[test]
fn chart_readme_values_yaml_and_schema_name_the_same_values() {
    let schema = json_file(&chart_dir().join("values.schema.json"));
    let values = yaml(&chart_dir().join("values.yaml"));
    let readme = read(&chart_dir().join("README.md"));
    let mut errors = Vec::new();
    // README -> values.yaml and schema: every documented value exists in both.
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|l| {
            l.strip_prefix("| `")?
                .split_once("` |")
                .map(|(name, _)| name)
        })
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        })
        .collect();
    assert!(
        documented.len() >= 165,
        "value rows in the chart README: {documented:?}"
    );
    for name in &documented {
        let mut s = &schema;
        for key in name.split('.') {
            s = &resolved(&schema, s)["properties"][key];
        }
        if name.split('.').try_fold(&values, |v, k| v.get(k)).is_none() {
            errors.push(format!(
                "README documents `{name}`, which values.yaml lacks"
            ));
        }
        if s.is_null() {
            errors.push(format!(
                "README documents `{name}`, which values.schema.json lacks"
            ));
        }
    }
    // Schema -> values.yaml: every property the schema describes has a default there.
    let mut paths = Vec::new();
    schema_paths(&schema, &schema, "", &mut paths);
    for p in &paths {
        if p.split('.').try_fold(&values, |v, k| v.get(k)).is_none() {
            // Below a value documented as one unit (a probe's timings, a Kubernetes object) the
            // schema may describe optional keys.
            let under_unit = documented.iter().any(|d| p.starts_with(&format!("{d}.")))
                && !documented.contains(&p.as_str());
            if !under_unit {
                errors.push(format!(
                    "values.schema.json describes `{p}`, which values.yaml lacks"
                ));
            }
        }
    }
    // values.yaml and schema -> README is chart_readme_documents_every_value.
    assert_eq!(errors, Vec::<String>::new());
}

/// The dotted leaf keys of a configuration tree (lists count as leaves).
fn leaf_keys(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// The `DEFAULTS` TOML of a binary's `config.rs`, which lists every key the binary reads.
fn binary_default_keys(config_rs: &str) -> BTreeSet<String> {
    let text = read(&repo_root().join(config_rs));
    let start = text
        .find("pub const DEFAULTS: &str = r#\"")
        .unwrap_or_else(|| panic!("{config_rs}: no `pub const DEFAULTS: &str = r#\"`"));
    let body = &text[start + "pub const DEFAULTS: &str = r#\"".len()..];
    let body = &body[..body.find("\"#;").expect("end of DEFAULTS")];
    let parsed: toml::Table = toml::from_str(body).expect("DEFAULTS is TOML");
    let as_json = serde_json::to_value(parsed).expect("TOML as JSON");
    let mut keys = BTreeSet::new();
    leaf_keys("", &as_json, &mut keys);
    keys
}

#[test]
fn chart_config_blocks_list_exactly_the_keys_the_binaries_read() {
    let values = yaml(&chart_dir().join("values.yaml"));
    for (component, config_rs) in [
        ("gateway", "gateway/src/config.rs"),
        ("hub", "hub/src/config.rs"),
    ] {
        let mut chart_keys = BTreeSet::new();
        leaf_keys("", &values[component]["config"], &mut chart_keys);
        assert_eq!(
            chart_keys,
            binary_default_keys(config_rs),
            "{component}.config in helm/twinwire/values.yaml versus DEFAULTS in {config_rs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_default_config_blocks_start_the_real_hub_and_gateway() {
    let dir = std::env::temp_dir().join(format!("twinwire-ops-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let redis = Redis::start(&dir).await;
    let values = yaml(&chart_dir().join("values.yaml"));
    // What the chart's ConfigMaps carry: each config block as a YAML file.
    for component in ["gateway", "hub"] {
        let text = serde_norway::to_string(&values[component]["config"]).expect("config as YAML");
        std::fs::write(dir.join(format!("{component}.yaml")), text).expect("config file");
    }
    let htpasswd = dir.join("htpasswd");
    write_htpasswd(&htpasswd);

    // Only what differs between a pod and this test: ports (free ones), loopback binds, the Redis
    // URL (the chart sets it through the same variable) and the htpasswd path (a mounted Secret
    // in the pod).
    let config_arg = |c: &str| {
        vec![
            "--config".to_string(),
            dir.join(format!("{c}.yaml")).display().to_string(),
        ]
    };
    let hub_admin = free_port();
    let hub = Proc::spawn(
        "hub",
        &binary("twinwire-hub"),
        &config_arg("hub"),
        &[
            ("TWINWIRE_REDIS__URL".into(), redis.url()),
            ("TWINWIRE_ADMIN__PORT".into(), hub_admin.to_string()),
            ("TWINWIRE_ADMIN__BIND".into(), "127.0.0.1".into()),
        ],
        &dir.join("hub.log"),
    );
    wait_ready(hub_admin, &hub).await;
    let (gw_http, gw_admin) = (free_port(), free_port());
    let gateway = Proc::spawn(
        "gateway",
        &binary("twinwire-gateway"),
        &config_arg("gateway"),
        &[
            ("TWINWIRE_REDIS__URL".into(), redis.url()),
            ("TWINWIRE_HTTP__PORT".into(), gw_http.to_string()),
            ("TWINWIRE_HTTP__BIND".into(), "127.0.0.1".into()),
            ("TWINWIRE_ADMIN__PORT".into(), gw_admin.to_string()),
            ("TWINWIRE_ADMIN__BIND".into(), "127.0.0.1".into()),
            (
                "TWINWIRE_AUTH__BASIC__HTPASSWD_FILE".into(),
                htpasswd.display().to_string(),
            ),
        ],
        &dir.join("gateway.log"),
    );
    wait_ready(gw_admin, &gateway).await;

    // The files were read, not just tolerated: the chart's `log.format: json` is in force.
    for p in [&hub, &gateway] {
        let first = p
            .log_text()
            .lines()
            .next()
            .map(str::to_owned)
            .unwrap_or_default();
        let line: Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("{}: first log line is not JSON ({e}): {first}", p.name));
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["fields"].is_object(),
            "{}: not tracing's JSON format: {line}",
            p.name
        );
    }

    // And the pair serves: a twin created through the gateway is answered 201 by the hub.
    let mut client = twinwire_tests::Client::connect_basic(
        &format!("ws://127.0.0.1:{gw_http}/ws/2"),
        "ditto",
        "ditto",
    )
    .await
    .expect("connect with the chart's configuration");
    let r = client
        .request(json!({
            "topic": "org.example/chart-config/things/twin/commands/create",
            "headers": {"correlation-id": "chart-1"},
            "path": "/",
            "value": {"attributes": {"from": "chart"}}
        }))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["value"]["thingId"], "org.example:chart-config", "{r}");
    drop(client);
    drop(gateway);
    drop(hub);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs promtool with `args` (and `stdin`), returning (success, stdout + stderr).
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let bin = require_tool(
        "promtool",
        "install Debian's prometheus package (`make test-deps` does)",
    );
    let mut child = Command::new(bin)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("promtool stdin")
            .write_all(text.as_bytes())
            .expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn rule_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("deploy/prometheus"))
        .expect("deploy/prometheus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            name.contains("rules") && name.ends_with(".yml")
        })
        .collect();
    files.sort();
    files
}

/// Metric names the alerts and dashboard may use: every `"twinwire_…"` name the two binaries'
/// metrics modules register. promtool accepts any name, so a misspelt one would otherwise never
/// match anything, silently.
fn known_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for src in ["gateway/src/metrics.rs", "hub/src/metrics.rs"] {
        let text = read(&repo_root().join(src));
        for (i, _) in text.match_indices("\"twinwire_") {
            let name: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    for expected in [
        "twinwire_gateway_ready",
        "twinwire_hub_ready",
        "twinwire_hub_shards_configured",
        "twinwire_hub_stream_lag_entries",
    ] {
        assert!(
            names.contains(expected),
            "{expected} is registered: {names:?}"
        );
    }
    names
}

/// Every `twinwire_*` name in a query that is not a known metric (histogram series suffixes
/// `_bucket`, `_sum`, `_count` stripped). The regex selector `twinwire_(gateway|hub)_...` of the
/// alerts is checked by expanding it.
fn unknown_metric_names(expr: &str) -> Vec<String> {
    let expanded = expr.replace(
        "twinwire_(gateway|hub)_redis_errors_total",
        "twinwire_gateway_redis_errors_total twinwire_hub_redis_errors_total",
    );
    let known = known_metrics();
    let mut unknown = Vec::new();
    for (i, _) in expanded.match_indices("twinwire_") {
        let name: String = expanded[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| known.contains(*b)))
            .unwrap_or(&name);
        if !known.contains(base) {
            unknown.push(name);
        }
    }
    unknown
}

#[test]
fn alert_rules_pass_promtool_and_name_only_real_metrics() {
    let files = rule_files();
    assert_eq!(
        files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        vec!["twinwire.rules.yml"],
    );
    for f in &files {
        let rules = yaml(f);
        let all: Vec<&Value> = rules["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().expect("rules").iter())
            .collect();
        assert_eq!(all.len(), 12, "alerts in {}", f.display());
        for r in &all {
            let expr = r["expr"].as_str().expect("expr");
            assert_eq!(
                unknown_metric_names(expr),
                Vec::<String>::new(),
                "{}",
                r["alert"]
            );
            assert!(
                ["critical", "warning"].contains(&r["labels"]["severity"].as_str().unwrap_or("")),
                "severity of {}",
                r["alert"]
            );
        }
        let path = f.display().to_string();
        let (ok, out) = promtool(&["check", "rules", &path], None);
        assert!(ok, "promtool check rules {path}:\n{out}");
        assert!(
            out.contains(&format!("SUCCESS: {} rules found", all.len())),
            "{out}"
        );
    }
    // The chart's PrometheusRule carries the same alerts.
    assert_eq!(
        read(&chart_dir().join("files/twinwire.rules.yml")),
        read(&repo_root().join("deploy/prometheus/twinwire.rules.yml")),
        "helm/twinwire/files/twinwire.rules.yml must be a copy of deploy/prometheus/twinwire.rules.yml"
    );
    let config = repo_root()
        .join("deploy/prometheus/prometheus.yml")
        .display()
        .to_string();
    let (ok, out) = promtool(&["check", "config", &config], None);
    assert!(ok, "promtool check config {config}:\n{out}");
}

/// Every `expr` of every panel (rows may nest panels).
fn dashboard_exprs(panels: &Value, out: &mut Vec<(String, String)>) {
    for p in panels.as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((p["title"].as_str().unwrap_or("").to_owned(), e.to_owned()));
            }
        }
        dashboard_exprs(&p["panels"], out);
    }
}

#[test]
fn every_grafana_dashboard_query_parses_with_promtool_and_names_only_real_metrics() {
    let dashboard = json_file(&repo_root().join("deploy/grafana/twinwire-dashboard.json"));
    assert_eq!(dashboard["uid"], "twinwire");
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard["panels"], &mut exprs);
    assert_eq!(exprs.len(), 41, "queries in the dashboard");
    // Grafana substitutes its interval variables before Prometheus sees a query.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in exprs.iter().enumerate() {
        let concrete = expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m");
        assert!(
            !concrete.contains('$'),
            "{title}: unknown variable in {expr}"
        );
        assert_eq!(
            unknown_metric_names(&concrete),
            Vec::<String>::new(),
            "{title}: {expr}"
        );
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&concrete).expect("JSON string is a YAML string")
        ));
    }
    let dir = std::env::temp_dir().join(format!("twinwire-ops-dash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("dashboard.rules.yml");
    std::fs::write(&file, rules).expect("rules file");
    let (ok, out) = promtool(&["check", "rules", &file.display().to_string()], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ok,
        "promtool check rules on the dashboard's queries:\n{out}"
    );
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_gateway_and_hub_metrics_pass_promtool_check_metrics() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    // Some traffic, so labelled families have series.
    let mut s = c.connect(0, "ditto").await;
    s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let r = s
        .request(json!({
            "topic": "org.example/metrics-lint/things/twin/commands/create",
            "headers": {},
            "path": "/",
            "value": {}
        }))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    for (what, port) in [
        ("gateway", c.gateways[0].admin_port),
        ("hub", c.hubs[0].admin_port),
    ] {
        // Stream lag and pending entries are sampled at each lease tick (a second here), so the
        // hub's page is read again until that sample covers the command above.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let body = loop {
            let (status, body) = http_get(&format!("http://127.0.0.1:{port}/metrics"))
                .await
                .unwrap_or_else(|| panic!("{what} /metrics answers"));
            assert_eq!(status, 200, "{what} /metrics");
            let sampled = what == "gateway"
                || body
                    .lines()
                    .any(|l| l == "twinwire_hub_stream_lag_entries{group=\"hubs\"} 0");
            if sampled || std::time::Instant::now() > deadline {
                break body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(
            body.contains(&format!("twinwire_{what}_build_info{{")),
            "{what}: {body}"
        );
        let (ok, out) = promtool(&["check", "metrics"], Some(&body));
        assert!(
            ok,
            "promtool check metrics on the {what}'s /metrics:\n{out}"
        );
        assert_eq!(out.trim(), "", "promtool's lint of the {what}'s /metrics");
        let expected: &[&str] = if what == "gateway" {
            &["twinwire_gateway_ready 1"]
        } else {
            &[
                "twinwire_hub_ready 1",
                "twinwire_hub_shards_configured 64",
                "twinwire_hub_shards_owned 64",
                "twinwire_hub_stream_lag_entries{group=\"hubs\"} 0",
                "twinwire_hub_stream_pending_entries{group=\"hubs\"} 0",
            ]
        };
        for line in expected {
            assert!(
                body.lines().any(|l| l == *line),
                "{what} exports `{line}`:\n{body}"
            );
        }
    }
}
