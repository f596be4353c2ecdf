//! This gateway as a member of the cluster: its node id, its sessions, and its tasks that talk to
//! the bus (publisher, inbox, liveness).

pub mod inbox;
pub mod liveness;
pub mod publisher;
pub mod registry;

use crate::auth::Authenticator;
use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use publisher::Publisher;
use registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use twinwire_common::bus::Keys;

/// Shared by every session and task of this gateway.
pub struct Node {
    pub id: String,
    /// For queries whose answers matter (acknowledgement labels); writes go through the publisher.
    pub redis: redis::aio::ConnectionManager,
    pub keys: Keys,
    pub config: GatewayConfig,
    pub publisher: Publisher,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub auth: Authenticator,
    /// Set on SIGTERM: no new sessions, `/ready` is false.
    pub draining: AtomicBool,
    /// The last Redis round trip of the liveness loop succeeded.
    pub redis_ok: AtomicBool,
    next_id: AtomicU64,
    /// HTTP requests waiting for their answer from the bus, by request id.
    waiters: parking_lot::Mutex<
        std::collections::HashMap<u64, tokio::sync::oneshot::Sender<bytestring::ByteString>>,
    >,
}

impl Node {
    pub fn new(
        id: String,
        config: GatewayConfig,
        publisher: Publisher,
        metrics: Arc<Metrics>,
        auth: Authenticator,
        redis: redis::aio::ConnectionManager,
    ) -> Node {
        Node {
            redis,
            keys: Keys::new(config.redis.prefix.clone()),
            id,
            config,
            publisher,
            registry: Registry::default(),
            metrics,
            auth,
            draining: AtomicBool::new(false),
            redis_ok: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            waiters: Default::default(),
        }
    }

    /// A node-unique id for a session or an HTTP request awaiting an answer.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers an HTTP request waiting for the answer addressed to `id`.
    pub fn add_waiter(&self, id: u64) -> tokio::sync::oneshot::Receiver<bytestring::ByteString> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiters.lock().insert(id, tx);
        rx
    }

    pub fn remove_waiter(&self, id: u64) {
        self.waiters.lock().remove(&id);
    }

    /// Hands an answer to the HTTP request `id`; the first answer wins, later ones are dropped.
    pub fn complete_waiter(&self, id: u64, frame: bytestring::ByteString) {
        if let Some(tx) = self.waiters.lock().remove(&id) {
            let _ = tx.send(frame);
        }
    }

    pub fn ready(&self) -> bool {
        self.redis_ok.load(Ordering::Relaxed) && !self.draining.load(Ordering::Relaxed)
    }
}
