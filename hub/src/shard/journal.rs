//! A shard's journal entry: the event plus what is needed to answer its command again after a
//! takeover. The commit appends it; a takeover replays the entries after `fanned`.

use crate::things::command::EventRecord;
use serde::{Deserialize, Serialize};
use twinwire_common::bus::schema::parse_stream_id;
use twinwire_common::bus::{JournalPos, Origin};

#[derive(Debug, Clone, Serialize, Deserialize)]
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

impl JournalEntry {
    pub fn to_json(&self) -> String {
        // Plain data always serializes.
        serde_json::to_string(self).expect("journal entry serializes")
    }

    pub fn from_json(json: &str) -> Option<JournalEntry> {
        serde_json::from_str(json).ok()
    }
}

/// The journal position of the entry `id` of `shard`, as deliveries carry it.
pub fn pos_of(shard: u32, id: &str) -> Option<JournalPos> {
    parse_stream_id(id).map(|(ms, seq)| JournalPos { shard, ms, seq })
}
