//! Shared subscriptions on the bus: what a session's subscription record says when it joined a
//! share with `group=<name>` (MQTT's `$share/<group>/…`), and the share's key. A share is keyed by
//! the kind, the subjects and every parameter that changes what its members see (as
//! [`SubRecord::group_key`](super::SubRecord::group_key)), plus the share name and dispatch mode;
//! declared acknowledgement labels are left out, since each member holds its own. Sessions of
//! different users therefore never share members, whatever the name. Shared subscriptions are not
//! the *subscription groups* of DESIGN.md §2: a subscription group is every session with identical
//! parameters, and each of them gets every signal; a share's signals go to one member each.

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
}
