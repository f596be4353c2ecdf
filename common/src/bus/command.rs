//! Signals from gateways to shard owners: one entry of `tw:{k}:cmd` per signal, its one field
//! `m` holding the JSON-encoded [`BusCommand`]. Field names are single letters because every
//! signal crosses the bus.

use super::entry::{json_field, to_json, DecodeError, Fields, StreamEntry};
use crate::protocol::Envelope;
use serde::{Deserialize, Serialize};

/// Where a signal came from, and so where its response goes: a gateway node and a session (or an
/// HTTP request) on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    #[serde(rename = "n")]
    pub node: String,
    #[serde(rename = "s")]
    pub session: u64,
}

/// The node name of an origin that is a shard's owner (see [`Origin::shard`]).
const SHARD_NODE: &str = "shard:";

impl Origin {
    /// A signal a shard's owner sent itself (a policy announcement asking for acknowledgements):
    /// answers to it go to the shard's command stream, not to a gateway node.
    pub fn shard(k: u32) -> Origin {
        Origin {
            node: format!("{SHARD_NODE}{k}"),
            session: 0,
        }
    }

    /// The shard of an origin made by [`Origin::shard`].
    pub fn as_shard(&self) -> Option<u32> {
        self.node.strip_prefix(SHARD_NODE)?.parse().ok()
    }
}

/// A signal addressed to the shard of its entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusCommand {
    #[serde(rename = "o")]
    pub origin: Origin,
    /// The authenticated subjects of the sender.
    #[serde(rename = "a")]
    pub subjects: Vec<String>,
    /// API version of the sender's endpoint (1 or 2).
    #[serde(rename = "v")]
    pub api_version: u8,
    #[serde(rename = "e")]
    pub envelope: Envelope,
    /// When the gateway accepted the signal, in ms since the epoch.
    #[serde(rename = "t")]
    pub accepted_ms: u64,
}

/// Field of a command-stream entry holding the JSON-encoded [`BusCommand`].
pub const CMD_FIELD: &str = "m";

impl BusCommand {
    /// The value of the entry's [`CMD_FIELD`].
    pub fn encode(&self) -> String {
        to_json(self)
    }
}

impl StreamEntry for BusCommand {
    fn to_fields(&self) -> Vec<(String, String)> {
        vec![(CMD_FIELD.into(), self.encode())]
    }

    fn from_fields(fields: &Fields) -> Result<BusCommand, DecodeError> {
        json_field(fields, CMD_FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> BusCommand {
        BusCommand {
            origin: Origin {
                node: "n1".into(),
                session: 7,
            },
            subjects: vec!["nginx:ditto".into()],
            api_version: 2,
            envelope: Envelope::parse(
                r#"{"topic":"org.x/t1/things/twin/commands/modify","headers":{"correlation-id":"c1"},"path":"/attributes/a","value":1}"#,
            )
            .unwrap(),
            accepted_ms: 1700000000000,
        }
    }

    /// Today's exact bytes: an old gateway's entry still decodes, and a new one is the same.
    const PINNED: &str = r#"{"o":{"n":"n1","s":7},"a":["nginx:ditto"],"v":2,"e":{"topic":"org.x/t1/things/twin/commands/modify","headers":{"correlation-id":"c1"},"path":"/attributes/a","value":1},"t":1700000000000}"#;

    #[test]
    fn commands_round_trip_and_keep_their_format() {
        let c = command();
        let fields = c.to_fields();
        assert_eq!(fields, vec![("m".to_string(), PINNED.to_string())]);
        let decoded = BusCommand::from_fields(&fields.into_iter().collect()).unwrap();
        assert_eq!(decoded, c);
        let old: Fields = [("m", PINNED)].into_iter().collect();
        assert_eq!(BusCommand::from_fields(&old).unwrap(), c);
    }

    #[test]
    fn malformed_commands_are_errors() {
        for bad in [vec![], vec![("m", "{")], vec![("x", PINNED)]] {
            let f: Fields = bad.into_iter().collect();
            assert!(BusCommand::from_fields(&f).is_err());
        }
    }
}
