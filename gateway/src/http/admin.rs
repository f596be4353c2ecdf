//! The admin server: Prometheus metrics, liveness (the process runs) and readiness (Redis reachable
//! and not draining), for Kubernetes probes and scrapes.

use crate::node::Node;
use actix_web::{web, HttpResponse};
use std::sync::Arc;

async fn metrics(node: web::Data<Arc<Node>>) -> HttpResponse {
    node.metrics.ready.set(i64::from(node.ready()));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(node.metrics.render())
}

async fn alive() -> HttpResponse {
    HttpResponse::Ok().body("alive\n")
}

async fn ready(node: web::Data<Arc<Node>>) -> HttpResponse {
    if node.ready() {
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
