//! A subscriber that stops reading: its bounded queue overflows, the gateway closes it with 1008
//! and a reason it sees once it reads again (behind the events already in its socket), counts
//! it, and another subscriber on the same gateway keeps receiving every event in order.

use serde_json::json;
use std::time::Duration;
use twinwire_tests::{metric_series, metric_sum, scrape_metrics, Cluster, ClusterOptions, Frame};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_closed_with_1008_and_nobody_else_notices() {
    let c = Cluster::start(ClusterOptions {
        gateway_env: vec![("TWINWIRE_WS__OUTBOUND_QUEUE".into(), "16".into())],
        ..Default::default()
    })
    .await;
    let mut writer = c.connect(0, "ditto").await;
    let r = writer
        .request(json!({"topic": "org.example/slow/things/twin/commands/create", "path": "/", "value": {}}))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let mut slow = c.connect(1, "ditto").await;
    slow.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    let mut steady = c.connect(1, "ditto").await;
    steady
        .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;
    // The steady one reads everything, concurrently; the slow one reads nothing for now.
    let reader = tokio::spawn(async move {
        let mut revisions = Vec::new();
        loop {
            match steady.recv_within(Duration::from_secs(5)).await {
                Some(Frame::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    revisions.push(v["revision"].as_u64().unwrap());
                }
                None => break revisions,
                other => panic!("steady subscriber got {other:?}"),
            }
        }
    });

    // 80 KiB per event: the kernel's socket buffers fill after a few MiB, then the 16-frame
    // queue, then the gateway gives up on the slow one.
    let pad = "x".repeat(80 * 1024);
    let mut written = 0;
    loop {
        let r = writer
            .request(json!({"topic": "org.example/slow/things/twin/commands/modify", "path": "/attributes/pad", "value": pad}))
            .await;
        assert!(r["status"] == 201 || r["status"] == 204, "{r}");
        written += 1;
        if written % 10 == 0 {
            let m = scrape_metrics(c.gateways[1].admin_port).await;
            if metric_sum(&m, "twinwire_gateway_slow_consumer_closes_total") >= 1.0 {
                break;
            }
        }
        assert!(written < 2_000, "the slow subscriber was never closed");
    }
    // A few more after the close: the steady subscriber must get them too.
    for _ in 0..5 {
        let r = writer
            .request(json!({"topic": "org.example/slow/things/twin/commands/modify", "path": "/attributes/n", "value": written}))
            .await;
        assert!(r["status"] == 201 || r["status"] == 204, "{r}");
        written += 1;
    }

    // The slow one now reads: events in order, then the close with its reason.
    let mut got = Vec::new();
    let close = loop {
        match slow.recv_within(Duration::from_secs(10)).await {
            Some(Frame::Text(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                got.push(v["revision"].as_u64().unwrap());
            }
            Some(Frame::Close(c)) => break c,
            other => panic!("slow subscriber: expected events then a close, got {other:?}"),
        }
    };
    assert_eq!(
        close,
        Some((1008, "slow consumer: outbound queue overflow".to_string()))
    );
    assert!(!got.is_empty(), "it had received events before it stopped");
    assert_eq!(
        got,
        (2..2 + got.len() as u64).collect::<Vec<_>>(),
        "what it got is a gap-free prefix"
    );
    assert!(
        (got.len() as u64) < written,
        "it was cut off before the end"
    );

    let revisions = reader.await.unwrap();
    assert_eq!(
        revisions,
        (2..2 + written).collect::<Vec<_>>(),
        "the steady subscriber got every event in order"
    );
    let m = scrape_metrics(c.gateways[1].admin_port).await;
    assert_eq!(
        metric_sum(&m, "twinwire_gateway_slow_consumer_closes_total"),
        1.0
    );
    assert_eq!(
        metric_series(
            &m,
            "twinwire_gateway_connections_closed_total",
            "code=\"1008\""
        ),
        Some(1.0)
    );
    // Every event written to the steady subscriber's socket was timed from its journal write.
    assert!(
        metric_sum(&m, "twinwire_gateway_fanout_latency_seconds_count") >= revisions.len() as f64,
        "fan-out latency observed per written frame"
    );
    println!(
        "slow_consumer: {written} events of 80 KiB; the slow subscriber got {} before its close",
        got.len()
    );
}
