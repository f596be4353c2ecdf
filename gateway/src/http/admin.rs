//! What the gateway's admin server (`twinwire_common::admin`) reports: its metrics, and ready while
//! Redis is reachable and the node is not draining.

use crate::node::Node;
use prometheus::{IntGauge, Registry};
use twinwire_common::admin::Probes;

impl Probes for Node {
    fn ready(&self) -> bool {
        Node::ready(self)
    }
    fn registry(&self) -> &Registry {
        &self.metrics.registry
    }
    fn ready_gauge(&self) -> &IntGauge {
        &self.metrics.ready
    }
}
