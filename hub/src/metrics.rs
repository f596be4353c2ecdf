//! The hub's Prometheus metrics, served on its admin port. Names follow
//! `twinwire_hub_<what>_<unit>`; label values come from small fixed sets.

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

pub struct Metrics {
    pub registry: Registry,
    pub commands: IntCounterVec,
    pub events: IntCounter,
    pub deliveries: IntCounterVec,
    pub filter_evaluations: IntCounter,
    pub shards_owned: IntGauge,
    pub lease_changes: IntCounterVec,
    pub takeovers: IntCounter,
    pub replayed_entries: IntCounter,
    pub skipped_applied: IntCounter,
    pub subscription_groups: IntGaugeVec,
    pub subscriptions: IntGaugeVec,
    /// Shared subscriptions with at least one member, by kind (no share names: bounded labels).
    pub shares: IntGaugeVec,
    /// Members of shared subscriptions, by kind.
    pub share_members: IntGaugeVec,
    /// Events a shared subscription dropped for want of a member (retention over, or too many kept).
    pub share_events_dropped: IntCounter,
    /// Signals given back by a gateway (their member left before writing them) and dispatched again.
    pub share_redispatched: IntCounter,
    pub redis_errors: IntCounterVec,
    pub redis_reconnects: IntCounter,
    pub batch_duration: Histogram,
    pub batch_size: Histogram,
    pub command_latency: Histogram,
    pub cached_twins: IntGauge,
    pub build_info: IntGaugeVec,
    /// 1 while `/ready` answers 200; set when scraped.
    pub ready: IntGauge,
    /// The configured shard count, so alerts can compare it with the shards owned cluster-wide.
    pub shards_configured: IntGauge,
    /// Command-stream entries of this hub's shards not yet read (`XINFO GROUPS` lag), by group.
    pub stream_lag: IntGaugeVec,
    /// Command-stream entries read but not yet acknowledged, by group.
    pub stream_pending: IntGaugeVec,
    /// `twinwire_hop_seconds`, the hub's hops (issue 13).
    pub hops: crate::hops::Hops,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    // Metric definitions are constants; registering them into a fresh registry cannot fail.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let cv = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &r,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let c =
            |name: &str, help: &str| reg(&r, IntCounter::new(name, help).expect("valid metric"));
        let gv = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &r,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let h = |name: &str, help: &str, start: f64, factor: f64, n: usize| {
            reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(name, help)
                        .buckets(exponential_buckets(start, factor, n).expect("valid buckets")),
                )
                .expect("valid metric"),
            )
        };
        let build_info = gv("twinwire_hub_build_info", "Build information", &["version"]);
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let hops = crate::hops::Hops::register(&r);
        Metrics {
            hops,
            commands: cv(
                "twinwire_hub_commands_total",
                "Signals processed, by outcome",
                &["outcome"],
            ),
            events: c("twinwire_hub_events_total", "Thing events journaled"),
            deliveries: cv(
                "twinwire_hub_deliveries_total",
                "Delivery entries written to gateway node streams, by kind",
                &["kind"],
            ),
            filter_evaluations: c(
                "twinwire_hub_filter_evaluations_total",
                "RQL filter evaluations (once per subscription group and signal)",
            ),
            shards_owned: reg(
                &r,
                IntGauge::new(
                    "twinwire_hub_shards_owned",
                    "Shards whose lease this hub holds",
                )
                .expect("valid metric"),
            ),
            lease_changes: cv(
                "twinwire_hub_lease_changes_total",
                "Shard leases acquired, released or lost",
                &["change"],
            ),
            takeovers: c(
                "twinwire_hub_takeovers_total",
                "Shards taken over with replay of an earlier owner's unfinished work",
            ),
            replayed_entries: c(
                "twinwire_hub_replayed_entries_total",
                "Journal entries whose response and fan-out were re-sent after a takeover",
            ),
            skipped_applied: c(
                "twinwire_hub_skipped_applied_total",
                "Pending command entries skipped because they were already applied",
            ),
            subscription_groups: gv(
                "twinwire_hub_subscription_groups",
                "Distinct subscription groups in the registry, by kind",
                &["kind"],
            ),
            subscriptions: gv(
                "twinwire_hub_subscriptions",
                "Subscriptions in the registry, by kind",
                &["kind"],
            ),
            shares: gv(
                "twinwire_hub_shared_subscriptions",
                "Shared subscriptions (group=) with at least one member, by kind",
                &["kind"],
            ),
            share_members: gv(
                "twinwire_hub_shared_subscription_members",
                "Members of shared subscriptions, by kind",
                &["kind"],
            ),
            share_events_dropped: c(
                "twinwire_hub_shared_events_dropped_total",
                "Events of shared subscriptions dropped for want of a member",
            ),
            share_redispatched: c(
                "twinwire_hub_shared_redispatched_total",
                "Signals of shared subscriptions dispatched again after their member left",
            ),
            redis_errors: cv(
                "twinwire_hub_redis_errors_total",
                "Failed Redis operations, by operation",
                &["op"],
            ),
            redis_reconnects: c(
                "twinwire_hub_redis_reconnects_total",
                "Times processing resumed after Redis had failed (the connection came back)",
            ),
            batch_duration: h(
                "twinwire_hub_batch_duration_seconds",
                "Time to process one batch of command entries",
                0.0005,
                2.0,
                16,
            ),
            batch_size: h(
                "twinwire_hub_batch_size",
                "Command entries per batch",
                1.0,
                2.0,
                12,
            ),
            command_latency: h(
                "twinwire_hub_command_latency_seconds",
                "From a gateway accepting a signal to its response being written",
                0.0005,
                2.0,
                16,
            ),
            cached_twins: reg(
                &r,
                IntGauge::new("twinwire_hub_cached_twins", "Twins held in memory")
                    .expect("valid metric"),
            ),
            build_info,
            ready: reg(
                &r,
                IntGauge::new("twinwire_hub_ready", "1 while the hub is ready (registry loaded, Redis reachable)")
                    .expect("valid metric"),
            ),
            shards_configured: reg(
                &r,
                IntGauge::new("twinwire_hub_shards_configured", "Shards configured for the cluster")
                    .expect("valid metric"),
            ),
            stream_lag: gv(
                "twinwire_hub_stream_lag_entries",
                "Command-stream entries of the shards this hub owns not yet read, by consumer group",
                &["group"],
            ),
            stream_pending: gv(
                "twinwire_hub_stream_pending_entries",
                "Command-stream entries of the shards this hub owns read but not yet acknowledged, by consumer group",
                &["group"],
            ),
            registry: r,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
