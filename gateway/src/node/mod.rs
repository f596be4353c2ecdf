//! This gateway as a member of the cluster. `Node` is the context every session and task shares:
//! identity, configuration, connections, the session directory, the HTTP requests waiting for
//! answers, readiness. It holds state and runs nothing. Beside it sit the tasks and parts that use
//! it: the publisher (every write to the bus), the inbox (this node's delivery stream to its
//! sessions), liveness (the node's key and re-registration), the session directory that sessions
//! and the inbox both depend on, and the acknowledgement-label scripts.

pub mod ack_labels;
pub mod directory;
pub mod give_back;
pub mod inbox;
pub mod liveness;
pub mod position_class;
pub mod publisher;
pub mod resume;
pub mod waiters;
pub mod worker_queue;

use crate::auth::Authenticator;
use crate::config::GatewayConfig;
use crate::metrics::Metrics;
use directory::SessionDirectory;
use give_back::GiveBackSink;
use publisher::Publisher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use twinwire_common::bus::Keys;
use waiters::AnswerWaiters;

/// Shared by every session and task of this gateway.
pub struct Node {
    pub id: String,
    /// For queries whose answers matter (acknowledgement labels); writes go through the publisher.
    pub redis: twinwire_common::redis_connection::RedisConnection,
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
    /// HTTP requests waiting for their answer from the bus.
    pub waiters: AnswerWaiters,
    /// The key resume tokens are signed with (issue 16).
    pub resume: resume::NodeResume,
    /// Where shared-subscription frames a member did not write go back to.
    pub give_back: Arc<GiveBackSink>,
}

impl Node {
    pub fn new(
        id: String,
        config: GatewayConfig,
        publisher: Publisher,
        metrics: Arc<Metrics>,
        auth: Authenticator,
        redis: twinwire_common::redis_connection::RedisConnection,
    ) -> Node {
        Node {
            give_back: Arc::new(GiveBackSink {
                node: id.clone(),
                shard_count: config.shards.count,
                publisher: publisher.clone(),
                metrics: metrics.clone(),
            }),
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
            resume: Default::default(),
        }
    }

    /// A node-unique id for a session or an HTTP request awaiting an answer.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn ready(&self) -> bool {
        self.redis_ok.load(Ordering::Relaxed) && !self.draining.load(Ordering::Relaxed)
    }
}
