//! The no-Redis floor: a minimal broadcast server (tokio-tungstenite) that forwards every JSON
//! frame a writer sends, as it is, to every connection that sent `START-SEND-EVENTS`. Nothing is
//! parsed, filtered or stored, so its CPU per delivery is what fan-out costs at the least. It runs
//! as its own process (`twinwire-bench floor-server PORT`) so its CPU is measured apart.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

pub async fn serve(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("floor server bind");
    let (tx, _) = broadcast::channel::<Utf8Bytes>(4096);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tcp.set_nodelay(true).ok();
        let tx = tx.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let mut rx: Option<broadcast::Receiver<Utf8Bytes>> = None;
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(Message::Text(t))) if t.starts_with("START-") => {
                            let ack = format!("{}:ACK", t.split('?').next().unwrap_or(&t));
                            if ws.send(Message::text(ack)).await.is_err() { return; }
                            rx = Some(tx.subscribe());
                        }
                        Some(Ok(Message::Text(t))) => { let _ = tx.send(t); }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    f = async { match rx.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => match f {
                        Ok(frame) => {
                            // Feed what is queued, then one flush: a write per burst, not per frame.
                            if ws.feed(Message::Text(frame)).await.is_err() { return; }
                            while let Some(Ok(more)) = rx.as_mut().map(|r| r.try_recv()) {
                                if ws.feed(Message::Text(more)).await.is_err() { return; }
                            }
                            if ws.flush().await.is_err() { return; }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                }
            }
        });
    }
}

/// Starts the floor as its own process (this executable, `floor-server PORT`) and describes it as
/// a bench target. Dropping the `Proc` stops it.
pub async fn start() -> (twinwire_tests::Proc, crate::scenarios::Target) {
    let exe = std::env::current_exe().expect("own path");
    let port = twinwire_tests::free_port();
    let server = twinwire_tests::Proc::spawn(
        "floor",
        &exe,
        &["floor-server".to_string(), port.to_string()],
        &[],
        &std::env::temp_dir().join(format!("twinwire-bench-floor-{port}.log")),
    );
    // Listening before the subscribers connect.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline && !server.has_exited(),
            "the floor server did not listen on {port}:\n{}",
            server.log_tail(20)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let t = crate::scenarios::Target {
        name: "floor",
        ports: vec![port],
        proto: crate::wire::Proto::Ditto,
        procs: vec![("floor".into(), server.pid().expect("floor pid"))],
        admin_ports: Vec::new(),
    };
    (server, t)
}
