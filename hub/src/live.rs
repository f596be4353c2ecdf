//! Messages, live commands and live events (reference §6): routed through the thing's shard, whose
//! owner holds the policy. The sender needs WRITE on the `message:` resource (messages; not for
//! a claim, a thing's inbox message with the subject `claim`, which Ditto publishes without
//! enforcing the sender's permission: the thing must exist, receivers still need READ), or the
//! permission the twin command would need (live commands), or WRITE on the changed path (live
//! events); receivers need READ there, granted and not revoked (Ditto `LiveSignalEnforcement`).
//! Nothing is stored: delivery is at most once, as in Ditto. Signals that want an answer carry a
//! reply address, so the receiving session sends its response straight to the sender's node.

use crate::fanout::{fan_out, Signal, Visibility};
use crate::policies::CachedPolicy;
use crate::registry::SubscriptionRegistry;
use crate::things::condition::{self, Carrier};
use crate::things::twin::Twin;
use serde_json::Value;
use twinwire_common::bus::{BusCommand, Delivery, Reply};
use twinwire_common::clock::now_ms;
use twinwire_common::policy::{EventView, Permission};
use twinwire_common::protocol::headers::names;
use twinwire_common::protocol::{Action, Criterion, StreamingKind, Topic};
use twinwire_common::things::{Pointer, ThingResource};
use twinwire_common::Error;

/// What a live signal addresses, for permission checks: a `message:` or a `thing:` path.
struct Target {
    rtype: &'static str,
    path: String,
}

/// Checks a message's path against its topic: `/inbox|outbox/messages/<subject>`, optionally
/// below `/features/<id>`.
fn message_target(topic: &Topic, path: &str) -> Result<Target, Error> {
    let subject = topic.subject.as_deref().unwrap_or_default();
    let p = path.trim_start_matches('/');
    let rest = match p.strip_prefix("features/") {
        Some(r) => r.split_once('/').map(|(_, r)| r).unwrap_or(""),
        None => p,
    };
    let ok = ["inbox/messages/", "outbox/messages/"]
        .iter()
        .any(|prefix| rest.strip_prefix(prefix) == Some(subject));
    if !ok {
        return Err(Error::UnknownPath {
            path: path.to_owned(),
        });
    }
    Ok(Target {
        rtype: "message",
        path: format!("/{p}"),
    })
}

/// Ditto's claim message (`SendClaimMessage`): the subject `claim` in the thing's own inbox.
fn is_claim(topic: &Topic, path: &str) -> bool {
    topic.subject.as_deref() == Some("claim") && path == "/inbox/messages/claim"
}

/// Ditto's message payload limit, measured like its size validator (characters of the payload).
fn check_message_size(value: Option<&Value>, max: usize) -> Result<(), Error> {
    let size = value.map(|v| match v {
        Value::String(s) => s.chars().count(),
        other => other.to_string().chars().count(),
    });
    match size {
        Some(n) if n > max => Err(Error::MessagePayloadTooLarge { size: n, max }),
        _ => Ok(()),
    }
}

/// The `condition` of a live command or message (ditto-features §1): evaluated on what the
/// requester may read of the twin, as Ditto does by retrieving the thing with the requester's own
/// authorization first; a false one keeps the signal from everyone (412).
fn check_condition(
    kind: StreamingKind,
    env: &twinwire_common::protocol::Envelope,
    twin: &Twin,
    policy: &CachedPolicy,
    subjects: &[String],
) -> Result<(), Error> {
    let carrier = if kind == StreamingKind::Messages {
        Carrier::Message
    } else {
        Carrier::Command
    };
    let Some(cond) = condition::parse(&env.headers, carrier)? else {
        return Ok(());
    };
    let view = condition::requester_view(&policy.enforcer, subjects, twin);
    condition::evaluate(&cond, &view, &crate::instant::now_iso())
}

struct LiveVisibility<'a> {
    policy: &'a CachedPolicy,
    rtype: &'static str,
    path: &'a str,
}

impl Visibility for LiveVisibility<'_> {
    fn view(&self, subjects: &[String]) -> EventView {
        if self
            .policy
            .enforcer
            .can_receive_live(subjects, self.rtype, self.path)
        {
            EventView::Full
        } else {
            EventView::Hidden
        }
    }
    fn readable(&self, subjects: &[String], path: &Pointer, value: &Value) -> Option<Value> {
        self.policy
            .enforcer
            .readable_view(subjects, "thing", &path.to_string(), value)
    }
}

/// Routes a live signal: authorizes it and returns its deliveries (one per node with receivers).
pub fn route(
    cmd: &BusCommand,
    topic: &Topic,
    twin: Option<&Twin>,
    policy: Option<&CachedPolicy>,
    registry: &SubscriptionRegistry,
    max_message_bytes: usize,
    filter_evaluations: &mut u64,
) -> Result<Vec<(String, Delivery)>, Error> {
    let env = &cmd.envelope;
    let thing_id = topic.entity_id();
    let subjects = &cmd.subjects;
    let (kind, target) = match topic.criterion {
        Criterion::Messages => (StreamingKind::Messages, message_target(topic, &env.path)?),
        Criterion::Commands => {
            let resource = ThingResource::parse(&env.path)?;
            if topic.action == Some(Action::Create) {
                return Err(Error::ThingNotCreatableViaLive);
            }
            let _ = resource;
            (
                StreamingKind::LiveCommands,
                Target {
                    rtype: "thing",
                    path: Pointer::parse(&env.path).to_string(),
                },
            )
        }
        Criterion::Events => {
            ThingResource::parse(&env.path)?;
            (
                StreamingKind::LiveEvents,
                Target {
                    rtype: "thing",
                    path: Pointer::parse(&env.path).to_string(),
                },
            )
        }
        _ => {
            return Err(Error::UnknownSignal {
                topic: env.topic.clone(),
            })
        }
    };
    // Without a twin there is no policy, and nobody may send anything about it: Ditto says the
    // thing is not found, for messages too (`send.notallowed` is for a thing that exists).
    let (Some(twin), Some(policy)) = (twin, policy) else {
        return Err(Error::ThingNotFound(thing_id));
    };
    let enforcer = &policy.enforcer;
    let allowed = match (kind, topic.action) {
        (StreamingKind::Messages, _) if is_claim(topic, &env.path) => true,
        (StreamingKind::LiveCommands, Some(Action::Retrieve)) => {
            enforcer.has_partial(subjects, "thing", &target.path, Permission::Read)
        }
        _ => enforcer.has_unrestricted(subjects, target.rtype, &target.path, Permission::Write),
    };
    if !allowed {
        return Err(match kind {
            StreamingKind::Messages => Error::MessageSendNotAllowed(thing_id),
            _ if !enforcer.has_partial(subjects, "thing", "/", Permission::Read) => {
                Error::ThingNotFound(thing_id)
            }
            _ => ThingResource::parse(&env.path)?
                .not_modifiable(&thing_id, topic.action == Some(Action::Delete)),
        });
    }
    if kind == StreamingKind::Messages {
        check_message_size(env.value.as_ref(), max_message_bytes)?;
    }
    if kind != StreamingKind::LiveEvents {
        check_condition(kind, env, twin, policy, subjects)?;
    }
    // Receivers see the signal as sent, with Ditto's originator header.
    let mut headers = env.headers.clone();
    if let Some(first) = subjects.first() {
        headers.set(names::DITTO_ORIGINATOR, first.clone());
    }
    let wants_answer = kind != StreamingKind::LiveEvents && env.headers.response_required();
    let reply = wants_answer.then(|| Reply {
        origin: cmd.origin.clone(),
        correlation_id: env
            .headers
            .correlation_id()
            .map(|c| c.into_owned())
            .unwrap_or_default(),
    });
    let sig = Signal {
        kind,
        topic,
        thing_id: &thing_id,
        path: &env.path,
        value: env.value.as_ref(),
        headers: &headers,
        revision: None,
        timestamp: None,
        origin: &cmd.origin,
        twin: Some(twin),
        pos: None,
        written_ms: now_ms(),
        reply,
        acks: &[],
    };
    let vis = LiveVisibility {
        policy,
        rtype: target.rtype,
        path: &target.path,
    };
    Ok(fan_out(registry, &sig, &vis, filter_evaluations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(s: &str) -> Topic {
        Topic::parse(s).unwrap()
    }

    #[test]
    fn only_the_things_own_inbox_claim_is_a_claim() {
        let claim = topic("org.x/y/things/live/messages/claim");
        assert!(is_claim(&claim, "/inbox/messages/claim"));
        assert!(!is_claim(&claim, "/outbox/messages/claim"));
        assert!(!is_claim(&claim, "/features/f/inbox/messages/claim"));
        let other = topic("org.x/y/things/live/messages/claims");
        assert!(!is_claim(&other, "/inbox/messages/claims"));
    }

    #[test]
    fn message_paths_must_match_the_topic_subject() {
        let t = topic("org.x/y/things/live/messages/ask/deep");
        for ok in [
            "/inbox/messages/ask/deep",
            "/outbox/messages/ask/deep",
            "/features/lamp/inbox/messages/ask/deep",
        ] {
            assert_eq!(message_target(&t, ok).unwrap().path, ok, "{ok}");
        }
        for bad in [
            "/inbox/messages/other",
            "/inbox/ask/deep",
            "/attributes",
            "/features/lamp/messages/ask/deep",
        ] {
            assert!(message_target(&t, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn payloads_over_the_limit_are_413() {
        let e = check_message_size(Some(&Value::String("x".repeat(300))), 256).unwrap_err();
        assert_eq!(e.to_ditto().status, 413);
        assert_eq!(e.to_ditto().error, "messages:payload.toolarge");
        assert!(check_message_size(Some(&Value::String("x".repeat(256))), 256).is_ok());
        assert!(check_message_size(None, 1).is_ok());
    }
}
