//! Subscriptions on the bus. A session's subscription of one kind is a [`SubRecord`], stored as
//! JSON in its node's hash `tw:subs:<n>` under the field `<session>:<kind>`; every change is also
//! announced as a [`SubChange`] entry on `tw:subs`, which every hub tails (DESIGN.md §3).

use super::entry::{json_field, to_json, DecodeError, Fields, StreamEntry};
use super::share::ShareSpec;
use crate::protocol::StreamingKind;
use serde::{Deserialize, Serialize};

/// A session's subscription of one kind.
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
    /// The shared subscription the session joined (`group=`), if any: then each signal goes to
    /// one member of the share instead of every session (see [`super::share`]).
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub share: Option<ShareSpec>,
}

fn default_api() -> u8 {
    2
}

impl SubRecord {
    /// The value stored in the node's hash (and carried by [`SubChange::Add`]).
    pub fn encode(&self) -> String {
        to_json(self)
    }

    pub fn decode(json: &str) -> Result<SubRecord, DecodeError> {
        serde_json::from_str(json).map_err(|e| DecodeError(format!("subscription record: {e}")))
    }

    /// The subscription group this record belongs to for `kind`: every session whose subscription
    /// has the same subjects, namespaces, filter, extraFields, API version and declared acks sees
    /// exactly the same signals, so hubs decide (and serialize) once per group and gateways expand
    /// groups to their own sessions. A SHA-256 of a canonical form, so every process computes the
    /// same key and distinct subscriptions never share one.
    pub fn group_key(&self, kind: StreamingKind) -> String {
        let mut subjects = self.subjects.clone();
        subjects.sort();
        let mut namespaces = self.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        let mut acks = self.declared_acks.clone();
        acks.sort();
        let mut canonical = serde_json::json!([
            kind.as_str(),
            subjects,
            namespaces,
            self.filter,
            self.extra_fields,
            self.api_version,
            acks
        ]);
        // Only records of a share carry it, so every other record keeps the key it always had.
        if let (Some(share), Some(parts)) = (&self.share, canonical.as_array_mut()) {
            parts.push(serde_json::json!([share.name, share.dispatch.as_str()]));
        }
        digest_key(&canonical)
    }

    /// The shared subscription this record's session is a member of for `kind`, if any: the
    /// subscription group key's parts without the declared acknowledgement labels (each member
    /// declares its own), with the share's name and dispatch mode. Different subjects, different
    /// parameters or a different name make a different share.
    pub fn share_key(&self, kind: StreamingKind) -> Option<String> {
        let share = self.share.as_ref()?;
        let mut subjects = self.subjects.clone();
        subjects.sort();
        let mut namespaces = self.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        let canonical = serde_json::json!([
            "share",
            kind.as_str(),
            subjects,
            namespaces,
            self.filter,
            self.extra_fields,
            self.api_version,
            share.name,
            share.dispatch.as_str()
        ]);
        Some(digest_key(&canonical))
    }
}

/// 128 bits of the SHA-256 of a canonical form, hex: short on the wire, collision-free in practice.
fn digest_key(canonical: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash field of a subscription: `<session>:<kind>`.
pub fn sub_field(session: u64, kind: StreamingKind) -> String {
    format!("{session}:{}", kind.as_str())
}

pub fn parse_sub_field(field: &str) -> Option<(u64, StreamingKind)> {
    let (s, k) = field.split_once(':')?;
    Some((s.parse().ok()?, StreamingKind::parse(k)?))
}

/// An entry of the subscription-change stream.
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

mod field {
    pub const OP: &str = "op";
    pub const NODE: &str = "n";
    pub const SESSION: &str = "s";
    pub const KIND: &str = "k";
    pub const RECORD: &str = "d";
}

/// Values of the `op` field.
mod op {
    pub const ADD: &str = "add";
    pub const REMOVE: &str = "del";
    pub const SESSION_END: &str = "end";
    pub const NODE_RESET: &str = "reset";
    pub const NODE_GONE: &str = "gone";
}

impl StreamEntry for SubChange {
    fn to_fields(&self) -> Vec<(String, String)> {
        let (op, node, session, kind, record) = match self {
            SubChange::Add {
                node,
                session,
                kind,
                record,
            } => (op::ADD, node, Some(session), Some(kind), Some(record)),
            SubChange::Remove {
                node,
                session,
                kind,
            } => (op::REMOVE, node, Some(session), Some(kind), None),
            SubChange::SessionEnd { node, session } => {
                (op::SESSION_END, node, Some(session), None, None)
            }
            SubChange::NodeReset { node } => (op::NODE_RESET, node, None, None, None),
            SubChange::NodeGone { node } => (op::NODE_GONE, node, None, None, None),
        };
        let mut f = vec![
            (field::OP.to_owned(), op.to_owned()),
            (field::NODE.to_owned(), node.clone()),
        ];
        if let Some(s) = session {
            f.push((field::SESSION.to_owned(), s.to_string()));
        }
        if let Some(k) = kind {
            f.push((field::KIND.to_owned(), k.as_str().to_owned()));
        }
        if let Some(r) = record {
            f.push((field::RECORD.to_owned(), r.encode()));
        }
        f
    }

    /// Other fields are ignored, and only the fields an operation needs are read.
    fn from_fields(f: &Fields) -> Result<SubChange, DecodeError> {
        let node = f.require(field::NODE)?.to_owned();
        let session = || f.require_parsed::<u64>(field::SESSION);
        let kind = || {
            StreamingKind::parse(f.require(field::KIND)?)
                .ok_or_else(|| DecodeError::new("streaming kind"))
        };
        Ok(match f.require(field::OP)? {
            op::ADD => SubChange::Add {
                session: session()?,
                kind: kind()?,
                record: json_field(f, field::RECORD)?,
                node,
            },
            op::REMOVE => SubChange::Remove {
                session: session()?,
                kind: kind()?,
                node,
            },
            op::SESSION_END => SubChange::SessionEnd {
                session: session()?,
                node,
            },
            op::NODE_RESET => SubChange::NodeReset { node },
            op::NODE_GONE => SubChange::NodeGone { node },
            other => return Err(DecodeError(format!("unknown operation {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> SubRecord {
        SubRecord {
            subjects: vec!["nginx:ditto".into()],
            namespaces: vec!["org.x".into()],
            filter: Some("eq(attributes/a,1)".into()),
            extra_fields: None,
            api_version: 2,
            declared_acks: vec![],
            share: None,
        }
    }

    const PINNED_RECORD: &str =
        r#"{"a":["nginx:ditto"],"n":["org.x"],"f":"eq(attributes/a,1)","v":2}"#;

    #[test]
    fn records_round_trip_and_keep_their_format() {
        let full = SubRecord {
            subjects: vec!["a:1".into()],
            namespaces: vec![],
            filter: None,
            extra_fields: Some("attributes".into()),
            api_version: 1,
            declared_acks: vec!["l1".into()],
            share: None,
        };
        assert_eq!(SubRecord::decode(&full.encode()), Ok(full.clone()));
        assert_eq!(
            full.encode(),
            r#"{"a":["a:1"],"x":"attributes","v":1,"d":["l1"]}"#
        );
        assert_eq!(record().encode(), PINNED_RECORD);
        assert_eq!(SubRecord::decode(PINNED_RECORD), Ok(record()));
        // Records written before the API version was recorded are version 2.
        assert_eq!(
            SubRecord::decode(r#"{"a":["nginx:ditto"],"n":["org.x"],"f":"eq(attributes/a,1)"}"#),
            Ok(record())
        );
        assert!(SubRecord::decode("{}").is_err());
    }

    #[test]
    fn sub_changes_round_trip() {
        let table = vec![
            SubChange::Add {
                node: "n1".into(),
                session: 4,
                kind: StreamingKind::Events,
                record: record(),
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
            let f: Fields = c.to_fields().into_iter().collect();
            assert_eq!(SubChange::from_fields(&f), Ok(c));
        }
        assert_eq!(
            parse_sub_field(&sub_field(12, StreamingKind::LiveCommands)),
            Some((12, StreamingKind::LiveCommands))
        );
    }

    /// Today's exact fields, in `XADD` order.
    #[test]
    fn sub_changes_keep_their_format() {
        let events = "events";
        let table: Vec<(SubChange, Vec<(&str, &str)>)> = vec![
            (
                SubChange::Add {
                    node: "n1".into(),
                    session: 4,
                    kind: StreamingKind::Events,
                    record: record(),
                },
                vec![
                    ("op", "add"),
                    ("n", "n1"),
                    ("s", "4"),
                    ("k", events),
                    ("d", PINNED_RECORD),
                ],
            ),
            (
                SubChange::Remove {
                    node: "n1".into(),
                    session: 4,
                    kind: StreamingKind::Events,
                },
                vec![("op", "del"), ("n", "n1"), ("s", "4"), ("k", events)],
            ),
            (
                SubChange::SessionEnd {
                    node: "n1".into(),
                    session: 4,
                },
                vec![("op", "end"), ("n", "n1"), ("s", "4")],
            ),
            (
                SubChange::NodeReset { node: "n1".into() },
                vec![("op", "reset"), ("n", "n1")],
            ),
            (
                SubChange::NodeGone { node: "n1".into() },
                vec![("op", "gone"), ("n", "n1")],
            ),
        ];
        for (c, fields) in table {
            let owned: Vec<(String, String)> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(c.to_fields(), owned);
            assert_eq!(SubChange::from_fields(&fields.into_iter().collect()), Ok(c));
        }
        assert_eq!(sub_field(3, StreamingKind::Events), format!("3:{events}"));
    }

    #[test]
    fn malformed_sub_changes_are_errors() {
        let bad: Vec<Vec<(&str, &str)>> = vec![
            vec![("op", "add"), ("n", "n1"), ("s", "4"), ("k", "events")],
            vec![("op", "del"), ("n", "n1"), ("s", "x"), ("k", "events")],
            vec![("op", "end"), ("s", "4")],
            vec![("op", "what"), ("n", "n1")],
            vec![("n", "n1")],
        ];
        for fields in bad {
            let f: Fields = fields.iter().copied().collect();
            assert!(SubChange::from_fields(&f).is_err(), "{fields:?}");
        }
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
            share: None,
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

    #[test]
    fn share_records_keep_their_format_and_share_keys_separate_users_and_names() {
        let mut r = record();
        r.declared_acks = vec!["l1".into()];
        assert_eq!(r.share_key(StreamingKind::Events), None);
        let plain_key = r.group_key(StreamingKind::Events);
        r.share = Some(ShareSpec {
            name: "workers".into(),
            dispatch: crate::bus::ShareDispatch::ByThing,
        });
        assert_eq!(
            r.encode(),
            r#"{"a":["nginx:ditto"],"n":["org.x"],"f":"eq(attributes/a,1)","v":2,"d":["l1"],"g":{"n":"workers"}}"#
        );
        assert_eq!(SubRecord::decode(&r.encode()), Ok(r.clone()));
        assert_ne!(r.group_key(StreamingKind::Events), plain_key);
        let key = r.share_key(StreamingKind::Events).unwrap();
        assert_eq!(key.len(), 32);
        // Another member declaring other labels is in the same share.
        let mut other_acks = r.clone();
        other_acks.declared_acks = vec!["l2".into()];
        assert_eq!(
            other_acks.share_key(StreamingKind::Events),
            Some(key.clone())
        );
        // Another user, another name, another kind or mode: another share.
        let mut other_user = r.clone();
        other_user.subjects = vec!["nginx:other".into()];
        assert_ne!(
            other_user.share_key(StreamingKind::Events),
            Some(key.clone())
        );
        let mut other_name = r.clone();
        other_name.share.as_mut().unwrap().name = "w2".into();
        assert_ne!(
            other_name.share_key(StreamingKind::Events),
            Some(key.clone())
        );
        assert_ne!(r.share_key(StreamingKind::Messages), Some(key.clone()));
        let mut rr = r.clone();
        rr.share.as_mut().unwrap().dispatch = crate::bus::ShareDispatch::RoundRobin;
        assert_ne!(rr.share_key(StreamingKind::Events), Some(key));
    }

    fn records() -> impl Strategy<Value = SubRecord> {
        (
            proptest::collection::vec(any::<String>(), 0..3),
            proptest::collection::vec(any::<String>(), 0..3),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<String>()),
            any::<u8>(),
            proptest::collection::vec(any::<String>(), 0..3),
        )
            .prop_map(
                |(subjects, namespaces, filter, extra_fields, api_version, declared_acks)| {
                    SubRecord {
                        subjects,
                        namespaces,
                        filter,
                        extra_fields,
                        api_version,
                        declared_acks,
                        share: None,
                    }
                },
            )
    }

    fn changes() -> impl Strategy<Value = SubChange> {
        let kind = proptest::sample::select(StreamingKind::ALL.to_vec());
        prop_oneof![
            (any::<String>(), any::<u64>(), kind.clone(), records()).prop_map(
                |(node, session, kind, record)| SubChange::Add {
                    node,
                    session,
                    kind,
                    record
                }
            ),
            (any::<String>(), any::<u64>(), kind).prop_map(|(node, session, kind)| {
                SubChange::Remove {
                    node,
                    session,
                    kind,
                }
            }),
            (any::<String>(), any::<u64>())
                .prop_map(|(node, session)| SubChange::SessionEnd { node, session }),
            any::<String>().prop_map(|node| SubChange::NodeReset { node }),
            any::<String>().prop_map(|node| SubChange::NodeGone { node }),
        ]
    }

    proptest! {
        #[test]
        fn any_record_round_trips(r in records()) {
            prop_assert_eq!(SubRecord::decode(&r.encode()), Ok(r));
        }

        #[test]
        fn any_sub_change_round_trips(c in changes()) {
            let f: Fields = c.to_fields().into_iter().collect();
            prop_assert_eq!(SubChange::from_fields(&f), Ok(c));
        }
    }
}
