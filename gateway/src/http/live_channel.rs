//! The live channel on HTTP (ditto-features §3). A thing route with `channel=live` (the query
//! parameter or the header) is the live command: the devices answer it, the first answer is the
//! response, and none in time is 408 `command.timeout`. A twin retrieve with
//! `live-channel-condition` is the smart channel: the hub answers from the twin and, when the
//! condition held, hands the live retrieve to the devices; the device's answer then wins, and
//! without one in time `live-channel-timeout-strategy` decides (`fail`: the 408, `use-twin`: the
//! twin's answer). The strategy, its header and how an answer is marked are the WebSocket's
//! (`session::smart`, hub `smart_channel`); only the waiting differs, as an HTTP request waits in
//! a future rather than in a session.

use super::exchange::{publish, Exchange};
use crate::node::Node;
use crate::session::smart::{self, Strategy, LIVE_CHANNEL_CONDITION};
use std::sync::Arc;
use std::time::Duration;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{
    error_envelope, Channel as TopicChannel, Envelope, Headers, Topic,
};
use twinwire_common::Error;

/// Which channel a thing route's command takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Twin,
    Live,
    /// A twin retrieve that may be answered by the devices, with what a timeout answers.
    Smart(Strategy),
}

impl Channel {
    /// The channel's part of the topic.
    pub fn topic_part(self) -> &'static str {
        match self {
            Channel::Live => "live",
            Channel::Twin | Channel::Smart(_) => "twin",
        }
    }
}

/// The channel of a thing command `action` with `headers` (the query parameters that act as
/// headers included). Only a retrieve is smart: on others the hub answers Ditto's 405.
pub fn channel_of(headers: &Headers, action: &str) -> Result<Channel, Error> {
    if headers.get_str(smart::CHANNEL).as_deref() == Some("live") {
        return Ok(Channel::Live);
    }
    if action == "retrieve" && headers.contains(LIVE_CHANNEL_CONDITION) {
        return Ok(Channel::Smart(smart::strategy_of(headers)?));
    }
    Ok(Channel::Twin)
}

/// A smart retrieve on the bus and the answer the client gets: the device's when it comes in
/// time, else the twin's as the strategy says.
pub async fn smart_exchange(
    node: &Arc<Node>,
    envelope: Envelope,
    shard: u32,
    timeout: Duration,
    subjects: Vec<String>,
    strategy: Strategy,
) -> Exchange {
    let request_id = node.next_id();
    let mut answers = node.waiters.add_every(request_id);
    let topic = Topic::parse(&envelope.topic).ok();
    let cid = envelope.headers.correlation_id().map(|c| c.into_owned());
    if !publish(node, envelope, shard, subjects, request_id).await {
        node.waiters.remove(request_id);
        return Exchange::NotSent;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    // The twin's answer, held while the devices may still answer.
    let mut twin = None;
    let outcome = loop {
        let Ok(Some(frame)) = tokio::time::timeout_at(deadline, answers.recv()).await else {
            break match (strategy, twin) {
                (Strategy::UseTwin, Some(t)) => Exchange::Answered(smart::marked(&t, "twin")),
                (_, matched) => {
                    let mut h = Headers::new();
                    if let Some(cid) = &cid {
                        h.insert(names::CORRELATION_ID, cid.clone());
                    }
                    if matched.is_some() {
                        h.insert(smart::MATCHED, "true");
                        h.insert(smart::CHANNEL, "live");
                    }
                    let err = Error::CommandTimeout(timeout.as_millis() as u64);
                    let env = error_envelope(&err, topic.as_ref(), h);
                    Exchange::Answered(env.to_json_string().into())
                }
            };
        };
        let Ok(env) = Envelope::parse(&frame) else {
            continue;
        };
        let from_devices = Topic::parse(&env.topic)
            .ok()
            .and_then(|t| t.channel)
            .is_some_and(|c| c == TopicChannel::Live);
        if from_devices {
            break Exchange::Answered(smart::marked(&frame, "live"));
        }
        let matched = env.headers.get_str(smart::MATCHED).as_deref() == Some("true")
            && env.status.is_some_and(|s| s < 300);
        if !matched {
            // Not matched, or an error: the twin's answer is the answer.
            break Exchange::Answered(frame);
        }
        twin = Some(frame);
    };
    node.waiters.remove(request_id);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_is_asked_for_and_only_a_retrieve_with_a_live_channel_condition_is_smart() {
        let mut h = Headers::new();
        assert_eq!(channel_of(&h, "retrieve").unwrap(), Channel::Twin);
        h.insert(LIVE_CHANNEL_CONDITION, "eq(attributes/a,1)");
        assert_eq!(
            channel_of(&h, "retrieve").unwrap(),
            Channel::Smart(Strategy::Fail)
        );
        assert_eq!(channel_of(&h, "modify").unwrap(), Channel::Twin);
        h.insert(smart::TIMEOUT_STRATEGY, "use-twin");
        assert_eq!(
            channel_of(&h, "retrieve").unwrap(),
            Channel::Smart(Strategy::UseTwin)
        );
        h.insert(smart::TIMEOUT_STRATEGY, "nope");
        assert!(channel_of(&h, "retrieve").is_err());
        let mut h = Headers::new();
        h.insert(smart::CHANNEL, "live");
        assert_eq!(channel_of(&h, "modify").unwrap(), Channel::Live);
        h.insert(smart::CHANNEL, "twin");
        assert_eq!(channel_of(&h, "modify").unwrap(), Channel::Twin);
    }
}
