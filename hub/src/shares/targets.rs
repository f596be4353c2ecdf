//! Shared subscriptions in a signal's fan-out (hooked into `fanout::fan_out`): each share is
//! evaluated once like a subscription group, then one member is picked for the signal, with its
//! own acknowledgement labels; an event for a share without members is kept for the next one.

use super::{KeptEvent, Member};
use crate::fanout::{group_view, Placeholders, Signal, Visibility};
use crate::registry::SubscriptionRegistry;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use twinwire_common::policy::EventView;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::StreamingKind;

/// The members shared subscriptions picked for a signal, per node, each with its frame. A share
/// is evaluated once, like a subscription group; the member gets it with the labels it declared
/// among the requested ones, and the other members' requested labels come back weak (they did not
/// get the signal). An event matching a share that has no member is kept for the next one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn share_targets(
    registry: &SubscriptionRegistry,
    sig: &Signal,
    vis: &dyn Visibility,
    views: &mut HashMap<Vec<String>, EventView>,
    ph: &Placeholders,
    base_target: &Value,
    filter_evaluations: &mut u64,
    weak: &mut BTreeSet<String>,
) -> BTreeMap<String, Vec<(String, u64, String)>> {
    let mut out: BTreeMap<String, Vec<(String, u64, String)>> = BTreeMap::new();
    let origin = Member {
        node: sig.origin.node.clone(),
        session: sig.origin.session,
    };
    for share in registry.shares.of_kind(sig.kind) {
        let requested: Vec<&String> = share
            .members
            .values()
            .flatten()
            .filter(|l| sig.acks.contains(l))
            .collect();
        let Some(mut env) = group_view(
            &share.view,
            sig,
            vis,
            views,
            ph,
            base_target,
            filter_evaluations,
        ) else {
            weak.extend(requested.into_iter().cloned());
            continue;
        };
        let Some((member, declared)) = share.pick(sig.thing_id, Some(&origin)) else {
            weak.extend(requested.into_iter().cloned());
            if sig.kind == StreamingKind::Events && share.members.is_empty() {
                registry.shares.keep(
                    share,
                    KeptEvent {
                        thing_id: sig.thing_id.to_owned(),
                        frame: env.to_json_string(),
                        written_ms: sig.written_ms,
                        reply: sig.reply.clone(),
                        kept_at: std::time::Instant::now(),
                    },
                );
            }
            continue;
        };
        let labels: Vec<&str> = declared
            .iter()
            .filter(|l| sig.acks.contains(l))
            .map(String::as_str)
            .collect();
        weak.extend(
            requested
                .into_iter()
                .filter(|l| !labels.contains(&l.as_str()))
                .cloned(),
        );
        if !labels.is_empty() {
            env.headers.set(names::REQUESTED_ACKS, labels);
        }
        out.entry(member.node.clone()).or_default().push((
            share.key.clone(),
            member.session,
            env.to_json_string(),
        ));
    }
    out
}
