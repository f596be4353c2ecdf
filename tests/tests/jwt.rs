//! JWT authentication end to end (issue 7, reference §1.6, §1.7, §2.2): keys generated here (none
//! in the repository), a local HTTP server serving the OpenID discovery document and the JWKS, key
//! rotation, `access_token`, expiry closing the session, and `JWT-TOKEN` refresh.

use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinwire_tests::{http_request, Client, Cluster, ClusterOptions, Frame};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct RsaKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn rsa_key(kid: &str) -> RsaKey {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("rsa key");
    let pem = private
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .expect("pem");
    let public = private.to_public_key();
    RsaKey {
        kid: kid.into(),
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("encoding key"),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())}),
    }
}

fn ec_key(kid: &str) -> RsaKey {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = secret
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .expect("pem");
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    RsaKey {
        kid: kid.into(),
        encoding: EncodingKey::from_ec_pem(pem.as_bytes()).expect("encoding key"),
        jwk: json!({"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig", "alg": "ES256",
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))}),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A minimal OpenID provider on loopback: discovery document and a JWKS that the test can swap.
struct Issuer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<u32>>,
}

async fn start_issuer(keys: Vec<Value>) -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let jwks = Arc::new(Mutex::new(json!({"keys": keys})));
    let fetches = Arc::new(Mutex::new(0));
    let (j, f, u) = (jwks.clone(), fetches.clone(), url.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (j, f, u) = (j.clone(), f.clone(), u.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = if path == "/.well-known/openid-configuration" {
                    json!({"issuer": u, "jwks_uri": format!("{u}/jwks")}).to_string()
                } else if path == "/jwks" {
                    *f.lock().unwrap() += 1;
                    j.lock().unwrap().to_string()
                } else {
                    String::new()
                };
                let status = if body.is_empty() {
                    "404 Not Found"
                } else {
                    "200 OK"
                };
                let resp = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Issuer { url, jwks, fetches }
}

fn token(key: &RsaKey, alg: Algorithm, iss: &str, sub: &str, exp: u64, aud: &str) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(key.kid.clone());
    encode(
        &h,
        &json!({"iss": iss, "sub": sub, "exp": exp, "aud": aud, "iat": now()}),
        &key.encoding,
    )
    .expect("sign")
}

async fn cluster(issuer: &Issuer) -> Cluster {
    // No clock-skew tolerance, so expiry tests run in seconds.
    let config = format!(
        "[auth.jwt]\nleeway_secs = 0\n\n[[auth.jwt.issuers]]\nissuer = \"{}\"\nsubject_prefix = \"test\"\naudiences = [\"twinwire\"]\nalgorithms = [\"RS256\", \"ES256\"]\n",
        issuer.url
    );
    Cluster::start(ClusterOptions {
        gateway_config: Some(config),
        ..Default::default()
    })
    .await
}

async fn connect_bearer(c: &Cluster, gw: usize, tok: &str) -> Result<Client, String> {
    Client::connect_with(
        &c.ws_url(gw),
        &[("Authorization", &format!("Bearer {tok}"))],
    )
    .await
}

async fn status_of_upgrade(c: &Cluster, query: &str, auth: Option<&str>) -> (u16, Value) {
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let a;
    if let Some(t) = auth {
        a = format!("Bearer {t}");
        headers.push(("Authorization", &a));
    }
    let (status, body) = http_request(
        "GET",
        &format!("{}/ws/2{query}", c.http_base(0)),
        &headers,
        None,
    )
    .await
    .unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_and_access_token_authenticate_and_bad_tokens_get_401() {
    let k1 = rsa_key("k1");
    let e1 = ec_key("e1");
    let issuer = start_issuer(vec![k1.jwk.clone(), e1.jwk.clone()]).await;
    let c = cluster(&issuer).await;
    let iss = issuer.url.as_str();
    let good = token(&k1, Algorithm::RS256, iss, "alice", now() + 600, "twinwire");

    // Bearer, RS256: the subject is test:alice, who owns what she creates.
    let mut s = connect_bearer(&c, 0, &good).await.expect("bearer connects");
    let r = s
        .request(
            json!({"topic": "org.jwt/t1/things/twin/commands/create", "path": "/", "value": {}}),
        )
        .await;
    assert_eq!(r["status"], 201, "{r}");
    assert_eq!(r["headers"]["ditto-originator"], "test:alice", "{r}");
    // ES256 and the access_token query parameter.
    let es = token(&e1, Algorithm::ES256, iss, "alice", now() + 600, "twinwire");
    let mut s2 = Client::connect_with(&format!("{}?access_token={es}", c.ws_url(1)), &[])
        .await
        .expect("access_token connects");
    let r = s2
        .request(json!({"topic": "org.jwt/t1/things/twin/commands/retrieve", "path": "/"}))
        .await;
    assert_eq!(
        r["status"], 200,
        "same subject on the other node reads it: {r}"
    );

    let other_aud = token(
        &k1,
        Algorithm::RS256,
        iss,
        "alice",
        now() + 600,
        "someone-else",
    );
    let expired = token(&k1, Algorithm::RS256, iss, "alice", now() - 60, "twinwire");
    let foreign = token(
        &rsa_key("k1"),
        Algorithm::RS256,
        iss,
        "alice",
        now() + 600,
        "twinwire",
    );
    let untrusted = token(
        &k1,
        Algorithm::RS256,
        "http://127.0.0.1:1",
        "alice",
        now() + 600,
        "twinwire",
    );
    for (what, tok) in [
        ("audience", other_aud),
        ("expired", expired),
        ("forged signature", foreign),
        ("untrusted issuer", untrusted),
        ("garbage", "x.y.z".to_owned()),
    ] {
        let (status, body) = status_of_upgrade(&c, "", Some(&tok)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(
            body["error"], "gateway:authentication.failed",
            "{what}: {body}"
        );
    }
    // Both at once.
    let (status, body) = status_of_upgrade(&c, &format!("?access_token={good}"), Some(&good)).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Multiple JWTs provided.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_a_rotated_key_is_accepted_after_refetching_the_jwks() {
    let k1 = rsa_key("k1");
    let issuer = start_issuer(vec![k1.jwk.clone()]).await;
    let c = cluster(&issuer).await;
    let iss = issuer.url.as_str();
    connect_bearer(
        &c,
        0,
        &token(&k1, Algorithm::RS256, iss, "bob", now() + 600, "twinwire"),
    )
    .await
    .expect("k1 works");
    let before = *issuer.fetches.lock().unwrap();
    // Rotate: the issuer now publishes k2 only.
    let k2 = rsa_key("k2");
    *issuer.jwks.lock().unwrap() = json!({"keys": [k2.jwk.clone()]});
    tokio::time::sleep(Duration::from_secs(11)).await; // past the refetch rate limit
    connect_bearer(
        &c,
        0,
        &token(&k2, Algorithm::RS256, iss, "bob", now() + 600, "twinwire"),
    )
    .await
    .expect("k2 works after rotation");
    assert!(
        *issuer.fetches.lock().unwrap() > before,
        "the JWKS was fetched again"
    );
}

/// Reads until the close frame, returning the error frames seen before it.
async fn until_close(s: &mut Client, wait: Duration) -> (Vec<Value>, Option<(u16, String)>) {
    let mut frames = Vec::new();
    loop {
        match s.recv_within(wait).await {
            Some(Frame::Text(t)) => {
                frames.push(serde_json::from_str(&t).unwrap_or(Value::String(t)))
            }
            Some(Frame::Close(c)) => return (frames, c),
            Some(Frame::Binary(_)) => {}
            None => panic!("no close within {wait:?}; frames: {frames:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_ends_the_session_with_an_error_frame_and_1000_also_for_access_token() {
    let k1 = rsa_key("k1");
    let issuer = start_issuer(vec![k1.jwk.clone()]).await;
    let c = cluster(&issuer).await;
    let iss = issuer.url.as_str();
    let short = token(&k1, Algorithm::RS256, iss, "carol", now() + 3, "twinwire");
    let mut header = connect_bearer(&c, 0, &short).await.unwrap();
    let mut query = Client::connect_with(&format!("{}?access_token={short}", c.ws_url(0)), &[])
        .await
        .unwrap();
    for s in [&mut header, &mut query] {
        let (frames, close) = until_close(s, Duration::from_secs(8)).await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(
            frames[0]["value"]["error"], "gateway:websocket.session.expired",
            "{frames:?}"
        );
        assert_eq!(frames[0]["status"], 401);
        assert_eq!(close.map(|c| c.0), Some(1000));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_token_refresh_with_the_same_subject_extends_the_session_and_another_subject_ends_it() {
    let k1 = rsa_key("k1");
    let issuer = start_issuer(vec![k1.jwk.clone()]).await;
    let c = cluster(&issuer).await;
    let iss = issuer.url.as_str();
    let mut s = connect_bearer(
        &c,
        0,
        &token(&k1, Algorithm::RS256, iss, "dave", now() + 3, "twinwire"),
    )
    .await
    .unwrap();
    s.send(&format!(
        "JWT-TOKEN?jwtToken={}",
        token(&k1, Algorithm::RS256, iss, "dave", now() + 600, "twinwire")
    ))
    .await;
    // No reply to JWT-TOKEN, and the session outlives the first token.
    s.expect_silence(Duration::from_secs(5)).await;
    s.subscribe("START-SEND-EVENTS", "START-SEND-EVENTS:ACK")
        .await;

    s.send(&format!(
        "JWT-TOKEN?jwtToken={}",
        token(&k1, Algorithm::RS256, iss, "eve", now() + 600, "twinwire")
    ))
    .await;
    let (frames, close) = until_close(&mut s, Duration::from_secs(5)).await;
    assert_eq!(
        frames[0]["value"]["error"], "gateway:websocket.session.closed",
        "{frames:?}"
    );
    assert!(
        frames[0]["value"]["message"]
            .as_str()
            .unwrap()
            .contains("authorization context changed"),
        "{frames:?}"
    );
    assert_eq!(close.map(|c| c.0), Some(1000));

    let mut s = connect_bearer(
        &c,
        0,
        &token(&k1, Algorithm::RS256, iss, "dave", now() + 600, "twinwire"),
    )
    .await
    .unwrap();
    s.send("JWT-TOKEN?jwtToken=not-a-jwt").await;
    let (frames, close) = until_close(&mut s, Duration::from_secs(5)).await;
    assert!(
        frames[0]["value"]["message"]
            .as_str()
            .unwrap()
            .contains("JWT is invalid"),
        "{frames:?}"
    );
    assert_eq!(close.map(|c| c.0), Some(1000));
}
