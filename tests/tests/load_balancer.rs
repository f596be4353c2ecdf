//! A real nginx in front of two real gateways, run from deploy/nginx/twinwire.conf with only its
//! upstream servers and listen address pointed at the test's processes: sessions spread over both
//! nodes, events cross between them, and when a gateway drains on SIGTERM its clients get 1001,
//! reconnect through the same address, land on the other node and keep receiving events.

use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::Duration;
use twinwire_tests::{http_get, Client, Cluster, ClusterOptions, Frame, Nginx};

/// A WebSocket session through nginx as ditto.
async fn connect(nginx: &Nginx) -> Client {
    Client::connect_basic(&nginx.ws_url(), "ditto", "ditto")
        .await
        .unwrap_or_else(|e| panic!("connect through nginx: {e}"))
}

/// `twinwire_gateway_sessions{kind="connected"}` of gateway `gw`, from its /metrics.
async fn connected_sessions(c: &Cluster, gw: usize) -> i64 {
    let url = format!("http://127.0.0.1:{}/metrics", c.gateways[gw].admin_port);
    let (_, body) = http_get(&url)
        .await
        .unwrap_or_else(|| panic!("gw{gw} /metrics"));
    body.lines()
        .find_map(|l| l.strip_prefix(r#"twinwire_gateway_sessions{kind="connected"} "#))
        .map(|v| v.trim().parse().expect("gauge value"))
        .unwrap_or(0)
}

/// Polls both gateways' gauges until they read `want`, failing with the last reading.
async fn wait_sessions(c: &Cluster, want: [Option<i64>; 2]) {
    let mut last = [None, None];
    for _ in 0..200 {
        for gw in 0..2 {
            last[gw] = match want[gw] {
                Some(_) => Some(connected_sessions(c, gw).await),
                None => None,
            };
        }
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sessions per gateway: wanted {want:?}, have {last:?}");
}

fn create(thing: &str) -> Value {
    let (ns, name) = thing.split_once(':').expect("namespaced id");
    json!({
        "topic": format!("{ns}/{name}/things/twin/commands/create"),
        "headers": {},
        "path": "/",
        "value": {"attributes": {"via": "nginx"}}
    })
}

/// `creator` creates `thing`; every session in `others` receives its `created` event.
async fn assert_everyone_sees_creation(creator: &mut Client, others: &mut [Client], thing: &str) {
    let r = creator.request(create(thing)).await;
    assert_eq!(r["status"], 201, "{r}");
    let (ns, name) = thing.split_once(':').expect("namespaced id");
    let topic = format!("{ns}/{name}/things/twin/events/created");
    let events = join_all(others.iter_mut().map(|s| s.recv_json())).await;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["topic"], topic.as_str(), "session {i}: {e}");
        assert_eq!(e["value"]["attributes"]["via"], "nginx", "session {i}: {e}");
        assert_eq!(e["revision"], 1, "session {i}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_through_nginx_spread_evenly_over_both_gateways_and_see_each_others_events() {
    let c = Cluster::start(ClusterOptions::default()).await;
    let nginx = Nginx::start(&c.dir, [c.gateways[0].http_port, c.gateways[1].http_port]).await;

    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(connect(&nginx).await);
    }
    // least_conn over two idle nodes alternates: ten each.
    wait_sessions(&c, [Some(10), Some(10)]).await;

    for s in sessions.iter_mut() {
        s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
            .await;
    }
    // Half of the receivers are on the creator's node, half on the other.
    let (creator, others) = sessions.split_first_mut().expect("sessions");
    assert_everyone_sees_creation(creator, others, "org.example:lb-spread").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_gateways_clients_get_1001_and_resume_through_nginx_on_the_other_gateway() {
    let mut c = Cluster::start(ClusterOptions::default()).await;
    let nginx = Nginx::start(&c.dir, [c.gateways[0].http_port, c.gateways[1].http_port]).await;

    let mut sessions = Vec::new();
    for _ in 0..10 {
        sessions.push(connect(&nginx).await);
    }
    wait_sessions(&c, [Some(5), Some(5)]).await;
    for s in sessions.iter_mut() {
        s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
            .await;
    }

    // SIGTERM: gateway 0 drains (drain.period_secs is 1 in the harness). Each client acts like a
    // real one: on a close it reconnects to the same address at once and subscribes again.
    c.gateways[0].proc.signal(15);
    let nginx_ref = &nginx;
    let outcomes = join_all(sessions.iter_mut().map(|s| async move {
        match s.recv_within(Duration::from_secs(6)).await {
            None => None, // on the surviving gateway: nothing happens to it
            Some(Frame::Close(close)) => {
                let mut fresh = tokio::time::timeout(Duration::from_secs(20), connect(nginx_ref))
                    .await
                    .expect("reconnect through nginx within 20 s");
                fresh
                    .subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
                    .await;
                *s = fresh;
                Some(close)
            }
            Some(other) => panic!("unexpected frame during the drain: {other:?}"),
        }
    }))
    .await;
    let closes: Vec<_> = outcomes.iter().flatten().collect();
    assert_eq!(
        closes.len(),
        5,
        "sessions closed by the drain: {outcomes:?}"
    );
    for close in &closes {
        assert_eq!(
            close.as_ref().map(|(code, _)| *code),
            Some(1001),
            "drain close: {outcomes:?}"
        );
    }
    let status = c.gateways[0]
        .proc
        .wait_timeout(Duration::from_secs(15))
        .expect("gateway 0 exits after its drain");
    assert_eq!(status.code(), Some(0), "gateway 0 exit status");

    // All ten sessions now live on gateway 1, and events still reach every one of them.
    wait_sessions(&c, [None, Some(10)]).await;
    let (creator, others) = sessions.split_first_mut().expect("sessions");
    assert_everyone_sees_creation(creator, others, "org.example:lb-after-drain").await;
}
