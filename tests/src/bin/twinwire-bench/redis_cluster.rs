//! The commands and fan-out scenarios on a Redis Cluster of three primaries with a replica each
//! (issue 18): the same measurements as on one Redis, plus each primary's share of the CPU.

use crate::scenarios::{commands_on, create_things, fanout, twinwire_target, Audience, Target};
use serde_json::{json, Value};
use twinwire_tests::{Cluster, ClusterOptions};

/// twinwire (one hub, two gateways) on a Redis Cluster of three primaries with a replica each
/// (every commit waits for its replica), measured with the cluster's six nodes in place of the
/// harness' standalone Redis. Dropping it stops everything.
pub struct OnRedisCluster {
    pub target: Target,
    /// The primaries' process names in `target.procs`.
    pub primaries: Vec<String>,
    /// Running while measured; fields drop in order: twinwire first, then the Redis nodes.
    _cluster: Cluster,
    _redis: twinwire_tests::RedisCluster,
    dir: std::path::PathBuf,
}

impl Drop for OnRedisCluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn on_redis_cluster() -> OnRedisCluster {
    let dir = std::env::temp_dir().join(format!(
        "twinwire-bench-rcluster-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let redis = twinwire_tests::RedisCluster::start(&dir).await;
    let quiet = vec![("TWINWIRE_LOG__LEVEL".to_string(), "warn".to_string())];
    let cluster = Cluster::start_with(
        ClusterOptions {
            hubs: 1,
            gateways: 2,
            gateway_env: quiet.clone(),
            hub_env: quiet,
            gateway_config: None,
        },
        twinwire_tests::RedisBackend::Cluster {
            seeds: redis.seeds(),
        },
    )
    .await;
    let mut target = twinwire_target(&cluster);
    // The cluster's nodes replace the (idle) standalone Redis of the harness.
    target.procs.retain(|(n, _)| n != "redis");
    let mut primaries = Vec::new();
    for n in &redis.nodes {
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut n.conn().await)
            .await
            .expect("ROLE");
        let role: String = redis::from_redis_value(role[0].clone()).expect("role name");
        let name = format!(
            "redis-{}-{}",
            if role == "master" {
                "primary"
            } else {
                "replica"
            },
            n.port
        );
        if role == "master" {
            primaries.push(name.clone());
        }
        target.procs.push((name, n.pid().expect("node pid")));
    }
    OnRedisCluster {
        target,
        primaries,
        _cluster: cluster,
        _redis: redis,
        dir,
    }
}

/// Each primary's share of the primaries' CPU seconds in a scenario's `cpu_s` (all processes
/// share this machine's cores, so the division is the figure, not a speed-up).
pub fn primaries_share(v: &Value, primaries: &[String]) -> Value {
    let cpu = v["cpu_s"].as_object().cloned().unwrap_or_default();
    let total: f64 = primaries.iter().filter_map(|p| cpu.get(p)?.as_f64()).sum();
    let share: serde_json::Map<String, Value> = primaries
        .iter()
        .map(|p| {
            let c = cpu.get(p).and_then(Value::as_f64).unwrap_or(0.0);
            (p.clone(), json!(if total > 0.0 { c / total } else { 0.0 }))
        })
        .collect();
    println!("twinwire on 3 primaries: CPU share of each primary {share:?}");
    Value::Object(share)
}

/// The commands scenario on a Redis Cluster of three primaries: commands per second, CPU per
/// command of each Redis process, and how the load divides between the primaries.
pub async fn commands_on_redis_cluster() -> Value {
    let on = on_redis_cluster().await;
    let mut v = commands_on(&on.target).await;
    v["primaries_cpu_share"] = primaries_share(&v, &on.primaries);
    v
}

/// The fan-out scenario (every event to every subscriber) on a Redis Cluster of three primaries,
/// with each step's division of the primaries' CPU.
pub async fn fanout_on_redis_cluster(subs: usize, rates: &[f64]) -> Value {
    let on = on_redis_cluster().await;
    create_things(on.target.ports[0], 0).await;
    let mut v = fanout(&on.target, subs, Audience::All, rates).await;
    if let Some(steps) = v["steps"].as_array_mut() {
        for step in steps {
            step["primaries_cpu_share"] = primaries_share(step, &on.primaries);
        }
    }
    v
}
