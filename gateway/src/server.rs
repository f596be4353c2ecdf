//! The public HTTP server, built from its parts as actix-web's `HttpServer` builds it (actix-server
//! accepting, actix-http's `HttpService` speaking HTTP/1, the gateway's actix-web app answering)
//! for one reason: `HttpServer` offers no upgrade handler, and without one every WebSocket stays
//! inside actix-http's dispatcher with its two 8 KiB buffers (see `ws`). The settings are those the
//! gateway gave `HttpServer`, plus `HttpServer`'s own defaults for the rest.

use crate::config::GatewayConfig;
use crate::http;
use actix_http::{HttpService, KeepAlive, Request};
use actix_server::{Server, ServerBuilder};
use actix_service::{map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, ServiceResponse};
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

/// The actix-web app as a service factory, as the public server and its upgrade handler take it.
pub trait AppFactory:
    ServiceFactory<
        Request,
        Config = AppConfig,
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
        Service: 'static,
    > + 'static
{
}

impl<T> AppFactory for T where
    T: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
            Service: 'static,
        > + 'static
{
}

/// Connections waiting to be accepted, per listening socket.
const BACKLOG: i32 = 4096;

/// Binds the public server to `http.bind`/`http.port` (every address it resolves to) with the app
/// `make_app` builds (once per worker for requests, once more for upgrades).
pub fn public<F, A, S>(config: &GatewayConfig, make_app: F) -> io::Result<Server>
where
    F: Fn() -> A + Clone + Send + 'static,
    A: IntoServiceFactory<S, Request>,
    S: AppFactory,
{
    let http = &config.http;
    let mut builder = Server::build()
        .max_concurrent_connections(http.max_connections)
        .backlog(BACKLOG as u32)
        .disable_signals()
        .shutdown_timeout(1);
    if http.workers > 0 {
        builder = builder.workers(http.workers);
    }
    // A client gets this long for its request's headers (slow-header clients); the HTTP API reads
    // bodies under `http.body_timeout_ms` itself.
    let header_timeout = Duration::from_millis(http.header_timeout_ms);
    // Like `HttpServer::bind`: every address the name resolves to that can be bound (`localhost`
    // may name an IPv6 address a host does not have), an error only when none can.
    let mut last_error = None;
    let mut bound = false;
    for addr in (http.bind.as_str(), http.port).to_socket_addrs()? {
        match listen(addr) {
            Ok(listener) => {
                let addr = listener.local_addr()?;
                builder = serve(builder, listener, addr, header_timeout, make_app.clone())?;
                bound = true;
            }
            Err(e) => last_error = Some(e),
        }
    }
    if !bound {
        return Err(last_error.unwrap_or_else(|| io::Error::other("no address to bind to")));
    }
    Ok(builder.run())
}

fn serve<F, A, S>(
    builder: ServerBuilder,
    listener: TcpListener,
    addr: SocketAddr,
    header_timeout: Duration,
    make_app: F,
) -> io::Result<ServerBuilder>
where
    F: Fn() -> A + Clone + Send + 'static,
    A: IntoServiceFactory<S, Request>,
    S: AppFactory,
{
    let shutdown = builder.graceful_shutdown_signal();
    builder.listen(format!("twinwire-public-{addr}"), listener, move || {
        // What requests see as the server's host when they name none, as `HttpServer` sets it.
        // actix-web keeps `AppConfig::new` to itself and offers this constructor to its test
        // server for the same purpose.
        let app_config = AppConfig::__priv_test_new(false, addr.to_string(), addr);
        let shutdown = shutdown.clone();
        let app = make_app()
            .into_factory()
            .map_err(|e: actix_web::Error| e.error_response());
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let signal = shutdown.clone();
                async move { signal.notified().await }
            })
            .keep_alive(KeepAlive::default())
            .client_request_timeout(header_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .local_addr(addr)
            .upgrade(http::upgrade::service(make_app.clone(), app_config.clone()))
            .finish(map_config(app, move |_| app_config.clone()))
            .tcp()
    })
}

/// A listening socket as `HttpServer` makes it (address reuse, the backlog above).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
