//! The admin server both binaries run on their admin port, for Kubernetes probes and scrapes:
//! `/metrics` (the Prometheus text exposition), `/alive` (the process answers) and `/ready` (the
//! binary says it can serve). What "ready" means is each binary's own; the routes, the encoding
//! and the server's shape are the same, so they live here.

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus::{Encoder, IntGauge, Registry, TextEncoder};
use std::sync::Arc;

/// What the admin routes ask of a binary.
pub trait Probes: Send + Sync + 'static {
    /// Whether `/ready` answers 200.
    fn ready(&self) -> bool;
    /// The metrics `/metrics` serves.
    fn registry(&self) -> &Registry;
    /// The gauge mirroring [`Probes::ready`] (1 while ready), brought up to date on every scrape.
    fn ready_gauge(&self) -> &IntGauge;
}

/// The text exposition of every metric in `registry`.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    // Encoding gathered families into a Vec cannot fail.
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .expect("metrics encode");
    String::from_utf8(buf).expect("metrics are UTF-8")
}

async fn metrics<P: Probes>(p: web::Data<P>) -> HttpResponse {
    p.ready_gauge().set(i64::from(p.ready()));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(render(p.registry()))
}

async fn alive() -> HttpResponse {
    HttpResponse::Ok().body("alive\n")
}

async fn ready<P: Probes>(p: web::Data<P>) -> HttpResponse {
    if p.ready() {
        HttpResponse::Ok().body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable().body("not ready\n")
    }
}

fn routes<P: Probes>(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics::<P>))
        .route("/alive", web::get().to(alive))
        .route("/ready", web::get().to(ready::<P>));
}

/// The admin server on `bind:port`: one worker, stopped by its handle (not by signals, which the
/// binary handles), quick to shut down. The caller spawns it.
pub fn server<P: Probes>(probes: Arc<P>, bind: &str, port: u16) -> std::io::Result<Server> {
    let data = web::Data::from(probes);
    Ok(
        HttpServer::new(move || App::new().app_data(data.clone()).configure(routes::<P>))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1)
            .bind((bind, port))?
            .run(),
    )
}
