//! Shared subscriptions on the bus: what a session's subscription record says when it joined a
//! share with `group=<name>` (MQTT's `$share/<group>/…`), and the share's key. A share is keyed by
//! the kind, the subjects and every parameter that changes what its members see (as
//! [`SubRecord::group_key`](super::SubRecord::group_key)), plus the share name and dispatch mode;
//! declared acknowledgement labels are left out, since each member holds its own. Sessions of
//! different users therefore never share members, whatever the name. Shared subscriptions are not
//! the *subscription groups* of DESIGN.md §2: a subscription group is every session with identical
//! parameters, and each of them gets every signal; a share's signals go to one member each.

use super::command::Origin;
use super::delivery::Reply;
use crate::protocol::StreamingKind;
use serde::{Deserialize, Serialize};

/// How a share picks the member that gets a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ShareDispatch {
    /// Each thing's signals go to one member (rendezvous hashing of the thing id over the
    /// members), so they arrive in revision order while membership is stable.
    #[default]
    #[serde(rename = "by-thing")]
    ByThing,
    /// Members in turn, whatever the thing.
    #[serde(rename = "round-robin")]
    RoundRobin,
}

impl ShareDispatch {
    /// The `dispatch=` value a client gives.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareDispatch::ByThing => "by-thing",
            ShareDispatch::RoundRobin => "round-robin",
        }
    }

    pub fn parse(s: &str) -> Option<ShareDispatch> {
        [ShareDispatch::ByThing, ShareDispatch::RoundRobin]
            .into_iter()
            .find(|d| d.as_str() == s)
    }

    fn is_default(&self) -> bool {
        *self == ShareDispatch::ByThing
    }
}

/// The share a subscription belongs to (`group=` and `dispatch=` of its START).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShareSpec {
    /// The share's name as the client gave it.
    #[serde(rename = "n")]
    pub name: String,
    #[serde(
        rename = "d",
        default,
        skip_serializing_if = "ShareDispatch::is_default"
    )]
    pub dispatch: ShareDispatch,
}

/// Longest share name accepted: it is stored in every member's record and in every hub's memory.
pub const MAX_SHARE_NAME_BYTES: usize = 128;

/// Field of a command-stream entry holding a [`ReturnedSignal`] (a command's is `m`).
pub const RETURNED_FIELD: &str = "r";

/// A signal a share member left without writing to its socket (STOP, close, drain, a full
/// queue), given back by its gateway through the command stream of the signal's thing, so the
/// shard's owner dispatches it to another member (DESIGN.md "Shared subscriptions"). Hubs also
/// make these for what a dead node had not read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnedSignal {
    /// The share key ([`SubRecord::share_key`](super::SubRecord::share_key)).
    #[serde(rename = "g")]
    pub share: String,
    #[serde(rename = "k", with = "kind_str")]
    pub kind: StreamingKind,
    /// The member that gave it back, which must not get it again.
    #[serde(rename = "o")]
    pub member: Origin,
    /// The thing the signal is about (the member pick of by-thing dispatch).
    #[serde(rename = "t")]
    pub thing_id: String,
    /// The frame as the share's members see it.
    #[serde(rename = "f")]
    pub frame: String,
    /// Where the answer goes, for a message or live command that wants one.
    #[serde(rename = "rn", default, skip_serializing_if = "Option::is_none")]
    pub reply_node: Option<String>,
    #[serde(rename = "rs", default, skip_serializing_if = "Option::is_none")]
    pub reply_session: Option<u64>,
    #[serde(rename = "rc", default, skip_serializing_if = "Option::is_none")]
    pub reply_cid: Option<String>,
    /// When the hub first wrote it, ms since the epoch.
    #[serde(rename = "w", default)]
    pub written_ms: u64,
}

impl ReturnedSignal {
    pub fn encode(&self) -> String {
        super::entry::to_json(self)
    }

    pub fn decode(json: &str) -> Result<ReturnedSignal, super::entry::DecodeError> {
        serde_json::from_str(json)
            .map_err(|e| super::entry::DecodeError(format!("returned signal: {e}")))
    }

    pub fn reply(&self) -> Option<Reply> {
        match (&self.reply_node, self.reply_session, &self.reply_cid) {
            (Some(node), Some(session), Some(cid)) => Some(Reply {
                origin: Origin {
                    node: node.clone(),
                    session,
                },
                correlation_id: cid.clone(),
            }),
            _ => None,
        }
    }

    pub fn set_reply(&mut self, reply: Option<&Reply>) {
        self.reply_node = reply.map(|r| r.origin.node.clone());
        self.reply_session = reply.map(|r| r.origin.session);
        self.reply_cid = reply.map(|r| r.correlation_id.clone());
    }
}

/// The thing a fanned-out frame is about, from its topic (`<namespace>/<name>/things/…`): what
/// by-thing dispatch hashes when a signal is dispatched again.
pub fn thing_of_frame(frame: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(frame).ok()?;
    let mut parts = v.get("topic")?.as_str()?.splitn(3, '/');
    Some(format!("{}:{}", parts.next()?, parts.next()?))
}

mod kind_str {
    use crate::protocol::StreamingKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &StreamingKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StreamingKind, D::Error> {
        let s = String::deserialize(d)?;
        StreamingKind::parse(&s).ok_or_else(|| serde::de::Error::custom("streaming kind"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_specs_keep_their_format() {
        let by_thing = ShareSpec {
            name: "workers".into(),
            dispatch: ShareDispatch::ByThing,
        };
        assert_eq!(
            serde_json::to_string(&by_thing).unwrap(),
            r#"{"n":"workers"}"#
        );
        let rr = ShareSpec {
            name: "w".into(),
            dispatch: ShareDispatch::RoundRobin,
        };
        assert_eq!(
            serde_json::to_string(&rr).unwrap(),
            r#"{"n":"w","d":"round-robin"}"#
        );
        assert_eq!(
            serde_json::from_str::<ShareSpec>(r#"{"n":"w","d":"round-robin"}"#).unwrap(),
            rr
        );
        assert_eq!(
            ShareDispatch::parse("round-robin"),
            Some(ShareDispatch::RoundRobin)
        );
        assert_eq!(
            ShareDispatch::parse("by-thing"),
            Some(ShareDispatch::ByThing)
        );
        assert_eq!(ShareDispatch::parse("sticky"), None);
    }

    #[test]
    fn a_frames_thing_is_read_from_its_topic() {
        assert_eq!(
            thing_of_frame(r#"{"topic":"org.x/lamp/things/twin/events/modified","path":"/"}"#),
            Some("org.x:lamp".into())
        );
        assert_eq!(thing_of_frame("{}"), None);
        assert_eq!(thing_of_frame("nope"), None);
    }

    #[test]
    fn returned_signals_keep_their_format() {
        let mut r = ReturnedSignal {
            share: "k1".into(),
            kind: StreamingKind::Events,
            member: Origin {
                node: "n1".into(),
                session: 4,
            },
            thing_id: "org.x:t".into(),
            frame: "{}".into(),
            reply_node: None,
            reply_session: None,
            reply_cid: None,
            written_ms: 17,
        };
        let pinned =
            r#"{"g":"k1","k":"events","o":{"n":"n1","s":4},"t":"org.x:t","f":"{}","w":17}"#;
        assert_eq!(r.encode(), pinned);
        assert_eq!(ReturnedSignal::decode(pinned).unwrap(), r);
        let reply = Reply {
            origin: Origin {
                node: "n2".into(),
                session: 9,
            },
            correlation_id: "c".into(),
        };
        r.set_reply(Some(&reply));
        assert_eq!(r.reply(), Some(reply));
        assert_eq!(ReturnedSignal::decode(&r.encode()).unwrap(), r);
        assert!(ReturnedSignal::decode(r#"{"g":"k1","k":"nope"}"#).is_err());
    }
}
