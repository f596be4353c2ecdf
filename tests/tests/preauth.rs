//! Pre-authenticated subjects (`x-ditto-pre-authenticated`, reference §2.2): trusted only when
//! enabled and only from configured proxy addresses; otherwise refused, never trusted.

use twinwire_tests::{Client, Cluster, ClusterOptions};

fn env(enabled: bool, trusted: &str) -> Vec<(String, String)> {
    vec![
        (
            "TWINWIRE_AUTH__PRE_AUTHENTICATED__ENABLED".into(),
            enabled.to_string(),
        ),
        (
            "TWINWIRE_AUTH__PRE_AUTHENTICATED__TRUSTED_PROXIES".into(),
            trusted.into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_may_name_the_subjects() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: env(true, "127.0.0.1,10.0.0.0/8"),
        ..Default::default()
    })
    .await;
    let mut s = Client::connect_with(
        &c.ws_url(0),
        &[("x-ditto-pre-authenticated", "nginx:proxyuser")],
    )
    .await
    .expect("trusted");
    let r = s.request(serde_json::json!({"topic": "org.pre/t/things/twin/commands/create", "path": "/", "value": {}})).await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["headers"]["ditto-originator"], "nginx:proxyuser", "{r}");
    // Subjects must look like subjects.
    let e = Client::connect_with(&c.ws_url(0), &[("x-ditto-pre-authenticated", "no-issuer")])
        .await
        .err()
        .unwrap();
    assert!(e.contains("401"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_address_cannot_name_the_subjects() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: env(true, "10.9.9.9"),
        ..Default::default()
    })
    .await;
    let e = Client::connect_with(
        &c.ws_url(0),
        &[("x-ditto-pre-authenticated", "nginx:ditto")],
    )
    .await
    .err()
    .unwrap();
    assert!(e.contains("401"), "{e}");
    // Basic still works for everyone.
    c.connect(0, "ditto").await;
}
