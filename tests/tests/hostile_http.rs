//! Hostile HTTP clients (issue 19, items 5, 6, 7 and 10) against real processes, each while a
//! canary of another user on the same gateway keeps receiving: cross-site upgrades and API calls
//! refused by the Origin policy and CORS answered for allowed origins; bodies read only after
//! authentication and under a deadline, headers under theirs; a thing cannot be moved under a
//! policy its owner could not create it under; unknown users cost what wrong passwords cost, and
//! failed logins are throttled per address and per user name.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use twinwire_tests::canary::Canary;
use twinwire_tests::{basic_auth, Client, Cluster, ClusterOptions, USERS};

/// The canary's longest tolerated gap between two events (the bound).
const CANARY_GAP: Duration = Duration::from_secs(2);

fn password(user: &str) -> &'static str {
    USERS.iter().find(|(u, _)| *u == user).unwrap().1
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn one_gateway(gateway_env: &[(&str, &str)]) -> Cluster {
    Cluster::start(ClusterOptions {
        gateways: 1,
        gateway_env: env(gateway_env),
        ..Default::default()
    })
    .await
}

/// An HTTP answer as read off the socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("a JSON body ({e}): {self:?}"))
    }
}

/// Reads one answer (headers, then a `Content-Length` body; a 101 has none) within `wait`.
/// `Ok(None)`: the gateway closed the connection without answering; `Err`: nothing within `wait`.
async fn read_answer(
    s: &mut (impl tokio::io::AsyncRead + Unpin),
    wait: Duration,
) -> Result<Option<Answer>, ()> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            if status == 101 || buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..(end + 4 + len).min(buf.len())])
                    .into_owned();
                return Ok(Some(Answer {
                    status,
                    headers,
                    body,
                }));
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => return Err(()),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn connect(c: &Cluster) -> TcpStream {
    TcpStream::connect(("127.0.0.1", c.gateways[0].http_port))
        .await
        .expect("gateway accepts")
}

/// One request on a fresh connection; its answer within 10 s.
async fn exchange(
    c: &Cluster,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = connect(c).await;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n",
        c.gateways[0].http_port
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    read_answer(&mut s, Duration::from_secs(10))
        .await
        .expect("an answer within 10 s")
        .expect("an answer before the connection closes")
}

/// A WebSocket upgrade of `/ws/2` as `user` with extra headers.
async fn upgrade(c: &Cluster, user: &str, pass: &str, headers: &[(&str, &str)]) -> Answer {
    let auth = basic_auth(user, pass);
    let mut h = vec![
        ("Authorization", auth.as_str()),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    h.extend_from_slice(headers);
    exchange(c, "GET", "/ws/2", &h, b"").await
}

fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{a:?}");
    let v = a.json();
    assert_eq!(v["status"], status, "{a:?}");
    assert_eq!(v["error"], code, "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_upgrades_are_refused_before_the_upgrade_and_listed_origins_accepted() {
    let c = one_gateway(&[(
        "TWINWIRE_HTTP__ALLOWED_ORIGINS",
        "https://dash.example.com,https://*.apps.example.com",
    )])
    .await;
    let canary = Canary::start(&c, 0, "bob", "origin").await;
    let own = format!("http://127.0.0.1:{}", c.gateways[0].http_port);
    let pw = password("alice");

    for refused in [
        "https://evil.example",
        "null",
        "https://apps.example.com",
        "http://dash.example.com",
        "http://127.0.0.1:1",
    ] {
        let a = upgrade(&c, "alice", pw, &[("Origin", refused)]).await;
        assert_error(&a, 403, "gateway:origin.notallowed");
        assert!(
            a.json()["message"].as_str().unwrap().contains(refused),
            "{a:?}"
        );
        // Refused before authentication: no challenge that would tell the page anything.
        assert!(a.header("www-authenticate").is_none(), "{a:?}");
    }
    // Refused even with wrong credentials: the Origin is looked at first.
    let a = upgrade(&c, "alice", "wrong", &[("Origin", "https://evil.example")]).await;
    assert_error(&a, 403, "gateway:origin.notallowed");

    for accepted in [
        None,
        Some(own.as_str()),
        Some("https://dash.example.com"),
        Some("https://team.apps.example.com"),
    ] {
        let h: Vec<(&str, &str)> = accepted.iter().map(|o| ("Origin", *o)).collect();
        let a = upgrade(&c, "alice", pw, &h).await;
        assert_eq!(a.status, 101, "{accepted:?}: {a:?}");
    }
    // A session from an allowed origin works as any other.
    let mut s = Client::connect_with(
        &c.ws_url(0),
        &[
            ("Authorization", &basic_auth("alice", pw)),
            ("Origin", "https://dash.example.com"),
        ],
    )
    .await
    .expect("allowed origin connects");
    let r = s
        .request(
            json!({"topic": "org.origin/t/things/twin/commands/create", "path": "/", "value": {}}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
    canary.assert_healthy(CANARY_GAP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_answers_cors_for_allowed_origins_and_refuses_other_origins() {
    let c = one_gateway(&[("TWINWIRE_HTTP__ALLOWED_ORIGINS", "https://dash.example.com")]).await;
    let canary = Canary::start(&c, 0, "bob", "cors").await;
    let auth = basic_auth("alice", password("alice"));
    let path = "/api/2/things/org.cors:lamp";

    // Preflight from an allowed origin: the Access-Control-Allow-* headers, credentials allowed.
    let a = exchange(
        &c,
        "OPTIONS",
        path,
        &[
            ("Origin", "https://dash.example.com"),
            ("Access-Control-Request-Method", "PUT"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    )
    .await;
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://dash.example.com")
    );
    assert_eq!(a.header("access-control-allow-credentials"), Some("true"));
    assert!(
        a.header("access-control-allow-methods")
            .unwrap()
            .contains("PUT"),
        "{a:?}"
    );
    let allowed_headers = a.header("access-control-allow-headers").unwrap().to_owned();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"));
    assert!(
        a.header("vary").is_some_and(|v| v.contains("Origin")),
        "{a:?}"
    );

    // Preflight from any other origin: refused with Ditto's error and no CORS headers.
    for origin in ["https://evil.example", "null"] {
        let a = exchange(
            &c,
            "OPTIONS",
            path,
            &[("Origin", origin), ("Access-Control-Request-Method", "PUT")],
            b"",
        )
        .await;
        assert_error(&a, 403, "gateway:origin.notallowed");
        assert!(a.header("access-control-allow-origin").is_none(), "{a:?}");
    }

    // An actual request from the allowed origin carries Access-Control-Allow-Origin.
    let a = exchange(
        &c,
        "PUT",
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Origin", "https://dash.example.com"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://dash.example.com")
    );
    assert_eq!(a.header("access-control-allow-credentials"), Some("true"));

    // A cross-site page's request does not act, even with the browser's credentials: a plain
    // text message POST needs no preflight, so refusing only preflights would not be enough.
    let evil = "/api/2/things/org.cors:planted";
    let a = exchange(
        &c,
        "PUT",
        evil,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Origin", "https://evil.example"),
        ],
        b"{}",
    )
    .await;
    assert_error(&a, 403, "gateway:origin.notallowed");
    let a = exchange(&c, "GET", evil, &[("Authorization", &auth)], b"").await;
    assert_eq!(a.status, 404, "nothing was created: {a:?}");
    // Without Origin (not a browser) nothing changes.
    let a = exchange(&c, "GET", path, &[("Authorization", &auth)], b"").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.header("access-control-allow-origin").is_none(), "{a:?}");
    canary.assert_healthy(CANARY_GAP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_read_after_authentication_and_under_deadlines() {
    let body_timeout = Duration::from_millis(3000);
    let header_timeout = Duration::from_millis(1000);
    let c = one_gateway(&[
        ("TWINWIRE_HTTP__BODY_TIMEOUT_MS", "3000"),
        ("TWINWIRE_HTTP__HEADER_TIMEOUT_MS", "1000"),
        ("TWINWIRE_HTTP__MAX_BODY_BYTES", "4096"),
    ])
    .await;
    let canary = Canary::start(&c, 0, "bob", "drip").await;
    let port = c.gateways[0].http_port;
    let head = |auth: Option<&str>, length: usize| {
        let mut h = format!(
            "PUT /api/2/things/org.drip:t HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
        );
        if let Some(a) = auth {
            h.push_str(&format!("Authorization: {a}\r\n"));
        }
        h.push_str("\r\n{");
        h
    };
    /// Drips one byte every 200 ms until the connection breaks or 20 s pass.
    fn drip(mut s: tokio::net::tcp::OwnedWriteHalf) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if s.write_all(b" ").await.is_err() {
                    return;
                }
            }
        })
    }

    // Unauthenticated (no credentials, then wrong ones) dripping a body: 401 at once, without
    // waiting for the body.
    let wrong = basic_auth("alice", "wrong");
    for auth in [None, Some(wrong.as_str())] {
        let (mut r, mut w) = connect(&c).await.into_split();
        w.write_all(head(auth, 4000).as_bytes()).await.unwrap();
        let started = Instant::now();
        let dripper = drip(w);
        let a = read_answer(&mut r, Duration::from_secs(10))
            .await
            .expect("answered")
            .expect("answered before closing");
        assert_error(&a, 401, "gateway:authentication.failed");
        assert!(
            started.elapsed() < body_timeout / 2,
            "answered at once, not after the body: {:?}",
            started.elapsed()
        );
        dripper.abort();
    }

    // Authenticated, dripping: cut at the body timeout (408, or the connection closed).
    let auth = basic_auth("alice", password("alice"));
    let (mut r, mut w) = connect(&c).await.into_split();
    w.write_all(head(Some(&auth), 4000).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let dripper = drip(w);
    let answer = read_answer(&mut r, body_timeout + Duration::from_secs(5))
        .await
        .expect("cut within the body timeout and a margin");
    let took = started.elapsed();
    eprintln!("body drip: {answer:?} after {took:?}");
    if let Some(a) = &answer {
        assert_error(a, 408, "gateway:request.timeout");
    }
    assert!(
        took >= body_timeout - Duration::from_millis(500)
            && took < body_timeout + Duration::from_secs(3),
        "cut after {took:?} (body timeout {body_timeout:?})"
    );
    dripper.abort();

    // A declared body over the limit: refused at once.
    let (mut r, mut w) = connect(&c).await.into_split();
    w.write_all(head(Some(&auth), 100_000).as_bytes())
        .await
        .unwrap();
    let a = read_answer(&mut r, Duration::from_secs(2))
        .await
        .expect("answered at once")
        .expect("answered before closing");
    assert_error(&a, 413, "gateway:request.toolarge");
    drop(w);

    // Headers dripped one line at a time: cut at the header timeout.
    let (mut r, mut w) = connect(&c).await.into_split();
    w.write_all(
        format!("GET /api/2/things/org.drip:t HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let dripper = tokio::spawn(async move {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if w.write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let answer = read_answer(&mut r, header_timeout + Duration::from_secs(5))
        .await
        .expect("cut within the header timeout and a margin");
    eprintln!("header drip: {answer:?} after {:?}", started.elapsed());
    if let Some(a) = &answer {
        assert_eq!(a.status, 408, "{a:?}");
    }
    assert!(
        started.elapsed() < header_timeout + Duration::from_secs(3),
        "cut after {:?} (header timeout {header_timeout:?})",
        started.elapsed()
    );
    dripper.abort();

    // An authenticated request sent at a normal pace still works.
    let a = exchange(
        &c,
        "PUT",
        "/api/2/things/org.drip:ok",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    canary.assert_healthy(CANARY_GAP).await;
}

fn thing_cmd(id: &str, action: &str, path: &str, value: Option<Value>) -> Value {
    let (ns, name) = id.split_once(':').unwrap();
    let mut c =
        json!({"topic": format!("{ns}/{name}/things/twin/commands/{action}"), "path": path});
    if let Some(v) = value {
        c["value"] = v;
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thing_cannot_be_moved_under_a_policy_it_could_not_be_created_under() {
    let c = one_gateway(&[]).await;
    let canary = Canary::start(&c, 0, "bob", "policy-move").await;
    let mut alice = c.connect(0, "alice").await;
    let mut bob = c.connect(0, "bob").await;
    let (bobs, alices, shared) = ("org.move:bobs", "org.move:alices", "org.move:shared");
    let r = bob
        .request(thing_cmd(bobs, "create", "/", Some(json!({}))))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let r = alice
        .request(thing_cmd(alices, "create", "/", Some(json!({}))))
        .await;
    assert_eq!(r["status"], 201, "{r}");

    // Creating a thing under bob's policy is refused: that is the bar for moving one there.
    let create = alice
        .request(thing_cmd(
            "org.move:new",
            "create",
            "/",
            Some(json!({"policyId": bobs})),
        ))
        .await;
    assert_eq!(create["status"], 403, "{create}");
    let refusal = (create["status"].clone(), create["value"]["error"].clone());

    // Moving hers there is refused the same way, whichever command names the policy.
    for cmd in [
        thing_cmd(alices, "modify", "/policyId", Some(json!(bobs))),
        thing_cmd(alices, "modify", "/", Some(json!({"policyId": bobs}))),
        {
            let mut m = thing_cmd(alices, "merge", "/", Some(json!({"policyId": bobs})));
            m["headers"] = json!({"content-type": "application/merge-patch+json"});
            m
        },
    ] {
        let r = alice.request(cmd.clone()).await;
        assert_eq!(
            (r["status"].clone(), r["value"]["error"].clone()),
            refusal,
            "{cmd}: {r}"
        );
    }
    // And over HTTP.
    let auth = basic_auth("alice", password("alice"));
    let a = exchange(
        &c,
        "PUT",
        "/api/2/things/org.move:alices/policyId",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        format!("\"{bobs}\"").as_bytes(),
    )
    .await;
    assert_eq!(
        (json!(a.status), a.json()["error"].clone()),
        refusal,
        "{a:?}"
    );
    let r = alice
        .request(thing_cmd(alices, "retrieve", "/policyId", None))
        .await;
    assert_eq!(r["value"], alices, "the thing stayed where it was: {r}");

    // A policy that grants her what create needs takes her thing, over the WebSocket and HTTP.
    let rw = json!({"grant": ["READ", "WRITE"], "revoke": []});
    let policy = json!({"entries": {
        "owner": {"subjects": {"nginx:bob": {"type": "test"}}, "resources": {"thing:/": rw, "policy:/": rw}},
        "guest": {"subjects": {"nginx:alice": {"type": "test"}}, "resources": {"thing:/": rw}},
    }});
    let r = bob
        .request(json!({"topic": "org.move/shared/policies/commands/create", "path": "/", "value": policy}))
        .await;
    assert_eq!(r["status"], 201, "{r}");
    let r = alice
        .request(thing_cmd(
            alices,
            "modify",
            "/policyId",
            Some(json!(shared)),
        ))
        .await;
    assert_eq!(r["status"], 204, "{r}");
    let a = exchange(
        &c,
        "PUT",
        "/api/2/things/org.move:alices/policyId",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        format!("\"{alices}\"").as_bytes(),
    )
    .await;
    assert_eq!(a.status, 204, "{a:?}");
    canary.assert_healthy(CANARY_GAP).await;
}

/// The median of `n` round trips of a request with `Authorization: auth` refused with 401.
async fn median_refusal(c: &Cluster, auth: Option<&str>, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        let started = Instant::now();
        let a = exchange(c, "GET", "/api/2/things/org.timing:t", &headers, b"").await;
        times.push(started.elapsed());
        assert_eq!(a.status, 401, "{a:?}");
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_cost_what_wrong_passwords_cost() {
    // A cost high enough that one bcrypt verification stands out from a request's own time.
    let dir = std::env::temp_dir().join(format!("tw-timing-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let htpasswd = dir.join("htpasswd");
    let lines: String = USERS
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 10).unwrap()))
        .collect();
    std::fs::write(&htpasswd, lines).unwrap();
    let path = htpasswd.display().to_string();
    let c = one_gateway(&[
        ("TWINWIRE_AUTH__BASIC__HTPASSWD_FILE", &path),
        // Every attempt must reach the verification.
        ("TWINWIRE_AUTH__FAILED_LOGINS__PER_ADDRESS", "0"),
        ("TWINWIRE_AUTH__FAILED_LOGINS__PER_USER", "0"),
    ])
    .await;
    let canary = Canary::start(&c, 0, "bob", "timing").await;
    let unknown = basic_auth("mallory", "guess");
    let wrong = basic_auth("alice", "guess");
    let rounds = 9;
    let (mut unknown_t, mut wrong_t) = (Vec::new(), Vec::new());
    // Interleaved, so that a slow moment of the machine hits both alike.
    for _ in 0..3 {
        unknown_t.push(median_refusal(&c, Some(&unknown), rounds / 3).await);
        wrong_t.push(median_refusal(&c, Some(&wrong), rounds / 3).await);
    }
    unknown_t.sort();
    wrong_t.sort();
    let (unknown_t, wrong_t) = (unknown_t[1], wrong_t[1]);
    let without = median_refusal(&c, None, 5).await;
    eprintln!("median refusal: unknown user {unknown_t:?}, wrong password {wrong_t:?}, no credentials {without:?}");
    // The signal is there: a wrong password costs a verification, far more than no credentials.
    assert!(
        wrong_t > without * 3,
        "wrong password {wrong_t:?} vs none {without:?}"
    );
    // And an unknown user costs as much (a generous bound: timing on a shared machine is noisy).
    let ratio = unknown_t.as_secs_f64() / wrong_t.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown user {unknown_t:?} vs wrong password {wrong_t:?}"
    );
    canary.assert_healthy(CANARY_GAP).await;
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A request from the client address `from`, as the trusted proxy in front reports it.
async fn login_over_http(c: &Cluster, from: &str, user: &str, pass: &str) -> Answer {
    let auth = basic_auth(user, pass);
    exchange(
        c,
        "GET",
        "/api/2/things/org.throttle:none",
        &[("Authorization", &auth), ("X-Forwarded-For", from)],
        b"",
    )
    .await
}

async fn login_over_ws(c: &Cluster, from: &str, user: &str, pass: &str) -> Answer {
    upgrade(c, user, pass, &[("X-Forwarded-For", from)]).await
}

/// A 429 from the failed-login limit `key` (`per_address` or `per_user`), or either when None.
fn assert_throttled_by(a: &Answer, key: Option<&str>) {
    assert_error(a, 429, "too.many.requests");
    let retry: u64 = a
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After in seconds: {a:?}"));
    assert!((1..=60).contains(&retry), "{a:?}");
    let key = format!("auth.failed_logins.{}", key.unwrap_or(""));
    assert!(
        a.json()["message"].as_str().unwrap().contains(&key),
        "the message names the limit {key}: {a:?}"
    );
}

fn assert_throttled(a: &Answer) {
    assert_throttled_by(a, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_address_and_per_user_name() {
    // The test's connections all come from 127.0.0.1, so it plays the load balancer in front and
    // names the clients' addresses in X-Forwarded-For.
    let c = one_gateway(&[
        ("TWINWIRE_AUTH__FAILED_LOGINS__PER_ADDRESS", "3"),
        ("TWINWIRE_AUTH__FAILED_LOGINS__PER_USER", "3"),
        ("TWINWIRE_AUTH__FAILED_LOGINS__WINDOW_SECS", "60"),
        ("TWINWIRE_HTTP__TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let canary = Canary::start(&c, 0, "bob", "throttle").await;
    let (alice, ditto, carol) = (password("alice"), password("ditto"), password("carol"));

    // Three wrong passwords for alice from 10.0.0.1, over both doors.
    assert_eq!(
        login_over_ws(&c, "10.0.0.1", "alice", "x1").await.status,
        401
    );
    assert_eq!(
        login_over_http(&c, "10.0.0.1", "alice", "x2").await.status,
        401
    );
    assert_eq!(
        login_over_ws(&c, "10.0.0.1", "alice", "x3").await.status,
        401
    );
    // Then even her right password is refused there, on the upgrade and on the HTTP API.
    assert_throttled(&login_over_ws(&c, "10.0.0.1", "alice", alice).await);
    assert_throttled(&login_over_http(&c, "10.0.0.1", "alice", alice).await);
    // Per user name: from a fresh address too.
    let per_user = Some("per_user");
    assert_throttled_by(
        &login_over_ws(&c, "10.0.0.2", "alice", alice).await,
        per_user,
    );
    assert_throttled_by(
        &login_over_http(&c, "10.0.0.2", "alice", "x4").await,
        per_user,
    );
    // Per address: another user from the same address.
    let per_address = Some("per_address");
    assert_throttled_by(
        &login_over_ws(&c, "10.0.0.1", "ditto", ditto).await,
        per_address,
    );
    assert_throttled_by(
        &login_over_http(&c, "10.0.0.1", "ditto", ditto).await,
        per_address,
    );
    // Other users from other addresses are not affected.
    assert_eq!(
        login_over_ws(&c, "10.0.0.3", "carol", carol).await.status,
        101
    );
    assert_eq!(
        login_over_http(&c, "10.0.0.4", "ditto", ditto).await.status,
        404
    );
    // A user whose name is under attack keeps logging in with credentials verified before: the
    // canary's user logged in already.
    for i in 0..3 {
        let a = login_over_http(&c, &format!("10.0.1.{i}"), "bob", "guess").await;
        assert_eq!(a.status, 401, "{a:?}");
    }
    assert_throttled(&login_over_ws(&c, "10.0.2.1", "bob", "guess").await);
    assert_eq!(
        login_over_ws(&c, "10.0.2.1", "bob", password("bob"))
            .await
            .status,
        101
    );
    canary.assert_healthy(CANARY_GAP).await;
}
