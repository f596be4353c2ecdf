//! What crosses the bus: signals from gateways to shard owners, deliveries from hubs to gateway
//! nodes, and subscription records. The encodings are compact because every event crosses them
//! once per node; field names are single letters for the same reason.

use crate::protocol::{Envelope, StreamingKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a signal came from, and so where its response goes: a gateway node and a session (or an
/// HTTP request) on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    #[serde(rename = "n")]
    pub node: String,
    #[serde(rename = "s")]
    pub session: u64,
}

/// A signal addressed to the shard of its entity: the `m` field of a `tw:{k}:cmd` entry.
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

/// A position in a shard's journal, so that a gateway can drop a delivery it already wrote
/// (replays after a shard changes owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JournalPos {
    pub shard: u32,
    /// The Redis stream id `ms-seq` of the journal entry.
    pub ms: u64,
    pub seq: u64,
}

impl JournalPos {
    pub fn parse(s: &str) -> Option<JournalPos> {
        let (shard, id) = s.split_once('/')?;
        let (ms, seq) = parse_stream_id(id)?;
        Some(JournalPos {
            shard: shard.parse().ok()?,
            ms,
            seq,
        })
    }

    /// The stream-id part, comparable with other ids of the same shard.
    pub fn id(&self) -> (u64, u64) {
        (self.ms, self.seq)
    }
}

impl fmt::Display for JournalPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}-{}", self.shard, self.ms, self.seq)
    }
}

/// Parses a Redis stream id `ms-seq`.
pub fn parse_stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Where the answer to a delivered live signal goes: the session (or HTTP request) that sent it,
/// and its correlation-id. Receivers keep it to route their response straight to the sender's
/// node, as Ditto's per-session acknowledgement forwarder does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub origin: Origin,
    pub correlation_id: String,
}

/// One entry of a node's delivery stream `tw:node:<n>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The answer to one signal, for one session. `live` marks answers from other sessions (live
    /// responses, acknowledgements), which the receiving session matches against what it asked.
    Response {
        session: u64,
        frame: String,
        pos: Option<JournalPos>,
        live: bool,
    },
    /// One signal for every session of the listed subscription groups (see [`SubRecord::group_key`]):
    /// each entry pairs group keys with the frame their sessions see. `exclude` is the session that
    /// caused the signal, which never receives it.
    Fanout {
        kind: StreamingKind,
        pos: Option<JournalPos>,
        written_ms: u64,
        exclude: Option<u64>,
        groups: Vec<(Vec<String>, String)>,
        /// Where receivers send their answer (live signals that want a response).
        reply: Option<Reply>,
    },
    /// Close a session, with a WebSocket close code and reason, after sending an optional frame.
    Close {
        session: u64,
        code: u16,
        reason: String,
        frame: Option<String>,
    },
}

mod field {
    pub const KIND: &str = "k";
    pub const SESSION: &str = "s";
    pub const FRAME: &str = "f";
    pub const POS: &str = "j";
    pub const STREAM: &str = "x";
    pub const TIME: &str = "t";
    pub const CODE: &str = "c";
    pub const REASON: &str = "r";
    pub const GROUPS: &str = "g";
    pub const EXCLUDE: &str = "e";
    pub const LIVE: &str = "l";
    pub const REPLY_NODE: &str = "rn";
    pub const REPLY_SESSION: &str = "rs";
    pub const REPLY_CID: &str = "rc";
}

/// Why a delivery entry could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed delivery entry: {0}")]
pub struct DeliveryDecodeError(pub String);

impl Delivery {
    /// The entry's field/value pairs, for `XADD`.
    pub fn to_fields(&self) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = Vec::new();
        match self {
            Delivery::Response {
                session,
                frame,
                pos,
                live,
            } => {
                f.push((field::KIND.into(), "r".into()));
                f.push((field::SESSION.into(), session.to_string()));
                if let Some(p) = pos {
                    f.push((field::POS.into(), p.to_string()));
                }
                if *live {
                    f.push((field::LIVE.into(), "1".into()));
                }
                f.push((field::FRAME.into(), frame.clone()));
            }
            Delivery::Fanout {
                kind,
                pos,
                written_ms,
                exclude,
                groups,
                reply,
            } => {
                if let Some(r) = reply {
                    f.push((field::REPLY_NODE.into(), r.origin.node.clone()));
                    f.push((field::REPLY_SESSION.into(), r.origin.session.to_string()));
                    f.push((field::REPLY_CID.into(), r.correlation_id.clone()));
                }
                f.push((field::KIND.into(), "f".into()));
                f.push((field::STREAM.into(), kind.as_str().into()));
                if let Some(p) = pos {
                    f.push((field::POS.into(), p.to_string()));
                }
                f.push((field::TIME.into(), written_ms.to_string()));
                if let Some(e) = exclude {
                    f.push((field::EXCLUDE.into(), e.to_string()));
                }
                for (i, (keys, frame)) in groups.iter().enumerate() {
                    f.push((format!("{}{i}", field::GROUPS), keys.join(",")));
                    f.push((format!("{}{i}", field::FRAME), frame.clone()));
                }
            }
            Delivery::Close {
                session,
                code,
                reason,
                frame,
            } => {
                f.push((field::KIND.into(), "c".into()));
                f.push((field::SESSION.into(), session.to_string()));
                f.push((field::CODE.into(), code.to_string()));
                f.push((field::REASON.into(), reason.clone()));
                if let Some(fr) = frame {
                    f.push((field::FRAME.into(), fr.clone()));
                }
            }
        }
        f
    }

    /// Decodes an entry from its field/value pairs.
    pub fn from_fields<'a, I>(fields: I) -> Result<Delivery, DeliveryDecodeError>
    where
        I: IntoIterator<Item = (&'a str, String)>,
    {
        let err = |m: &str| DeliveryDecodeError(m.to_owned());
        let mut kind = None;
        let mut session = None;
        let mut frame = None;
        let mut pos = None;
        let mut stream = None;
        let mut time = 0;
        let mut code = None;
        let mut reason = String::new();
        let mut exclude = None;
        let mut live = false;
        let (mut reply_node, mut reply_session, mut reply_cid) = (None, None, None);
        let mut group_keys: Vec<(usize, Vec<String>)> = Vec::new();
        let mut group_frames: Vec<(usize, String)> = Vec::new();
        for (k, v) in fields {
            match k {
                field::KIND => kind = Some(v),
                field::SESSION => session = Some(v.parse::<u64>().map_err(|_| err("session id"))?),
                field::FRAME => frame = Some(v),
                field::POS => {
                    pos = Some(JournalPos::parse(&v).ok_or_else(|| err("journal position"))?)
                }
                field::STREAM => {
                    stream = Some(StreamingKind::parse(&v).ok_or_else(|| err("streaming kind"))?)
                }
                field::TIME => time = v.parse().map_err(|_| err("time"))?,
                field::CODE => code = Some(v.parse::<u16>().map_err(|_| err("close code"))?),
                field::REASON => reason = v,
                field::EXCLUDE => {
                    exclude = Some(v.parse::<u64>().map_err(|_| err("excluded session"))?)
                }
                field::LIVE => live = v == "1",
                field::REPLY_NODE => reply_node = Some(v),
                field::REPLY_SESSION => {
                    reply_session = Some(v.parse::<u64>().map_err(|_| err("reply session"))?)
                }
                field::REPLY_CID => reply_cid = Some(v),
                other => {
                    let (prefix, idx) = other.split_at(1);
                    let idx: usize = idx.parse().map_err(|_| err("field name"))?;
                    match prefix {
                        field::GROUPS => {
                            let keys = v
                                .split(',')
                                .filter(|k| !k.is_empty())
                                .map(str::to_owned)
                                .collect();
                            group_keys.push((idx, keys));
                        }
                        field::FRAME => group_frames.push((idx, v)),
                        _ => return Err(err("unknown field")),
                    }
                }
            }
        }
        match kind.as_deref() {
            Some("r") => Ok(Delivery::Response {
                session: session.ok_or_else(|| err("missing session"))?,
                frame: frame.ok_or_else(|| err("missing frame"))?,
                pos,
                live,
            }),
            Some("f") => {
                group_keys.sort_by_key(|g| g.0);
                group_frames.sort_by_key(|g| g.0);
                if group_keys.len() != group_frames.len()
                    || group_keys
                        .iter()
                        .zip(&group_frames)
                        .any(|(a, b)| a.0 != b.0)
                {
                    return Err(err("groups do not pair up"));
                }
                let groups = group_keys
                    .into_iter()
                    .zip(group_frames)
                    .map(|((_, s), (_, f))| (s, f))
                    .collect();
                let reply = match (reply_node, reply_session, reply_cid) {
                    (Some(node), Some(session), Some(correlation_id)) => Some(Reply {
                        origin: Origin { node, session },
                        correlation_id,
                    }),
                    (None, None, None) => None,
                    _ => return Err(err("incomplete reply address")),
                };
                Ok(Delivery::Fanout {
                    kind: stream.ok_or_else(|| err("missing kind"))?,
                    pos,
                    written_ms: time,
                    exclude,
                    groups,
                    reply,
                })
            }
            Some("c") => Ok(Delivery::Close {
                session: session.ok_or_else(|| err("missing session"))?,
                code: code.ok_or_else(|| err("missing code"))?,
                reason,
                frame,
            }),
            _ => Err(err("unknown kind")),
        }
    }
}

/// A session's subscription of one kind, as stored in `tw:subs:<n>` and announced on `tw:subs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubRecord {
    /// The session's authenticated subjects.
    #[serde(rename = "a")]
    pub subjects: Vec<String>,
    #[serde(rename = "n", default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub extra_fields: Option<String>,
    /// API version of the session's endpoint.
    #[serde(rename = "v", default = "default_api")]
    pub api_version: u8,
    /// Acknowledgement labels the session declared.
    #[serde(rename = "d", default, skip_serializing_if = "Vec::is_empty")]
    pub declared_acks: Vec<String>,
}

fn default_api() -> u8 {
    2
}

impl SubRecord {
    /// The subscription group this record belongs to for `kind`: every session whose subscription
    /// has the same subjects, namespaces, filter, extraFields, API version and declared acks sees
    /// exactly the same signals, so hubs decide (and serialize) once per group and gateways expand
    /// groups to their own sessions. A SHA-256 of a canonical form, so every process computes the
    /// same key and distinct subscriptions never share one.
    pub fn group_key(&self, kind: StreamingKind) -> String {
        use sha2::{Digest, Sha256};
        let mut subjects = self.subjects.clone();
        subjects.sort();
        let mut namespaces = self.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        let mut acks = self.declared_acks.clone();
        acks.sort();
        let canonical = serde_json::json!([
            kind.as_str(),
            subjects,
            namespaces,
            self.filter,
            self.extra_fields,
            self.api_version,
            acks
        ]);
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        // 128 bits, hex: short on the wire, collision-free in practice.
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The hash field of a subscription: `<session>:<kind>`.
pub fn sub_field(session: u64, kind: StreamingKind) -> String {
    format!("{session}:{}", kind.as_str())
}

pub fn parse_sub_field(field: &str) -> Option<(u64, StreamingKind)> {
    let (s, k) = field.split_once(':')?;
    Some((s.parse().ok()?, StreamingKind::parse(k)?))
}

/// An entry of the subscription-change stream `tw:subs`.
#[derive(Debug, Clone, PartialEq)]
pub enum SubChange {
    /// A session subscribed (or replaced its subscription) of one kind.
    Add {
        node: String,
        session: u64,
        kind: StreamingKind,
        record: SubRecord,
    },
    /// A session stopped one kind.
    Remove {
        node: String,
        session: u64,
        kind: StreamingKind,
    },
    /// A session ended: all its kinds are gone.
    SessionEnd { node: String, session: u64 },
    /// A node rewrote its whole hash (after reconnecting to Redis): reload it.
    NodeReset { node: String },
    /// A node left (drained or declared dead): drop all its subscriptions.
    NodeGone { node: String },
}

impl SubChange {
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        match self {
            SubChange::Add {
                node,
                session,
                kind,
                record,
            } => vec![
                ("op", "add".into()),
                ("n", node.clone()),
                ("s", session.to_string()),
                ("k", kind.as_str().into()),
                // A record of strings always serializes.
                (
                    "d",
                    serde_json::to_string(record).expect("record serializes"),
                ),
            ],
            SubChange::Remove {
                node,
                session,
                kind,
            } => {
                vec![
                    ("op", "del".into()),
                    ("n", node.clone()),
                    ("s", session.to_string()),
                    ("k", kind.as_str().into()),
                ]
            }
            SubChange::SessionEnd { node, session } => vec![
                ("op", "end".into()),
                ("n", node.clone()),
                ("s", session.to_string()),
            ],
            SubChange::NodeReset { node } => vec![("op", "reset".into()), ("n", node.clone())],
            SubChange::NodeGone { node } => vec![("op", "gone".into()), ("n", node.clone())],
        }
    }

    pub fn from_fields<'a, I>(fields: I) -> Option<SubChange>
    where
        I: IntoIterator<Item = (&'a str, String)>,
    {
        let (mut op, mut node, mut session, mut kind, mut data) = (None, None, None, None, None);
        for (k, v) in fields {
            match k {
                "op" => op = Some(v),
                "n" => node = Some(v),
                "s" => session = v.parse::<u64>().ok(),
                "k" => kind = StreamingKind::parse(&v),
                "d" => data = Some(v),
                _ => {}
            }
        }
        let node = node?;
        Some(match op?.as_str() {
            "add" => SubChange::Add {
                node,
                session: session?,
                kind: kind?,
                record: serde_json::from_str(&data?).ok()?,
            },
            "del" => SubChange::Remove {
                node,
                session: session?,
                kind: kind?,
            },
            "end" => SubChange::SessionEnd {
                node,
                session: session?,
            },
            "reset" => SubChange::NodeReset { node },
            "gone" => SubChange::NodeGone { node },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(fields: Vec<(String, String)>) -> Vec<(String, String)> {
        fields
    }

    #[test]
    fn deliveries_round_trip_through_fields() {
        let pos = Some(JournalPos {
            shard: 7,
            ms: 1700000000000,
            seq: 3,
        });
        let table = vec![
            Delivery::Response {
                session: 42,
                frame: "{\"a\":1}".into(),
                pos: None,
                live: false,
            },
            Delivery::Response {
                session: 42,
                frame: "x".into(),
                pos,
                live: true,
            },
            Delivery::Fanout {
                kind: StreamingKind::Events,
                pos,
                written_ms: 17,
                exclude: Some(4),
                groups: vec![
                    (vec!["a1".into(), "b2".into()], "f0".into()),
                    (vec!["c3".into()], "f1".into()),
                ],
                reply: None,
            },
            Delivery::Fanout {
                kind: StreamingKind::Messages,
                pos: None,
                written_ms: 0,
                exclude: None,
                groups: vec![],
                reply: Some(Reply {
                    origin: Origin {
                        node: "n1".into(),
                        session: 9,
                    },
                    correlation_id: "c-1".into(),
                }),
            },
            Delivery::Close {
                session: 5,
                code: 1000,
                reason: "bye".into(),
                frame: Some("{}".into()),
            },
        ];
        for d in table {
            let fields = owned(d.to_fields());
            let back =
                Delivery::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.clone()))).unwrap();
            assert_eq!(back, d);
        }
    }

    #[test]
    fn malformed_deliveries_are_errors() {
        let bad: Vec<Vec<(&str, &str)>> = vec![
            vec![("k", "r"), ("f", "x")],
            vec![("k", "r"), ("s", "nan"), ("f", "x")],
            vec![("k", "f"), ("x", "events"), ("g0", "1"), ("f1", "x")],
            vec![("k", "z")],
            vec![("k", "f"), ("x", "nope")],
        ];
        for fields in bad {
            assert!(
                Delivery::from_fields(fields.iter().map(|(k, v)| (*k, v.to_string()))).is_err(),
                "{fields:?}"
            );
        }
    }

    #[test]
    fn journal_positions_print_and_parse() {
        let p = JournalPos {
            shard: 3,
            ms: 10,
            seq: 2,
        };
        assert_eq!(p.to_string(), "3/10-2");
        assert_eq!(JournalPos::parse("3/10-2"), Some(p));
        assert_eq!(JournalPos::parse("3/10"), None);
        assert!(
            JournalPos {
                shard: 3,
                ms: 10,
                seq: 3
            }
            .id()
                > p.id()
        );
    }

    #[test]
    fn sub_changes_round_trip() {
        let rec = SubRecord {
            subjects: vec!["nginx:ditto".into()],
            namespaces: vec!["org.x".into()],
            filter: Some("eq(attributes/a,1)".into()),
            extra_fields: None,
            api_version: 2,
            declared_acks: vec![],
        };
        let table = vec![
            SubChange::Add {
                node: "n1".into(),
                session: 4,
                kind: StreamingKind::Events,
                record: rec,
            },
            SubChange::Remove {
                node: "n1".into(),
                session: 4,
                kind: StreamingKind::Messages,
            },
            SubChange::SessionEnd {
                node: "n1".into(),
                session: 4,
            },
            SubChange::NodeReset { node: "n1".into() },
            SubChange::NodeGone { node: "n2".into() },
        ];
        for c in table {
            let f = c.to_fields();
            assert_eq!(
                SubChange::from_fields(f.iter().map(|(k, v)| (*k, v.clone()))),
                Some(c)
            );
        }
        assert_eq!(
            parse_sub_field(&sub_field(12, StreamingKind::LiveCommands)),
            Some((12, StreamingKind::LiveCommands))
        );
    }

    #[test]
    fn group_keys_ignore_order_and_separate_everything_that_changes_visibility() {
        let base = SubRecord {
            subjects: vec!["a:1".into(), "b:2".into()],
            namespaces: vec!["x".into(), "y".into()],
            filter: None,
            extra_fields: None,
            api_version: 2,
            declared_acks: vec![],
        };
        let k = base.group_key(StreamingKind::Events);
        assert_eq!(k.len(), 32);
        let mut reordered = base.clone();
        reordered.subjects.reverse();
        reordered.namespaces.reverse();
        assert_eq!(reordered.group_key(StreamingKind::Events), k);
        let mut other = base.clone();
        other.subjects.push("c:3".into());
        assert_ne!(other.group_key(StreamingKind::Events), k);
        let mut other = base.clone();
        other.filter = Some("exists(attributes/a)".into());
        assert_ne!(other.group_key(StreamingKind::Events), k);
        let mut other = base.clone();
        other.extra_fields = Some("attributes".into());
        assert_ne!(other.group_key(StreamingKind::Events), k);
        assert_ne!(base.group_key(StreamingKind::Messages), k);
    }
}
