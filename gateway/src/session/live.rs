//! Live requests from one session's side (reference §6.2, §6.3): the session as the sender of a
//! live command or message that wants an answer. The first fitting answer is written to the
//! client, later ones are dropped, an answer of the wrong kind is discarded (and named in the 408),
//! and when the timeout passes the client gets `command.timeout`. (Where this session's own answers
//! go is `replies`.)

use super::WsSession;
use crate::metrics::OutKind;
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::HashMap;
use std::time::Duration;
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Action, Criterion, Envelope, Headers, Topic};
use twinwire_common::things::{Pointer, ThingResource};
use twinwire_common::Error;

/// Requests a session may have waiting for answers at once.
const MAX_WAITING: usize = 4096;

/// A live request waiting for its answer.
pub(super) struct LiveRequest {
    topic: Topic,
    path: Pointer,
    timeout_ms: u64,
    /// Why the last answer was discarded, for the 408's description.
    invalid: Option<String>,
    timer: SpawnHandle,
}

/// This session's live requests waiting for answers, by correlation-id.
#[derive(Default)]
pub(super) struct LiveRequests {
    waiting: HashMap<String, LiveRequest>,
}

/// What an answer from another session does.
pub(super) enum Answer {
    /// It fits a waiting request: write it, and cancel the request's timer.
    Accepted(SpawnHandle),
    /// It does not fit (the request keeps waiting); the detail goes into the 408.
    Discarded(String),
    /// Nothing waits for it (late, or a second answer): dropped, as Ditto drops it.
    Unexpected,
}

impl LiveRequests {
    /// Whether a live request that wants an answer is accepted: its timeout (at most `max`), and
    /// its correlation-id (`None` when it has none, so nothing waits).
    pub fn admit(
        &self,
        env: &Envelope,
        max: Duration,
    ) -> Result<Option<(String, Duration)>, Error> {
        let timeout = timeout_of(&env.headers, max)?;
        if timeout.is_zero() {
            return Err(Error::HeaderInvalid {
                name: names::TIMEOUT.into(),
                value: "0".into(),
                kind: "timeout for a signal that requires a response".into(),
            });
        }
        let Some(cid) = env.headers.correlation_id().map(|c| c.into_owned()) else {
            return Ok(None);
        };
        if self.waiting.len() >= MAX_WAITING {
            return Err(Error::TooManyRequests);
        }
        Ok(Some((cid, timeout)))
    }

    /// Starts waiting for the answer to `cid`; returns the timer of a request it replaces.
    pub fn wait(
        &mut self,
        cid: String,
        topic: &Topic,
        env: &Envelope,
        timeout: Duration,
        timer: SpawnHandle,
    ) -> Option<SpawnHandle> {
        let request = LiveRequest {
            topic: topic.clone(),
            path: Pointer::parse(&env.path),
            timeout_ms: timeout.as_millis() as u64,
            invalid: None,
            timer,
        };
        self.waiting.insert(cid, request).map(|old| old.timer)
    }

    /// Stops waiting for `cid` (answered otherwise); returns its timer.
    pub fn forget(&mut self, cid: &str) -> Option<SpawnHandle> {
        self.waiting.remove(cid).map(|p| p.timer)
    }

    /// The `command.timeout` error for `cid`, if it still waits.
    pub fn timed_out(&mut self, cid: &str) -> Option<Envelope> {
        let p = self.waiting.remove(cid)?;
        let mut h = Headers::new();
        h.insert(names::CORRELATION_ID, cid.to_owned());
        let err = Error::CommandTimeout(p.timeout_ms);
        let mut env = twinwire_common::protocol::error_envelope(&err, Some(&p.topic), h);
        if let (Some(detail), Some(v)) = (p.invalid, env.value.as_mut()) {
            v["description"] = format!("Received no appropriate live response within the specified timeout. An invalid response was received, though: {detail}").into();
        }
        Some(env)
    }

    /// Matches an answer against the request it names.
    pub fn answer(&mut self, env: &Envelope) -> Answer {
        let Some(cid) = env.headers.correlation_id() else {
            return Answer::Unexpected;
        };
        let Some(p) = self.waiting.get_mut(cid.as_ref()) else {
            return Answer::Unexpected;
        };
        match validate(p, env) {
            Ok(()) => match self.waiting.remove(cid.as_ref()) {
                Some(p) => Answer::Accepted(p.timer),
                None => Answer::Unexpected,
            },
            Err(detail) => {
                p.invalid = Some(detail.clone());
                Answer::Discarded(detail)
            }
        }
    }
}

/// Parses Ditto's `timeout` header: a number with an optional unit `ms`, `s` or `m` (seconds
/// when none).
pub fn parse_timeout(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

/// The timeout of a signal: its header, at most `max`, `max` by default.
pub fn timeout_of(headers: &Headers, max: Duration) -> Result<Duration, Error> {
    match headers.get_str(names::TIMEOUT) {
        None => Ok(max),
        Some(v) => match parse_timeout(&v) {
            Some(t) if t <= max => Ok(t),
            Some(t) => Err(Error::TimeoutInvalid {
                ms: t.as_millis() as u64,
                max_ms: max.as_millis() as u64,
            }),
            None => Err(Error::HeaderInvalid {
                name: names::TIMEOUT.into(),
                value: v.into_owned(),
                kind: "duration".into(),
            }),
        },
    }
}

/// Ditto's type name of a thing command or response (`things.commands:retrieveThing`), for the
/// description of a discarded answer.
fn type_name(topic: &Topic, path: &str, response: bool) -> String {
    if topic.criterion == Criterion::Messages {
        let which = if path.contains("/features/") {
            "Feature"
        } else {
            "Thing"
        };
        return format!(
            "messages.{}:send{which}Message",
            if response { "responses" } else { "commands" }
        );
    }
    if topic.criterion == Criterion::Errors {
        return "things.errors:thing".into();
    }
    let noun = match ThingResource::parse(path) {
        Ok(ThingResource::Thing) => "Thing",
        Ok(ThingResource::PolicyId) => "PolicyId",
        Ok(ThingResource::Definition) => "ThingDefinition",
        Ok(ThingResource::Attributes) => "Attributes",
        Ok(ThingResource::Attribute(_)) => "Attribute",
        Ok(ThingResource::Features) => "Features",
        Ok(ThingResource::Feature(_)) => "Feature",
        Ok(ThingResource::FeatureDefinition(_)) => "FeatureDefinition",
        Ok(ThingResource::FeatureProperties(_)) => "FeatureProperties",
        Ok(ThingResource::FeatureProperty(..)) => "FeatureProperty",
        Ok(ThingResource::FeatureDesiredProperties(_)) => "FeatureDesiredProperties",
        Ok(ThingResource::FeatureDesiredProperty(..)) => "FeatureDesiredProperty",
        Err(_) => "Thing",
    };
    let action = topic.action.map(Action::as_str).unwrap_or("unknown");
    format!(
        "things.{}:{action}{noun}",
        if response { "responses" } else { "commands" }
    )
}

/// Ditto's `CommandAndCommandResponseMatchingValidator`: same entity, a related type (or an
/// error), same resource path. `Err` carries the detail named in the 408.
fn validate(request: &LiveRequest, answer: &Envelope) -> Result<(), String> {
    let Ok(t) = Topic::parse(&answer.topic) else {
        return Err(format!(
            "The topic path <{}> of the live response is not valid.",
            answer.topic
        ));
    };
    if t.namespace != request.topic.namespace || t.name != request.topic.name {
        return Err(format!(
            "Entity ID of live response <{}> differs from entity ID of command <{}>.",
            t.entity_id(),
            request.topic.entity_id()
        ));
    }
    if t.criterion == Criterion::Errors {
        return Ok(());
    }
    let related = match request.topic.criterion {
        Criterion::Messages => {
            t.criterion == Criterion::Messages && t.subject == request.topic.subject
        }
        _ => t.criterion == Criterion::Commands && t.action == request.topic.action,
    };
    if !related {
        return Err(format!(
            "Type of live response <{}> is not related to type of command <{}>.",
            type_name(&t, &answer.path, true),
            type_name(&request.topic, &request.path.to_string(), false)
        ));
    }
    // Message answers may name the inbox or the outbox; commands must answer on the same path.
    if request.topic.criterion != Criterion::Messages
        && Pointer::parse(&answer.path) != request.path
    {
        return Err(format!(
            "Resource path of live response <{}> differs from resource path of command <{}>.",
            Pointer::parse(&answer.path),
            request.path
        ));
    }
    Ok(())
}

impl WsSession {
    /// Registers a live request that wants an answer; `Err` when its headers are refused.
    pub(super) fn expect_answer(
        &mut self,
        ctx: &mut Context<Self>,
        topic: &Topic,
        env: &Envelope,
    ) -> Result<(), Error> {
        let max = Duration::from_millis(self.node.config.ws.command_timeout_ms);
        let Some((cid, timeout)) = self.live.admit(env, max)? else {
            return Ok(());
        };
        let key = cid.clone();
        let timer = ctx.run_later(timeout, move |act, ctx| {
            if let Some(env) = act.live.timed_out(&key) {
                act.send_text(ctx, env.to_json_string().into(), OutKind::Error);
            }
        });
        if let Some(old) = self.live.wait(cid, topic, env, timeout, timer) {
            ctx.cancel_future(old);
        }
        Ok(())
    }

    /// An answer from another session (or a hub's refusal) to one of this session's requests.
    pub(super) fn on_live_answer(&mut self, frame: ByteString, ctx: &mut Context<Self>) {
        let Ok(env) = Envelope::parse(&frame) else {
            return;
        };
        // Acknowledgements (from other sessions, or weak ones from a hub) go to the aggregation.
        if env.topic.contains("/acks") && self.take_ack(&env, ctx) {
            return;
        }
        match self.live.answer(&env) {
            Answer::Accepted(timer) => {
                ctx.cancel_future(timer);
                let frame = self.smart_live_answer(&frame).unwrap_or(frame);
                self.send_text(ctx, frame, OutKind::Response);
            }
            Answer::Discarded(detail) => {
                tracing::debug!(session = self.id, %detail, "discarding an invalid live response");
            }
            Answer::Unexpected => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_dittos_durations() {
        let table = [
            ("10", Some(10_000)),
            ("10s", Some(10_000)),
            ("500ms", Some(500)),
            ("1m", Some(60_000)),
            ("0", Some(0)),
            ("x", None),
            ("-1", None),
            ("5h", None),
        ];
        for (v, ms) in table {
            assert_eq!(parse_timeout(v).map(|d| d.as_millis() as u64), ms, "{v}");
        }
        let mut h = Headers::new();
        h.insert("timeout", "61s");
        assert!(matches!(
            timeout_of(&h, Duration::from_secs(60)),
            Err(Error::TimeoutInvalid {
                ms: 61_000,
                max_ms: 60_000
            })
        ));
    }

    fn request(topic: &str, path: &str) -> LiveRequest {
        // A SpawnHandle is only a number; the default one is never cancelled here.
        LiveRequest {
            topic: Topic::parse(topic).unwrap(),
            path: Pointer::parse(path),
            timeout_ms: 1,
            invalid: None,
            timer: SpawnHandle::default(),
        }
    }

    fn answer(topic: &str, path: &str) -> Envelope {
        Envelope {
            topic: topic.into(),
            path: path.into(),
            status: Some(200),
            ..Default::default()
        }
    }

    #[test]
    fn answers_must_fit_the_request_as_ditto_validates_them() {
        let retrieve = request("a/b/things/live/commands/retrieve", "/");
        assert!(validate(&retrieve, &answer("a/b/things/live/commands/retrieve", "/")).is_ok());
        assert!(validate(&retrieve, &answer("a/b/things/live/errors", "/")).is_ok());
        let e = validate(
            &retrieve,
            &answer("a/b/things/live/commands/modify", "/attributes/x"),
        )
        .unwrap_err();
        assert_eq!(e, "Type of live response <things.responses:modifyAttribute> is not related to type of command <things.commands:retrieveThing>.");
        assert!(
            validate(&retrieve, &answer("a/c/things/live/commands/retrieve", "/"))
                .unwrap_err()
                .starts_with("Entity ID")
        );
        assert!(validate(
            &retrieve,
            &answer("a/b/things/live/commands/retrieve", "/attributes")
        )
        .unwrap_err()
        .starts_with("Resource path"));
        let msg = request("a/b/things/live/messages/ask", "/inbox/messages/ask");
        assert!(validate(
            &msg,
            &answer("a/b/things/live/messages/ask", "/outbox/messages/ask")
        )
        .is_ok());
        assert!(validate(
            &msg,
            &answer("a/b/things/live/messages/other", "/inbox/messages/other")
        )
        .is_err());
    }
}
