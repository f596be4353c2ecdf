//! Hostile input on the WebSocket session (issue 19, items 2, 8, 9, 10 (RSV) and the inbound rate
//! limit), against real processes. In every test a canary (another user, on the gateway under
//! attack) keeps receiving with no gap over 2 s, and the gateway and hub survive.

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use twinwire_tests::canary::Canary;
use twinwire_tests::{Client, Cluster, ClusterOptions, Frame, USERS};

const CANARY_GAP: Duration = Duration::from_secs(2);

type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A session whose frames the test writes as it likes (raw frames, no helper in between).
async fn raw_session(c: &Cluster, gw: usize, user: &str) -> Raw {
    let pass = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let mut req = c.ws_url(gw).into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
    );
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The close code the gateway sends within `wait`, skipping anything before it.
async fn close_code(ws: &mut Raw, wait: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(c)))) => return c.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
        }
    }
}

/// Every subscription record in Redis, over all nodes' hashes.
async fn subscription_records(c: &Cluster) -> usize {
    let mut conn = c.redis.conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("tw:subs:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut n = 0;
    for k in keys {
        let len: usize = redis::cmd("HLEN")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        n += len;
    }
    n
}

async fn subs_stream_len(c: &Cluster) -> usize {
    redis::cmd("XLEN")
        .arg("tw:subs")
        .query_async(&mut c.redis.conn().await)
        .await
        .unwrap()
}

/// Item 2: a session that only receives steady events is pinged (its client answers) and stays
/// open for three times the client timeout; before, pings went out only when nothing was sent
/// and such a session was cut off at the timeout. (A client that never answers is still closed:
/// `binding.rs`, `idle_sessions_are_pinged_and_silent_ones_are_closed`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_only_receives_is_not_cut_off() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: env(&[
            ("TWINWIRE_WS__PING_IDLE_SECS", "1"),
            ("TWINWIRE_WS__CLIENT_TIMEOUT_SECS", "2"),
        ]),
        ..Default::default()
    })
    .await;
    // The canary's reader is such a session too.
    let canary = Canary::start(&c, 0, "bob", "keepalive").await;
    let mut listener = c.connect(0, "alice").await;
    listener
        .subscribe(
            "START-SEND-EVENTS?namespaces=org.listen",
            "START-SEND-EVENTS:ACK",
        )
        .await;
    let mut writer = c.connect(0, "alice").await;
    let r = writer
        .request(json!({"topic": "org.listen/steady/things/twin/commands/create", "path": "/", "value": {}}))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    assert!(matches!(
        listener.recv_within(Duration::from_secs(5)).await,
        Some(Frame::Text(_))
    ));
    // Events every 200 ms for 6.5 s: three times the timeout and more.
    let writing = tokio::spawn(async move {
        for n in 0..32 {
            writer
                .send_json(
                    &json!({"topic": "org.listen/steady/things/twin/commands/modify",
                    "path": "/attributes/n", "value": n, "headers": {"response-required": false}}),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        writer
    });
    let started = Instant::now();
    let mut received = 0;
    while received < 32 {
        match listener.recv_within(Duration::from_secs(3)).await {
            Some(Frame::Text(_)) => received += 1,
            other => panic!(
                "the listener was cut off after {:?} and {received} events: {other:?}",
                started.elapsed()
            ),
        }
    }
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let mut writer = writing.await.unwrap();
    // Both sessions still work.
    let r = writer
        .request(json!({"topic": "org.listen/steady/things/twin/commands/retrieve", "path": "/attributes/n"}))
        .await;
    assert_eq!(r["value"], 31, "{r}");
    canary.assert_healthy(CANARY_GAP).await;
}

/// Item 9 and the RSV part of item 10: a message over `ws.max_message_bytes` sent as fragments is
/// closed with 1009 like a single oversized frame; a frame with RSV1 set (no extension is ever
/// negotiated) with 1002.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_fragmented_messages_and_reserved_bits_close_the_session() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: env(&[("TWINWIRE_WS__MAX_MESSAGE_BYTES", "65536")]),
        ..Default::default()
    })
    .await;
    let canary = Canary::start(&c, 0, "bob", "frames").await;

    let mut ws = raw_session(&c, 0, "alice").await;
    let first = WireFrame::message(vec![b' '; 40_000], OpCode::Data(Data::Text), false);
    let last = WireFrame::message(vec![b' '; 40_000], OpCode::Data(Data::Continue), true);
    ws.send(Message::Frame(first)).await.unwrap();
    ws.send(Message::Frame(last)).await.unwrap();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(1009)
    );

    // Many fragments, each small, adding up to more than the limit.
    let mut ws = raw_session(&c, 0, "alice").await;
    ws.send(Message::Frame(WireFrame::message(
        vec![b' '; 1000],
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    for _ in 0..80 {
        let f = WireFrame::message(vec![b' '; 1000], OpCode::Data(Data::Continue), false);
        if ws.send(Message::Frame(f)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(1009)
    );

    let mut ws = raw_session(&c, 0, "alice").await;
    let mut rsv = WireFrame::message(b"{}".to_vec(), OpCode::Data(Data::Text), true);
    rsv.header_mut().rsv1 = true;
    ws.send(Message::Frame(rsv)).await.unwrap();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(1002)
    );

    // A fragmented message within the limit is still a message.
    let mut ok = c.connect(0, "alice").await;
    ok.send("").await; // warm: an empty frame gets an error, proving the session reads
    assert!(matches!(
        ok.recv_within(Duration::from_secs(5)).await,
        Some(Frame::Text(_))
    ));
    let mut ws = raw_session(&c, 0, "alice").await;
    let text = json!({"topic": "org.frames/x/things/twin/commands/retrieve", "path": "/",
        "headers": {"correlation-id": "fragmented"}})
    .to_string();
    let (a, b) = text.as_bytes().split_at(text.len() / 2);
    ws.send(Message::Frame(WireFrame::message(
        a.to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Frame(WireFrame::message(
        b.to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    let answer = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => break t.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no answer to a fragmented message: {other:?}"),
        }
    };
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer["headers"]["correlation-id"], "fragmented",
        "{answer}"
    );
    canary.assert_healthy(CANARY_GAP).await;
}

/// Item 8, sizes: each START parameter at ten times its limit is refused with Ditto's error for
/// that parameter and no ACK; the session carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_subscription_parameters_are_refused_without_an_ack() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let canary = Canary::start(&c, 0, "bob", "params").await;
    let mut s = c.connect(0, "alice").await;
    let filter = format!("eq(attributes/a,\"{}\")", "x".repeat(10 * 16384));
    let extra = "attributes/a,".repeat(10 * 4096 / 13);
    let namespaces = (0..10 * 100)
        .map(|i| format!("org.n{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let cases = [
        (
            format!("START-SEND-EVENTS?filter={filter}"),
            "rql.expression.invalid",
            "ws.subscription_limits.max_filter_bytes",
        ),
        (
            format!("START-SEND-EVENTS?extraFields={extra}"),
            "things:field.selection.invalid",
            "over the limit of 4096 bytes",
        ),
        (
            format!("START-SEND-MESSAGES?namespaces={namespaces}"),
            "gateway:websocket.parameter.invalid",
            "ws.subscription_limits.max_namespaces",
        ),
    ];
    for (frame, code, message) in cases {
        let started = Instant::now();
        s.send(&frame).await;
        let e = s.recv_json().await;
        assert_eq!(e["value"]["error"], code, "{e}");
        assert_eq!(e["value"]["status"], 400, "{e}");
        let text = e["value"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // No ACK follows.
        s.expect_silence(Duration::from_millis(300)).await;
    }
    // Nothing of it was stored; the canary's subscription is the only one.
    assert_eq!(subscription_records(&c).await, 1);
    s.subscribe(
        "START-SEND-EVENTS?namespaces=org.params",
        "START-SEND-EVENTS:ACK",
    )
    .await;
    canary.assert_healthy(CANARY_GAP).await;
}

/// Sends `rounds` START/STOP pairs on `s` without waiting, then reads all their ACKs.
async fn churn(mut s: Client, rounds: usize, tag: usize) -> Client {
    for i in 0..rounds {
        s.send(&format!(
            "START-SEND-EVENTS?namespaces=org.churn&filter=eq(attributes/n,\"{tag}-{i}\")"
        ))
        .await;
        s.send("STOP-SEND-EVENTS").await;
    }
    for _ in 0..rounds * 2 {
        match s.recv_within(Duration::from_secs(30)).await {
            Some(Frame::Text(t)) if t.ends_with(":ACK") => {}
            other => panic!("churn: expected an ACK, got {other:?}"),
        }
    }
    s
}

/// Item 8, Redis: a session's records leave the node's hash on STOP and when it ends, and the
/// change stream stays bounded (by count, so in bytes given the parameter limits) under START/STOP
/// churn past its bound; hubs keep routing correctly afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_leave_redis_and_the_change_stream_stays_bounded_under_churn() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    let canary = Canary::start(&c, 0, "bob", "churn").await;
    assert_eq!(subscription_records(&c).await, 1);

    // Largest allowed records, on every kind, then the session ends: its records go.
    let mut big = c.connect(0, "alice").await;
    let filter = format!("eq(attributes/a,\"{}\")", "x".repeat(16384 - 19));
    for kind in ["EVENTS", "MESSAGES", "LIVE-COMMANDS", "LIVE-EVENTS"] {
        big.subscribe(
            &format!("START-SEND-{kind}?filter={filter}"),
            &format!("START-SEND-{kind}:ACK"),
        )
        .await;
    }
    assert_eq!(subscription_records(&c).await, 5);
    big.subscribe("STOP-SEND-MESSAGES", "STOP-SEND-MESSAGES:ACK")
        .await;
    assert_eq!(subscription_records(&c).await, 4);
    big.close().await;
    drop(big);
    let deadline = Instant::now() + Duration::from_secs(5);
    while subscription_records(&c).await != 1 {
        assert!(
            Instant::now() < deadline,
            "records stayed after the session ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Churn past the stream's bound (10,000 entries) from four sessions at once.
    let mut tasks = Vec::new();
    for tag in 0..4 {
        let s = c.connect(0, "alice").await;
        tasks.push(tokio::spawn(churn(s, 1_600, tag)));
    }
    let mut sessions = Vec::new();
    for t in tasks {
        sessions.push(t.await.unwrap());
    }
    let mut conn = c.redis.conn().await;
    let len = subs_stream_len(&c).await;
    let memory: usize = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("tw:subs")
        .query_async(&mut conn)
        .await
        .unwrap();
    eprintln!("tw:subs after churn: XLEN {len}, MEMORY USAGE {memory} bytes");
    // `MAXLEN ~` trims whole stream nodes (100 entries each by default).
    assert!(len <= 10_000 + 200, "XLEN tw:subs = {len}");
    assert!(memory < 8 * 1024 * 1024, "MEMORY USAGE tw:subs = {memory}");
    assert_eq!(subscription_records(&c).await, 1, "STOP removes records");
    drop(sessions);

    // The hub still routes: a new subscriber gets the next event.
    let mut fresh = c.connect(0, "carol").await;
    fresh
        .subscribe(
            "START-SEND-EVENTS?namespaces=org.after",
            "START-SEND-EVENTS:ACK",
        )
        .await;
    let mut w = c.connect(0, "carol").await;
    w.request(
        json!({"topic": "org.after/t/things/twin/commands/create", "path": "/", "value": {}}),
    )
    .await;
    let e = fresh.recv_json().await;
    assert_eq!(e["topic"], "org.after/t/things/twin/events/created", "{e}");
    canary.assert_healthy(CANARY_GAP).await;
}

/// Item 8, hubs: when trimming overtakes a hub (here: paused while more changes than the stream
/// keeps were written), the hub notices and reloads the hashes instead of silently missing the
/// subscriptions made meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_overtaken_by_trimming_reloads_the_subscriptions() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        ..Default::default()
    })
    .await;
    c.hubs[0].proc.signal(19); // SIGSTOP
    let mut late = c.connect(0, "carol").await;
    late.subscribe(
        "START-SEND-EVENTS?namespaces=org.late",
        "START-SEND-EVENTS:ACK",
    )
    .await;
    let mut tasks = Vec::new();
    for tag in 0..4 {
        let s = c.connect(0, "alice").await;
        tasks.push(tokio::spawn(churn(s, 1_500, tag)));
    }
    for t in tasks {
        t.await.unwrap();
    }
    c.hubs[0].proc.signal(18); // SIGCONT
                               // The subscription's own change was trimmed away before the hub could read it.
    let mut w = c.connect(0, "carol").await;
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        w.request(
            json!({"topic": "org.late/t/things/twin/commands/create", "path": "/", "value": {}}),
        ),
    )
    .await
    .expect("the hub answers after it resumed");
    assert_eq!(r["status"], 201, "{r}");
    // Within a reaping period (5 s) the hub reloads; events from then on reach the session.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        w.send_json(&json!({"topic": "org.late/t/things/twin/commands/modify",
            "path": "/attributes/n", "value": n, "headers": {"response-required": false}}))
            .await;
        if let Some(Frame::Text(t)) = late.recv_within(Duration::from_millis(500)).await {
            assert!(t.contains("org.late/t/things/twin/events"), "{t}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hub never learned of the subscription"
        );
    }
    assert!(c.hubs[0].proc.log_text().contains("reloading the registry"));
    let canary = Canary::start(&c, 0, "bob", "overtaken").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    canary.assert_healthy(CANARY_GAP).await;
}

/// The per-session inbound rate limit (`ws.throttling`): a session sending faster than the limit
/// gets Ditto's `too.many.requests` frames with `retry-after` for what is over it; another session
/// under the limit, and the canary, are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_session_is_throttled_and_others_are_not() {
    let c = Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: env(&[
            ("TWINWIRE_WS__THROTTLING__LIMIT", "30"),
            ("TWINWIRE_WS__THROTTLING__INTERVAL_MS", "1000"),
        ]),
        ..Default::default()
    })
    .await;
    let canary = Canary::start(&c, 0, "bob", "throttle").await;
    let mut setup = c.connect(0, "alice").await;
    let r = setup
        .request(
            json!({"topic": "org.flood/t/things/twin/commands/create", "path": "/", "value": {}}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");

    let mut flood = c.connect(0, "alice").await;
    let sent = 300;
    for i in 0..sent {
        flood
            .send_json(
                &json!({"topic": "org.flood/t/things/twin/commands/retrieve", "path": "/",
                "headers": {"correlation-id": format!("f{i}")}}),
            )
            .await;
    }
    let (mut answered, mut throttled) = (0, 0);
    while answered + throttled < sent {
        let v = match flood.recv_within(Duration::from_secs(10)).await {
            Some(Frame::Text(t)) => serde_json::from_str::<Value>(&t).unwrap(),
            other => panic!("after {answered} answers and {throttled} refusals: {other:?}"),
        };
        if v["value"]["error"] == "too.many.requests" {
            assert_eq!(v["value"]["status"], 429, "{v}");
            let retry: u64 = v["headers"]["retry-after"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=1).contains(&retry), "{v}");
            throttled += 1;
        } else {
            assert_eq!(v["status"], 200, "{v}");
            answered += 1;
        }
    }
    assert!(
        throttled > 0 && answered >= 30,
        "{answered} answered, {throttled} refused"
    );
    assert!(answered < sent / 2, "{answered} answered of {sent}");

    // Another session of the same user, under the limit: every request answered.
    let mut polite = c.connect(0, "alice").await;
    for _ in 0..10 {
        let r = polite
            .request(json!({"topic": "org.flood/t/things/twin/commands/retrieve", "path": "/"}))
            .await;
        assert_eq!(r["status"], 200, "{r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The flooding session itself recovers in the next window.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = flood
        .request(json!({"topic": "org.flood/t/things/twin/commands/retrieve", "path": "/"}))
        .await;
    assert_eq!(r["status"], 200, "{r}");
    canary.assert_healthy(CANARY_GAP).await;
}
