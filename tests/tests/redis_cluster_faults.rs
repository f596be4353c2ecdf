//! twinwire on a real Redis Cluster (three primaries, three replicas) under load, one cluster for
//! the binary's one test, which breaks it twice: `kill -9` of the primary serving the most shards
//! (its replica takes over; the killed node is restarted from its directory and rejoins as a
//! replica, as a restarted pod would), then slots migrated with `redis-cli --cluster reshard`
//! while traffic runs. Each time: no acknowledged write lost, no event twice or out of order to
//! the sessions that stayed connected, and the window of 503s measured and printed.

use std::time::Duration;
use twinwire_tests::{Cluster, ClusterOptions, RedisBackend, RedisCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_primary_and_a_migrated_slot_lose_no_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!(
        "twinwire-test-rcluster-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut redis = RedisCluster::start(&dir).await;
    // 64 shards over three primaries: none holds half.
    let spread = redis.shards_by_primary(64).await;
    println!("redis cluster: shards by primary {spread:?}");
    assert_eq!(spread.len(), 3, "every primary serves shards: {spread:?}");
    assert!(
        spread[0].1 < 32,
        "no primary holds half the shards: {spread:?}"
    );
    let c = Cluster::start_with(
        ClusterOptions {
            hubs: 1,
            gateways: 2,
            ..Default::default()
        },
        RedisBackend::Cluster {
            seeds: redis.seeds(),
        },
    )
    .await;

    let victim = spread[0].0;
    let report = {
        let redis = &mut redis;
        twinwire_tests::redis_load::under_load(&c, 2, 6, Duration::from_secs(20), |t0| async move {
            tokio::time::sleep_until((t0 + Duration::from_secs(4)).into()).await;
            println!(
                "redis cluster: kill -9 of node {victim} at {:?}",
                t0.elapsed()
            );
            redis.kill(victim);
            redis.wait_healthy().await;
            println!("redis cluster: replica promoted by {:?}", t0.elapsed());
            redis.restart(victim).await;
            redis.wait_healthy().await;
            println!(
                "redis cluster: killed node back as a replica by {:?}",
                t0.elapsed()
            );
        })
        .await
    };
    println!(
        "redis cluster, primary killed: {} acknowledged, {} answered 503, {} unanswered, 503 window {:?}, {} events missing",
        report.acked, report.unavailable, report.unanswered, report.window_len(), report.missing
    );

    // Slots of the busiest primary move to another while traffic runs.
    let spread = redis.shards_by_primary(64).await;
    let (from, to) = (spread[0].0, spread[1].0);
    let report = {
        let redis = &redis;
        twinwire_tests::redis_load::under_load(&c, 2, 6, Duration::from_secs(15), |t0| async move {
            tokio::time::sleep_until((t0 + Duration::from_secs(3)).into()).await;
            println!(
                "redis cluster: resharding 2000 slots from node {from} to {to} at {:?}",
                t0.elapsed()
            );
            let out = tokio::task::block_in_place(|| redis.reshard(from, to, 2000));
            assert!(
                out.status.success(),
                "reshard: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            println!("redis cluster: reshard done at {:?}", t0.elapsed());
        })
        .await
    };
    println!(
        "redis cluster, slots migrated: {} acknowledged, {} answered 503, {} unanswered, 503 window {:?}, {} events missing",
        report.acked, report.unavailable, report.unanswered, report.window_len(), report.missing
    );
    let after = redis.shards_by_primary(64).await;
    println!("redis cluster: shards by primary after the reshard {after:?}");
    drop(c);
    redis.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
