//! Fan-out: which subscription groups receive a signal, and what each sees (DESIGN.md §2). Per
//! group: kind and namespace, then read permission (Ditto's granted-and-not-revoked rule, with
//! partial views, reference §5.1–§5.2), then the RQL filter against the synthetic thing (§5.3),
//! then extraFields from the twin with the group's own permissions (§5.4). Frames are serialized
//! once per distinct view and deliveries are grouped per node: one bus entry per (signal, node).
//! Shared subscriptions add one picked member per share to those entries (`shares::targets`).

use crate::registry::{SubscriptionGroup, SubscriptionRegistry};
use crate::shares::targets::share_targets;
use crate::things::twin::Twin;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use twinwire_common::bus::{Delivery, JournalPos, Origin, Reply};
use twinwire_common::policy::EventView;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{acks, Envelope, Headers, StreamingKind, Topic};
use twinwire_common::rql::PlaceholderSource;
use twinwire_common::things::Pointer;

/// A signal to fan out.
pub struct Signal<'a> {
    pub kind: StreamingKind,
    pub topic: &'a Topic,
    pub thing_id: &'a str,
    pub path: &'a str,
    /// The full payload at `path` (None for deletes).
    pub value: Option<&'a Value>,
    pub headers: &'a Headers,
    pub revision: Option<i64>,
    pub timestamp: Option<&'a str>,
    /// The session that caused the signal; it never receives it.
    pub origin: &'a Origin,
    /// The twin after the change, for extraFields.
    pub twin: Option<&'a Twin>,
    pub pos: Option<JournalPos>,
    pub written_ms: u64,
    /// Where receivers answer, for live signals that want a response.
    pub reply: Option<Reply>,
    /// Custom acknowledgement labels the sender requested.
    pub acks: &'a [String],
}

/// What a set of subjects may see of the signal, and what it may read of the twin.
pub trait Visibility {
    fn view(&self, subjects: &[String]) -> EventView;
    /// The readable part of `value` located at `path` of the thing.
    fn readable(&self, subjects: &[String], path: &Pointer, value: &Value) -> Option<Value>;
    /// A whole thing as API 1 sessions see it (`acl` in place of `policyId`).
    fn v1_thing(&self, thing: Value) -> Value {
        thing
    }
}

/// `topic:*`, `resource:*` and `entity:*` for a signal (reference §4.4).
pub(crate) struct Placeholders<'a> {
    sig: &'a Signal<'a>,
    topic_full: String,
}

impl PlaceholderSource for Placeholders<'_> {
    fn placeholder(&self, prefix: &str, name: &str) -> Option<Cow<'_, str>> {
        let t = self.sig.topic;
        let b = |s: &str| Some(Cow::Owned(s.to_owned()));
        match (prefix, name) {
            ("topic", "full") => Some(Cow::Borrowed(self.topic_full.as_str())),
            ("topic", "namespace") => b(&t.namespace),
            ("topic", "entityName") => b(&t.name),
            ("topic", "group") => b(t.group.as_str()),
            ("topic", "channel") => t.channel.map(|c| Cow::Borrowed(c.as_str())),
            ("topic", "criterion") => Some(Cow::Borrowed(t.criterion.as_str())),
            ("topic", "action") => t.action.map(|a| Cow::Borrowed(a.as_str())),
            ("topic", "subject") => t.subject.as_deref().map(Cow::Borrowed),
            ("topic", "action-subject") => t
                .action
                .map(|a| Cow::Borrowed(a.as_str()))
                .or_else(|| t.subject.as_deref().map(Cow::Borrowed)),
            ("resource", "type") => {
                Some(Cow::Borrowed(if self.sig.kind == StreamingKind::Messages {
                    "message"
                } else {
                    "thing"
                }))
            }
            ("resource", "path") => Some(Cow::Borrowed(self.sig.path)),
            ("entity", "id") => Some(Cow::Borrowed(self.sig.thing_id)),
            ("entity", "namespace") => b(&t.namespace),
            ("entity", "name") => b(&t.name),
            _ => None,
        }
    }
}

/// The thing a filter is evaluated against (Ditto `ThingEventToThingConverter`): id, revision,
/// modified time and only the changed part at its path; merge patches without their nulls.
pub fn synthetic_thing(sig: &Signal) -> Value {
    let mut m = Map::new();
    m.insert("thingId".into(), Value::String(sig.thing_id.to_owned()));
    m.insert(
        "_namespace".into(),
        Value::String(sig.topic.namespace.clone()),
    );
    if let Some(r) = sig.revision {
        m.insert("_revision".into(), Value::from(r));
    }
    if let Some(t) = sig.timestamp {
        m.insert("_modified".into(), Value::String(t.to_owned()));
    }
    // Messages and live commands are not thing events: Ditto filters them against an empty thing
    // (plus extra), so only placeholders and extraFields can match.
    if matches!(
        sig.kind,
        StreamingKind::Messages | StreamingKind::LiveCommands
    ) {
        return Value::Object(Map::new());
    }
    let mut thing = Value::Object(m);
    if matches!(sig.kind, StreamingKind::Events | StreamingKind::LiveEvents) {
        if let Some(v) = sig.value {
            let v = if sig.topic.action == Some(twinwire_common::protocol::Action::Merged) {
                strip_nulls(v)
            } else {
                v.clone()
            };
            let p = Pointer::parse(sig.path);
            if p.is_root() {
                if let (Value::Object(t), Value::Object(src)) = (&mut thing, v) {
                    for (k, val) in src {
                        t.entry(k).or_insert(val);
                    }
                }
            } else {
                p.set(&mut thing, v);
            }
        }
    }
    thing
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `extra` merged under the event data: the event wins on conflicts (§5.3).
fn merge_under(base: &Value, extra: &Value) -> Value {
    let mut out = extra.clone();
    merge_into(&mut out, base);
    out
}

fn merge_into(target: &mut Value, top: &Value) {
    match (target, top) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                match t.get_mut(k) {
                    Some(existing) => merge_into(existing, v),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, s) => *t = s.clone(),
    }
}

/// The deliveries for one signal, one per node with matching sessions.
/// What one group sees of the signal; None when it sees nothing (namespace, permission, filter).
pub(crate) fn group_view(
    group: &SubscriptionGroup,
    sig: &Signal,
    vis: &dyn Visibility,
    views: &mut HashMap<Vec<String>, EventView>,
    ph: &Placeholders,
    base_target: &Value,
    filter_evaluations: &mut u64,
) -> Option<Envelope> {
    if !group.wants_namespace(&sig.topic.namespace) {
        return None;
    }
    // ACLs exist only for API 1: API 2 sessions never hear of them.
    let api1 = group.record.api_version == 1;
    if !api1 && sig.path.starts_with("/acl") {
        return None;
    }
    let view = views
        .entry(group.record.subjects.clone())
        .or_insert_with(|| vis.view(&group.record.subjects))
        .clone();
    let mut value = match view {
        EventView::Hidden => return None,
        EventView::Full => sig.value.cloned(),
        EventView::Partial(v) => Some(v),
    };
    if api1 && sig.path == "/" {
        value = value.map(|v| vis.v1_thing(v));
    }
    let extra = group.extra.as_ref().zip(sig.twin).and_then(|(sel, twin)| {
        let selected = sel.apply(&twin.with_special_fields());
        vis.readable(&group.record.subjects, &Pointer::root(), &selected)
    });
    let extra = extra.filter(|e| e.as_object().is_some_and(|m| !m.is_empty()));
    if let Some(f) = &group.filter {
        *filter_evaluations += 1;
        let matched = match f {
            Ok(filter) => match &extra {
                Some(x) => filter.matches(&merge_under(base_target, x), ph),
                None => filter.matches(base_target, ph),
            },
            Err(()) => false,
        };
        if !matched {
            return None;
        }
    }
    Some(Envelope {
        topic: ph.topic_full.clone(),
        headers: sig.headers.clone(),
        path: sig.path.to_owned(),
        value,
        extra,
        revision: sig.revision,
        timestamp: sig.timestamp.map(str::to_owned),
        ..Default::default()
    })
}

/// The frame one group sees of `sig` (None: nothing), as [`fan_out`] would give it, for a
/// replay to one session of the group (issue 16).
pub fn group_frame(
    group: &SubscriptionGroup,
    sig: &Signal,
    vis: &dyn Visibility,
    filter_evaluations: &mut u64,
) -> Option<String> {
    let ph = Placeholders {
        sig,
        topic_full: sig.topic.to_string(),
    };
    let base_target = synthetic_thing(sig);
    let mut views = HashMap::new();
    group_view(
        group,
        sig,
        vis,
        &mut views,
        &ph,
        &base_target,
        filter_evaluations,
    )
    .map(|env| env.to_json_string())
}

/// The deliveries for one signal, one per node with matching sessions, plus weak
/// acknowledgements (to the sender) for requested labels whose declaring group saw nothing.
pub fn fan_out(
    registry: &SubscriptionRegistry,
    sig: &Signal,
    vis: &dyn Visibility,
    filter_evaluations: &mut u64,
) -> Vec<(String, Delivery)> {
    let ph = Placeholders {
        sig,
        topic_full: sig.topic.to_string(),
    };
    let base_target = synthetic_thing(sig);
    // Distinct frames, and per node which groups see which frame.
    let mut frames: Vec<String> = Vec::new();
    let mut frame_index: HashMap<String, usize> = HashMap::new();
    let mut per_node: HashMap<&str, HashMap<usize, Vec<&str>>> = HashMap::new();
    let mut views: HashMap<Vec<String>, EventView> = HashMap::new();
    let mut weak: BTreeSet<String> = BTreeSet::new();
    for group in registry.subscription_groups(sig.kind) {
        // The requested labels this group declared: they ride along in its frame (Ditto restricts
        // `requested-acks` to each session's declared labels), or come back weak when it sees nothing.
        let labels: Vec<&str> = group
            .record
            .declared_acks
            .iter()
            .filter(|l| sig.acks.contains(l))
            .map(String::as_str)
            .collect();
        let Some(mut env) = group_view(
            group,
            sig,
            vis,
            &mut views,
            &ph,
            &base_target,
            filter_evaluations,
        ) else {
            weak.extend(labels.into_iter().map(str::to_owned));
            continue;
        };
        if !labels.is_empty() {
            env.headers.set(names::REQUESTED_ACKS, labels);
        }
        let frame = env.to_json_string();
        let idx = match frame_index.get(&frame) {
            Some(i) => *i,
            None => {
                frames.push(frame.clone());
                frame_index.insert(frame, frames.len() - 1);
                frames.len() - 1
            }
        };
        for node in group.nodes.keys() {
            per_node
                .entry(node.as_str())
                .or_default()
                .entry(idx)
                .or_default()
                .push(group.key.as_str());
        }
    }
    // Shared subscriptions: one member each (DESIGN.md "Shared subscriptions").
    let mut members: BTreeMap<String, Vec<(String, u64, String)>> = share_targets(
        registry,
        sig,
        vis,
        &mut views,
        &ph,
        &base_target,
        filter_evaluations,
        &mut weak,
    );
    let mut out = Vec::with_capacity(per_node.len() + members.len());
    let fanout = |exclude: Option<u64>, groups, members| Delivery::Fanout {
        kind: sig.kind,
        pos: sig.pos,
        written_ms: sig.written_ms,
        exclude,
        groups,
        reply: sig.reply.clone(),
        members,
    };
    for (node, by_frame) in per_node {
        let mut groups: Vec<(Vec<String>, String)> = by_frame
            .into_iter()
            .map(|(i, keys)| {
                (
                    keys.into_iter().map(str::to_owned).collect(),
                    frames[i].clone(),
                )
            })
            .collect();
        groups.sort();
        let exclude = (node == sig.origin.node).then_some(sig.origin.session);
        let picked = members.remove(node).unwrap_or_default();
        out.push((node.to_owned(), fanout(exclude, groups, picked)));
    }
    // Nodes where only shared subscriptions picked a member.
    for (node, picked) in members {
        let exclude = (node == sig.origin.node).then_some(sig.origin.session);
        out.push((node, fanout(exclude, Vec::new(), picked)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let cid = sig
        .headers
        .correlation_id()
        .map(|c| c.into_owned())
        .unwrap_or_default();
    for label in weak {
        let frame = acks::weak(sig.topic, &label, &cid).to_json_string();
        out.push((
            sig.origin.node.clone(),
            Delivery::Response {
                session: sig.origin.session,
                frame,
                pos: None,
                live: true,
            },
        ));
    }
    out
}
