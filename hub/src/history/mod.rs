//! Twin history (ditto-features §4): every event a thing's commands cause is kept with the twin it
//! left, in the thing's `tw:{k}:history:<id>` stream, written in the batch's fenced commit (so it
//! survives failover and Redis restarts exactly as the twin does) and trimmed by the `history`
//! retention. Two readers: a retrieve with `at-historical-revision`/`at-historical-timestamp`
//! ([`at`]) and the pages of a `subscribeForPersistedEvents` streaming subscription ([`page`]),
//! whose demand and subscription ids the sender's gateway session keeps. Both are judged by the
//! thing's current policy, as in Ditto; both read the kept history as committed before their batch.

pub mod at;
pub mod page;

use crate::dispatch::Effects;
use crate::store::HistoryWrite;
use std::collections::HashMap;
use twinwire_common::bus::{BusCommand, HistoryEntry, Keys, StreamEntry};
use twinwire_common::protocol::{Action, Channel, Criterion, Group, Topic};

pub use crate::store::History;

/// The kept histories a batch's history requests read, by thing id.
pub type Histories = HashMap<String, History>;

/// Whether `cmd` reads its thing's history: a streaming page, or a retrieve at a past point.
pub fn reads_history(cmd: &BusCommand, topic: &Topic) -> bool {
    if topic.group != Group::Things || topic.channel != Some(Channel::Twin) {
        return false;
    }
    match topic.criterion {
        Criterion::Streaming => true,
        Criterion::Commands => {
            topic.action == Some(Action::Retrieve) && at::requested(&cmd.envelope.headers)
        }
        _ => false,
    }
}

/// The history entries of a batch's events, in command order. A thing created anew (a `created`
/// event of the whole thing) starts its history afresh: its revisions start at 1 again.
pub fn writes_of(effects: &[Effects], keys: &Keys, shard: u32) -> Vec<HistoryWrite> {
    effects
        .iter()
        .filter_map(|it| it.event.as_ref())
        .map(|(event, twin, _)| {
            let reset = event.path == "/" && event.topic.ends_with("/things/twin/events/created");
            let entry = HistoryEntry {
                event: event.clone(),
                twin: twin
                    .as_ref()
                    .map(|t| serde_json::to_value(t.as_ref()).expect("twin serializes")),
            };
            HistoryWrite {
                key: keys.history(shard, &event.thing_id),
                reset,
                fields: entry.to_fields(),
            }
        })
        .collect()
}
