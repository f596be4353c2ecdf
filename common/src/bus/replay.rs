//! Replay requests (issue 16, resume): a gateway asks the owner of shard k to replay its journal
//! after a position to one session. They travel on the shard's command stream `tw:{k}:cmd` (field
//! `rp`, beside commands' `m` and given-back signals' `r`), so they are fenced, claimed after a hub failover and ordered like
//! commands: a request is handled in a round after the hub has caught up on the subscription it
//! names, so every event after the position is either replayed or fanned out live to the session.

use super::command::Origin;
use super::entry::{json_field, to_json, DecodeError, Fields, StreamEntry};
use serde::{Deserialize, Serialize};

/// Field of a command-stream entry holding the JSON-encoded [`ReplayRequest`].
pub const REPLAY_FIELD: &str = "rp";

/// Replay shard k's journal after `after` (a stream id) to the events subscription of `session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    #[serde(rename = "o")]
    pub session: Origin,
    #[serde(rename = "a")]
    pub after: String,
}

impl StreamEntry for ReplayRequest {
    fn to_fields(&self) -> Vec<(String, String)> {
        vec![(REPLAY_FIELD.into(), to_json(self))]
    }

    fn from_fields(fields: &Fields) -> Result<ReplayRequest, DecodeError> {
        json_field(fields, REPLAY_FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = r#"{"o":{"n":"n1","s":7},"a":"17-0"}"#;

    #[test]
    fn replay_requests_keep_their_format() {
        let r = ReplayRequest {
            session: Origin {
                node: "n1".into(),
                session: 7,
            },
            after: "17-0".into(),
        };
        assert_eq!(r.to_fields(), vec![("rp".to_string(), PINNED.to_string())]);
        let f: Fields = [("rp", PINNED)].into_iter().collect();
        assert_eq!(ReplayRequest::from_fields(&f), Ok(r));
    }
}
