//! The shard journal `tw:{k}:events`: one entry per event a command caused, written in the same
//! fenced commit as the twin, with its one field `d` holding the JSON-encoded [`JournalEntry`].
//! A new owner replays what lies after `tw:{k}:fanned` from it (responses and fan-out), so an
//! entry carries all that takes.

use super::command::Origin;
use super::entry::{json_field, to_json, DecodeError, Fields, StreamEntry};
use crate::protocol::Headers;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event as journaled: enough to fan it out again after a takeover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    #[serde(rename = "i")]
    pub thing_id: String,
    #[serde(rename = "t")]
    pub topic: String,
    #[serde(rename = "p")]
    pub path: String,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(rename = "r")]
    pub revision: i64,
    #[serde(rename = "s")]
    pub timestamp: String,
    #[serde(rename = "h")]
    pub headers: Headers,
    /// Custom acknowledgement labels the command requested (receivers declaring them acknowledge).
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub acks: Vec<String>,
}

/// A journal entry: the event plus what is needed to answer its command again after a takeover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    #[serde(rename = "o")]
    pub origin: Origin,
    /// The response frame, when the command wanted one.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(rename = "e")]
    pub event: EventRecord,
    /// The policy governing the thing when the event happened.
    #[serde(rename = "p", default)]
    pub policy_id: String,
}

/// Field of a journal entry holding the JSON-encoded [`JournalEntry`].
pub const JOURNAL_FIELD: &str = "d";

impl StreamEntry for JournalEntry {
    fn to_fields(&self) -> Vec<(String, String)> {
        vec![(JOURNAL_FIELD.into(), to_json(self))]
    }

    fn from_fields(fields: &Fields) -> Result<JournalEntry, DecodeError> {
        json_field(fields, JOURNAL_FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(response: Option<&str>) -> JournalEntry {
        let mut headers = Headers::new();
        headers.insert("correlation-id", Value::String("c1".into()));
        JournalEntry {
            origin: Origin {
                node: "n1".into(),
                session: 7,
            },
            response: response.map(str::to_owned),
            event: EventRecord {
                thing_id: "org.x:t1".into(),
                topic: "org.x/t1/things/twin/events/modified".into(),
                path: "/attributes/a".into(),
                value: Some(serde_json::json!(1)),
                revision: 3,
                timestamp: "2024-01-17T10:30:15.123Z".into(),
                headers,
                acks: vec!["l1".into()],
            },
            policy_id: "org.x:p".into(),
        }
    }

    const PINNED: &str = r#"{"o":{"n":"n1","s":7},"r":"{}","e":{"i":"org.x:t1","t":"org.x/t1/things/twin/events/modified","p":"/attributes/a","v":1,"r":3,"s":"2024-01-17T10:30:15.123Z","h":{"correlation-id":"c1"},"a":["l1"]},"p":"org.x:p"}"#;

    #[test]
    fn journal_entries_round_trip_and_keep_their_format() {
        let j = entry(Some("{}"));
        let fields = j.to_fields();
        assert_eq!(fields, vec![("d".to_string(), PINNED.to_string())]);
        assert_eq!(
            JournalEntry::from_fields(&fields.into_iter().collect()),
            Ok(j.clone())
        );
        let old: Fields = [("d", PINNED)].into_iter().collect();
        assert_eq!(JournalEntry::from_fields(&old), Ok(j));
        let quiet = entry(None);
        assert_eq!(
            JournalEntry::from_fields(&quiet.to_fields().into_iter().collect()),
            Ok(quiet)
        );
        // Entries journaled before the policy id was recorded.
        let without_policy = r#"{"o":{"n":"n1","s":7},"e":{"i":"x:y","t":"x/y/things/twin/events/deleted","p":"/","r":2,"s":"2024-01-17T10:30:15Z","h":{}}}"#;
        let old: Fields = [("d", without_policy)].into_iter().collect();
        let j = JournalEntry::from_fields(&old).unwrap();
        assert_eq!(j.policy_id, "");
        assert!(j.event.acks.is_empty() && j.event.value.is_none() && j.response.is_none());
        assert!(JournalEntry::from_fields(&[("d", "{}")].into_iter().collect()).is_err());
    }
}
