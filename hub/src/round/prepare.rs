//! The steps of preparing one shard's batch for its commit (`Worker::prepare_shard` runs them in
//! order): decode the entries, work out which twins and policies the commands read so they can be
//! loaded in a few round trips, keep only the last write of each key, and build the journal.

use crate::dispatch::Effects;
use crate::metrics::Metrics;
use crate::search::{entries_of, IndexUpdate};
use crate::store::Write;
use crate::things::cache::TwinCache;
use crate::things::retrieve::{is_retrieve_things, thing_ids_of};
use crate::things::twin::Twin;
use redis::streams::StreamId;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use twinwire_common::bus::Keys;
use twinwire_common::bus::{
    parse_stream_id, BusCommand, Delivery, JournalEntry, ReturnedSignal, StreamEntry,
};
use twinwire_common::protocol::{Group, Topic};

/// One shard's batch, handled and waiting for its commit.
pub struct ShardBatch {
    pub shard: u32,
    pub started: Instant,
    /// The shard lease this hub held when it handled the batch; the commit is fenced by it.
    pub token: String,
    /// The batch's command-stream entry ids, acknowledged once its deliveries are written.
    pub ids: Vec<String>,
    /// The last entry applied by this batch (`None`: only already-applied entries).
    pub last_id: Option<String>,
    pub effects: Vec<Effects>,
    pub writes: Vec<Write>,
    /// The search index entries of the twins `writes` changes, committed with them.
    pub index: Vec<IndexUpdate>,
    pub journal: Vec<Vec<(String, String)>>,
    /// The twins' history entries of the batch's events (`crate::history`).
    pub history: Vec<crate::store::HistoryWrite>,
    pub policy_updates: Vec<(String, i64)>,
    /// Shared-subscription signals given back by a leaving member, dispatched again; they go out
    /// before the batch's own deliveries (they are older).
    pub redispatched: Vec<(String, Delivery)>,
}

/// A batch's entries, decoded: every entry id (all are acknowledged), and the commands not yet
/// applied with their entry ids and parsed topics.
pub struct Decoded {
    pub ids: Vec<String>,
    pub commands: Vec<(String, BusCommand)>,
    pub topics: Vec<Option<Topic>>,
    /// Signals share members gave back (DESIGN.md "Shared subscriptions").
    pub returned: Vec<ReturnedSignal>,
}

/// Decodes `entries`, skipping those at or below `applied` and dropping malformed ones.
pub fn decode_entries(
    shard: u32,
    entries: Vec<StreamId>,
    applied: (u64, u64),
    metrics: &Metrics,
) -> Decoded {
    let mut ids = Vec::with_capacity(entries.len());
    let mut commands = Vec::with_capacity(entries.len());
    let mut returned = Vec::new();
    for e in entries {
        ids.push(e.id.clone());
        if parse_stream_id(&e.id).is_some_and(|id| id <= applied) {
            metrics.skipped_applied.inc();
            continue;
        }
        match crate::store::returned_of(&e) {
            Some(Ok(r)) => {
                returned.push(r);
                continue;
            }
            Some(Err(error)) => {
                tracing::warn!(shard, id = %e.id, %error, "dropping a malformed returned signal");
                continue;
            }
            None => {}
        }
        match crate::store::command_of(&e) {
            Some(c) => commands.push((e.id, c)),
            None => {
                metrics.commands.with_label_values(&["malformed"]).inc();
                tracing::warn!(shard, id = %e.id, "dropping malformed command entry");
            }
        }
    }
    let topics = commands
        .iter()
        .map(|(_, c)| Topic::parse(&c.envelope.topic).ok())
        .collect();
    Decoded {
        ids,
        commands,
        topics,
        returned,
    }
}

/// The things of this shard the commands address.
pub fn thing_ids(topics: &[Option<Topic>]) -> Vec<String> {
    topics
        .iter()
        .flatten()
        .filter(|t| t.group == Group::Things && !t.is_wildcard_name())
        .map(Topic::entity_id)
        .collect()
}

/// The policies the commands may read, once their twins are cached: each thing's own id (a thing
/// created with an inline policy gets one of that id), the policies of the cached twins, the
/// policies a command's value names, and the policies the policies commands address.
pub fn policy_ids(
    decoded: &Decoded,
    thing_ids: &[String],
    twins: &TwinCache,
    shard: u32,
) -> Vec<String> {
    let mut policy_ids: Vec<String> = thing_ids.to_vec();
    for id in thing_ids {
        if let Some(p) = twins.get(shard, id).as_ref().and_then(|t| t.policy_id()) {
            policy_ids.push(p.to_owned());
        }
    }
    for (_, c) in &decoded.commands {
        if let Some(p) = c
            .envelope
            .value
            .as_ref()
            .and_then(|v| v.get("policyId"))
            .and_then(Value::as_str)
        {
            policy_ids.push(p.to_owned());
        }
    }
    for t in decoded
        .topics
        .iter()
        .flatten()
        .filter(|t| t.group == Group::Policies)
    {
        policy_ids.push(t.entity_id());
    }
    policy_ids
}

/// The things, of any shard, that the batch's RetrieveThings commands list.
pub fn retrieved_thing_ids(decoded: &Decoded) -> Vec<String> {
    decoded
        .commands
        .iter()
        .zip(&decoded.topics)
        .filter(|(_, t)| t.as_ref().is_some_and(is_retrieve_things))
        .flat_map(|((_, c), _)| thing_ids_of(&c.envelope))
        .collect()
}

/// The things whose kept history the batch's commands read (`crate::history`).
pub fn history_reads(decoded: &Decoded) -> Vec<String> {
    let mut ids: Vec<String> = decoded
        .commands
        .iter()
        .zip(&decoded.topics)
        .filter_map(|((_, c), t)| t.as_ref().filter(|t| crate::history::reads_history(c, t)))
        .map(Topic::entity_id)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Only the last write of each key in the batch matters.
pub fn last_writes(writes: Vec<Write>) -> Vec<Write> {
    let mut seen = HashSet::new();
    let mut last: Vec<Write> = writes
        .into_iter()
        .rev()
        .filter(|w| {
            let (key, member) = w.target();
            seen.insert((key.to_owned(), member.to_owned()))
        })
        .collect();
    last.reverse();
    last
}

/// The journal entries of the commands that produced an event, in command order.
pub fn journal_of(effects: &[Effects]) -> Vec<Vec<(String, String)>> {
    effects
        .iter()
        .filter_map(|it| {
            it.event.as_ref().map(|(ev, _, policy)| {
                let j = JournalEntry {
                    origin: it.origin.clone(),
                    response: it.response.clone(),
                    event: ev.clone(),
                    policy_id: policy.as_ref().map(|p| p.id.clone()).unwrap_or_default(),
                };
                j.to_fields()
            })
        })
        .collect()
}

/// The twins of `ids` in `shard` as the batch found them: the cache after its prefetch, before
/// any command changed it (this hub is the shard's only writer, so that is what Redis and the
/// shard's search index hold).
pub fn twins_before(twins: &TwinCache, shard: u32, ids: &[String]) -> TwinsBefore {
    ids.iter()
        .filter_map(|id| Some((id.clone(), twins.lookup(shard, id)?)))
        .collect()
}

/// Twins as a batch found them, by thing id (`None`: absent).
pub type TwinsBefore = HashMap<String, Option<Arc<Twin>>>;

/// The thing ids `writes` changes in `shard`.
pub fn written_thing_ids<'a>(
    keys: &Keys,
    shard: u32,
    writes: &'a [Write],
) -> impl Iterator<Item = &'a str> {
    let prefix = keys.thing(shard, "");
    writes.iter().filter_map(move |w| match w {
        // Sorted-set members (subject expiry) are never thing keys.
        Write::Schedule { .. } | Write::Unschedule { .. } => None,
        Write::Put { .. } | Write::Delete { .. } => w.key().strip_prefix(prefix.as_str()),
    })
}

/// The search index changes of the twins `writes` changes in `shard`: from each twin as the
/// batch found it (`before`, which holds every written twin) to its cached state, which is the
/// batch's last state of it, else the written document itself.
pub fn index_updates(
    keys: &Keys,
    shard: u32,
    writes: &[Write],
    twins: &TwinCache,
    before: &TwinsBefore,
) -> Vec<IndexUpdate> {
    let prefix = keys.thing(shard, "");
    writes
        .iter()
        .filter_map(|w| {
            let id = w.key().strip_prefix(&prefix)?.to_owned();
            let after = match (w, twins.lookup(shard, &id)) {
                // Sorted-set members (subject expiry) are never thing keys.
                (Write::Schedule { .. } | Write::Unschedule { .. }, _) => return None,
                (Write::Delete { .. }, _) => None,
                (_, Some(Some(t))) => Some(t),
                (Write::Put { value, .. }, _) => Twin::from_stored(value).ok().map(Arc::new),
            };
            let entries = |t: &Arc<Twin>| entries_of(&t.with_special_fields());
            let was = before.get(&id).cloned().flatten();
            let update =
                IndexUpdate::between(id, was.as_ref().map(entries), after.as_ref().map(entries));
            (!update.is_empty()).then_some(update)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Write {
        Write::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn only_the_last_write_of_each_key_is_kept_in_first_write_order() {
        let writes = vec![
            put("a", "1"),
            put("b", "1"),
            Write::Delete { key: "a".into() },
            put("c", "1"),
            put("b", "2"),
        ];
        assert_eq!(
            last_writes(writes),
            vec![
                Write::Delete { key: "a".into() },
                put("c", "1"),
                put("b", "2")
            ]
        );
    }

    #[test]
    fn the_things_a_batch_reads_leave_out_retrieve_things_and_policies() {
        let topics: Vec<Option<Topic>> = [
            "org.x/a/things/twin/commands/modify",
            "org.x/_/things/twin/commands/retrieve",
            "org.x/p/policies/commands/retrieve",
        ]
        .iter()
        .map(|t| Topic::parse(t).ok())
        .chain([None])
        .collect();
        assert_eq!(thing_ids(&topics), vec!["org.x:a".to_string()]);
    }
}
