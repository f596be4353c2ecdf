//! The twinwire gateway: terminates Ditto WebSocket sessions, authenticates them, forwards their
//! signals to the hub tier over Redis and writes back what the hubs deliver. It keeps nothing that
//! must survive its own death. `main.rs` only loads configuration and calls [`run`].

pub mod auth;
pub mod cidr;
pub mod command_timer;
pub mod config;
pub mod error;
pub mod forwarded;
pub mod hops;
pub mod http;
pub mod metrics;
pub mod node;
pub mod origin;
pub mod search;
pub mod server;
pub mod session;
pub mod worker_metrics;
pub mod ws;

use crate::auth::Authenticator;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::node::directory::SessionControl;
use crate::node::publisher::{BusWrite, Publisher};
use crate::node::Node;
use actix_web::{web, App};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::redis_connection::Redis;

/// Queued bus writes before sessions get "too many requests".
const PUBLISH_QUEUE: usize = 65_536;

fn random_node_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("gw-{}", &u[..12])
}

/// Runs a gateway until `shutdown` resolves, then drains: `/ready` turns false, no new sessions are
/// accepted, sessions are closed with 1001 spread over `drain.period_secs`, the node deregisters.
pub async fn run(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GatewayError> {
    // HTTPS to JWT issuers (discovery, JWKS) uses rustls with the ring provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let node_id = if config.node.id.is_empty() {
        random_node_id()
    } else {
        config.node.id.clone()
    };
    let redis = Redis::open(&config.redis)?;
    let timeout = Duration::from_millis(config.redis.command_timeout_ms);
    let metrics = Arc::new(Metrics::new());
    let publisher = Publisher::spawn(
        redis.connection(Some(timeout))?,
        twinwire_common::bus::Keys::new(config.redis.prefix.clone()),
        node_id.clone(),
        timeout,
        PUBLISH_QUEUE,
        metrics.clone(),
    );
    let auth = Authenticator::new(&config.auth, &config.http.trusted_proxies)?;
    let node = Arc::new(Node::new(
        node_id.clone(),
        config.clone(),
        publisher,
        metrics,
        auth,
        redis.connection(Some(timeout))?,
    ));
    // Blocking reads need a connection of their own, whose response timeout outlasts the block.
    let inbox = actix_web::rt::spawn(node::inbox::run(
        node.clone(),
        redis.connection(Some(node::inbox::BLOCK + timeout))?,
    ));
    actix_web::rt::spawn({
        let node = node.clone();
        let conn = redis.connection(Some(timeout))?;
        async move {
            node.resume
                .load(&node.config.resume.secret, &node.keys, conn)
                .await
        }
    });
    actix_web::rt::spawn(node::resume::refresh_watermarks(
        node.clone(),
        redis.connection(Some(timeout))?,
    ));
    actix_web::rt::spawn(node::liveness::run(
        node.clone(),
        redis.connection(Some(timeout))?,
    ));

    let data = web::Data::new(node.clone());
    let origins = web::Data::new(origin::OriginPolicy::new(
        &config.http.allowed_origins,
        &config.http.trusted_proxies,
    ));
    let public = server::public(&config, {
        let data = data.clone();
        move || {
            App::new()
                .app_data(data.clone())
                .app_data(origins.clone())
                .route("/ws/{version}", web::get().to(http::ws::upgrade))
                .configure(http::api::routes)
        }
    })?;
    let admin =
        twinwire_common::admin::server(node.clone(), &config.admin.bind, config.admin.port)?;
    let public_handle = public.handle();
    let admin_handle = admin.handle();
    actix_web::rt::spawn(public);
    actix_web::rt::spawn(admin);
    tracing::info!(node = %node_id, http = config.http.port, admin = config.admin.port, "gateway started");

    shutdown.await;
    tracing::info!(node = %node_id, "draining");
    node.draining.store(true, Ordering::Relaxed);
    // Upgrades keep being answered, with 503, so clients learn to go elsewhere at once; `/ready`
    // is already false for load balancers.
    drain(&node, Duration::from_secs(config.drain.period_secs)).await;
    // Stop reading deliveries before deregistering: what arrives after is left in the stream,
    // where hubs find it when they drop this node and give shared-subscription signals to other
    // members (DESIGN.md "Shared subscriptions").
    inbox.abort();
    if let Err(e) = node.publisher.write_confirmed(BusWrite::Deregister).await {
        tracing::warn!(error = %e, "deregistering failed; hubs will drop this node when its liveness key lapses");
    }
    public_handle.stop(true).await;
    admin_handle.stop(true).await;
    tracing::info!(node = %node_id, "gateway stopped");
    Ok(())
}

/// Closes every session with 1001, spread evenly over `period` so clients do not all reconnect at
/// the same instant.
async fn drain(node: &Node, period: Duration) {
    let ids = node.sessions.session_ids();
    if ids.is_empty() {
        return;
    }
    let step = period / (ids.len() as u32).max(1);
    for id in ids {
        if let Some(h) = node.sessions.session(id) {
            h.control.do_send(SessionControl::Drain);
        }
        if !step.is_zero() {
            tokio::time::sleep(step).await;
        }
    }
    // Give the last close frames a moment to leave.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while node.sessions.session_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
