//! The hub's admin server: Prometheus metrics, liveness and readiness.

use crate::metrics::Metrics;
use actix_web::{web, HttpResponse};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct AdminState {
    pub metrics: Arc<Metrics>,
    /// The registry is loaded and the last round reached Redis.
    pub ready: Arc<AtomicBool>,
}

async fn metrics(s: web::Data<AdminState>) -> HttpResponse {
    s.metrics
        .ready
        .set(i64::from(s.ready.load(Ordering::Relaxed)));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(s.metrics.render())
}

async fn alive() -> HttpResponse {
    HttpResponse::Ok().body("alive\n")
}

async fn ready(s: web::Data<AdminState>) -> HttpResponse {
    if s.ready.load(Ordering::Relaxed) {
        HttpResponse::Ok().body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable().body("not ready\n")
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics))
        .route("/alive", web::get().to(alive))
        .route("/ready", web::get().to(ready));
}
