//! What the hub's admin server (`twinwire_common::admin`) reports: its metrics, and ready once the
//! registry is loaded and the last round reached Redis.

use crate::metrics::Metrics;
use prometheus::{IntGauge, Registry};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use twinwire_common::admin::Probes;

pub struct AdminState {
    pub metrics: Arc<Metrics>,
    /// The registry is loaded and the last round reached Redis.
    pub ready: Arc<AtomicBool>,
}

impl Probes for AdminState {
    fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
    fn registry(&self) -> &Registry {
        &self.metrics.registry
    }
    fn ready_gauge(&self) -> &IntGauge {
        &self.metrics.ready
    }
}
