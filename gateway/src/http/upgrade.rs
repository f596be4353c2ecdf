//! actix-http's upgrade handler for the public server. The HTTP/1 dispatcher gives every request
//! with `Upgrade: websocket` to this service together with the connection, and ends there. The
//! request still runs through the gateway's actix-web app, so `/ws/{version}` is checked by its
//! one handler (`http::ws::upgrade`) and any other path is answered as usual; a handler that
//! accepts a session leaves it in the request's [`Handover`]. The response goes out through the
//! dispatcher's HTTP codec; after a 101 the raw socket is taken out, the dispatcher's buffers are
//! dropped and the session actor starts on the socket. After any other response the connection
//! is closed (its bytes after the head belong to a protocol nobody agreed on).

use crate::node::Node;
use crate::server::AppFactory;
use crate::session::{SessionInit, WsSession};
use crate::ws::slots::SessionSlot;
use crate::ws::{Reader, Writer};
use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::{h1, ConnectionType, HttpMessage, Request, Response, StatusCode};
use actix_service::{fn_factory, fn_service, IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::{AppConfig, ServiceResponse};
use futures_util::SinkExt;
use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use tokio::net::TcpStream;

/// A session the `/ws` handler accepted, waiting for its socket.
pub struct Accepted {
    pub node: Arc<Node>,
    pub init: SessionInit,
    pub slot: SessionSlot,
}

/// Where the `/ws` handler leaves the session it accepted (in the request's extensions). A
/// request that did not come through this service has none, and cannot be upgraded.
#[derive(Clone, Default)]
pub struct Handover(Rc<Cell<Option<Accepted>>>);

impl Handover {
    pub fn accept(&self, session: Accepted) {
        self.0.set(Some(session));
    }

    fn take(&self) -> Option<Accepted> {
        self.0.take()
    }
}

/// The upgrade service of one worker: `make_app` builds the same app as the worker's normal
/// service, configured with `config`.
pub fn service<F, A, S>(
    make_app: F,
    config: AppConfig,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, h1::Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
>
where
    F: Fn() -> A + 'static,
    A: IntoServiceFactory<S, Request>,
    S: AppFactory,
{
    fn_factory(move || {
        let app = make_app().into_factory();
        let config = config.clone();
        async move {
            let app = Rc::new(app.new_service(config).await?);
            Ok::<_, ()>(fn_service(
                move |(req, framed): (Request, Framed<TcpStream, h1::Codec>)| {
                    serve(app.clone(), req, framed)
                },
            ))
        }
    })
}

async fn serve<S>(
    app: Rc<S>,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error>
where
    S: Service<Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let handover = Handover::default();
    req.extensions_mut().insert(handover.clone());
    let res: Response<BoxBody> = match app.call(req).await {
        Ok(res) => res.into(),
        Err(e) => e.error_response().into(),
    };
    let written = match handover.take() {
        Some(session) if res.status() == StatusCode::SWITCHING_PROTOCOLS => {
            match framed
                .send(h1::Message::Item((res.drop_body(), BodySize::None)))
                .await
            {
                Ok(()) => {
                    let parts = framed.into_parts();
                    start(session, parts.io, &parts.read_buf);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        _ => write_and_close(framed, res).await,
    };
    // A client that went away during the handshake is no server error.
    if let Err(e) = written {
        tracing::debug!(error = %e, "writing an upgrade's response failed");
    }
    Ok(())
}

/// Starts the session on `io`; `read` is what the client sent behind its handshake.
fn start(session: Accepted, io: TcpStream, read: &[u8]) {
    let max = session.node.config.ws.max_message_bytes;
    let (r, w) = io.into_split();
    WsSession::start(
        session.node,
        session.init,
        Writer::new(w, session.slot),
        Reader::new(r, read, max, max),
    );
}

/// Writes a response that is no upgrade, with `Connection: close`.
async fn write_and_close(
    mut framed: Framed<TcpStream, h1::Codec>,
    res: Response<BoxBody>,
) -> io::Result<()> {
    let (mut head, body) = res.into_parts();
    head.head_mut().set_connection_type(ConnectionType::Close);
    let size = body.size();
    framed.send(h1::Message::Item((head, size))).await?;
    if size == BodySize::None {
        return Ok(());
    }
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let chunk = chunk.map_err(|e| io::Error::other(e.to_string()))?;
        framed.send(h1::Message::Chunk(Some(chunk))).await?;
    }
    framed.send(h1::Message::Chunk(None)).await
}
