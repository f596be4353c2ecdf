//! The gateway's Prometheus metrics, all in one registry served on the admin port. Names follow
//! `twinwire_gateway_<what>_<unit>`; label values come from small fixed sets (never an id).

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry,
};

/// The kinds of frames a session writes: the `kind` label of `frames_out` and `bytes_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    Response,
    Event,
    Message,
    LiveCommand,
    LiveEvent,
    Announcement,
    Error,
    Ack,
}

impl OutKind {
    pub const ALL: [OutKind; 8] = [
        OutKind::Response,
        OutKind::Event,
        OutKind::Message,
        OutKind::LiveCommand,
        OutKind::LiveEvent,
        OutKind::Announcement,
        OutKind::Error,
        OutKind::Ack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutKind::Response => "response",
            OutKind::Event => "event",
            OutKind::Message => "message",
            OutKind::LiveCommand => "live_command",
            OutKind::LiveEvent => "live_event",
            OutKind::Announcement => "announcement",
            OutKind::Error => "error",
            OutKind::Ack => "ack",
        }
    }
}

/// The frame and byte counters of one outgoing kind, resolved once: looking a label up costs a
/// hash and a lock, which is too much to pay per frame on the fan-out path.
pub struct OutCounters {
    pub frames: IntCounter,
    pub bytes: IntCounter,
}

pub struct Metrics {
    pub registry: Registry,
    /// `frames_out` and `bytes_out` per [`OutKind`], in the order of `OutKind::ALL`.
    out: Vec<OutCounters>,
    /// Open sessions (`kind="connected"`) and sessions per active subscription kind.
    pub sessions: IntGaugeVec,
    pub connections_accepted: IntCounter,
    pub connections_closed: IntCounterVec,
    pub frames_in: IntCounterVec,
    pub frames_out: IntCounterVec,
    pub bytes_in: IntCounterVec,
    pub bytes_out: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub deliveries_deduplicated: IntCounter,
    pub slow_consumer_closes: IntCounter,
    /// Shared-subscription signals a member left unwritten, given back to its share.
    pub shared_given_back: IntCounter,
    /// Shared-subscription signals written to their member's connection (from then on the
    /// member has them; a reset connection may still lose what it did not read).
    pub shared_written: IntCounter,
    pub auth_failures: IntCounterVec,
    pub redis_errors: IntCounterVec,
    pub redis_reconnects: IntCounter,
    pub bus_batch_size: Histogram,
    pub fanout_latency: Histogram,
    pub command_duration: HistogramVec,
    pub inbox_lag: IntGauge,
    pub build_info: IntGaugeVec,
    /// 1 while `/ready` answers 200; set when scraped.
    pub ready: IntGauge,
    /// `twinwire_hop_seconds`, the gateway's hops (issue 13).
    pub hops: crate::hops::Hops,
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    // Metric definitions are constants; registering them into a fresh registry cannot fail.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let sessions = IntGaugeVec::new(
            Opts::new("twinwire_gateway_sessions", "Open WebSocket sessions (kind=connected) and sessions per active subscription kind"),
            &["kind"],
        )
        .expect("valid metric");
        r.register(Box::new(sessions.clone()))
            .expect("unique metric");
        let inbox_lag = IntGauge::new(
            "twinwire_gateway_inbox_pending_entries",
            "Entries of this node's delivery stream read but not yet dispatched",
        )
        .expect("valid metric");
        r.register(Box::new(inbox_lag.clone()))
            .expect("unique metric");
        let build_info = IntGaugeVec::new(
            Opts::new("twinwire_gateway_build_info", "Build information"),
            &["version"],
        )
        .expect("valid metric");
        r.register(Box::new(build_info.clone()))
            .expect("unique metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let fanout_latency = Histogram::with_opts(
            HistogramOpts::new(
                "twinwire_gateway_fanout_latency_seconds",
                "From the hub's journal write of a signal to its frame being written to the session's WebSocket",
            )
            .buckets(exponential_buckets(0.0005, 2.0, 16).expect("valid buckets")),
        )
        .expect("valid metric");
        r.register(Box::new(fanout_latency.clone()))
            .expect("unique metric");
        let bus_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "twinwire_gateway_bus_batch_size",
                "Writes per pipelined Redis round trip",
            )
            .buckets(exponential_buckets(1.0, 2.0, 12).expect("valid buckets")),
        )
        .expect("valid metric");
        r.register(Box::new(bus_batch_size.clone()))
            .expect("unique metric");
        let command_duration = HistogramVec::new(
            HistogramOpts::new(
                "twinwire_gateway_command_duration_seconds",
                "From a signal's arrival to its response being queued",
            )
            .buckets(exponential_buckets(0.0005, 2.0, 18).expect("valid buckets")),
            &["channel"],
        )
        .expect("valid metric");
        r.register(Box::new(command_duration.clone()))
            .expect("unique metric");
        let frames_out = counter_vec(
            &r,
            "twinwire_gateway_frames_out_total",
            "Frames sent, by kind",
            &["kind"],
        );
        let bytes_out = counter_vec(
            &r,
            "twinwire_gateway_bytes_out_total",
            "Payload bytes sent in text frames, by frame kind",
            &["kind"],
        );
        let out = OutKind::ALL
            .iter()
            .map(|k| OutCounters {
                frames: frames_out.with_label_values(&[k.as_str()]),
                bytes: bytes_out.with_label_values(&[k.as_str()]),
            })
            .collect();
        let hops = crate::hops::Hops::register(&r);
        Metrics {
            hops,
            out,
            sessions,
            connections_accepted: counter(&r, "twinwire_gateway_connections_accepted_total", "WebSocket upgrades accepted"),
            connections_closed: counter_vec(&r, "twinwire_gateway_connections_closed_total", "WebSocket sessions ended, by close code", &["code"]),
            frames_in: counter_vec(&r, "twinwire_gateway_frames_in_total", "Frames received, by kind", &["kind"]),
            frames_out,
            bytes_in: counter_vec(&r, "twinwire_gateway_bytes_in_total", "Payload bytes received in text and binary frames, by frame kind", &["kind"]),
            bytes_out,
            deliveries: counter_vec(&r, "twinwire_gateway_deliveries_total", "Signals queued to sessions from the bus, by kind", &["kind"]),
            deliveries_deduplicated: counter(
                &r,
                "twinwire_gateway_deliveries_deduplicated_total",
                "Deliveries dropped because this node already wrote them (replays after a shard moved)",
            ),
            slow_consumer_closes: counter(
                &r,
                "twinwire_gateway_slow_consumer_closes_total",
                "Sessions closed because their outbound queue overflowed",
            ),
            shared_given_back: counter(
                &r,
                "twinwire_gateway_shared_given_back_total",
                "Shared-subscription signals a leaving member had not written, given back to the share",
            ),
            shared_written: counter(
                &r,
                "twinwire_gateway_shared_written_total",
                "Shared-subscription signals written to the connection of the member they were picked for",
            ),
            auth_failures: counter_vec(&r, "twinwire_gateway_auth_failures_total", "Rejected authentications, by reason", &["reason"]),
            redis_errors: counter_vec(&r, "twinwire_gateway_redis_errors_total", "Failed Redis operations, by operation", &["op"]),
            redis_reconnects: counter(&r, "twinwire_gateway_redis_reconnects_total", "Re-registrations after the Redis connection came back"),
            bus_batch_size,
            fanout_latency,
            command_duration,
            inbox_lag,
            build_info,
            ready: {
                let g = IntGauge::new("twinwire_gateway_ready", "1 while the gateway is ready (Redis reachable, not draining)")
                    .expect("valid metric");
                r.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            registry: r,
        }
    }

    /// The counters of outgoing frames of `kind`.
    pub fn out(&self, kind: OutKind) -> &OutCounters {
        // `out` was built from `OutKind::ALL`, whose order is the enum's.
        &self.out[kind as usize]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
