//! A thing event's fan-out: who may see it, under the policy the thing had when it happened, and
//! the deliveries that makes for every matching subscription group. Used after a commit and when a
//! takeover replays the journal.

use crate::fanout::{fan_out, group_frame, Signal, Visibility};
use crate::metrics::Metrics;
use crate::policies::CachedPolicy;
use crate::registry::{SubscriptionGroup, SubscriptionRegistry};
use crate::things::twin::Twin;
use serde_json::Value;
use twinwire_common::bus::EventRecord;
use twinwire_common::bus::{Delivery, JournalPos, Origin, Reply};
use twinwire_common::clock::now_ms;
use twinwire_common::policy::EventView;
use twinwire_common::protocol::{StreamingKind, Topic};
use twinwire_common::things::Pointer;

struct EventVisibility<'a> {
    policy: Option<&'a CachedPolicy>,
    path: &'a str,
    value: Option<&'a Value>,
}

impl Visibility for EventVisibility<'_> {
    fn view(&self, subjects: &[String]) -> EventView {
        match self.policy {
            Some(p) => p.enforcer.event_view(subjects, self.path, self.value),
            None => EventView::Hidden,
        }
    }
    fn readable(&self, subjects: &[String], path: &Pointer, value: &Value) -> Option<Value> {
        self.policy.and_then(|p| {
            p.enforcer
                .readable_view(subjects, "thing", &path.to_string(), value)
        })
    }
    fn v1_thing(&self, thing: Value) -> Value {
        crate::things::v1::to_v1_thing(&thing, self.policy.map(|p| &p.policy))
    }
}

/// A journaled event as a signal to fan out.
fn signal<'a>(
    ev: &'a EventRecord,
    topic: &'a Topic,
    origin: &'a Origin,
    twin: Option<&'a Twin>,
    pos: Option<JournalPos>,
) -> Signal<'a> {
    Signal {
        kind: StreamingKind::Events,
        topic,
        thing_id: &ev.thing_id,
        path: &ev.path,
        value: ev.value.as_ref(),
        headers: &ev.headers,
        revision: Some(ev.revision),
        timestamp: Some(&ev.timestamp),
        origin,
        twin,
        pos,
        written_ms: now_ms(),
        // Sessions acknowledging custom labels answer straight to the sender.
        reply: (!ev.acks.is_empty()).then(|| Reply {
            origin: origin.clone(),
            correlation_id: ev
                .headers
                .correlation_id()
                .map(|c| c.into_owned())
                .unwrap_or_default(),
        }),
        acks: &ev.acks,
    }
}

/// Fans thing events out to the registry's subscription groups, counting what it does.
pub struct EventFanout<'a> {
    pub registry: &'a SubscriptionRegistry,
    pub metrics: &'a Metrics,
}

impl EventFanout<'_> {
    /// The deliveries of one thing event.
    pub fn deliveries(
        &self,
        ev: &EventRecord,
        origin: &Origin,
        twin: Option<&Twin>,
        policy: Option<&CachedPolicy>,
        pos: Option<JournalPos>,
    ) -> Vec<(String, Delivery)> {
        let Ok(topic) = Topic::parse(&ev.topic) else {
            return Vec::new();
        };
        let sig = signal(ev, &topic, origin, twin, pos);
        let vis = EventVisibility {
            policy,
            path: &ev.path,
            value: ev.value.as_ref(),
        };
        let mut evaluations = 0;
        let out = fan_out(self.registry, &sig, &vis, &mut evaluations);
        self.metrics.filter_evaluations.inc_by(evaluations);
        self.metrics
            .deliveries
            .with_label_values(&["event"])
            .inc_by(out.len() as u64);
        out
    }

    /// The frame `group` sees of a journaled event under the current policy and twin (None:
    /// nothing), for a replay to one resuming session: the same judgement as the fan-out's.
    pub fn replayed_frame(
        &self,
        ev: &EventRecord,
        origin: &Origin,
        twin: Option<&Twin>,
        policy: Option<&CachedPolicy>,
        group: &SubscriptionGroup,
    ) -> Option<String> {
        let topic = Topic::parse(&ev.topic).ok()?;
        let sig = signal(ev, &topic, origin, twin, None);
        let vis = EventVisibility {
            policy,
            path: &ev.path,
            value: ev.value.as_ref(),
        };
        let mut evaluations = 0;
        let frame = group_frame(group, &sig, &vis, &mut evaluations);
        self.metrics.filter_evaluations.inc_by(evaluations);
        frame
    }
}
