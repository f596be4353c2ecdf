//! The smart live channel (ditto-features §3): a twin retrieve with `live-channel-condition` is
//! answered from the twin, and when the condition holds on the twin as the requester may read it,
//! it is also sent to the devices as a live retrieve. The hub only decides and routes; the sending
//! session waits for the device's answer and owns the timeout and its strategy (the gateway's
//! `session::smart`), because the answer goes straight from the device's node to the sender's.

use crate::policies::CachedPolicy;
use crate::things::condition::{self, Carrier};
use crate::things::twin::Twin;
use twinwire_common::bus::BusCommand;
use twinwire_common::protocol::{Action, Envelope, Headers, Topic};
use twinwire_common::rql::ParsedCondition;
use twinwire_common::Error;

/// The request header naming the condition.
pub const LIVE_CHANNEL_CONDITION: &str = "live-channel-condition";
/// The response header saying whether the condition held (written only, as in Ditto).
pub const MATCHED: &str = "live-channel-condition-matched";
/// The response header saying which channel answered.
pub const CHANNEL: &str = "channel";

/// The live-channel condition of a twin thing command, syntax-checked; `None` without one. Only
/// retrieves may carry one (405 otherwise).
pub fn condition_of(headers: &Headers, topic: &Topic) -> Result<Option<ParsedCondition>, Error> {
    if !headers.contains(LIVE_CHANNEL_CONDITION) {
        return Ok(None);
    }
    if topic.action != Some(Action::Retrieve) {
        return Err(Error::LiveChannelConditionNotAllowed);
    }
    condition::parse_header(headers, LIVE_CHANNEL_CONDITION, Carrier::Command)
}

/// Whether the condition holds on `twin` as `subjects` may read it. READ on its fields is needed
/// unless a `condition` header is there too (Ditto checks only that one then).
pub fn matches(
    cond: &ParsedCondition,
    cmd: &BusCommand,
    twin: &Twin,
    policy: &CachedPolicy,
    now: &str,
) -> Result<bool, Error> {
    if !cmd.envelope.headers.contains(condition::CONDITION) {
        condition::check_readable(cond, &policy.enforcer, &cmd.subjects)?;
    }
    let view = condition::requester_view(&policy.enforcer, &cmd.subjects, twin);
    match condition::evaluate(cond, &view, now) {
        Ok(()) => Ok(true),
        Err(Error::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Marks the twin's response with whether the condition held.
pub fn mark_twin_response(response: &mut Envelope, matched: bool) {
    response.headers.insert(MATCHED, matched.to_string());
    response.headers.insert(CHANNEL, "twin");
}

/// The live retrieve sent to the devices: the same command on the live channel, without the
/// condition (Ditto removes it), with `channel: live`.
pub fn live_command(cmd: &BusCommand) -> Option<(BusCommand, Topic)> {
    let mut live = cmd.clone();
    live.envelope.topic = cmd
        .envelope
        .topic
        .replacen("/things/twin/", "/things/live/", 1);
    live.envelope.headers.remove(LIVE_CHANNEL_CONDITION);
    live.envelope.headers.insert(CHANNEL, "live");
    let topic = Topic::parse(&live.envelope.topic).ok()?;
    Some((live, topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retrieves_may_carry_a_live_channel_condition() {
        let mut h = Headers::new();
        h.insert(LIVE_CHANNEL_CONDITION, "eq(attributes/a,1)");
        let modify = Topic::parse("a/b/things/twin/commands/modify").unwrap();
        let e = condition_of(&h, &modify).unwrap_err().to_ditto();
        assert_eq!(
            (e.status, e.error.as_ref()),
            (405, "things:live.channelcondition.notallowed")
        );
        let retrieve = Topic::parse("a/b/things/twin/commands/retrieve").unwrap();
        assert!(condition_of(&h, &retrieve).unwrap().is_some());
        h.insert(LIVE_CHANNEL_CONDITION, "eq(attributes/a,1");
        assert_eq!(
            condition_of(&h, &retrieve).unwrap_err().to_ditto().error,
            "things:condition.invalid"
        );
        assert!(condition_of(&Headers::new(), &modify).unwrap().is_none());
    }
}
