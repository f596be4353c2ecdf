//! One page of a `subscribeForPersistedEvents` subscription (ditto-features §4). The sender's
//! gateway session owns the subscription (its id, the client's demand, where it got to) and asks
//! the thing's shard for the next page whenever the client wants more: the command carries the
//! client's range and filter plus `after` (the last history entry already sent) and `max` (the
//! outstanding demand). The answer holds at most `max` items, each the persisted event in Ditto
//! Protocol form, with the id to continue after, and whether nothing further matches.

use super::History;
use crate::policies::PolicyCache;
use crate::things::twin::Twin;
use serde_json::{json, Map, Value};
use twinwire_common::bus::{parse_stream_id, BusCommand};
use twinwire_common::policy::Permission;
use twinwire_common::protocol::{Envelope, Topic};
use twinwire_common::{rql, Error};

/// Where to continue a subscription (the last history entry sent).
pub const AFTER: &str = "after";
/// How many items the page may hold (the client's outstanding demand).
pub const MAX: &str = "max";
/// Items per page at most, whatever the demand: bounds one response's size.
pub const PAGE_LIMIT: usize = 100;

/// The client's selection, from the subscribe command's value.
#[derive(Debug)]
struct Selection {
    from_revision: i64,
    to_revision: i64,
    from_timestamp: Option<chrono::DateTime<chrono::Utc>>,
    to_timestamp: Option<chrono::DateTime<chrono::Utc>>,
    /// `Some(None)`: a filter that does not parse, which matches nothing (as in Ditto).
    filter: Option<Option<rql::Filter>>,
}

fn selection(value: &Map<String, Value>) -> Result<Selection, Error> {
    let long = |name: &'static str, default: i64| -> Result<i64, Error> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| Error::JsonFieldWrongType {
                field: name,
                value: v.to_string(),
                expected: "long",
            }),
        }
    };
    let instant = |name: &'static str| -> Result<_, Error> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(super::at::parse_instant)
                .map(Some)
                .ok_or_else(|| Error::JsonFieldWrongType {
                    field: name,
                    value: v.to_string(),
                    expected: "timestamp",
                }),
        }
    };
    Ok(Selection {
        from_revision: long("fromHistoricalRevision", 0)?,
        to_revision: long("toHistoricalRevision", i64::MAX)?,
        from_timestamp: instant("fromHistoricalTimestamp")?,
        to_timestamp: instant("toHistoricalTimestamp")?,
        filter: value
            .get("filter")
            .and_then(Value::as_str)
            .map(|f| rql::parse(f).ok()),
    })
}

/// Answers a page request for the thing `topic` names, judged by its current policy: the
/// requester needs unrestricted READ on the whole thing, else the thing is not found (Ditto).
pub fn answer(
    cmd: &BusCommand,
    topic: &Topic,
    current: Option<&Twin>,
    policies: &PolicyCache,
    history: &History,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, Error> {
    let thing_id = topic.entity_id();
    let readable = current
        .and_then(Twin::policy_id)
        .and_then(|p| policies.get(p))
        .is_some_and(|p| {
            p.enforcer
                .has_unrestricted(&cmd.subjects, "thing", "/", Permission::Read)
        });
    let Some(current) = current.filter(|_| readable) else {
        return Err(Error::ThingNotFound(thing_id));
    };
    let empty = Map::new();
    let value = cmd
        .envelope
        .value
        .as_ref()
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let sel = selection(value)?;
    let after = value
        .get(AFTER)
        .and_then(Value::as_str)
        .and_then(parse_stream_id)
        .unwrap_or((0, 0));
    let max = value
        .get(MAX)
        .and_then(Value::as_u64)
        .map_or(PAGE_LIMIT, |m| (m as usize).clamp(1, PAGE_LIMIT));

    // Relative revisions count back from the latest (Ditto's read journal).
    let latest = current.revision;
    let start = if sel.from_revision < 0 {
        latest + sel.from_revision + 1
    } else {
        sel.from_revision
    };
    let end = match sel.to_revision {
        0 => latest,
        t if t < 0 => latest + t,
        t => t,
    };
    let placeholders = rql::MapPlaceholders::new(now);
    let matching = history.iter().filter(|(id, e)| {
        let ev = &e.event;
        let ts = super::at::parse_instant(&ev.timestamp);
        parse_stream_id(id).is_some_and(|i| i > after)
            && (start..=end).contains(&ev.revision)
            && sel
                .from_timestamp
                .is_none_or(|from| ts.is_some_and(|t| t > from))
            && sel.to_timestamp.is_none_or(|to| ts.is_some_and(|t| t < to))
            && match &sel.filter {
                None => true,
                Some(None) => false,
                Some(Some(f)) => e
                    .twin
                    .as_ref()
                    .and_then(|w| serde_json::from_value::<Twin>(w.clone()).ok())
                    .is_some_and(|t| f.matches(&t.with_special_fields(), &placeholders)),
            }
    });
    let mut items = Vec::new();
    let mut more = false;
    for (id, e) in matching {
        if items.len() == max {
            more = true;
            break;
        }
        let ev = &e.event;
        let item = Envelope {
            topic: ev.topic.clone(),
            path: ev.path.clone(),
            value: ev.value.clone(),
            revision: Some(ev.revision),
            timestamp: Some(ev.timestamp.clone()),
            ..Default::default()
        };
        items.push(json!({"id": id, "item": item}));
    }
    let response = Envelope {
        topic: cmd.envelope.topic.clone(),
        headers: cmd.envelope.headers.for_response(),
        path: "/".into(),
        value: Some(json!({"items": items, "complete": !more})),
        status: Some(200),
        ..Default::default()
    };
    Ok(response.to_json_string())
}
