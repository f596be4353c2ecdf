//! Plain HTTP/1.1 over a fresh TCP connection per request, enough for admin endpoints and the HTTP
//! API: tests see exactly the status, headers and body the server sent, with no client library
//! between.

use std::time::Duration;

/// Status of a plain HTTP GET, or None if nothing answers.
pub async fn http_get_status(url: &str) -> Option<u16> {
    http_get(url).await.map(|(s, _)| s)
}

/// Status and body of a plain HTTP/1.1 GET over a fresh TCP connection.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    http_request("GET", url, &[], None).await
}

/// A minimal HTTP/1.1 request over a fresh TCP connection (Connection: close).
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<(u16, String)> {
    http_exchange(method, url, headers, body)
        .await
        .map(|a| (a.status, a.body))
}

/// What [`http_exchange`] got back.
pub struct HttpAnswer {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// [`http_request`] with the response's headers.
pub async fn http_exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<HttpAnswer> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(host))
        .await
        .ok()?
        .ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    if let Some(b) = body {
        s.write_all(b).await.ok()?;
    }
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(70), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, raw_body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_owned()
    };
    Some(HttpAnswer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An `Authorization: Basic …` header value for `user:pass`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// One HTTP API call to gateway 0 of `cluster` as `user` (name, password); a body is sent as JSON.
pub async fn api_call(
    cluster: &crate::Cluster,
    user: (&str, &str),
    method: &str,
    path: &str,
    body: Option<&str>,
) -> HttpAnswer {
    let auth = basic_auth(user.0, user.1);
    let mut headers: Vec<(&str, &str)> = vec![("Authorization", &auth)];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    http_exchange(
        method,
        &format!("{}{path}", cluster.http_base(0)),
        &headers,
        body.map(str::as_bytes),
    )
    .await
    .expect("gateway answers")
}

impl HttpAnswer {
    /// The body as JSON (`Null` when it is none).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}
