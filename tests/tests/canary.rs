//! The canary the hostile-input tests rely on: without an attack it receives steadily, so a gap it
//! reports during an attack is the attack's doing.

use std::time::Duration;
use twinwire_tests::canary::Canary;
use twinwire_tests::{Cluster, ClusterOptions};

#[tokio::test]
async fn a_canary_without_an_attack_receives_steadily() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let canary = Canary::start(&cluster, 0, "bob", "steady").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = canary.assert_healthy(Duration::from_millis(1500)).await;
    assert!(report.received >= 10, "{report:?}");
}
