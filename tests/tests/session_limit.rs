//! `http.max_connections` bounds the WebSocket sessions a worker holds. actix-server counts a
//! connection only until its upgrade, after which the gateway counts the session itself: an upgrade
//! over the bound is answered 503 (so a load balancer tries another gateway), and a session that
//! ends gives its place back.

use std::time::{Duration, Instant};
use twinwire_tests::{metric_series, scrape_metrics, Client, Cluster, ClusterOptions};

async fn connected(c: &Cluster) -> f64 {
    let m = scrape_metrics(c.gateways[0].admin_port).await;
    metric_series(&m, "twinwire_gateway_sessions", "kind=\"connected\"").unwrap_or(0.0)
}

#[tokio::test]
async fn sessions_over_max_connections_get_503_until_one_ends() {
    let c = Cluster::start(ClusterOptions {
        hubs: 1,
        gateways: 1,
        gateway_env: vec![
            ("TWINWIRE_HTTP__WORKERS".into(), "1".into()),
            ("TWINWIRE_HTTP__MAX_CONNECTIONS".into(), "2".into()),
        ],
        ..Default::default()
    })
    .await;
    let mut first = c.connect(0, "ditto").await;
    let _second = c.connect(0, "ditto").await;
    let e = Client::connect_basic(&c.ws_url(0), "ditto", "ditto")
        .await
        .err()
        .expect("a third session is refused");
    assert!(e.contains("503"), "{e}");
    // The HTTP API is not affected: upgraded sessions are no HTTP connections.
    assert_eq!(
        twinwire_tests::http_get_status(&format!("{}/api/2/whoami", c.http_base(0))).await,
        Some(401)
    );
    first.close().await;
    // The place comes back when the gateway has seen the session end.
    let deadline = Instant::now() + Duration::from_secs(10);
    while connected(&c).await != 1.0 {
        assert!(Instant::now() < deadline, "the first session never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _third = c.connect(0, "ditto").await;
    // The session counts itself once its actor has started, which may be just after the 101.
    let deadline = Instant::now() + Duration::from_secs(10);
    while connected(&c).await != 2.0 {
        assert!(
            Instant::now() < deadline,
            "the third session was never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And it holds the place: a fourth is refused again.
    let e = Client::connect_basic(&c.ws_url(0), "ditto", "ditto")
        .await
        .err()
        .expect("a fourth session is refused");
    assert!(e.contains("503"), "{e}");
}
