//! `twinwire_gateway_command_duration_seconds{channel}`: how long a signal that wants a response
//! waits for it, from the gateway accepting it to the response arriving back (the round trip
//! through the bus, the shard's hub, and for live signals the answering session). A WebSocket
//! session keeps one [`CommandTimer`], matching responses to its signals by correlation-id; the
//! HTTP API times its one request directly with [`observe`].

use crate::metrics::Metrics;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use twinwire_common::protocol::Channel;

/// Signals timed at once per session; beyond it new ones go untimed until old ones are answered
/// or forgotten, so a client that never reads answers cannot grow the table.
const MAX_OPEN: usize = 1024;
/// The longest any signal waits for its answer (`ws.command_timeout_ms` caps at 60 s, Ditto's
/// maximum); older entries were answered by the session itself (an error) and are forgotten.
const MAX_WAIT: Duration = Duration::from_secs(70);

/// The `channel` label: `twin`, `live`, or `none` for policy commands, which have no channel.
pub fn channel_label(channel: Option<Channel>) -> &'static str {
    match channel {
        Some(Channel::Twin) => "twin",
        Some(Channel::Live) => "live",
        None => "none",
    }
}

/// Records one round trip.
pub fn observe(metrics: &Metrics, channel: &'static str, since: Instant) {
    metrics
        .command_duration
        .with_label_values(&[channel])
        .observe(since.elapsed().as_secs_f64());
}

#[derive(Default)]
pub struct CommandTimer {
    open: HashMap<String, (Instant, &'static str)>,
}

impl CommandTimer {
    /// A signal wanting a response was handed to the bus.
    pub fn start(&mut self, correlation_id: &str, channel: &'static str) {
        if self.open.len() >= MAX_OPEN {
            self.open.retain(|_, (t, _)| t.elapsed() < MAX_WAIT);
            if self.open.len() >= MAX_OPEN {
                return;
            }
        }
        self.open
            .insert(correlation_id.to_owned(), (Instant::now(), channel));
    }

    /// A response frame arrived for the session; `live` when another session sent it (a live
    /// answer or an acknowledgement), which ends only a live signal's wait: a twin command's
    /// acknowledgements may overtake the hub's response.
    pub fn finish(&mut self, frame: &str, live: bool, metrics: &Metrics) {
        if self.open.is_empty() {
            return;
        }
        let Some(cid) = correlation_id(frame) else {
            return;
        };
        if let Some((_, channel)) = self.open.get(cid.as_ref()) {
            if live && *channel != "live" {
                return;
            }
        }
        if let Some((since, channel)) = self.open.remove(cid.as_ref()) {
            observe(metrics, channel, since);
        }
    }
}

/// The correlation-id of a frame, read without building the whole envelope.
fn correlation_id(frame: &str) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Frame<'a> {
        #[serde(borrow)]
        headers: Option<Head<'a>>,
    }
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow, rename = "correlation-id")]
        correlation_id: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Frame>(frame)
        .ok()?
        .headers?
        .correlation_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_read_from_the_headers_only() {
        let f = r#"{"topic":"a/b/things/twin/commands/modify","headers":{"x":1,"correlation-id":"c\"1"},"value":{"correlation-id":"no"},"status":204}"#;
        assert_eq!(correlation_id(f).as_deref(), Some("c\"1"));
        assert_eq!(
            correlation_id(r#"{"topic":"t","value":{"headers":{"correlation-id":"no"}}}"#),
            None
        );
        assert_eq!(correlation_id("not json"), None);
    }

    #[test]
    fn a_response_ends_its_signal_once_and_live_answers_end_only_live_signals() {
        let metrics = Metrics::new();
        let mut t = CommandTimer::default();
        let frame =
            |cid: &str| format!(r#"{{"topic":"t","headers":{{"correlation-id":"{cid}"}}}}"#);
        t.start("tw", "twin");
        t.start("lv", "live");
        t.finish(&frame("tw"), true, &metrics);
        assert_eq!(
            t.open.len(),
            2,
            "an acknowledgement does not end a twin command"
        );
        t.finish(&frame("tw"), false, &metrics);
        t.finish(&frame("lv"), true, &metrics);
        t.finish(&frame("lv"), true, &metrics);
        assert!(t.open.is_empty());
        let count = |c: &str| {
            metrics
                .command_duration
                .with_label_values(&[c])
                .get_sample_count()
        };
        assert_eq!((count("twin"), count("live")), (1, 1));
    }
}
