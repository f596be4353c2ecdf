//! The twinwire hub: owns twins and policies by shard, applies commands with Ditto's semantics
//! and policies, persists them atomically with their events, and fans events out to every
//! matching session on every gateway node. `main.rs` only loads configuration and calls [`run`].

pub mod admin;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod fanout;
pub mod history;
pub mod hops;
pub mod instant;
pub mod live;
pub mod metrics;
pub mod policies;
pub mod processor;
pub mod registry;
pub mod resume;
pub mod round;
pub mod search;
pub mod shard;
pub mod shares;
pub mod smart_channel;
pub mod store;
pub mod things;

use crate::config::HubConfig;
use crate::error::HubError;
use crate::metrics::Metrics;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use twinwire_common::bus::Keys;
use twinwire_common::redis_connection::Redis;

/// Runs a hub until `shutdown` resolves, then gives its shard leases back.
pub async fn run(config: HubConfig, shutdown: impl Future<Output = ()>) -> Result<(), HubError> {
    let hub_id = if config.hub.id.is_empty() {
        format!("hub-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
    } else {
        config.hub.id.clone()
    };
    let redis = Redis::open(&config.redis)?;
    let timeout = Duration::from_millis(config.redis.command_timeout_ms);
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let store = store::Store::new(
        redis.clone(),
        Keys::new(config.redis.prefix.clone()),
        timeout,
        config.resume.max_events_per_shard,
        config.history.clone(),
    )?;
    // The blocking reads get connections of their own, whose response timeout outlasts a block.
    let reader = store::CommandReader::new(&redis, processor::MAX_BLOCK + timeout)?;
    let processor = processor::Processor::new(
        config.clone(),
        hub_id.clone(),
        metrics.clone(),
        store,
        reader,
        ready.clone(),
    );
    let stop = CancellationToken::new();
    let processing = actix_web::rt::spawn(processor.run(stop.clone()));

    let admin = twinwire_common::admin::server(
        Arc::new(admin::AdminState { metrics, ready }),
        &config.admin.bind,
        config.admin.port,
    )?;
    let admin_handle = admin.handle();
    actix_web::rt::spawn(admin);
    tracing::info!(hub = %hub_id, admin = config.admin.port, "hub started");

    shutdown.await;
    tracing::info!(hub = %hub_id, "stopping");
    stop.cancel();
    let _ = processing.await;
    admin_handle.stop(true).await;
    Ok(())
}
