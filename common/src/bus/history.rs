//! A twin's history `tw:{k}:history:<id>`: one entry per event the thing kept, written in the same
//! fenced commit as the twin and the journal, with its one field `d` holding the JSON-encoded
//! [`HistoryEntry`]: the event as journaled and the twin as it left it. Keeping the twin beside
//! the event is what lets a retrieve at a past revision answer from one entry even after the
//! retention trimmed the events before it (Ditto rebuilds from snapshots plus events instead).

use super::entry::{json_field, to_json, DecodeError, Fields, StreamEntry};
use super::journal::EventRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One kept event of a thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(rename = "e")]
    pub event: EventRecord,
    /// The twin after the event in the hub's stored form; absent after a delete.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub twin: Option<Value>,
}

/// Field of a history entry holding the JSON-encoded [`HistoryEntry`].
pub const HISTORY_FIELD: &str = "d";

impl StreamEntry for HistoryEntry {
    fn to_fields(&self) -> Vec<(String, String)> {
        vec![(HISTORY_FIELD.into(), to_json(self))]
    }

    fn from_fields(fields: &Fields) -> Result<HistoryEntry, DecodeError> {
        json_field(fields, HISTORY_FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Headers;

    const PINNED: &str = r#"{"e":{"i":"org.x:t1","t":"org.x/t1/things/twin/events/modified","p":"/attributes/a","v":1,"r":3,"s":"2024-01-17T10:30:15.123Z","h":{}},"w":{"t":{"thingId":"org.x:t1"},"r":3}}"#;

    #[test]
    fn history_entries_round_trip_and_keep_their_format() {
        let h = HistoryEntry {
            event: EventRecord {
                thing_id: "org.x:t1".into(),
                topic: "org.x/t1/things/twin/events/modified".into(),
                path: "/attributes/a".into(),
                value: Some(serde_json::json!(1)),
                revision: 3,
                timestamp: "2024-01-17T10:30:15.123Z".into(),
                headers: Headers::new(),
                acks: Vec::new(),
            },
            twin: Some(serde_json::json!({"t": {"thingId": "org.x:t1"}, "r": 3})),
        };
        let fields = h.to_fields();
        assert_eq!(fields, vec![("d".to_string(), PINNED.to_string())]);
        assert_eq!(
            HistoryEntry::from_fields(&fields.into_iter().collect()),
            Ok(h)
        );
    }
}
