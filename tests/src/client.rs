//! A plain WebSocket client for tests (tokio-tungstenite): send text, receive frames with a
//! timeout, and helpers for Ditto Protocol JSON.

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What a test receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Close(Option<(u16, String)>),
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// The default wait for an expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub async fn connect_basic(url: &str, user: &str, pass: &str) -> Result<Client, String> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Client::connect_with(url, &[("Authorization", &format!("Basic {token}"))]).await
    }

    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Client, String> {
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
            req.headers_mut()
                .insert(name, HeaderValue::from_str(v).map_err(|e| e.to_string())?);
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Client { ws })
    }

    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send text frame");
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send(&v.to_string()).await
    }

    pub async fn send_binary(&mut self, b: &[u8]) {
        self.ws
            .send(Message::binary(b.to_vec()))
            .await
            .expect("send binary frame");
    }

    /// Sends a text frame whose payload is `bytes` as they are, valid UTF-8 or not.
    pub async fn send_raw_text(&mut self, bytes: &[u8]) {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
        let frame = WireFrame::message(bytes.to_vec(), OpCode::Data(Data::Text), true);
        self.ws
            .send(Message::Frame(frame))
            .await
            .expect("send raw text frame");
    }

    pub async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Sends `text` and then hangs up without a close frame: the TCP write side is shut down
    /// right after the frame, so the gateway reads the frame and the end of the stream together.
    pub async fn send_then_hang_up(mut self, text: &str) {
        self.send(text).await;
        if let MaybeTlsStream::Plain(tcp) = self.ws.get_ref() {
            socket2::SockRef::from(tcp)
                .shutdown(std::net::Shutdown::Write)
                .expect("shut down the write side");
        }
        // Keep reading (and so never reset the connection) until the gateway closes its side.
        let _ = tokio::time::timeout(WAIT, async { while self.ws.next().await.is_some() {} }).await;
    }

    /// Drops the connection the way a crashed device or a lost network does: no close frame, and
    /// the socket reset (linger 0 turns the close into an RST) rather than shut down.
    pub fn abort(self) {
        if let MaybeTlsStream::Plain(tcp) = self.ws.get_ref() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
        drop(self);
    }

    /// The next data or close frame within `wait`; pings and pongs are skipped.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match msg {
                Ok(Message::Text(t)) => return Some(Frame::Text(t.to_string())),
                Ok(Message::Binary(b)) => return Some(Frame::Binary(b.to_vec())),
                Ok(Message::Close(c)) => {
                    return Some(Frame::Close(c.map(|CloseFrame { code, reason }| {
                        (u16::from(code), reason.to_string())
                    })))
                }
                Ok(_) => continue,
                Err(_) => return Some(Frame::Close(None)),
            }
        }
    }

    /// The next text frame, failing the test on anything else or on timeout.
    pub async fn recv_text(&mut self) -> String {
        match self.recv_within(WAIT).await {
            Some(Frame::Text(t)) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    pub async fn recv_json(&mut self) -> Value {
        let t = self.recv_text().await;
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
    }

    /// Asserts that nothing arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(f) = self.recv_within(wait).await {
            panic!("expected no frame, got {f:?}");
        }
    }

    /// Sends a control frame and asserts its exact ACK.
    pub async fn subscribe(&mut self, frame: &str, ack: &str) {
        self.send(frame).await;
        assert_eq!(self.recv_text().await, ack, "ACK for {frame}");
    }

    /// Sends a command and returns the response with the same correlation-id, failing on any
    /// other frame in between.
    pub async fn request(&mut self, mut cmd: Value) -> Value {
        let cid = cmd["headers"]["correlation-id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        cmd["headers"]["correlation-id"] = Value::String(cid.clone());
        self.send_json(&cmd).await;
        let r = self.recv_json().await;
        assert_eq!(
            r["headers"]["correlation-id"],
            Value::String(cid),
            "response correlation-id: {r}"
        );
        r
    }

    /// The close frame the server sends, within `wait`.
    pub async fn recv_close(&mut self, wait: Duration) -> Option<(u16, String)> {
        loop {
            match self.recv_within(wait).await {
                Some(Frame::Close(c)) => return c,
                Some(_) => continue,
                None => panic!("no close frame within {wait:?}"),
            }
        }
    }
}
