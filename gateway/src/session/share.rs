//! The `group=` and `dispatch=` parameters of a START (DESIGN.md "Shared subscriptions"): the
//! shared subscription a session joins, checked before anything is stored. A share is for events,
//! messages, live commands and live events; policy announcements go to their one subject.

use twinwire_common::bus::{ShareDispatch, ShareSpec, MAX_SHARE_NAME_BYTES};
use twinwire_common::protocol::{StartParams, StreamingKind};
use twinwire_common::Error;

/// The share a START asks to join, if any, or why its parameters are refused
/// (`gateway:websocket.parameter.invalid`, no ACK).
pub(super) fn share_spec(
    kind: StreamingKind,
    params: &StartParams,
) -> Result<Option<ShareSpec>, Error> {
    let invalid = |reason: String| Error::ProtocolParameterInvalid {
        message: kind.start_str().to_owned(),
        reason,
    };
    let Some(name) = &params.group else {
        return match &params.dispatch {
            Some(_) => Err(invalid(
                "the parameter 'dispatch' needs 'group' (a shared subscription)".into(),
            )),
            None => Ok(None),
        };
    };
    // A share hands each event to one of its members, so no member's position says what the
    // share has had: a share is not resumable (issue 16), and its members get no resume tokens.
    if params.resume.is_some() {
        return Err(invalid(
            "a shared subscription ('group') cannot be resumed ('resume')".into(),
        ));
    }
    if kind == StreamingKind::PolicyAnnouncements {
        return Err(invalid(
            "policy announcements cannot be a shared subscription ('group')".into(),
        ));
    }
    if name.is_empty() || name.len() > MAX_SHARE_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "the parameter 'group' must be 1 to {MAX_SHARE_NAME_BYTES} bytes without control characters"
        )));
    }
    let dispatch = match params.dispatch.as_deref() {
        None => ShareDispatch::ByThing,
        Some(d) => ShareDispatch::parse(d).ok_or_else(|| {
            invalid(format!(
                "the parameter 'dispatch' is '{d}'; it must be 'by-thing' or 'round-robin'"
            ))
        })?,
    };
    Ok(Some(ShareSpec {
        name: name.clone(),
        dispatch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(group: Option<&str>, dispatch: Option<&str>) -> StartParams {
        StartParams {
            group: group.map(str::to_owned),
            dispatch: dispatch.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn group_names_a_share_dispatched_by_thing_unless_round_robin_is_asked() {
        let k = StreamingKind::Events;
        assert_eq!(share_spec(k, &params(None, None)), Ok(None));
        assert_eq!(
            share_spec(k, &params(Some("w"), None)),
            Ok(Some(ShareSpec {
                name: "w".into(),
                dispatch: ShareDispatch::ByThing
            }))
        );
        assert_eq!(
            share_spec(
                StreamingKind::LiveCommands,
                &params(Some("w"), Some("round-robin"))
            )
            .unwrap()
            .unwrap()
            .dispatch,
            ShareDispatch::RoundRobin
        );
    }

    #[test]
    fn bad_share_parameters_are_refused_with_the_parameter_error() {
        let k = StreamingKind::Messages;
        let long = "x".repeat(MAX_SHARE_NAME_BYTES + 1);
        for (p, kind) in [
            (params(None, Some("round-robin")), k),
            (params(Some(""), None), k),
            (params(Some(&long), None), k),
            (params(Some("a\nb"), None), k),
            (params(Some("w"), Some("sticky")), k),
            (params(Some("w"), None), StreamingKind::PolicyAnnouncements),
            (
                StartParams {
                    resume: Some("token".into()),
                    ..params(Some("w"), None)
                },
                StreamingKind::Events,
            ),
        ] {
            let e = share_spec(kind, &p).unwrap_err().to_ditto();
            assert_eq!(e.error, "gateway:websocket.parameter.invalid", "{p:?}");
            assert_eq!(e.status, 400);
        }
    }
}
