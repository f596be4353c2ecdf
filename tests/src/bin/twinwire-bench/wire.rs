//! The bench's WebSocket client side: connections from a chosen loopback source address (to get
//! past one address's ephemeral ports), subscriber readers that record end-to-end latency, and
//! the event payload that carries its send time.

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// What a target speaks: twinwire's Ditto binding, or a peer's protocol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    Ditto,
    /// Engine.IO 4 over a WebSocket: `0{…}` open, `40` connect, `42[…]` events, `2`/`3` pings.
    SocketIo,
    /// nchan's WebSocket subscriber and publisher endpoints.
    Nchan,
}

/// Subscriber or writer: nchan has one endpoint for each.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sub,
    Pub,
}

/// Microseconds since the Unix epoch: sender and receivers share the clock of this machine.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Opens `/ws/2` on `port` as ditto:ditto, from `source` when given.
pub async fn connect(port: u16, source: Option<Ipv4Addr>) -> Result<Ws, String> {
    connect_to(Proto::Ditto, Role::Sub, port, source).await
}

/// Opens a target's WebSocket and, for Socket.IO, completes its handshake.
pub async fn connect_to(
    proto: Proto,
    role: Role,
    port: u16,
    source: Option<Ipv4Addr>,
) -> Result<Ws, String> {
    let path = match (proto, role) {
        (Proto::Ditto, _) => "/ws/2",
        (Proto::SocketIo, _) => "/socket.io/?EIO=4&transport=websocket",
        (Proto::Nchan, Role::Sub) => "/sub",
        (Proto::Nchan, Role::Pub) => "/pub",
    };
    let mut ws = open(port, path, source).await?;
    if proto == Proto::SocketIo {
        expect_prefix(&mut ws, "0{").await?;
        ws.send(Message::text("40"))
            .await
            .map_err(|e| e.to_string())?;
        expect_prefix(&mut ws, "40").await?;
    }
    Ok(ws)
}

async fn expect_prefix(ws: &mut Ws, prefix: &str) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.starts_with(prefix) => Ok(()),
        other => Err(format!("expected {prefix}…, got {other:?}")),
    }
}

async fn open(port: u16, path: &str, source: Option<Ipv4Addr>) -> Result<Ws, String> {
    let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(ip) = source {
        sock.bind(SocketAddr::from((ip, 0)))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let tcp = sock
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).ok();
    let mut req = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let token = base64::engine::general_purpose::STANDARD.encode("ditto:ditto");
    req.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
    );
    let (ws, _) = tokio_tungstenite::client_async(req, tcp)
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    Ok(ws)
}

/// Sends a control frame and waits for its exact ACK.
pub async fn start(ws: &mut Ws, frame: &str) -> Result<(), String> {
    ws.send(Message::text(frame.to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    let ack = format!("{}:ACK", frame.split('?').next().unwrap_or(frame));
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str() == ack => return Ok(()),
            Ok(Some(Ok(Message::Text(t)))) => return Err(format!("expected {ack}, got {t}")),
            Ok(Some(Ok(_))) => continue,
            other => return Err(format!("expected {ack}, got {other:?}")),
        }
    }
}

/// The number after `"key":` in a frame, without parsing the whole JSON (the clients share the
/// machine with the servers, so they should cost little).
pub fn field(frame: &str, key: &str) -> Option<u64> {
    let at = frame.find(key)? + key.len();
    let digits: &str = &frame[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// What the subscribers of one load step received.
pub struct StepRecord {
    pub received: AtomicU64,
    shards: Vec<Mutex<Histogram<u64>>>,
}

pub const MAX_STEPS: usize = 16;
const SHARDS: usize = 16;

impl StepRecord {
    fn new() -> StepRecord {
        StepRecord {
            received: AtomicU64::new(0),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram"))
                })
                .collect(),
        }
    }

    pub fn record(&self, who: usize, latency_us: u64) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let _ = self.shards[who % SHARDS]
            .lock()
            .expect("histogram lock")
            .record(latency_us.max(1));
    }

    /// The merged latency histogram (microseconds).
    pub fn latency(&self) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram");
        for s in &self.shards {
            h.add(&*s.lock().expect("histogram lock"))
                .expect("same bounds");
        }
        h
    }
}

/// One record per step; events name their step in the `s` attribute.
pub struct Recorder {
    pub steps: Vec<StepRecord>,
    /// Frames that were not events of a step (errors, closes) — must stay 0.
    pub unexpected: AtomicU64,
    /// Subscribers whose connection ended (closed by the server, or broken) — must stay 0.
    pub ended: AtomicU64,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            steps: (0..MAX_STEPS).map(|_| StepRecord::new()).collect(),
            unexpected: AtomicU64::new(0),
            ended: AtomicU64::new(0),
        })
    }
}

/// Reads a subscriber's frames until the connection ends, recording each event's latency.
pub fn spawn_reader(mut ws: Ws, who: usize, rec: Arc<Recorder>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                if t.as_str() == "2" {
                    // An Engine.IO ping: answer, or the peer drops the socket.
                    if ws.send(Message::text("3")).await.is_err() {
                        break;
                    }
                    continue;
                }
                let now = now_us();
                match (field(&t, "\"s\":"), field(&t, "\"t\":")) {
                    (Some(s), Some(sent)) if (s as usize) < MAX_STEPS => {
                        rec.steps[s as usize].record(who, now.saturating_sub(sent))
                    }
                    _ => {
                        rec.unexpected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        rec.ended.fetch_add(1, Ordering::Relaxed);
    })
}
