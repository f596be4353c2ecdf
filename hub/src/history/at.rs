//! A retrieve at a point in a thing's history (`at-historical-revision` or
//! `at-historical-timestamp`, ditto-features §4): the twin as it was then, taken from the kept
//! history, answered like a normal retrieve of that twin but judged by the current policy.

use super::History;
use crate::things::twin::Twin;
use chrono::{DateTime, Utc};
use twinwire_common::bus::HistoryEntry;
use twinwire_common::protocol::Headers;
use twinwire_common::Error;

pub const AT_HISTORICAL_REVISION: &str = "at-historical-revision";
pub const AT_HISTORICAL_TIMESTAMP: &str = "at-historical-timestamp";

/// Which point of the history a retrieve asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum At {
    Revision(i64),
    Timestamp(DateTime<Utc>),
}

/// Whether a retrieve asks for a point in history.
pub fn requested(headers: &Headers) -> bool {
    headers.contains(AT_HISTORICAL_REVISION) || headers.contains(AT_HISTORICAL_TIMESTAMP)
}

/// The point asked for; a malformed header is Ditto's `header.invalid`.
pub fn at_of(headers: &Headers) -> Result<Option<At>, Error> {
    let invalid = |name: &str, value: String, kind: &str| Error::HeaderInvalid {
        name: name.to_owned(),
        value,
        kind: kind.to_owned(),
    };
    if let Some(v) = headers.get_str(AT_HISTORICAL_REVISION) {
        return v
            .trim()
            .parse::<i64>()
            .map(|r| Some(At::Revision(r)))
            .map_err(|_| invalid(AT_HISTORICAL_REVISION, v.into_owned(), "long"));
    }
    if let Some(v) = headers.get_str(AT_HISTORICAL_TIMESTAMP) {
        return parse_instant(&v)
            .map(|t| Some(At::Timestamp(t)))
            .ok_or_else(|| invalid(AT_HISTORICAL_TIMESTAMP, v.into_owned(), "timestamp"));
    }
    Ok(None)
}

/// An ISO-8601 instant, as Java's `Instant.parse` takes it.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The twin at `at`: the current one when it is that point, else the kept entry; what the
/// history does not hold (a future point, one before the kept events, a deleted twin) is
/// `things:thing.history.notfound`.
pub fn twin_at(
    thing_id: &str,
    at: &At,
    current: Option<&Twin>,
    history: &History,
    now: DateTime<Utc>,
) -> Result<Twin, Error> {
    let not_found = || Error::ThingHistoryNotFound {
        thing: thing_id.to_owned(),
        at: match at {
            At::Revision(r) => format!("revision '{r}'"),
            At::Timestamp(t) => format!("timestamp '{}'", crate::instant::format_instant(*t)),
        },
    };
    let stored = |e: &HistoryEntry| -> Option<Twin> {
        e.twin
            .as_ref()
            .and_then(|w| serde_json::from_value(w.clone()).ok())
    };
    match at {
        At::Revision(r) => {
            if let Some(c) = current.filter(|c| c.revision == *r) {
                return Ok(c.clone());
            }
            history
                .iter()
                .rev()
                .find(|(_, e)| e.event.revision == *r)
                .and_then(|(_, e)| stored(e))
                .ok_or_else(not_found)
        }
        At::Timestamp(t) => {
            if *t > now {
                return Err(not_found());
            }
            // The state is built from the events strictly before the instant (Ditto).
            if let Some(c) = current.filter(|c| parse_instant(&c.modified).is_some_and(|m| m < *t))
            {
                return Ok(c.clone());
            }
            history
                .iter()
                .rev()
                .find(|(_, e)| parse_instant(&e.event.timestamp).is_some_and(|s| s < *t))
                .and_then(|(_, e)| stored(e))
                .ok_or_else(not_found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use twinwire_common::bus::EventRecord;

    fn twin(rev: i64, modified: &str) -> Twin {
        Twin {
            thing: json!({"thingId": "a:b", "policyId": "a:b", "attributes": {"n": rev}}),
            revision: rev,
            created: "2024-01-01T00:00:00Z".into(),
            modified: modified.into(),
        }
    }

    fn entry(rev: i64, at: &str, kept: Option<Twin>) -> (String, HistoryEntry) {
        (
            format!("{rev}-0"),
            HistoryEntry {
                event: EventRecord {
                    thing_id: "a:b".into(),
                    topic: "a/b/things/twin/events/modified".into(),
                    path: "/attributes/n".into(),
                    value: Some(json!(rev)),
                    revision: rev,
                    timestamp: at.into(),
                    headers: Headers::new(),
                    acks: Vec::new(),
                },
                twin: kept.map(|t| serde_json::to_value(t).unwrap()),
            },
        )
    }

    #[test]
    fn a_past_point_is_the_kept_twin_and_anything_else_is_history_notfound() {
        let t1 = "2024-01-01T00:00:01Z";
        let t2 = "2024-01-01T00:00:02Z";
        let t3 = "2024-01-01T00:00:03Z";
        let history = vec![
            entry(1, t1, Some(twin(1, t1))),
            entry(2, t2, Some(twin(2, t2))),
            entry(3, t3, Some(twin(3, t3))),
        ];
        let current = twin(3, t3);
        let now = parse_instant("2024-01-01T00:01:00Z").unwrap();
        let at = |a: At| twin_at("a:b", &a, Some(&current), &history, now).map(|t| t.revision);
        assert_eq!(at(At::Revision(2)), Ok(2));
        assert_eq!(at(At::Revision(3)), Ok(3));
        assert_eq!(
            at(At::Revision(4)).unwrap_err().to_ditto().message,
            "The Thing with ID 'a:b' at revision '4' could not be found or requester had insufficient permissions to access it."
        );
        // Strictly before the instant: at t2 exactly, the state is revision 1's.
        assert_eq!(at(At::Timestamp(parse_instant(t2).unwrap())), Ok(1));
        assert_eq!(
            at(At::Timestamp(
                parse_instant("2024-01-01T00:00:02.5Z").unwrap()
            )),
            Ok(2)
        );
        assert_eq!(
            at(At::Timestamp(
                parse_instant("2024-01-01T00:00:30Z").unwrap()
            )),
            Ok(3)
        );
        assert!(at(At::Timestamp(parse_instant(t1).unwrap())).is_err());
        assert!(at(At::Timestamp(
            parse_instant("2024-01-01T00:02:00Z").unwrap()
        ))
        .is_err());
    }

    #[test]
    fn malformed_points_are_invalid_headers() {
        let mut h = Headers::new();
        h.insert(AT_HISTORICAL_REVISION, "x");
        assert_eq!(at_of(&h).unwrap_err().to_ditto().error, "header.invalid");
        let mut h = Headers::new();
        h.insert(AT_HISTORICAL_TIMESTAMP, "yesterday");
        assert_eq!(at_of(&h).unwrap_err().to_ditto().error, "header.invalid");
        let mut h = Headers::new();
        h.insert(AT_HISTORICAL_REVISION, 7);
        assert_eq!(at_of(&h), Ok(Some(At::Revision(7))));
    }
}
