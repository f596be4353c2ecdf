//! twinwire in sentinel mode under load: a primary with one replica and three sentinels; the
//! primary is killed with SIGKILL, the sentinels promote the replica, twinwire asks them again and
//! follows, and the killed server comes back from its directory as a replica. No acknowledged
//! write lost, no event twice or out of order, and the window of 503s measured and printed.

use std::time::Duration;
use twinwire_tests::redis_sentinel::MASTER_NAME;
use twinwire_tests::{Cluster, ClusterOptions, RedisBackend, RedisSentinel};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_primary_fails_over_without_losing_an_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!(
        "twinwire-test-rsentinel-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut redis = RedisSentinel::start(&dir).await;
    let c = Cluster::start_with(
        ClusterOptions {
            hubs: 1,
            gateways: 2,
            ..Default::default()
        },
        RedisBackend::Sentinel {
            sentinels: redis.sentinels(),
            master: MASTER_NAME.into(),
        },
    )
    .await;
    let report = {
        let redis = &mut redis;
        twinwire_tests::redis_load::under_load(&c, 2, 6, Duration::from_secs(20), |t0| async move {
            tokio::time::sleep_until((t0 + Duration::from_secs(4)).into()).await;
            let old = redis.primary().await;
            println!(
                "redis sentinel: kill -9 of the primary (server {old}) at {:?}",
                t0.elapsed()
            );
            redis.kill(old);
            redis.wait_failover(old).await;
            println!("redis sentinel: replica promoted by {:?}", t0.elapsed());
            redis.restart(old).await;
            redis.wait_replicated().await;
            println!(
                "redis sentinel: killed server back as a replica by {:?}",
                t0.elapsed()
            );
        })
        .await
    };
    println!(
        "redis sentinel, primary killed: {} acknowledged, {} answered 503, {} unanswered, 503 window {:?}, slowest answer {:?}, {} events missing",
        report.acked, report.unavailable, report.unanswered, report.window_len(), report.slowest, report.missing
    );
    drop(c);
    redis.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
