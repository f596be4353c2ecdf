//! This gateway as a member of the cluster. `Node` is the context every session and task shares
//! (identity, configuration, connections, the session directory, readiness); it holds state and
//! no task. Beside it: the publisher (every write to the bus), the inbox (this node's delivery
//! stream to its sessions), liveness (the node's key and re-registration), the session directory
//! that sessions and inbox both depend on, and the acknowledgement-label scripts.

pub mod ack_labels;
pub mod directory;
pub mod inbox;
pub mod liveness;
pub mod publisher;

use crate::auth::Authenticator;
use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use directory::SessionDirectory;
use publisher::Publisher;
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
    /// This node's sessions and their subscriptions.
    pub sessions: SessionDirectory,
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
            sessions: SessionDirectory::default(),
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
