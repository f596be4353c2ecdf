//! Deliveries from hubs (and from gateways' reply forwarders) to a gateway node: one entry of
//! `tw:node:<n>` each, as flat fields with single-letter names, because every event crosses this
//! stream once per node. A fan-out names its targets as numbered pairs: `g<i>` the subscription
//! group keys (comma-separated) and `f<i>` the frame they see, or `m<i>` the member a shared
//! subscription picked (`<share key>/<session>`) and `f<i>` its frame; member pairs are numbered
//! after the group pairs, so a fan-out without shares keeps its exact fields.

use super::command::Origin;
use super::entry::{DecodeError, Fields, StreamEntry};
use super::position::JournalPos;
use crate::protocol::StreamingKind;

/// Where the answer to a delivered live signal goes: the session (or HTTP request) that sent it,
/// and its correlation-id. Receivers keep it to route their response straight to the sender's
/// node, as Ditto's per-session acknowledgement forwarder does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub origin: Origin,
    pub correlation_id: String,
}

/// One entry of a node's delivery stream.
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
    /// One signal for every session of the listed subscription groups (see
    /// [`SubRecord::group_key`](super::SubRecord::group_key)): each entry pairs group keys with
    /// the frame their sessions see. `exclude` is the session that caused the signal, which never
    /// receives it.
    Fanout {
        kind: StreamingKind,
        pos: Option<JournalPos>,
        written_ms: u64,
        exclude: Option<u64>,
        groups: Vec<(Vec<String>, String)>,
        /// Where receivers send their answer (live signals that want a response).
        reply: Option<Reply>,
        /// Members on this node that shared subscriptions picked for the signal: (share key,
        /// session, the frame it sees). A share delivers to one member, so it names a session;
        /// the key lets the node give the signal back if the member leaves before writing it.
        members: Vec<(String, u64, String)>,
    },
    /// A journal entry replayed to one session that resumes (issue 16); the session drops it if
    /// it already has `pos`. Never deduplicated per node: other sessions had it long ago.
    Replayed {
        session: u64,
        pos: JournalPos,
        frame: String,
    },
    /// The replay of `shard` to `session` is complete (`expired`: the journal no longer held the
    /// position, so the replay could not be exact).
    ReplayDone {
        session: u64,
        shard: u32,
        expired: bool,
    },
    /// How far the hub has fanned shards out: every event of shard k up to its position that
    /// matched a session of this node is already in this node's stream (resume tokens).
    Watermark { marks: Vec<JournalPos> },
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
    pub const MEMBERS: &str = "m";
    pub const SHARD: &str = "sh";
    pub const MARKS: &str = "w";

    pub const ALL: [&str; 16] = [
        KIND,
        SESSION,
        FRAME,
        POS,
        STREAM,
        TIME,
        CODE,
        REASON,
        GROUPS,
        EXCLUDE,
        LIVE,
        REPLY_NODE,
        REPLY_SESSION,
        REPLY_CID,
        SHARD,
        MARKS,
    ];
}

/// Values of the `k` field.
mod kind {
    pub const RESPONSE: &str = "r";
    pub const FANOUT: &str = "f";
    pub const CLOSE: &str = "c";
    pub const REPLAYED: &str = "p";
    pub const REPLAY_DONE: &str = "d";
    pub const WATERMARK: &str = "w";
}

impl StreamEntry for Delivery {
    fn to_fields(&self) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = Vec::new();
        match self {
            Delivery::Response {
                session,
                frame,
                pos,
                live,
            } => {
                f.push((field::KIND.into(), kind::RESPONSE.into()));
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
                members,
            } => {
                if let Some(r) = reply {
                    f.push((field::REPLY_NODE.into(), r.origin.node.clone()));
                    f.push((field::REPLY_SESSION.into(), r.origin.session.to_string()));
                    f.push((field::REPLY_CID.into(), r.correlation_id.clone()));
                }
                f.push((field::KIND.into(), kind::FANOUT.into()));
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
                for (i, (share, session, frame)) in members.iter().enumerate() {
                    let i = groups.len() + i;
                    f.push((
                        format!("{}{i}", field::MEMBERS),
                        format!("{share}/{session}"),
                    ));
                    f.push((format!("{}{i}", field::FRAME), frame.clone()));
                }
            }
            Delivery::Replayed {
                session,
                pos,
                frame,
            } => {
                f.push((field::KIND.into(), kind::REPLAYED.into()));
                f.push((field::SESSION.into(), session.to_string()));
                f.push((field::POS.into(), pos.to_string()));
                f.push((field::FRAME.into(), frame.clone()));
            }
            Delivery::ReplayDone {
                session,
                shard,
                expired,
            } => {
                f.push((field::KIND.into(), kind::REPLAY_DONE.into()));
                f.push((field::SESSION.into(), session.to_string()));
                f.push((field::SHARD.into(), shard.to_string()));
                let code: u16 = if *expired { 410 } else { 200 };
                f.push((field::CODE.into(), code.to_string()));
            }
            Delivery::Watermark { marks } => {
                f.push((field::KIND.into(), kind::WATERMARK.into()));
                let marks: Vec<String> = marks.iter().map(JournalPos::to_string).collect();
                f.push((field::MARKS.into(), marks.join(",")));
            }
            Delivery::Close {
                session,
                code,
                reason,
                frame,
            } => {
                f.push((field::KIND.into(), kind::CLOSE.into()));
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

    fn from_fields(f: &Fields) -> Result<Delivery, DecodeError> {
        // Every typed field is checked whatever the kind, so a damaged entry is never half read.
        let (groups, members) = numbered_targets(f)?;
        let pos = f
            .get(field::POS)
            .map(|p| JournalPos::parse(p).ok_or_else(|| DecodeError::new("journal position")))
            .transpose()?;
        let stream = f
            .get(field::STREAM)
            .map(|k| StreamingKind::parse(k).ok_or_else(|| DecodeError::new("streaming kind")))
            .transpose()?;
        let session = f.parse::<u64>(field::SESSION)?;
        let code = f.parse::<u16>(field::CODE)?;
        let written_ms = f.parse::<u64>(field::TIME)?.unwrap_or(0);
        let exclude = f.parse::<u64>(field::EXCLUDE)?;
        let reply_session = f.parse::<u64>(field::REPLY_SESSION)?;
        let missing = |what: &str| DecodeError(format!("missing {what}"));
        match f.require(field::KIND)? {
            kind::RESPONSE => Ok(Delivery::Response {
                session: session.ok_or_else(|| missing("session"))?,
                frame: f.require(field::FRAME)?.to_owned(),
                pos,
                live: f.get(field::LIVE) == Some("1"),
            }),
            kind::FANOUT => {
                let reply = match (
                    f.get(field::REPLY_NODE),
                    reply_session,
                    f.get(field::REPLY_CID),
                ) {
                    (Some(node), Some(session), Some(cid)) => Some(Reply {
                        origin: Origin {
                            node: node.to_owned(),
                            session,
                        },
                        correlation_id: cid.to_owned(),
                    }),
                    (None, None, None) => None,
                    _ => return Err(DecodeError::new("incomplete reply address")),
                };
                Ok(Delivery::Fanout {
                    kind: stream.ok_or_else(|| missing("kind"))?,
                    pos,
                    written_ms,
                    exclude,
                    groups,
                    reply,
                    members,
                })
            }
            kind::REPLAYED => Ok(Delivery::Replayed {
                session: session.ok_or_else(|| missing("session"))?,
                pos: pos.ok_or_else(|| missing("position"))?,
                frame: f.require(field::FRAME)?.to_owned(),
            }),
            kind::REPLAY_DONE => Ok(Delivery::ReplayDone {
                session: session.ok_or_else(|| missing("session"))?,
                shard: f
                    .parse::<u32>(field::SHARD)?
                    .ok_or_else(|| missing("shard"))?,
                expired: code == Some(410),
            }),
            kind::WATERMARK => Ok(Delivery::Watermark {
                marks: f
                    .require(field::MARKS)?
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(|m| JournalPos::parse(m).ok_or_else(|| DecodeError::new("watermark")))
                    .collect::<Result<_, _>>()?,
            }),
            kind::CLOSE => Ok(Delivery::Close {
                session: session.ok_or_else(|| missing("session"))?,
                code: code.ok_or_else(|| missing("code"))?,
                reason: f.get(field::REASON).unwrap_or_default().to_owned(),
                frame: f.get(field::FRAME).map(str::to_owned),
            }),
            _ => Err(DecodeError::new("unknown kind")),
        }
    }
}

/// Subscription group keys and the frame they see.
type GroupTargets = Vec<(Vec<String>, String)>;
/// Share members: (share key, session, the frame it sees).
type MemberTargets = Vec<(String, u64, String)>;

/// The `g<i>`/`f<i>` and `m<i>`/`f<i>` pairs of a fan-out, each in index order. Any other field
/// name than the known ones is an error, as is a frame without its targets, targets without
/// their frame, or an index with both group keys and members.
fn numbered_targets(f: &Fields) -> Result<(GroupTargets, MemberTargets), DecodeError> {
    let mut keys: Vec<(usize, Vec<String>)> = Vec::new();
    let mut members: Vec<(usize, (String, u64))> = Vec::new();
    let mut frames: Vec<(usize, String)> = Vec::new();
    for name in f.names().filter(|n| !field::ALL.contains(n)) {
        let (prefix, idx) = name.split_at(name.chars().next().map_or(0, char::len_utf8));
        let idx: usize = idx
            .parse()
            .map_err(|_| DecodeError(format!("unknown field {name}")))?;
        let value = f.get(name).unwrap_or_default();
        match prefix {
            field::GROUPS => keys.push((
                idx,
                value
                    .split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            field::MEMBERS => {
                let (share, session) = value
                    .rsplit_once('/')
                    .and_then(|(k, s)| Some((k.to_owned(), s.parse::<u64>().ok()?)))
                    .ok_or_else(|| DecodeError::new("share member"))?;
                members.push((idx, (share, session)))
            }
            field::FRAME => frames.push((idx, value.to_owned())),
            _ => return Err(DecodeError(format!("unknown field {name}"))),
        }
    }
    keys.sort_by_key(|g| g.0);
    members.sort_by_key(|g| g.0);
    frames.sort_by_key(|g| g.0);
    let mut targets: Vec<usize> = keys
        .iter()
        .map(|k| k.0)
        .chain(members.iter().map(|m| m.0))
        .collect();
    targets.sort_unstable();
    if targets.len() != frames.len() || targets.iter().zip(&frames).any(|(a, b)| *a != b.0) {
        return Err(DecodeError::new("groups do not pair up"));
    }
    let frame_of = |i: usize| {
        frames
            .binary_search_by_key(&i, |f| f.0)
            .map(|at| frames[at].1.clone())
            .unwrap_or_default()
    };
    Ok((
        keys.into_iter().map(|(i, k)| (k, frame_of(i))).collect(),
        members
            .into_iter()
            .map(|(i, (share, session))| (share, session, frame_of(i)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(fields: &[(&str, &str)]) -> Result<Delivery, DecodeError> {
        Delivery::from_fields(&fields.iter().copied().collect())
    }

    fn round_trip(d: &Delivery) -> Delivery {
        Delivery::from_fields(&d.to_fields().into_iter().collect()).unwrap()
    }

    fn pos() -> Option<JournalPos> {
        Some(JournalPos {
            shard: 7,
            ms: 1700000000000,
            seq: 3,
        })
    }

    #[test]
    fn deliveries_round_trip_through_fields() {
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
                pos: pos(),
                live: true,
            },
            Delivery::Fanout {
                kind: StreamingKind::Events,
                pos: pos(),
                written_ms: 17,
                exclude: Some(4),
                groups: vec![
                    (vec!["a1".into(), "b2".into()], "f0".into()),
                    (vec!["c3".into()], "f1".into()),
                ],
                reply: None,
                members: vec![],
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
                members: vec![("k1".into(), 3, "m".into())],
            },
            Delivery::Close {
                session: 5,
                code: 1000,
                reason: "bye".into(),
                frame: Some("{}".into()),
            },
            Delivery::Replayed {
                session: 5,
                pos: pos().unwrap(),
                frame: "{}".into(),
            },
            Delivery::ReplayDone {
                session: 5,
                shard: 3,
                expired: true,
            },
            Delivery::Watermark {
                marks: vec![
                    pos().unwrap(),
                    JournalPos {
                        shard: 8,
                        ms: 1,
                        seq: 0,
                    },
                ],
            },
        ];
        for d in table {
            assert_eq!(round_trip(&d), d);
        }
    }

    /// Today's exact fields, in `XADD` order: old and new nodes read each other's entries.
    #[test]
    fn deliveries_keep_their_format() {
        let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let table: Vec<(Delivery, Vec<(&str, &str)>)> = vec![
            (
                Delivery::Response {
                    session: 42,
                    frame: "{}".into(),
                    pos: pos(),
                    live: true,
                },
                vec![
                    ("k", "r"),
                    ("s", "42"),
                    ("j", "7/1700000000000-3"),
                    ("l", "1"),
                    ("f", "{}"),
                ],
            ),
            (
                Delivery::Response {
                    session: 1,
                    frame: "x".into(),
                    pos: None,
                    live: false,
                },
                vec![("k", "r"), ("s", "1"), ("f", "x")],
            ),
            (
                Delivery::Fanout {
                    kind: StreamingKind::LiveCommands,
                    pos: pos(),
                    written_ms: 17,
                    exclude: Some(4),
                    groups: vec![
                        (vec!["a1".into(), "b2".into()], "F0".into()),
                        (vec!["c3".into()], "F1".into()),
                    ],
                    reply: Some(Reply {
                        origin: Origin {
                            node: "n1".into(),
                            session: 9,
                        },
                        correlation_id: "c-1".into(),
                    }),
                    members: vec![],
                },
                vec![
                    ("rn", "n1"),
                    ("rs", "9"),
                    ("rc", "c-1"),
                    ("k", "f"),
                    ("x", "live_commands"),
                    ("j", "7/1700000000000-3"),
                    ("t", "17"),
                    ("e", "4"),
                    ("g0", "a1,b2"),
                    ("f0", "F0"),
                    ("g1", "c3"),
                    ("f1", "F1"),
                ],
            ),
            (
                // Share members are numbered after the groups.
                Delivery::Fanout {
                    kind: StreamingKind::Events,
                    pos: pos(),
                    written_ms: 17,
                    exclude: None,
                    groups: vec![(vec!["a1".into()], "F0".into())],
                    reply: None,
                    members: vec![
                        ("k1".into(), 12, "F1".into()),
                        ("k2".into(), 13, "F2".into()),
                    ],
                },
                vec![
                    ("k", "f"),
                    ("x", "events"),
                    ("j", "7/1700000000000-3"),
                    ("t", "17"),
                    ("g0", "a1"),
                    ("f0", "F0"),
                    ("m1", "k1/12"),
                    ("f1", "F1"),
                    ("m2", "k2/13"),
                    ("f2", "F2"),
                ],
            ),
            (
                Delivery::Close {
                    session: 5,
                    code: 1008,
                    reason: "too slow".into(),
                    frame: None,
                },
                vec![("k", "c"), ("s", "5"), ("c", "1008"), ("r", "too slow")],
            ),
        ];
        for (d, fields) in table {
            assert_eq!(d.to_fields(), owned(&fields));
            assert_eq!(decode(&fields).unwrap(), d);
        }
        // Group fields in any order, and a fan-out with no time written.
        assert_eq!(
            decode(&[
                ("f1", "B"),
                ("g1", "y"),
                ("x", "events"),
                ("k", "f"),
                ("g0", ""),
                ("f0", "A")
            ])
            .unwrap(),
            Delivery::Fanout {
                kind: StreamingKind::Events,
                pos: None,
                written_ms: 0,
                exclude: None,
                groups: vec![(vec![], "A".into()), (vec!["y".into()], "B".into())],
                reply: None,
                members: vec![],
            }
        );
    }

    #[test]
    fn malformed_deliveries_are_errors() {
        let bad: Vec<Vec<(&str, &str)>> = vec![
            vec![("k", "r"), ("f", "x")],
            vec![("k", "r"), ("s", "nan"), ("f", "x")],
            vec![("k", "f"), ("x", "events"), ("g0", "1"), ("f1", "x")],
            vec![("k", "f"), ("x", "events"), ("m0", "k/x"), ("f0", "x")],
            vec![("k", "f"), ("x", "events"), ("m0", "12"), ("f0", "x")],
            vec![
                ("k", "f"),
                ("x", "events"),
                ("m0", "k/1"),
                ("g0", "a"),
                ("f0", "x"),
            ],
            vec![("k", "z")],
            vec![("k", "f"), ("x", "nope")],
            vec![("k", "r"), ("s", "1"), ("f", "x"), ("zz", "1")],
            vec![("k", "f"), ("x", "events"), ("rn", "n1")],
            vec![("k", "c"), ("s", "1")],
            vec![("s", "1"), ("f", "x")],
        ];
        for fields in bad {
            assert!(decode(&fields).is_err(), "{fields:?}");
        }
    }

    fn kinds() -> impl Strategy<Value = StreamingKind> {
        proptest::sample::select(StreamingKind::ALL.to_vec())
    }

    fn positions() -> impl Strategy<Value = Option<JournalPos>> {
        proptest::option::of(
            (any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(shard, ms, seq)| JournalPos {
                shard,
                ms,
                seq,
            }),
        )
    }

    fn deliveries() -> impl Strategy<Value = Delivery> {
        // Group keys are hex digests: never empty, never containing a comma.
        let group = (
            proptest::collection::vec("[0-9a-f]{1,32}", 0..4),
            any::<String>(),
        );
        let reply =
            proptest::option::of((any::<String>(), any::<u64>(), any::<String>()).prop_map(
                |(node, session, cid)| Reply {
                    origin: Origin { node, session },
                    correlation_id: cid,
                },
            ));
        prop_oneof![
            (any::<u64>(), any::<String>(), positions(), any::<bool>()).prop_map(
                |(session, frame, pos, live)| Delivery::Response {
                    session,
                    frame,
                    pos,
                    live
                }
            ),
            (
                kinds(),
                positions(),
                any::<u64>(),
                proptest::option::of(any::<u64>()),
                proptest::collection::vec(group, 0..5),
                reply,
                proptest::collection::vec(("[0-9a-f]{1,32}", any::<u64>(), any::<String>()), 0..3)
            )
                .prop_map(
                    |(kind, pos, written_ms, exclude, groups, reply, members)| {
                        Delivery::Fanout {
                            kind,
                            pos,
                            written_ms,
                            exclude,
                            groups,
                            reply,
                            members,
                        }
                    }
                ),
            (
                any::<u64>(),
                any::<u16>(),
                any::<String>(),
                proptest::option::of(any::<String>())
            )
                .prop_map(|(session, code, reason, frame)| Delivery::Close {
                    session,
                    code,
                    reason,
                    frame
                }),
        ]
    }

    proptest! {
        #[test]
        fn any_delivery_round_trips(d in deliveries()) {
            prop_assert_eq!(round_trip(&d), d);
        }
    }
}
